"""Alerts API: what fires now, history, rules (with a live preview and a replay over history),
silences, receiver status, the spike explainer and the generated Prometheus rules.

Reading needs ``read`` on the project; changing rules and silences needs ``admin`` on the rule's
project (audited)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from tokentrail import audit
from tokentrail.alerts import checks, prometheus_rules
from tokentrail.alerts.explain import DIMENSIONS_EXPLAINED, explain
from tokentrail.alerts.replay import replay
from tokentrail.alerts.repository import Repository
from tokentrail.alerts.rules import parse_duration, parse_rule, rule_dict
from tokentrail.alerts.state import GROUP, Silence
from tokentrail.errors import BadRequest, NotFound
from tokentrail.query.filters import DIMENSIONS
from tokentrail.server.auth import needs, project_of, require
from tokentrail.server.routes.dashboards import _time, parse_range

router = APIRouter(prefix="/api", tags=["alerts"])


def _rt(request: Request) -> Any:
    return request.app.state.runtime


def _rule(spec: dict[str, Any]) -> Any:
    try:
        return parse_rule(spec)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"][1:]) or "rule"
        raise BadRequest(f"{where}: {first['msg']}") from e


def _all_rules(rt: Any) -> list[tuple[Any, str]]:
    by_name = {r.name: (r, "api") for r in Repository(rt.store).rules()}
    by_name.update({r.name: (r, "file") for r in rt.alerts.config.rules})
    return sorted(by_name.values(), key=lambda x: x[0].name)


def _state_row(s: Any) -> dict[str, Any]:
    return {"rule": s.rule, "key": s.key, "state": s.state, "severity": s.severity, "labels": s.labels,
            "value": s.value, "threshold": s.threshold, "summary": s.summary,
            "since": s.since.isoformat() if s.since else None,
            "fired_at": s.fired_at.isoformat() if s.fired_at else None,
            "resolved_at": s.resolved_at.isoformat() if s.resolved_at else None,
            "explain": s.explain}


@router.get("/alerts", summary="Alerts firing and pending now, the evaluator and the receivers")
async def alerts_now(request: Request) -> dict[str, Any]:
    rt = _rt(request)
    project = project_of(request, require(request, "read"))
    names = {r.name for r, _ in await run_in_threadpool(_all_rules, rt) if r.project == project}
    states = await run_in_threadpool(Repository(rt.store).states, sorted(names) or ["\0"])
    rows = [_state_row(s) for by_key in states.values() for s in by_key.values()
            if s.key != GROUP and s.state in ("pending", "firing")]
    silences = await run_in_threadpool(Repository(rt.store).silences, project)
    now = datetime.now(UTC)
    for row in rows:
        row["silenced"] = any(x.matches(row["rule"], project, row["labels"], now) for x in silences)
    rows.sort(key=lambda r: (r["state"] != "firing", {"page": 0, "ticket": 1}.get(r["severity"], 2), r["rule"]))
    return {"project": project, "alerts": rows, "evaluator": rt.alerts.status()}


@router.get("/alerts/history", summary="Alert history: pending, firing, resolved, silenced and failed evaluations")
async def alerts_history(request: Request, rule: str = "", range: str = "7d",
                         limit: int = Query(200, ge=1, le=5000)) -> dict[str, Any]:
    rt = _rt(request)
    project = project_of(request, require(request, "read"))
    since = datetime.now(UTC) - parse_range(range)
    rows = await run_in_threadpool(Repository(rt.store).history, project, rule, since, limit)
    return {"project": project, "events": rows}


@router.get("/alerts/deliveries", summary="Notifications sent to receivers, and failures")
async def alert_deliveries(request: Request, limit: int = Query(100, ge=1, le=2000)) -> dict[str, Any]:
    rt = _rt(request)
    project = project_of(request, require(request, "read"))
    rows = await run_in_threadpool(Repository(rt.store).deliveries, project, limit)
    return {"project": project, "deliveries": rows, "receivers": rt.alerts.evaluator.dispatcher.status()}


@router.get("/alerts/rules", summary="Alert rules of the project (from the alerts file and from the API)")
async def alert_rules(request: Request) -> dict[str, Any]:
    rt = _rt(request)
    project = project_of(request, require(request, "read"))
    rules = await run_in_threadpool(_all_rules, rt)
    return {"project": project, "rules": [{**rule_dict(r), "source": src} for r, src in rules if r.project == project],
            "receivers": [r.name for r in rt.alerts.config.receivers]}


@router.put("/alerts/rules/{name}", summary="Create or replace an alert rule (admin)",
            dependencies=[Depends(needs("admin"))])
async def put_rule(request: Request, name: str, spec: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    rt = _rt(request)
    rule = _rule({**spec, "name": name})
    principal = require(request, "admin", project=rule.project)
    if any(r.name == name for r in rt.alerts.config.rules):
        raise BadRequest(f"rule {name} comes from the alerts file ({rt.alerts.path}): change it there")
    unknown = [x for x in rule.receivers if x not in {r.name for r in rt.alerts.config.receivers}]
    if unknown:
        raise BadRequest(f"unknown receiver(s) {', '.join(unknown)}; receivers are configured in the alerts file")
    await run_in_threadpool(Repository(rt.store).save_rule, rule, principal.actor)
    audit.record_request(request, actor=principal.actor, action="alert_rule.change", project=rule.project,
                         target=name, detail=str(rule_dict(rule))[:2000])
    return {"rule": rule_dict(rule)}


@router.delete("/alerts/rules/{name}", summary="Delete an alert rule made through the API (admin)",
               dependencies=[Depends(needs("admin"))])
async def delete_rule(request: Request, name: str) -> dict[str, Any]:
    rt = _rt(request)
    found = next((r for r, src in await run_in_threadpool(_all_rules, rt) if r.name == name), None)
    if found is None:
        raise NotFound(f"no alert rule {name}")
    principal = require(request, "admin", project=found.project)
    if any(r.name == name for r in rt.alerts.config.rules):
        raise BadRequest(f"rule {name} comes from the alerts file ({rt.alerts.path}): remove it there")
    await run_in_threadpool(Repository(rt.store).save_rule, found, principal.actor, True)
    audit.record_request(request, actor=principal.actor, action="alert_rule.delete", project=found.project, target=name)
    return {"deleted": name}


class ReplayRequest(BaseModel):
    rule: dict[str, Any] | None = Field(None, description="a rule spec (preview an unsaved rule)")
    name: str = Field("", description="or the name of a rule")
    since: str = Field("7d", description="how far back to replay")
    step: str = Field("", description="evaluation step (default: half the rule's window, 5m-1h)")


def _rule_for(rt: Any, body: ReplayRequest) -> Any:
    if body.rule is not None:
        return _rule({"name": "preview", **body.rule})
    found = next((r for r, _ in _all_rules(rt) if r.name == body.name), None)
    if found is None:
        raise NotFound(f"no alert rule {body.name!r}")
    return found


def _replay_request(request: Request, body: ReplayRequest) -> tuple[Any, Any, timedelta, timedelta | None]:
    """The rule a preview / test is about (read needed on its project), and its range and step."""
    rt = _rt(request)
    rule = _rule_for(rt, body)
    require(request, "read", project=rule.project)
    try:
        return rt, rule, parse_duration(body.since), parse_duration(body.step) if body.step else None
    except ValueError as e:
        raise BadRequest(str(e)) from e


@router.post("/alerts/preview", summary="Live preview of a rule: its findings now, and when it would have fired",
             dependencies=[Depends(needs("read"))])
async def preview(request: Request, body: ReplayRequest) -> dict[str, Any]:
    rt, rule, since, step = _replay_request(request, body)
    now = datetime.now(UTC)
    findings = await run_in_threadpool(checks.run, rt.store, rule, now)
    history = await run_in_threadpool(replay, rt.store, rule, since, step, now)
    return {"rule": rule_dict(rule), "now": [{"key": f.key, "labels": f.labels, "active": f.active, "value": f.value,
                                              "threshold": f.threshold, "summary": f.summary} for f in findings],
            "replay": history}


@router.post("/alerts/test", summary="Replay a rule over stored history: when it would have fired",
             dependencies=[Depends(needs("read"))])
async def test_rule(request: Request, body: ReplayRequest) -> dict[str, Any]:
    rt, rule, since, step = _replay_request(request, body)
    return await run_in_threadpool(replay, rt.store, rule, since, step)


class SilenceRequest(BaseModel):
    rule: str = ""
    matchers: dict[str, str] = Field(default_factory=dict)
    duration: str = "2h"
    comment: str = ""
    project: str = ""


@router.get("/alerts/silences", summary="Active silences of the project")
async def list_silences(request: Request, expired: bool = False) -> dict[str, Any]:
    rt = _rt(request)
    project = project_of(request, require(request, "read"))
    rows = await run_in_threadpool(Repository(rt.store).silences, project, expired)
    return {"project": project, "silences": [{"id": s.id, "rule": s.rule, "matchers": s.matchers,
                                              "starts_at": s.starts_at.isoformat(), "ends_at": s.ends_at.isoformat(),
                                              "comment": s.comment, "created_by": s.created_by} for s in rows]}


@router.post("/alerts/silences", summary="Silence alerts of a rule (and labels) for a while (admin)",
             dependencies=[Depends(needs("admin"))])
async def add_silence(request: Request, body: SilenceRequest) -> dict[str, Any]:
    rt = _rt(request)
    principal = require(request, "admin", project=body.project or None)
    project = project_of(request, principal)
    try:
        length = parse_duration(body.duration)
    except ValueError as e:
        raise BadRequest(str(e)) from e
    if not timedelta(minutes=1) <= length <= timedelta(days=90):
        raise BadRequest("a silence lasts from 1m to 90d")
    now = datetime.now(UTC)
    s = Silence(id="", project=project, rule=body.rule, matchers=body.matchers, starts_at=now, ends_at=now + length,
                comment=body.comment, created_by=principal.actor)
    s = await run_in_threadpool(Repository(rt.store).save_silence, s)
    audit.record_request(request, actor=principal.actor, action="alert_silence.create", project=project, target=s.id,
                         detail=f"rule={body.rule} matchers={body.matchers} until={s.ends_at.isoformat()}")
    return {"id": s.id, "ends_at": s.ends_at.isoformat()}


@router.delete("/alerts/silences/{silence_id}", summary="End a silence now (admin)")
async def end_silence(request: Request, silence_id: str) -> dict[str, Any]:
    rt = _rt(request)
    principal = require(request, "admin")
    project = project_of(request, principal)
    found = next((s for s in await run_in_threadpool(Repository(rt.store).silences, project, True)
                  if s.id == silence_id), None)
    if found is None:
        raise NotFound(f"no silence {silence_id} in project {project}")
    await run_in_threadpool(Repository(rt.store).save_silence, found, True)
    audit.record_request(request, actor=principal.actor, action="alert_silence.delete", project=project,
                         target=silence_id)
    return {"deleted": silence_id}


@router.get("/alerts/prometheus-rules", summary="Prometheus alerting rules generated from the project's rules",
            response_class=PlainTextResponse)
async def prom_rules(request: Request) -> PlainTextResponse:
    rt = _rt(request)
    project = project_of(request, require(request, "read"))
    rules = [r for r, _ in await run_in_threadpool(_all_rules, rt) if r.project == project and r.enabled]
    return PlainTextResponse(prometheus_rules.generate(rules), media_type="application/yaml")


@router.get("/explain", summary="Why did this change? Contributions by route, model, user, customer, release, "
                                "environment against a baseline window, and the traces behind the top one")
async def explain_change(request: Request, metric: str = "cost_usd", since: str = Query(...), until: str = Query(...),
                         baseline_since: str = "", baseline_until: str = "", dimensions: str = "",
                         limit: int = Query(10, ge=1, le=50)) -> dict[str, Any]:
    rt = _rt(request)
    project = project_of(request, require(request, "read"))
    s, u = _time(since, "since"), _time(until, "until")
    bs = _time(baseline_since, "baseline_since") if baseline_since else s - timedelta(days=7)
    bu = _time(baseline_until, "baseline_until") if baseline_until else s
    equals = {k[2:]: v for k, v in request.query_params.items() if k.startswith("f.")}
    bad = [k for k in equals if k not in DIMENSIONS]
    if bad:
        raise BadRequest(f"cannot filter on {', '.join(bad)}")
    dims = tuple(d for d in dimensions.split(",") if d) or DIMENSIONS_EXPLAINED
    focus = {k[6:]: v for k, v in request.query_params.items() if k.startswith("focus.")}  # the alert's subject
    return await run_in_threadpool(explain, rt.store, project, metric, s, u, bs, bu, equals, dims, limit, True, focus)
