"""``tokentrail purge --user ID`` (or ``--session``, ``--customer``): erase a subject's data everywhere.

Through the running server's admin API when it runs (``/api/admin/purge``); otherwise on the store."""

from __future__ import annotations

import json
from typing import Any

import click

from tokentrail.cli.access import call_server, open_local, server_running
from tokentrail.cli.options import load_settings, settings_options
from tokentrail.privacy import purge as erase


@click.command("purge")
@click.option("--user", default="", help="User id to erase.")
@click.option("--session", default="", help="Session id to erase.")
@click.option("--customer", default="", help="Customer id to erase.")
@click.option("--project", default="", help="Only in this project (default: every project).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@settings_options("data_dir", "storage_url", "host", "port", "url")
def purge(user: str, session: str, customer: str, project: str, yes: bool, **values: Any) -> None:
    """Erase every span, content row, score and rollup row of a user, session or customer (audited)."""
    given = [(k, v) for k, v in (("user", user), ("session", session), ("customer", customer)) if v]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --user, --session, --customer")
    kind, value = given[0]
    if not yes:
        click.confirm(f"Erase all data of {kind} {value!r} in {project or 'every project'}?", abort=True)
    settings = load_settings(values)
    if server_running(settings.url):
        result = call_server("POST", settings.url, "/api/admin/purge", json={kind: value, "project": project})
    else:
        store = open_local(settings)
        try:
            result = erase.purge(store, kind, value, project, settings.spool_dir)
            _audit(store, kind, value, project, result)
        finally:
            store.close()
    click.echo(json.dumps(result))


def _audit(store: Any, kind: str, value: str, project: str, result: dict[str, Any]) -> None:
    try:
        from tokentrail import audit
    except ImportError:
        return
    audit.record(store, actor="cli", action="purge", project=project, target=f"{kind}:sha256:{erase.digest(value)}",
                 detail=f"{result['traces']} trace(s), {sum(result['deleted'].values())} row(s)")
    audit.flush(store)
