"""One recorded LLM call: what the app's thread fills in (``begin``/``end``), and the span it becomes.

On the app's thread a call costs: one dict lookup of the endpoint, a read of the OTel
current span and of our context, two clock reads, one id draw and one append to a
bounded deque. Everything else (reading the request body and the response, tokens,
content) happens in ``LLMCall.span`` in the export thread, from the references kept here.
"""

from __future__ import annotations

import json
import time
from typing import Any

from opentelemetry.context import get_current as otel_current
from pydantic import BaseModel

from tokentrail.privacy.redact import REDACTED_KEY, format_counts
from tokentrail.sdk import _state
from tokentrail.sdk._context import CURRENT
from tokentrail.sdk._records import (
    SPAN_KEY,
    SPAN_KIND_CLIENT,
    STATUS_ERROR,
    STATUS_OK,
    SUPPRESS_KEY,
    Recorded,
    SpanOut,
)
from tokentrail.sdk.instrument._adapter import Adapter

_perf = time.perf_counter_ns


class LLMCall(Recorded):
    result: Any = None
    chunks: list[Any] | None = None
    chunk_count = 0  # chunks the app read (``chunks`` may hold only some of them)
    pre_capture: str | None = None
    ttft_ns = 0
    early_close = False

    def span(self, policy: Any) -> SpanOut:
        adapter: Adapter = self.adapter
        body = self.body if isinstance(self.body, dict) else {}
        operation = adapter.operation_names.get(self.operation, self.operation)
        a: dict[str, Any] = {"tokentrail.kind": self.kind, "gen_ai.operation.name": operation,
                             "gen_ai.provider.name": adapter.provider}
        a.update(adapter.request_attributes(self.operation, body))
        status, message = STATUS_OK, ""
        output: Any = None
        if self.streamed:
            a["tokentrail.streamed"] = True
            if self.ttft_ns:
                a["tokentrail.ttft_ms"] = round((self.ttft_ns - self.t0) / 1e6, 3)
            if self.early_close:
                a["tokentrail.stream_closed_early"] = True
            a.update(adapter.stream_attributes(self.operation, self.chunks or [], body, self.chunk_count))
            output = adapter.stream_output(self.operation, self.chunks or []) if self.capture else None
        elif self.error is None:
            result = _plain_result(self.result)
            if result is not None:
                a.update(adapter.response_attributes(self.operation, result))
                output = adapter.output(self.operation, result) if self.capture else None
        if self.error is not None:
            status = STATUS_ERROR
            a.update(error_attributes(self.error))
            message = _message(self.error)
        elif "http.response.status_code" not in a:
            a["http.response.status_code"] = 200
        if self.ctx is not None:
            a.update(self.ctx.attributes())
        if self.capture:
            a["tokentrail.capture_reason"] = self.capture
            found: dict[str, int] = {}
            a["tokentrail.input"] = policy.text(adapter.input(self.operation, body), found)
            if output is not None:
                a["tokentrail.output"] = policy.text(output, found)
            if found:
                a[REDACTED_KEY] = format_counts(found)
        if self.schema is not None:
            a.update(self.schema)
        model = a.get("gen_ai.request.model") or a.get("gen_ai.response.model") or ""
        end = self.start_ns + (self.t1 - self.t0)
        return SpanOut(self.trace_id, self.span_id, self.parent_id, f"{operation} {model}".strip(),
                       SPAN_KIND_CLIENT, self.start_ns, end, status, message, {k: v for k, v in a.items()
                                                                               if v is not None})


def _plain_result(result: Any) -> Any:
    """The parsed response, or the JSON of a raw response (``with_raw_response``) that was already read."""
    if isinstance(result, BaseModel):  # the parsed response (and a missed getattr on a model is slow)
        return result
    raw = getattr(result, "http_response", None)
    if raw is None:
        return result
    if getattr(raw, "_content", None) is None:  # never read the body from this thread
        return None
    try:
        return json.loads(raw._content)
    except ValueError:
        return None


def _message(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(text)[:1000]


def error_attributes(exc: BaseException) -> dict[str, Any]:
    a: dict[str, Any] = {"error.type": type(exc).__name__}
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        a["http.response.status_code"] = status
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is not None and hasattr(headers, "get"):
        retry_after = headers.get("retry-after")
        if retry_after:
            a["http.response.header.retry-after"] = [str(retry_after)]
        request_id = headers.get("x-request-id") or headers.get("request-id")
        if request_id:
            a["gen_ai.response.provider_request_id"] = str(request_id)
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error") if isinstance(body.get("error"), dict) else body
        if err.get("code"):
            a["tokentrail.error_code"] = str(err["code"])
        elif err.get("type"):
            a["tokentrail.error_code"] = str(err["type"])
    return a


# -- the app's thread


def begin(adapter: Adapter, options: Any, stream: bool) -> LLMCall | None:
    """Start recording a call, or None (not recorded). The hot path: a few dict reads, no helper calls."""
    if _state.STATE.exporter is None:
        return None
    url = options.url
    route = adapter.routes.get(url)
    if route is None:
        if "?" not in url:
            return None
        route = adapter.routes.get(url.partition("?")[0])
        if route is None:
            return None
    otel = otel_current()  # the OTel context: the app's current span, or instrumentation suppressed
    if otel.get(SUPPRESS_KEY):
        return None
    call = LLMCall()
    span = otel.get(SPAN_KEY)
    sc = span.get_span_context() if span is not None else None
    if sc is not None and sc.is_valid:
        call.trace_id, call.parent_id = sc.trace_id, sc.span_id
    else:
        call.parent_id = 0  # a new trace: its id (and the span's) is drawn when first read
    call.adapter = adapter
    call.operation, call.kind = route
    call.body = options.json_data
    call.streamed = stream
    call.ctx = CURRENT.get()
    call.start_ns = time.time_ns()
    call.t0 = _perf()
    return call


def end(call: LLMCall, error: BaseException | None) -> None:
    """Finish a call (non-streamed, or a stream at its end) and queue it."""
    call.t1 = _perf()
    call.error = error
    state = _state.STATE
    if error is None and call.streamed:
        call.capture = call.pre_capture  # decided when the stream started (it chose which chunks to keep)
    elif state.policy is not None:
        call.capture = state.policy.decide(error is not None, call.ctx)
    exporter = state.exporter
    if exporter is not None:
        exporter.submit(call)
