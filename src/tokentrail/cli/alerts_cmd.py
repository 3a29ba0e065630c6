"""``tokentrail alerts``: what fires now, rules, history, silences, replaying a rule over history
(``alerts test RULE --since 7d``) and the generated Prometheus rules.

While the server runs, these go through its API (a key from ``TOKENTRAIL_API_KEY`` when it needs one);
otherwise they read the store itself (``test``, ``rules``, ``history``, ``prometheus-rules``)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from tokentrail.cli.access import call_server, open_local, server_running
from tokentrail.cli.options import load_settings, settings_options

_WHERE = ("data_dir", "storage_url", "host", "port", "url", "alerts_file")


def _project(project: str) -> dict[str, str]:
    return {"project": project} if project else {}


def _local_rules(settings: Any, store: Any) -> list[Any]:
    from tokentrail.alerts import config as alerts_config
    from tokentrail.alerts.repository import Repository

    try:
        cfg = alerts_config.load(settings.alerts_file)
    except ValueError as e:
        raise click.ClickException(str(e)) from e
    by_name = {r.name: r for r in Repository(store).rules()}
    by_name.update({r.name: r for r in cfg.rules})
    return list(by_name.values())


@click.group("alerts")
def alerts_cmd() -> None:
    """Alerts: firing now, rules, history, silences, replays, Prometheus rules."""


@alerts_cmd.command("list")
@click.option("--project", default="", help="Project (default: the key's, or the default project).")
@click.option("--json", "as_json", is_flag=True)
@settings_options(*_WHERE)
def list_cmd(project: str, as_json: bool, **values: Any) -> None:
    """Alerts firing or pending now (needs the running server: the evaluator lives there)."""
    settings = load_settings(values)
    if not server_running(settings.url):
        raise click.ClickException(f"no server answers at {settings.url}: alerts are evaluated by tokentrail serve")
    out = call_server("GET", settings.url, "/api/alerts", params=_project(project))
    if as_json:
        click.echo(json.dumps(out, indent=1))
        return
    t = Table("state", "severity", "rule", "group", "summary", "since")
    for a in out["alerts"]:
        t.add_row(a["state"] + (" (silenced)" if a.get("silenced") else ""), a["severity"], a["rule"], a["key"] or "-",
                  a["summary"], (a["fired_at"] or a["since"] or "")[:16])
    Console().print(t if out["alerts"] else f"nothing firing in project {out['project']}")
    err = out["evaluator"].get("config_error")
    if err:
        click.echo(f"alerts file not reloaded: {err}", err=True)
    for r in out["evaluator"]["receivers"]:
        if not r["healthy"]:
            click.echo(f"receiver {r['name']} failing: {r['last_error']}", err=True)


@alerts_cmd.command("rules")
@click.option("--project", default="")
@settings_options(*_WHERE)
def rules_cmd(project: str, **values: Any) -> None:
    """The alert rules (from the alerts file and the API), as JSON lines."""
    settings = load_settings(values)
    if server_running(settings.url):
        for r in call_server("GET", settings.url, "/api/alerts/rules", params=_project(project))["rules"]:
            click.echo(json.dumps(r))
        return
    from tokentrail.alerts.rules import rule_dict

    store = open_local(settings)
    try:
        for r in _local_rules(settings, store):
            if not project or r.project == project:
                click.echo(json.dumps(rule_dict(r)))
    finally:
        store.close()


@alerts_cmd.command("set")
@click.argument("name")
@click.argument("rule")
@settings_options(*_WHERE)
def set_cmd(name: str, rule: str, **values: Any) -> None:
    """Create or replace the rule NAME from RULE, a JSON object or @FILE holding one (through the running
    server, which validates it; ``alerts test`` first to see how often it would fire)."""
    settings = load_settings(values)
    text = rule
    if rule.startswith("@"):
        try:
            text = open(rule[1:]).read()  # noqa: PTH123
        except OSError as e:
            raise click.ClickException(f"cannot read {rule[1:]}: {e}") from e
    try:
        spec = json.loads(text)
    except ValueError as e:
        raise click.ClickException(f"RULE is not valid JSON: {e}") from e
    if not isinstance(spec, dict):
        raise click.ClickException("RULE must be a JSON object")
    if not server_running(settings.url):
        raise click.ClickException(f"no server answers at {settings.url}: rules are saved through it")
    out = call_server("PUT", settings.url, f"/api/alerts/rules/{name}", json=spec)
    click.echo(json.dumps(out["rule"]))


@alerts_cmd.command("delete")
@click.argument("name")
@settings_options(*_WHERE)
def delete_cmd(name: str, **values: Any) -> None:
    """Delete the rule NAME made through the API or the CLI (file rules are removed from the file)."""
    settings = load_settings(values)
    if not server_running(settings.url):
        raise click.ClickException(f"no server answers at {settings.url}: rules are deleted through it")
    call_server("DELETE", settings.url, f"/api/alerts/rules/{name}")
    click.echo(f"deleted {name}")


@alerts_cmd.command("test")
@click.argument("rule")
@click.option("--since", default="7d", help="How far back to replay (7d, 24h ...).")
@click.option("--step", default="", help="Evaluation step (default: half the rule's window, 5m to 1h).")
@click.option("--json", "as_json", is_flag=True)
@settings_options(*_WHERE)
def test_cmd(rule: str, since: str, step: str, as_json: bool, **values: Any) -> None:
    """Replay RULE (a rule's name, or a rule as JSON) over stored history: when it would have fired.
    Nothing is written and nobody is notified: tune a rule's noise before enabling it."""
    settings = load_settings(values)
    body: dict[str, Any] = {"since": since, "step": step}
    if rule.lstrip().startswith("{"):
        try:
            body["rule"] = json.loads(rule)
        except ValueError as e:
            raise click.ClickException(f"RULE is not valid JSON: {e}") from e
    else:
        body["name"] = rule
    if server_running(settings.url):
        out = call_server("POST", settings.url, "/api/alerts/test", json=body)
    else:
        from tokentrail.alerts.replay import replay
        from tokentrail.alerts.rules import parse_duration, parse_rule
        from tokentrail.errors import TokentrailError

        store = open_local(settings)
        try:
            if "rule" in body:
                try:
                    found = parse_rule({"name": "adhoc", **body["rule"]})
                except ValueError as e:
                    raise click.ClickException(f"bad rule: {e}") from e
            else:
                found = next((r for r in _local_rules(settings, store) if r.name == rule), None)
                if found is None:
                    raise click.ClickException(f"no alert rule {rule!r}")
            try:
                out = replay(store, found, parse_duration(since), parse_duration(step) if step else None)
            except (ValueError, TokentrailError) as e:
                raise click.ClickException(str(getattr(e, "message", e))) from e
        finally:
            store.close()
    if as_json:
        click.echo(json.dumps(out, indent=1))
        return
    click.echo(f"{out['rule']}: {out['evaluations']} evaluations every {out['step_seconds'] / 60:g} min from "
               f"{out['since'][:16]} to {out['until'][:16]}: would have fired {out['fired']} time(s)")
    t = Table("fired", "resolved", "group", "peak", "summary")
    for e in out["episodes"]:
        t.add_row(e["fired_at"][:16], (e["resolved_at"] or "still firing")[:16], e["key"] or "-",
                  f"{e['peak']:,.4g}" if e["peak"] is not None else "-", e["summary"])
    if out["episodes"]:
        Console().print(t)
    if out.get("errors"):
        click.echo(f"{out['errors']} evaluations failed: {out['first_error']}", err=True)


@alerts_cmd.command("history")
@click.option("--project", default="")
@click.option("--rule", default="")
@click.option("--range", "range_", default="7d")
@settings_options(*_WHERE)
def history_cmd(project: str, rule: str, range_: str, **values: Any) -> None:
    """Alert history as JSON lines, newest first."""
    settings = load_settings(values)
    if server_running(settings.url):
        rows = call_server("GET", settings.url, "/api/alerts/history",
                           params={**_project(project), "rule": rule, "range": range_})["events"]
    else:
        from tokentrail.alerts.repository import Repository
        from tokentrail.server.routes.dashboards import parse_range

        store = open_local(settings)
        try:
            rows = Repository(store).history(project or None, rule, datetime.now(UTC) - parse_range(range_))
        finally:
            store.close()
    for r in rows:
        click.echo(json.dumps(r, default=str))


@alerts_cmd.command("silence")
@click.option("--project", default="")
@click.option("--rule", default="", help="The rule to silence ('' = every rule of the project).")
@click.option("--match", "matchers", multiple=True, help="LABEL=VALUE the alert must carry (repeatable).")
@click.option("--for", "duration", default="2h", help="How long (1m to 90d).")
@click.option("--comment", default="")
@settings_options(*_WHERE)
def silence_cmd(project: str, rule: str, matchers: tuple[str, ...], duration: str, comment: str, **values: Any
                ) -> None:
    """Silence alerts for a while (through the running server)."""
    settings = load_settings(values)
    pairs = dict(m.split("=", 1) for m in matchers if "=" in m)
    if len(pairs) != len(matchers):
        raise click.ClickException("--match takes LABEL=VALUE")
    if not server_running(settings.url):
        raise click.ClickException(f"no server answers at {settings.url}")
    out = call_server("POST", settings.url, "/api/alerts/silences",
                      json={"project": project, "rule": rule, "matchers": pairs, "duration": duration,
                            "comment": comment})
    click.echo(f"silence {out['id']} until {out['ends_at']}")


@alerts_cmd.command("prometheus-rules")
@click.option("--project", default="")
@settings_options(*_WHERE)
def prom_cmd(project: str, **values: Any) -> None:
    """Prometheus alerting rules generated from the rules (YAML on stdout)."""
    settings = load_settings(values)
    if server_running(settings.url):
        import httpx

        from tokentrail.auth.client import auth_headers

        r = httpx.get(settings.url.rstrip("/") + "/api/alerts/prometheus-rules", params=_project(project),
                      headers=auth_headers(), timeout=60)
        if r.status_code >= 400:
            raise click.ClickException(f"server answered {r.status_code}: {r.text[:300]}")
        sys.stdout.write(r.text)
        return
    from tokentrail.alerts.prometheus_rules import generate

    store = open_local(settings)
    try:
        rules = [r for r in _local_rules(settings, store) if not project or r.project == project]
    finally:
        store.close()
    sys.stdout.write(generate(rules))
