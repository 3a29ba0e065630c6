"""The audit log, for admins: who read content, changed keys, accounts or policy, exported or purged."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from tokentrail import audit
from tokentrail.server.auth import require
from tokentrail.server.routes.dashboards import _time, parse_range
from tokentrail.server.runtime import Runtime

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/audit", summary="Audit log rows, newest first, filtered by actor, action (key.* for a family), "
            "project, target and time range (range=7d, or since/until)")
async def audit_log(request: Request, actor: str = "", action: str = "", target: str = "",
                    range: str = "", since: str = "", until: str = "",
                    limit: int = Query(200, ge=1, le=audit.MAX_LIMIT),
                    offset: int = Query(0, ge=0, le=1_000_000)) -> dict[str, Any]:
    principal = require(request, "admin")
    # a key (or account) of some projects sees their rows only; a server-wide admin sees all, or ?project=
    project = principal.project
    end = _time(until, "until") if until else None
    start = _time(since, "since") if since else (
        (end or datetime.now(UTC)) - parse_range(range) if range else None)
    rt: Runtime = request.app.state.runtime
    rows = await run_in_threadpool(audit.search, rt.store, actor=actor.strip(), action=action.strip(),
                                   project=project, target=target.strip(), since=start, until=end,
                                   limit=limit, offset=offset)
    return {"rows": rows, "limit": limit, "offset": offset, "dropped": audit.dropped(rt.store),
            "retention_days": rt.settings.retention_audit_days}
