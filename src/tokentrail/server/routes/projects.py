"""Projects the caller may read, with their calls over the range (the UI's project picker), and which
of them hold a trace or session (a link opened without, or with the wrong, ``?project=``)."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from tokentrail.errors import BadRequest
from tokentrail.query import metrics, projects
from tokentrail.query.filters import Filters
from tokentrail.server.auth import Principal, project_of, require
from tokentrail.server.routes.dashboards import _consistent, filters
from tokentrail.server.runtime import Runtime
from tokentrail.storage.backend import Store

router = APIRouter(prefix="/api", tags=["dashboards"])
MAX_COUNTED = 200  # beyond, projects are listed without their counts (one summary query each)
_TRACE_ID = re.compile(r"^[0-9a-fA-F]{32}$")


def readable(store: Store, principal: Principal, default: str, owed: set[str] | None = None) -> list[str]:
    """The projects ``principal`` may read: its own, or (every project) the default and those holding data
    (in the rollups, or ``owed``: in minutes inserted and not rolled up yet, a new project's first calls)."""
    names = (set(projects.with_data(store)) | {default} | (owed or set()) if principal.projects is None
             else set(principal.projects))
    return sorted(p for p in names if principal.can("read", p))


def _among(rt: Runtime, principal: Principal) -> list[str] | None:
    return None if principal.projects is None else readable(rt.store, principal, rt.settings.default_project)


def _counted(rt: Runtime, names: list[str], f: Filters) -> list[dict[str, Any]]:
    rows = []
    for i, name in enumerate(names):
        row: dict[str, Any] = {"project": name}
        if i < MAX_COUNTED:
            g = Filters(project=name, since=f.since, until=f.until)
            s = _consistent(rt, metrics.summary, rt.store, g, ["requests", "cost_usd"])
            row.update(requests=s.get("requests", 0), cost_usd=s.get("cost_usd", 0.0))
        rows.append(row)
    return rows


@router.get("/projects", summary="The projects the caller may read, with their calls and cost over the range "
            "(range or since/until, as the dashboards)")
async def project_list(request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    principal = require(request, "read")
    f = filters(request)
    names = await run_in_threadpool(readable, rt.store, principal, rt.settings.default_project,
                                    rt.rollup_queue.projects())
    rows = await run_in_threadpool(_counted, rt, names, f)
    return {"projects": rows, "current": project_of(request, principal)}


@router.get("/projects/holding", summary="Which of the caller's projects hold a trace (trace_id) or a session "
            "(session_id)")
async def holding(request: Request, trace_id: str = "", session_id: str = "") -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    principal = require(request, "read")
    if bool(trace_id) == bool(session_id):
        raise BadRequest("give either trace_id or session_id")
    if trace_id and not _TRACE_ID.match(trace_id):
        raise BadRequest("trace_id must be 32 hex characters")
    among = _among(rt, principal)
    if trace_id:
        found = await run_in_threadpool(projects.holding_trace, rt.store, trace_id, among)
    else:
        found = await run_in_threadpool(projects.holding_session, rt.store, session_id, among)
    return {"projects": found}


async def where_else(request: Request, principal: Principal, *, trace_id: str = "", session_id: str = "") -> str:
    """For a "not found in project X" message: "; it is in project Y" when the caller may read a project that
    holds it ("" otherwise: nothing is said about projects the caller may not read)."""
    rt: Runtime = request.app.state.runtime
    among = _among(rt, principal)
    if trace_id:
        found = await run_in_threadpool(projects.holding_trace, rt.store, trace_id, among)
    else:
        found = await run_in_threadpool(projects.holding_session, rt.store, session_id, among)
    if not found:
        return ""
    shown = found[:5]
    where = ", ".join(shown) + (f" and {len(found) - len(shown)} more" if len(found) > len(shown) else "")
    return f"; it is in project{'s' if len(found) > 1 else ''} {where} (open it with ?project={found[0]})"
