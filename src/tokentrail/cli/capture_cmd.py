"""``tokentrail capture-policy show|set|remove|keep``: the server's content capture policy.

While the server runs this goes through ``/api/admin/capture-policy`` (an admin key from
``TOKENTRAIL_API_KEY`` when the server needs one); otherwise it writes the store itself. Every
server sharing the store applies a change within seconds."""

from __future__ import annotations

import json
from typing import Any

import click

from tokentrail.cli.access import call_server, open_local, server_running
from tokentrail.cli.options import load_settings, settings_options
from tokentrail.privacy import policy as capture

_WHERE = ("data_dir", "storage_url", "host", "port", "url")
PATH = "/api/admin/capture-policy"


def _scope(project: str, route: str) -> str:
    if route:
        return f"route:{project}/{route}" if project else f"route:{route}"
    return f"project:{project}" if project else "default"


def _local(settings: Any, action: Any, create: bool = True) -> dict[str, Any]:
    store = open_local(settings, create=create)
    try:
        cache = capture.configure(store, settings.capture_policy, settings.gateway_capture)
        action(store)
        return cache.refresh().describe()
    finally:
        store.close()


def _print(doc: dict[str, Any]) -> None:
    click.echo(json.dumps(doc, indent=2))


@click.group("capture-policy")
def capture_policy() -> None:
    """Which calls keep their prompt and response (sample rate, errors, flagged calls, per project and route)."""


@capture_policy.command("show")
@settings_options(*_WHERE)
def show(**values: Any) -> None:
    """Print the policy in force (JSON)."""
    settings = load_settings(values)
    if server_running(settings.url):
        _print(call_server("GET", settings.url, PATH))
    else:
        _print(_local(settings, lambda store: None, create=False))


@capture_policy.command("set")
@click.argument("rule")
@click.option("--project", default="", help="Only this project (with --route: that project's route).")
@click.option("--route", default="", help="Only this route.")
@click.option("--gateway", is_flag=True, help="The gateway's default rule (setting gateway_capture).")
@settings_options(*_WHERE)
def set_cmd(rule: str, project: str, route: str, gateway: bool, **values: Any) -> None:
    """Set a rule: off, errors, always, sampled:RATE (share of traces) or a JSON object
    {"rate": 0.05, "errors": true, "flagged": true, "redact": true}."""
    settings = load_settings(values)
    scope = "gateway" if gateway else _scope(project, route)
    try:
        parsed = capture.Rule.parse(json.loads(rule) if rule.lstrip().startswith("{") else rule)
    except (ValueError, json.JSONDecodeError) as e:
        raise click.ClickException(str(e)) from e
    if server_running(settings.url):
        _print(call_server("PUT", settings.url, PATH, json={"scope": scope, "rule": parsed.to_dict()}))
    else:
        _print(_local(settings, lambda store: capture.set_rule(store, scope, parsed, "cli")))


@capture_policy.command("remove")
@click.option("--project", default="", help="The project whose rule goes.")
@click.option("--route", default="", help="The route whose rule goes.")
@settings_options(*_WHERE)
def remove(project: str, route: str, **values: Any) -> None:
    """Remove a project's or route's rule (the next more general rule applies)."""
    settings = load_settings(values)
    if not project and not route:
        raise click.ClickException("name --project and/or --route (the default rule is changed with set)")
    scope = _scope(project, route)
    if server_running(settings.url):
        _print(call_server("PUT", settings.url, PATH, json={"scope": scope, "rule": None}))
    else:
        _print(_local(settings, lambda store: capture.set_rule(store, scope, None, "cli")))


@capture_policy.command("keep")
@click.option("--project", default="", help="Project of the trace or route (default: the default project).")
@click.option("--trace", "trace_id", default="", help="Keep this trace's content (32 hex digits).")
@click.option("--route", default="", help="Keep this route's content for --minutes.")
@click.option("--reason", default="anomaly", help="Stored as the content's captured_reason.")
@click.option("--minutes", default=60.0, type=float, help="How long the mark lasts.")
@settings_options(*_WHERE)
def keep(project: str, trace_id: str, route: str, reason: str, minutes: float, **values: Any) -> None:
    """Mark a trace or a route so its content is kept (the hook anomaly detection and evals use)."""
    settings = load_settings(values)
    if bool(trace_id) == bool(route):
        raise click.ClickException("give --trace or --route (one of them)")
    body = {"project": project, "trace_id": trace_id, "route": route, "reason": reason, "minutes": minutes}
    if server_running(settings.url):
        _print(call_server("POST", settings.url, PATH + "/marks", json=body))
        return
    proj = project or settings.default_project
    if trace_id:
        _print(_local(settings, lambda store: capture.keep_trace(store, proj, trace_id, reason, minutes)))
    else:
        _print(_local(settings, lambda store: capture.keep_route(store, proj, route, reason, minutes)))
