"""Query and admin API (JSON). Each route calls a named query; none holds SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, field_validator
from starlette.concurrency import run_in_threadpool

from tokentrail.pricing.store import recompute_costs
from tokentrail.query import rollups, scores, stats
from tokentrail.query.filters import Filters
from tokentrail.server.auth import needs, project_of, require, require_server_wide
from tokentrail.server.routes import quarantine
from tokentrail.server.runtime import Runtime

router = APIRouter(prefix="/api", tags=["query"])


def _filters(request: Request, hours: float, project: str | None) -> Filters:
    principal = require(request, "read", project)
    return Filters(project=project_of(request, principal), since=datetime.now(UTC) - timedelta(hours=hours))


@router.get("/stats/routes", summary="Tokens, cost, p50/p99 latency and error rate by route")
async def route_stats(request: Request, hours: float = Query(24, gt=0, le=24 * 400),
                      project: str | None = None) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    f = _filters(request, hours, project)
    rows = await run_in_threadpool(stats.by_route, rt.store, f)
    total = await run_in_threadpool(stats.totals, rt.store, f)
    return {"project": f.project, "hours": hours, "routes": rows, "totals": total}


@router.get("/pricing", summary="Price table version, size and models seen without a price (dashboard filters,"
            " default range 7d)")
async def pricing(request: Request) -> dict[str, Any]:
    from tokentrail.server.routes.dashboards import filters

    rt: Runtime = request.app.state.runtime
    f = filters(request, default_range="7d")
    unpriced = await run_in_threadpool(stats.unpriced_models, rt.store, f)
    error = rt.prices.last_error
    return {"version": rt.prices.version, "models": len(rt.prices.rows),
            "user_file": str(rt.prices.user_file or ""), "unpriced_models": unpriced,
            "reload_error": str(error) if error is not None else None}


class RecomputeRequest(BaseModel):
    since: datetime
    until: datetime | None = None
    project: str | None = None

    @field_validator("since", "until")
    @classmethod
    def _in_range(cls, v: datetime | None) -> datetime | None:
        """A time the store can hold (year 2000 to 2100), in UTC; a naive one is taken as UTC."""
        if v is None:
            return v
        try:
            v = v.astimezone(UTC) if v.tzinfo else v.replace(tzinfo=UTC)
        except (OverflowError, ValueError) as e:  # e.g. year 1 with a positive offset: before year 1 in UTC
            raise ValueError("must be between 2000-01-01 and 2100-01-01") from e
        if not datetime(2000, 1, 1, tzinfo=UTC) <= v <= datetime(2100, 1, 1, tzinfo=UTC):
            raise ValueError("must be between 2000-01-01 and 2100-01-01")
        return v


@router.post("/admin/recompute-costs", summary="Re-price calls in a time range with the current prices",
             dependencies=[Depends(needs("admin"))])
async def recompute(request: Request, body: RecomputeRequest) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    principal = require(request, "admin", body.project)
    await run_in_threadpool(rt.reload_prices)
    await run_in_threadpool(rt.inserter.flush)
    project = project_of(request, principal)
    until = body.until or datetime.now(UTC) + timedelta(minutes=1)
    result = await run_in_threadpool(recompute_costs, rt.store, rt.prices, project, body.since, until)
    touched = await run_in_threadpool(rollups.minutes_in_range, rt.store, project, body.since, until)
    rt.rollup_queue.add(touched)
    await run_in_threadpool(rt.refresh_rollups)
    return result


@router.post("/admin/flush", summary="Wait until every acknowledged span is queryable")
async def flush(request: Request, timeout: float = Query(30, gt=0, le=300)) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    require(request, "admin")
    done = await run_in_threadpool(rt.settle, timeout)
    return {"flushed": done, "backlog_bytes": rt.spool.backlog_bytes}


@router.get("/ingest/status", summary="Ingest counters: accepted, refused by reason, backlog, inserts")
async def ingest_status(request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    require_server_wide(request, "admin")
    s = rt.inserter.stats
    return {"accepted_spans": rt.counters.accepted_spans, "requests": rt.counters.requests,
            "refused": dict(rt.counters.totals), "truncated_spans": rt.span_metrics.truncated_spans(),
            "backlog_bytes": rt.spool.backlog_bytes,
            "inserts": {"batches": s.batches, "segments": s.segments, "bytes": s.bytes, "failures": s.failures,
                        "quarantined": s.quarantined, "last_error": s.last_error,
                        "split_inserts": s.splits, "last_insert_seconds": round(s.last_insert_seconds, 4)},
            "quarantine": {k: v for k, v in (await run_in_threadpool(quarantine.listing, rt)).items() if k != "items"}}


@router.get("/scores", summary="Scores of a trace or of a span / request id")
async def get_scores(request: Request, trace_id: str = "", span_id: str = "",
                     project: str | None = None) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    f = _filters(request, 1, project)
    rows = await run_in_threadpool(scores.for_trace_or_span, rt.store, f.project, trace_id, span_id)
    return {"scores": rows}
