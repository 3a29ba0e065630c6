"""The spool's quarantine: requests the store refused, listed and replayed by an operator."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from tokentrail.server.auth import needs, require_server_wide
from tokentrail.server.runtime import Runtime

router = APIRouter(prefix="/api/admin/quarantine", tags=["admin"])


def listing(rt: Runtime) -> dict[str, Any]:
    held = rt.spool.quarantined()
    return {"requests": len(held), "bytes": sum(q.bytes for q in held),
            "retention_days": rt.settings.retention_contents_days,
            "items": [{"name": q.path.name, "project": q.project, "reason": q.reason, "bytes": q.bytes,
                       "quarantined_unix": q.quarantined_unix} for q in held[:1000]]}


@router.get("", summary="Requests the store refused, kept aside with their reason (deleted after the content retention)")
async def list_quarantine(request: Request) -> dict[str, Any]:
    require_server_wide(request, "admin")
    return await run_in_threadpool(listing, request.app.state.runtime)


class ReplayRequest(BaseModel):
    names: list[str] = []  # empty: all of them


@router.post("/replay", summary="Spool quarantined requests again: they load, or come back with their reason",
             dependencies=[Depends(needs("admin"))])
async def replay(request: Request, body: ReplayRequest) -> dict[str, Any]:
    require_server_wide(request, "admin")
    rt: Runtime = request.app.state.runtime
    n = await run_in_threadpool(rt.spool.replay_quarantined, body.names or None)
    return {"replayed": n}
