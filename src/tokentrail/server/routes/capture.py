"""Admin API of the content capture policy (``tokentrail.privacy.policy``): read it, set or remove a
rule, mark a trace or route to keep. A change applies on every server sharing the store within
seconds and is audited (``policy.change``).

Rules of one project (``project:P``, ``route:P/R``) need ``admin`` on that project; the rules of every
project (``default``, ``gateway``, ``route:R``) need a server-wide admin key.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from tokentrail.errors import BadRequest
from tokentrail.privacy import policy as capture
from tokentrail.privacy.ingest import scrubber
from tokentrail.server.auth import Principal, needs, require, require_server_wide
from tokentrail.server.runtime import Runtime

router = APIRouter(prefix="/api/admin/capture-policy", tags=["admin"], dependencies=[Depends(needs("admin"))])


class RuleChange(BaseModel):
    scope: str  # default, gateway, project:P, route:R, route:P/R
    rule: str | dict[str, Any] | None = None  # off, errors, always, sampled:RATE, {rate, errors, flagged, redact}; None removes


class Mark(BaseModel):
    project: str = ""
    trace_id: str = ""
    route: str = ""
    reason: str = "anomaly"
    minutes: float = 60.0


def _project_of_scope(scope: str) -> str | None:
    """The one project a scope is about (None: every project)."""
    if scope.startswith("project:"):
        return scope[len("project:"):]
    if scope.startswith("route:") and "/" in scope:
        return scope[len("route:"):].split("/", 1)[0]
    return None


def _admin_for(request: Request, scope: str) -> Principal:
    project = _project_of_scope(scope)
    return require_server_wide(request, "admin") if project is None else require(request, "admin", project=project)


def _policy(rt: Runtime) -> dict[str, Any]:
    cache = capture.cache_for(rt.store)
    return cache.refresh().describe()


def _audit(request: Request, principal: Principal, project: str, target: str, detail: str) -> None:
    try:
        from tokentrail import audit
    except ImportError:  # pragma: no cover - the audit log is part of the server
        return
    audit.record_request(request, actor=principal.actor, action="policy.change", project=project, target=target,
                         detail=detail)


@router.get("", summary="The capture policy in force: default, gateway, per-project and per-route rules, marks")
async def get_policy(request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    require_server_wide(request, "admin")  # it lists every project's rules
    scrubber(rt.store, rt.settings, "")  # set up from the settings
    return await run_in_threadpool(_policy, rt)


@router.put("", summary="Set (or with rule null remove) the rule of one scope")
async def put_rule(request: Request, change: RuleChange) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    try:
        scope = capture.valid_scope(change.scope)
        rule = None if change.rule is None else capture.Rule.parse(change.rule)
    except ValueError as e:
        raise BadRequest(str(e)) from e
    if rule is None and scope in ("default", "gateway"):
        raise BadRequest(f"the {scope} rule cannot be removed; set it (e.g. always, errors, sampled:0.01)")
    principal = _admin_for(request, scope)
    scrubber(rt.store, rt.settings, "")
    await run_in_threadpool(capture.set_rule, rt.store, scope, rule, principal.actor)
    _audit(request, principal, _project_of_scope(scope) or "", scope,
           json.dumps(rule.to_dict()) if rule else "removed")
    return await run_in_threadpool(_policy, rt)


@router.post("/marks", summary="Keep the content of one trace (or of a route for a while): the anomaly/eval hook")
async def post_mark(request: Request, mark: Mark) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    principal = require(request, "admin", project=mark.project or None)
    project = principal.project or rt.settings.default_project
    if bool(mark.trace_id) == bool(mark.route):
        raise BadRequest("give trace_id or route (one of them)")
    if not 0 < mark.minutes <= 7 * 24 * 60:
        raise BadRequest("minutes must be between 0 and 10080 (a week)")
    if mark.trace_id:
        if len(mark.trace_id) != 32 or any(c not in "0123456789abcdefABCDEF" for c in mark.trace_id):
            raise BadRequest("trace_id must be 32 hex digits")
        await run_in_threadpool(capture.keep_trace, rt.store, project, mark.trace_id, mark.reason, mark.minutes)
    else:
        await run_in_threadpool(capture.keep_route, rt.store, project, mark.route, mark.reason, mark.minutes)
    _audit(request, principal, project, f"mark:{mark.trace_id or mark.route}", f"{mark.reason} {mark.minutes:g} min")
    return await run_in_threadpool(_policy, rt)
