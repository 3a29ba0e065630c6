"""Liveness and readiness."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tokentrail.server.auth import require_server_wide

router = APIRouter(tags=["health"])


# Both answer from memory on the event loop: they never wait for the store, its lock or the thread
# pool, so a long statement or a flood of queued queries cannot make a liveness probe fail.
STUCK_SECONDS = 60.0  # a statement holding the store longer than this makes the server not ready


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, str]:
    """The process is up (``instance``: this server process, e.g. for its own demo sender)."""
    return {"status": "ok", "instance": request.app.state.runtime.instance_id}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready to take writes: the inserter runs and is not failing, no statement is stuck, the backlog has room."""
    rt = request.app.state.runtime
    problems = []
    busy_since = rt.store.busy_since
    if busy_since is not None and time.monotonic() - busy_since > STUCK_SECONDS:
        problems.append(f"store: one statement has run for {time.monotonic() - busy_since:.0f} s")
    if not rt.inserter.running:
        problems.append("inserter thread is not running")
    elif rt.inserter.failing:
        problems.append(f"store: inserts are failing ({rt.inserter.stats.last_error[:200]})")
    if rt.spool.write_error:
        problems.append(f"spool: cannot write ({rt.spool.write_error})")
    if rt.spool.backlog_bytes > rt.spool.max_backlog_bytes * 0.9:
        problems.append("ingest backlog is over 90% full")
    body = {"status": "ok" if not problems else "unavailable", "problems": problems,
            "backlog_bytes": rt.spool.backlog_bytes}
    return JSONResponse(body, status_code=200 if not problems else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text format: a server-wide key with the metrics scope, or the scrape token (metrics_token)."""
    require_server_wide(request, "metrics")
    registry = request.app.state.prometheus
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
