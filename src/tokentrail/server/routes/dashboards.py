"""Dashboard API: metrics, breakdowns, cost, quality, traces, sessions, users (JSON).

Every route takes the same filters: ``range`` (15m, 1h, 24h, 7d, 30d ...) or
``since``/``until`` (ISO 8601), ``project``, and any of the dimension filters
(route, model, model_family, provider, environment, release, status, kind, error_type, http_status,
user, session, customer, source).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from tokentrail import audit
from tokentrail.errors import BadRequest, NotFound
from tokentrail.privacy import search
from tokentrail.query import capture_why, cost, metrics, quality, scores, traces, users
from tokentrail.query.filters import DIMENSIONS, Filters
from tokentrail.server.auth import content_hidden, project_of, require
from tokentrail.server.runtime import Runtime

router = APIRouter(prefix="/api", tags=["dashboards"])
_RANGE = re.compile(r"^(\d+(?:\.\d+)?)(m|h|d|w)$")
_UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_RANGE_DAYS = 36_500  # a range back to before 1970 has no dates to compute
_EARLIEST, _LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def parse_range(value: str) -> timedelta:
    m = _RANGE.match(value.strip())
    if not m:
        raise BadRequest(f"range {value!r} is not like 15m, 1h, 24h, 7d or 4w")
    seconds = float(m.group(1)) * _UNITS[m.group(2)]
    if seconds > MAX_RANGE_DAYS * 86400:
        raise BadRequest(f"range {value!r} is longer than {MAX_RANGE_DAYS} days")
    return timedelta(seconds=seconds)


def _time(value: str, name: str) -> datetime:
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise BadRequest(f"{name} is not an ISO 8601 time: {value!r}") from e
    t = t if t.tzinfo else t.replace(tzinfo=UTC)
    if not _EARLIEST <= t <= _LATEST:
        raise BadRequest(f"{name} must be between {_EARLIEST.year} and {_LATEST.year}: {value!r}")
    return t


def filters(request: Request, default_range: str = "24h") -> Filters:
    """The filters of a dashboard request (query string), with the caller's project."""
    q = request.query_params
    principal = require(request, "read")
    until = _time(q["until"], "until") if q.get("until") else None
    if q.get("since"):
        since = _time(q["since"], "since")
    else:
        since = (until or datetime.now(UTC)) - parse_range(q.get("range", default_range))
    equals = {k: q[k] for k in DIMENSIONS if q.get(k)}
    return Filters(project=project_of(request, principal), since=since, until=until, equals=equals)


def _consistent(rt: Runtime, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a named query as one read: no insert lands half-way (``ViewGate``), and its filters know the
    minutes whose rollup rows are still being made, which it then reads from the spans."""
    with rt.view_gate.read():
        for a in (*args, *kwargs.values()):
            if isinstance(a, Filters):
                a.pending = rt.pending_minutes(a.project)
                a.stale_days = rt.stale_days(a.project)
        return fn(*args, **kwargs)


async def _run(rt: Runtime, fn: Any, *args: Any, **kwargs: Any) -> Any:
    return await run_in_threadpool(_consistent, rt, fn, *args, **kwargs)


@router.get("/metrics/summary", summary="Headline numbers: volume, cost, errors, latency/TTFT/TPOT percentiles")
async def summary(request: Request, metric: str | None = Query(
        None, description="comma-separated metrics (default: all, with distinct users and sessions where raw spans "
                          "answer); 'users' asks for the distinct users and sessions")) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    f = filters(request)
    return await _run(rt, metrics.summary, rt.store, f, metrics.metric_names(metric))


@router.get("/metrics/timeseries", summary="Metrics over time, optionally one series per group")
async def timeseries(request: Request, metric: str = Query("requests,cost_usd"), group_by: str | None = None,
                     top: int = Query(8, ge=1, le=50), step: int | None = Query(None, ge=60, le=366 * 86400),
                     total: bool = Query(False, description="also the metrics over the whole range (without "
                                         "group_by), from the same pass: 'total'")) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    names = metrics.metric_names(metric) or []
    return await _run(rt, metrics.timeseries, rt.store, filters(request), names, group_by, top, step, total)


@router.get("/metrics/breakdown", summary="Metrics by route, model, model family (with its versions), provider, "
            "user, customer, status ...")
async def breakdown(request: Request, by: str = "route", limit: int = Query(20, ge=1, le=500),
                    order: str = "cost_usd",
                    metric: str | None = Query(None, description="comma-separated metrics (default: all); "
                                               "quantiles cost the most over long ranges")) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    names = metrics.metric_names(metric)
    return await _run(rt, metrics.breakdown, rt.store, filters(request), by, limit, order, names)


@router.get("/cost", summary="Daily and weekly spend, and spend against the budget")
async def cost_view(request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    f = filters(request)
    return {"daily": await _run(rt, cost.daily, rt.store, f), "weekly": await _run(rt, cost.weekly, rt.store, f),
            "budget": await _run(rt, cost.budget, rt.store, f.project, rt.settings.budget_daily_usd)}


@router.get("/quality", summary="Feedback, schema-valid rate, cache-hit rate, output-length distribution, "
            "canonical finish reasons, PII redactions per type")
async def quality_view(request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    f = filters(request)
    step = metrics.auto_interval(f.hours)
    feedback, trend, lows = await _run(rt, quality.score_panels, rt.store, f, step)
    return {"output_length": await _run(rt, quality.output_length, rt.store, f),
            "finish_reasons": await _run(rt, quality.finish_reasons, rt.store, f),
            "feedback": feedback,
            "scores_over_time": trend,
            "redactions": await _run(rt, quality.redactions, rt.store, f),
            "low_scores": await _run(rt, quality.low_scores, rt.store, f, lows=lows),
            "scores_filtered_by": scores.filtered_by(f),  # the filters the three score panels follow
            # the tiles it shows (no latency: merging sketches is the slow part of a long range)
            "summary": await _run(rt, metrics.summary, rt.store, f, metrics.QUALITY_SUMMARY)}


@router.get("/filters/values", summary="Values seen in the range, for filter drop-downs")
async def filter_values(request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    return await _run(rt, quality.filter_values, rt.store, filters(request))


@router.get("/traces", summary="Trace search (newest, costliest or slowest first), each trace with its scores; "
            "score_name, score_source, score_label, score_min, score_max keep traces holding such a score; q keeps "
            "traces whose prompt or response holds every word of q, each with a snippet of where (match; needs "
            "read-content; encrypted content is searched through its blind index); live=1 (the UI's live tail) first inserts the calls spooled so far, "
            "at most once a second")
async def trace_search(request: Request, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0, le=1_000_000),
                       order: str = Query("start_time", pattern="^(start_time|cost|duration)$"),
                       score_name: str = Query("", max_length=200), score_source: str = Query("", max_length=64),
                       score_label: str = Query("", max_length=200), score_min: float | None = None,
                       score_max: float | None = None, q: str = Query("", max_length=1000),
                       live: bool = False) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    scored = traces.ScoreFilter(name=score_name, source=score_source, label=score_label, min=score_min, max=score_max)
    f = filters(request)
    if live:
        await run_in_threadpool(rt.fresh_for_live)
    text = None
    if q.strip():
        principal = require(request, "read-content")
        text = search.content_match(rt.content_keys, q)
    found = await _run(rt, traces.search, rt.store, f, limit, offset, order, scored, text)
    if text is not None:
        # where each trace matched: a snippet of its first matching prompt or response, the words marked
        cuts = await _run(rt, search.snippets, rt.store, rt.content_keys, f.project, found["traces"], q)
        for t in found["traces"]:
            t["match"] = cuts.get(t["trace_id"])
        # the words are not recorded (they may be personal data themselves): how many, and what was found
        audit.record_request(request, actor=principal.actor, action="content.search", project=f.project,
                             detail=f"{text.words} word(s), {len(found['traces'])} trace(s), traces list")
    return found


@router.get("/scores/names", summary="Score names given in the range (most used first), with their sources")
async def score_names(request: Request) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    return {"names": await _run(rt, traces.score_names, rt.store, filters(request))}


@router.get("/traces/{trace_id}", summary="One trace: span tree with timings, content where captured and permitted")
async def trace_detail(request: Request, trace_id: str, project: str | None = None) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    principal = require(request, "read", project)
    if not re.fullmatch(r"[0-9a-fA-F]{32}", trace_id):
        raise BadRequest("trace_id must be 32 hex characters")
    proj = project_of(request, principal)
    doc = await _run(rt, traces.detail, rt.store, proj, trace_id, principal.can("read-content", proj))
    if doc is None:
        from tokentrail.server.routes.projects import where_else

        raise NotFound(f"no trace {trace_id} in project {proj}" + await where_else(request, principal, trace_id=trace_id))
    if doc["content_permitted"]:
        audit.record_request(request, actor=getattr(principal, "actor", "local"), action="content.read",
                             project=proj, target=trace_id, detail=f"trace: {len(doc['content'])} spans with content")
    doc["scores"] = await _run(rt, _scores, rt, proj, trace_id)
    if doc["content_permitted"]:  # why the calls without content have none, and how to keep it
        doc["not_captured"] = await _run(rt, capture_why.for_trace, rt.store, rt.settings, proj, doc["spans"],
                                         doc["content"])
    return content_hidden(doc, principal)


def _scores(rt: Runtime, project: str, trace_id: str) -> list[dict[str, Any]]:
    from tokentrail.query.scores import for_trace_or_span

    return for_trace_or_span(rt.store, project, trace_id=trace_id)


@router.get("/sessions", summary="Sessions, most recent first")
async def session_list(request: Request, limit: int = Query(50, ge=1, le=500),
                       offset: int = Query(0, ge=0, le=1_000_000)) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    return await _run(rt, traces.sessions, rt.store, filters(request), limit, offset)


@router.get("/sessions/{session_id}", summary="One session's turns in order")
async def session_detail(request: Request, session_id: str, project: str | None = None) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    principal = require(request, "read", project)
    proj = project_of(request, principal)
    doc = await _run(rt, traces.session_turns, rt.store, proj, session_id, principal.can("read-content", proj))
    if doc is None:
        from tokentrail.server.routes.projects import where_else

        raise NotFound(f"no session {session_id!r} in project {proj}"
                       + await where_else(request, principal, session_id=session_id))
    if doc["content_permitted"]:
        shown = sum(1 for t in doc["turns"] if t.get("input") or t.get("output"))
        audit.record_request(request, actor=getattr(principal, "actor", "local"), action="content.read",
                             project=proj, target=session_id, detail=f"session: {shown} turns with content")
    return content_hidden(doc, principal)


@router.get("/users", summary="Users (or customers) by cost, requests, tokens or errors")
async def user_list(request: Request, by: str = Query("user", pattern="^(user|customer)$"),
                    order: str = "cost", limit: int = Query(50, ge=1, le=1000),
                    offset: int = Query(0, ge=0, le=1_000_000)) -> dict[str, Any]:
    rt: Runtime = request.app.state.runtime
    return await _run(rt, users.leaderboard, rt.store, filters(request), by, order, limit, offset)
