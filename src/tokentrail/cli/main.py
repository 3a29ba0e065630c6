"""The ``tokentrail`` command: serve, demo, stats, recompute-costs, prices."""

from __future__ import annotations

import logging
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from tokentrail.cli import logs
from tokentrail.cli.access import call_server, local_store_path, open_local, prepare_dir, server_running
from tokentrail.cli.accounts_cmd import accounts_cmd
from tokentrail.cli.alerts_cmd import alerts_cmd
from tokentrail.cli.audit_cmd import audit_cmd
from tokentrail.cli.capture_cmd import capture_policy
from tokentrail.cli.ingest_cmd import ingest
from tokentrail.cli.keys_cmd import keys
from tokentrail.cli.options import load_settings, settings_options
from tokentrail.cli.purge_cmd import purge
from tokentrail.cli.quarantine_cmd import quarantine
from tokentrail.config import PARAMS

console = Console(width=None if sys.stdout.isatty() else 160)  # pipes get every column


class _Commands(click.Group):
    """The command group: an error no command turned into a message still ends in one line and a
    non-zero exit, never a traceback (``TOKENTRAIL_DEBUG=1`` shows it)."""

    def invoke(self, ctx: click.Context) -> Any:
        import os

        from tokentrail.errors import TokentrailError

        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit,
                KeyboardInterrupt):
            raise
        except TokentrailError as e:
            raise click.ClickException(e.message) from e
        except Exception as e:
            if os.environ.get("TOKENTRAIL_DEBUG"):
                raise
            text = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise click.ClickException(f"{type(e).__name__}: {text} (TOKENTRAIL_DEBUG=1 shows where)") from e


@click.group(cls=_Commands)
@click.version_option(package_name="tokentrail")
def main() -> None:
    """tokentrail: self-hosted LLM observability."""


main.add_command(ingest)
main.add_command(quarantine)
main.add_command(purge)
main.add_command(keys)
main.add_command(audit_cmd)
main.add_command(accounts_cmd)
main.add_command(alerts_cmd)
main.add_command(capture_policy)


# every setting is a flag of serve (``url`` is where client commands find a server)
SERVE_SETTINGS = tuple(p.name for p in PARAMS if p.name != "url")


@main.command()
@settings_options(*SERVE_SETTINGS)
@click.option("--demo", is_flag=True, help="Fill the store with a week of demo traffic, then keep a live trickle.")
@click.option("--log-level", default="info", type=click.Choice(["debug", "info", "warning", "error"]))
def serve(demo: bool, log_level: str, **values: Any) -> None:
    """Run the server: OTLP/HTTP + native ingest, query API."""
    import uvicorn

    from tokentrail.errors import TokentrailError
    from tokentrail.server.app import create_app
    from tokentrail.server.auth import exposure
    from tokentrail.server.runtime import Runtime

    logs.configure(log_level)
    settings = load_settings(values)
    _check_port_free(settings.host, settings.port)  # before anything is created or started
    _check_price_file(settings.prices_file)
    prepare_dir(settings.data_dir)
    store_dir = local_store_path(settings)
    if store_dir is not None:
        prepare_dir(store_dir, "store directory")
    try:
        runtime = Runtime(settings)
    except TokentrailError as e:
        raise click.ClickException(e.message) from e
    try:
        notice = exposure(settings, runtime.keys)  # a non-loopback address with no key: refused
        app = create_app(runtime)
    except TokentrailError as e:
        runtime.spool.close()
        runtime.store.close()
        raise click.ClickException(e.message) from e
    logging.getLogger("tokentrail.server").log(logging.INFO if runtime.keys.any_made else logging.WARNING, notice)
    console.print(f"tokentrail serving on [bold]{settings.url}[/] (store {settings.storage_url})")
    console.print(f"  OTLP/HTTP: {settings.url}/v1/traces   API docs: {settings.url}/docs")
    console.print(f"  Gateway: {settings.url}/gateway/openai/v1   {settings.url}/gateway/anthropic")
    if demo:
        from tokentrail.demo import home

        threading.Thread(target=home.run, args=(settings.url, settings.data_dir, runtime.instance_id),
                         name="tokentrail-demo", daemon=True).start()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=log_level, log_config=None,
                access_log=False, timeout_graceful_shutdown=10)


def _check_price_file(prices_file: str) -> None:
    """A price file that is missing or does not parse stops the start with its one-line reason."""
    if not prices_file:
        return
    from tokentrail.pricing import PriceBook
    from tokentrail.pricing.table import PricingError

    try:
        PriceBook(Path(prices_file).expanduser())
    except PricingError as e:
        raise click.ClickException(str(e)) from e


def _check_port_free(host: str, port: int) -> None:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            s.bind((host, port))
        except OSError as e:
            raise click.ClickException(f"cannot listen on {host}:{port}: {e.strerror or e} (another server on "
                                       "that port? pass --port)") from e


@main.command()
@settings_options("url", "host", "port")
@click.option("--traces", default=20_000, show_default=True, help="Traces to send (1-4 spans each).")
@click.option("--days", default=7.0, show_default=True, help="Spread them over this many past days.")
@click.option("--project", default=None, help="Project to send them to (X-Tokentrail-Project).")
def demo(traces: int, days: float, project: str | None, **values: Any) -> None:
    """Send realistic demo traffic to a running server through its OTLP endpoint."""
    from tokentrail.demo.send import send_backfill

    settings = load_settings(values)
    if not server_running(settings.url):
        raise click.ClickException(f"no tokentrail server at {settings.url}: start `tokentrail serve` "
                                   "(or `tokentrail serve --demo`)")
    n = send_backfill(settings.url, traces=traces, days=days, project=project, progress=True, environment="demo")
    console.print(f"sent {n} spans in {traces} traces over {days:g} days to {settings.url}")


@main.command()
@settings_options("url", "host", "port", "data_dir", "storage_url", "default_project")
@click.option("--hours", default=24.0, show_default=True, help="Look back this many hours.")
@click.option("--project", default=None, help="Project (default: the default project).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def stats(hours: float, project: str | None, as_json: bool, **values: Any) -> None:
    """Tokens per request, cost, p50/p99 latency and error rate by route."""
    settings = load_settings(values)
    project = project or settings.default_project
    if server_running(settings.url):
        doc = call_server("GET", settings.url, "/api/stats/routes", params={"hours": hours, "project": project})
    else:
        from tokentrail.query import stats as q
        from tokentrail.query.filters import Filters

        store = open_local(settings)
        f = Filters(project=project, since=datetime.now(UTC) - timedelta(hours=hours))
        doc = {"project": project, "hours": hours, "routes": q.by_route(store, f), "totals": q.totals(store, f)}
        store.close()
    if as_json:
        import json

        click.echo(json.dumps(doc, indent=2, default=str))
        return
    _print_stats(doc)


def _print_stats(doc: dict[str, Any]) -> None:
    t = Table(title=f"LLM calls by route, last {doc['hours']:g} h (project {doc['project']})")
    cols = [("route", "route"), ("requests", "requests"), ("tokens/req", "tokens_per_request"),
            ("input tok", "tokens_in"), ("output tok", "tokens_out"), ("cost $", "cost_usd"),
            ("unpriced", "unpriced"), ("p50 ms", "p50_ms"), ("p99 ms", "p99_ms"),
            ("errors", "error_rate"), ("429s", "rate_limited_rate")]
    for title, _ in cols:
        t.add_column(title, justify="left" if title == "route" else "right")
    for row in doc["routes"]:
        cells = []
        for _, key in cols:
            v = row.get(key)
            if key in ("error_rate", "rate_limited_rate"):
                cells.append(f"{(v or 0) * 100:.1f}%")
            elif key == "cost_usd":
                cells.append("-" if v is None else f"{v:,.4f}")
            else:
                cells.append(str(v if v not in (None, "") else "(none)"))
        t.add_row(*cells)
    console.print(t)
    tot = doc.get("totals") or {}
    if tot:
        console.print(f"total: {tot.get('requests', 0)} calls, ${tot.get('cost_usd') or 0:,.4f}, "
                      f"error rate {(tot.get('error_rate') or 0) * 100:.1f}%")


@main.command("recompute-costs")
@settings_options("url", "host", "port", "data_dir", "storage_url", "prices_file", "default_project")
@click.option("--since", required=True, type=click.DateTime(), help="Start of the range (UTC).")
@click.option("--until", type=click.DateTime(), default=None, help="End of the range (UTC, default now).")
@click.option("--project", default=None)
def recompute_costs_cmd(since: datetime, until: datetime | None, project: str | None, **values: Any) -> None:
    """Re-price past calls with the current price table (after a price change)."""
    settings = load_settings(values)
    since_utc = since.replace(tzinfo=UTC)
    until_utc = (until or datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=1)).replace(tzinfo=UTC)
    if server_running(settings.url):
        body = {"since": since_utc.isoformat(), "until": until_utc.isoformat(), "project": project}
        doc = call_server("POST", settings.url, "/api/admin/recompute-costs", json=body)
    else:
        from pathlib import Path

        from tokentrail.pricing import PriceBook
        from tokentrail.pricing.store import recompute_costs

        store = open_local(settings)
        book = PriceBook(Path(settings.prices_file) if settings.prices_file else None)
        doc = recompute_costs(store, book, project or settings.default_project, since_utc, until_utc)
        store.close()
    console.print(doc)


if __name__ == "__main__":
    main()
