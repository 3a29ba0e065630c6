"""``tokentrail quarantine``: the requests the store refused, listed and replayed.

While the server runs this goes through its API; otherwise it reads the spool directory
itself (a replayed request is then loaded at the next start)."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console
from rich.table import Table

from tokentrail.cli.access import call_server, server_running
from tokentrail.cli.options import load_settings, settings_options
from tokentrail.config import Settings
from tokentrail.ingest.spool import Spool


@click.group()
def quarantine() -> None:
    """Requests the store refused (kept aside with their reason, deleted after the content retention)."""


def _spool(settings: Settings) -> Spool:
    if not settings.spool_dir.is_dir():
        raise click.ClickException(f"no spool at {settings.spool_dir}")
    return Spool(settings.spool_dir, fsync=settings.spool_fsync)


@quarantine.command("list")
@settings_options("data_dir", "host", "port", "url")
def list_cmd(**values: Any) -> None:
    """List quarantined requests: name, project, size and the store's reason."""
    settings = load_settings(values)
    if server_running(settings.url):
        items = call_server("GET", settings.url, "/api/admin/quarantine")["items"]
    else:
        spool = _spool(settings)
        items = [{"name": q.path.name, "project": q.project, "bytes": q.bytes, "reason": q.reason}
                 for q in spool.quarantined()]
        spool.close()
    if not items:
        click.echo("nothing quarantined")
        return
    table = Table("name", "project", "bytes", "reason")
    for q in items:
        table.add_row(q["name"], q["project"], str(q["bytes"]), q["reason"][:200])
    Console().print(table)


@quarantine.command("replay")
@click.argument("names", nargs=-1)
@settings_options("data_dir", "host", "port", "url")
def replay_cmd(names: tuple[str, ...], **values: Any) -> None:
    """Spool quarantined requests again (all, or the NAMES given): they load, or come back with their reason."""
    settings = load_settings(values)
    if server_running(settings.url):
        n = call_server("POST", settings.url, "/api/admin/quarantine/replay", json={"names": list(names)})["replayed"]
        click.echo(f"replayed {n} request(s)")
    else:
        spool = _spool(settings)
        n = spool.replay_quarantined(list(names) or None)
        spool.close()
        click.echo(f"spooled {n} request(s) again; they load when `tokentrail serve` starts")
