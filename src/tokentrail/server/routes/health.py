"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from tokentrail.errors import StorageError

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """Ready to take writes: the store answers, the inserter runs, the backlog has room."""
    rt = request.app.state.runtime
    problems = []
    try:
        rt.store.query("SELECT 1 AS ok")
    except StorageError as e:
        problems.append(f"store: {e.message}")
    if not rt.inserter.running:
        problems.append("inserter thread is not running")
    if rt.spool.backlog_bytes > rt.spool.max_backlog_bytes * 0.9:
        problems.append("ingest backlog is over 90% full")
    body = {"status": "ok" if not problems else "unavailable", "problems": problems,
            "backlog_bytes": rt.spool.backlog_bytes}
    return JSONResponse(body, status_code=200 if not problems else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text format."""
    registry = request.app.state.prometheus
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
