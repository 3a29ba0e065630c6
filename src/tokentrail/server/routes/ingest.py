"""Ingest routes: OTLP/HTTP traces and logs (protobuf and JSON), the Langfuse SDK's OTLP
endpoint, and the native JSON batch."""

from __future__ import annotations

import time
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from tokentrail.errors import BadRequest, PayloadTooLarge
from tokentrail.ingest import logs, native, otlp, scores, wire
from tokentrail.ingest.timewindow import TimeWindow
from tokentrail.privacy.ingest import scrubber
from tokentrail.privacy.walk import Scrubber
from tokentrail.server.auth import require
from tokentrail.server.runtime import Runtime

router = APIRouter(tags=["ingest"])
# ingest's own worker threads: reads queued behind a busy store hold the default pool's 40 tokens, and must
# never make an acknowledgement wait (one client's dashboards never cost another client its latency)
INGEST_THREADS = anyio.CapacityLimiter(16)


async def _ingest_thread(fn: Any, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(fn, *args, limiter=INGEST_THREADS)


INLINE_DECODE_BYTES = 1 << 20  # larger bodies are parsed on an ingest thread, never on the event loop
INLINE_SCRUB_BYTES = 64 << 10  # the same when they are redacted too (PII-dense text costs ~0.3 us a byte)


async def _decode(fn: Any, body: bytes, *args: Any) -> Any:
    """Parse a body: a small one at once (cheaper than a thread hop), a large one (a 40 MB request takes
    a second) on an ingest thread, so health checks and other requests are never held behind it."""
    redacted = any(isinstance(a, Scrubber) and a.redactor is not None for a in args)
    if len(body) <= (INLINE_SCRUB_BYTES if redacted else INLINE_DECODE_BYTES):
        return fn(body, *args)
    return await _ingest_thread(fn, body, *args)


async def _body(request: Request) -> bytes:
    """The decompressed body. Its size limit is enforced while it streams in (``server/body_limit.py``),
    chunked uploads included; the decompressed size is capped by ``otlp.decompress``."""
    body = await request.body()
    if len(body) > otlp.MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body is over {otlp.MAX_BODY_BYTES} bytes")
    return otlp.decompress(body, request.headers.get("content-encoding"))


def _window(rt: Runtime) -> TimeWindow:
    return TimeWindow.now(rt.settings.retention_spans_days, rt.settings.retention_contents_days)


async def _spool(rt: Runtime, decoded: otlp.Decoded, project: str, source: str) -> None:
    if decoded.spans:
        received = time.time_ns()
        for payload in decoded.parts or [decoded.payload]:  # a giant request: several records (otlp._records)
            await _ingest_thread(rt.spool.append, wire.envelope(payload, project, source, received))
        rt.counters.accepted_spans += decoded.spans
    rt.counters.requests += 1
    counted = project or rt.settings.default_project
    if decoded.expired:
        rt.counters.refused(counted, "expired_span", f"starts before the span retention "
                            f"({rt.settings.retention_spans_days} days)", decoded.expired)
    if decoded.content_expired:
        rt.counters.refused(counted, "expired_content", f"content starts before the content retention "
                            f"({rt.settings.retention_contents_days} days)", decoded.content_expired)
    if decoded.rejected > decoded.expired:
        invalid = next((e for e in decoded.errors if "retention" not in e), "invalid span")
        rt.counters.refused(counted, "rejected_span", invalid, decoded.rejected - decoded.expired)


def _partial_message(decoded: otlp.Decoded) -> str:
    """The partial_success message: why spans were refused, and content not kept (a warning, spans kept)."""
    parts = []
    if decoded.rejected:
        expired = f" ({decoded.expired} of them start before the span retention)" if decoded.expired else ""
        parts.append(f"{decoded.rejected} span(s) rejected{expired}; the other {decoded.spans} were accepted: "
                     + "; ".join(decoded.errors))
    if decoded.content_expired:
        parts.append(f"the content of {decoded.content_expired} span(s) starts before the content retention "
                     "and is not kept (the spans are)")
    return "; ".join(parts)


@router.post("/v1/traces", summary="OTLP/HTTP trace export (protobuf or JSON, gzip accepted)")
@router.post("/api/public/otel/v1/traces",
             summary="The Langfuse SDK's OTLP trace export (Basic auth with a configured Langfuse key pair)")
async def otlp_traces(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    principal = require(request, "ingest")
    try:
        body = await _body(request)
        decoded = await _decode(otlp.decode_request, body, request.headers.get("content-type"), _window(rt),
                                scrubber(rt.store, rt.settings, principal.project, "otlp"))
    except BadRequest as e:
        rt.counters.refused(principal.project or rt.settings.default_project, "rejected_request", e.message)
        raise
    await _spool(rt, decoded, principal.project, "otlp")
    # OTLP/HTTP partial success: 200, the refused count and why; the good spans are stored
    as_json = request.headers.get("content-type", "").startswith("application/json")
    message = _partial_message(decoded)
    content, media = otlp.response_body(as_json, decoded.rejected, message)
    return Response(content=content, media_type=media)


@router.post("/v1/logs", summary="OTLP/HTTP log export: GenAI content events become span content")
@router.post("/api/public/otel/v1/logs", summary="The same, on the Langfuse SDK's path")
async def otlp_logs(request: Request) -> Response:
    """Log records linked to a span (``gen_ai.*.message``, ``gen_ai.choice``,
    ``gen_ai.client.inference.operation.details``) become that span's prompt/response content,
    stored before the answer; other records are counted and dropped."""
    rt: Runtime = request.app.state.runtime
    principal = require(request, "ingest")
    counted_project = principal.project or rt.settings.default_project
    received = time.time_ns()
    try:
        body = await _body(request)
        req = await _decode(logs.parse_request, body, request.headers.get("content-type"))
    except BadRequest as e:
        rt.counters.refused(counted_project, "rejected_request", e.message)
        raise
    decoded = await run_in_threadpool(logs.extract, req, received)
    await run_in_threadpool(scrubber(rt.store, rt.settings, principal.project, "otlp").logs, decoded)
    await run_in_threadpool(logs.write, rt.store, decoded, principal.project, rt.settings.default_project)
    rt.counters.requests += 1
    for reason, n in decoded.dropped.items():
        rt.counters.refused(counted_project, "dropped_log_record", reason, n)
    bad = decoded.dropped.get("bad trace/span id", 0)
    as_json = request.headers.get("content-type", "").startswith("application/json")
    content, media = logs.response_body(as_json, bad, f"{bad} GenAI log record(s) have a malformed trace/span id"
                                        if bad else "")
    return Response(content=content, media_type=media)


@router.post("/v1/metrics", summary="OTLP/HTTP metrics: accepted and not stored (this wave)")
@router.post("/api/public/otel/v1/metrics", include_in_schema=False)
async def otlp_metrics(request: Request) -> Response:
    """Answered 200 so libraries that always push metrics (openlit, traceloop) log no export
    errors; the data points are not stored: tokentrail computes its metrics from spans."""
    require(request, "ingest")
    as_json = request.headers.get("content-type", "").startswith("application/json")
    return Response(content=b"{}" if as_json else b"", media_type="application/json" if as_json
                    else "application/x-protobuf")


@router.post("/api/ingest/batch", summary="Native JSON batch: {\"spans\": [...]} or a JSON list")
async def native_batch(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    principal = require(request, "ingest")
    doc = await _decode(otlp.load_json, await _body(request))
    items = doc.get("spans") if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise BadRequest("body must be a JSON list of calls or an object {\"spans\": [...]}")
    if len(items) > rt.settings.ingest_max_batch_items:
        raise PayloadTooLarge(f"the batch holds {len(items)} calls; at most {rt.settings.ingest_max_batch_items} "
                              "per request (setting ingest_max_batch_items)")
    decoded, problems = await _ingest_thread(native.decode_items, items, _window(rt),
                                             scrubber(rt.store, rt.settings, principal.project, "sdk"))
    await _spool(rt, decoded, principal.project, "sdk")
    status = 200 if not problems else 400
    body_out = {"accepted": decoded.spans, "rejected": decoded.rejected, "expired": decoded.expired,
                "errors": problems[:100]}
    if decoded.content_expired:  # the calls are kept, their content is past its retention
        body_out["content_expired"] = decoded.content_expired
    if problems:
        body_out["error"] = f"{len(problems)} item(s) rejected; the other {decoded.spans} were accepted"
    return JSONResponse(body_out, status_code=status)


@router.post("/api/scores", summary="Scores and feedback linked to a trace, span or request id")
async def post_scores(request: Request) -> JSONResponse:
    rt: Runtime = request.app.state.runtime
    principal = require(request, "ingest")
    doc = await _decode(otlp.load_json, await _body(request))
    items = doc if isinstance(doc, list) else doc.get("scores", [doc]) if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise BadRequest("body must be a score object, a list of them, or {\"scores\": [...]}")
    good, problems = scores.parse_scores(items)
    project = principal.project or rt.settings.default_project
    bad = {p["index"] for p in problems}
    index = [i for i in range(len(items)) if i not in bad]  # good[k] is items[index[k]]
    unknown = await run_in_threadpool(scores.link, rt.store, project, good, rt.wait_for_acknowledged)
    for k in reversed(unknown):  # an id that names no span in this project, even after the grace period
        s = good.pop(k)
        problems.append({"index": index[k], "not_found": True,
                         "error": f"no span {s.span_id or s.request_id} in project {project!r} (waited "
                                  f"{scores.GRACE_SECONDS:g} s for spans on their way)"})
    problems.sort(key=lambda p: p["index"])
    ids = await run_in_threadpool(scores.write_scores, rt.store, project, good)
    out: dict = {"accepted": len(ids), "rejected": len(problems), "score_ids": ids, "errors": problems}
    if problems:
        out["error"] = f"{len(problems)} score(s) rejected; the other {len(ids)} were accepted"
    status = 200 if not problems else 404 if not ids and all(p.get("not_found") for p in problems) else 400
    return JSONResponse(out, status_code=status)
