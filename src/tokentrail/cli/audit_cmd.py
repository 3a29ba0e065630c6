"""``tokentrail audit``: the audit log (content reads, key, account and policy changes, exports, purges).

While the server runs this goes through ``GET /api/admin/audit`` (an admin key from
``TOKENTRAIL_API_KEY`` when the server needs one); otherwise it reads the store itself."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from tokentrail import audit
from tokentrail.cli.access import call_server, open_local, server_running
from tokentrail.cli.options import load_settings, settings_options
from tokentrail.errors import TokentrailError


def _since(value: str) -> tuple[dict[str, str], datetime | None]:
    """``--since`` as the API takes it (7d, 24h or an ISO time) and as a local read takes it."""
    from tokentrail.server.routes.dashboards import _time, parse_range

    if not value:
        return {}, None
    try:
        if value[0].isdigit() and value[-1] in "mhdw" and "-" not in value:
            return {"range": value}, datetime.now(UTC) - parse_range(value)
        return {"since": value}, _time(value, "since")
    except TokentrailError as e:
        raise click.ClickException(e.message) from e


@click.command("audit")
@click.option("--actor", default="", help="Only this actor (user:alice, key:tt_9f3a1cb2, local ...).")
@click.option("--action", default="", help="Only this action (content.read), or a family (key.*).")
@click.option("--project", default="", help="Only this project.")
@click.option("--target", default="", help="Only rows about this trace, session, key or account.")
@click.option("--since", default="", help="From this long ago (24h, 7d) or this ISO 8601 time.")
@click.option("--limit", default=200, type=click.IntRange(1, audit.MAX_LIMIT), help="Most rows shown.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line instead of a table.")
@settings_options("data_dir", "storage_url", "host", "port", "url")
def audit_cmd(actor: str, action: str, project: str, target: str, since: str, limit: int, as_json: bool,
              **values: Any) -> None:
    """Show the audit log, newest first: who read content, changed keys or policy, exported or purged."""
    settings = load_settings(values)
    window, start = _since(since)
    if server_running(settings.url):
        params = {k: v for k, v in {"actor": actor, "action": action, "project": project, "target": target,
                                    "limit": str(limit), **window}.items() if v}
        rows = call_server("GET", settings.url, "/api/admin/audit", params=params)["rows"]
    else:
        store = open_local(settings)
        try:
            rows = audit.search(store, actor=actor, action=action, project=project, target=target, since=start,
                                limit=limit)
        finally:
            store.close()
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    if not rows:
        click.echo("no audit rows match")
        return
    table = Table("time (UTC)", "actor", "action", "project", "target", "detail", "ip")
    for r in rows:
        table.add_row(r["time"], r["actor"], r["action"], r["project"], r["target"], r["detail"][:120], r["ip"])
    Console(width=None if sys.stdout.isatty() else 200).print(table)
