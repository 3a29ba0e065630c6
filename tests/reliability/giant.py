"""Scenario: giant requests. One request holding one trace of many LLM spans (most under the same
parent), then one request holding many traces; meanwhile separate threads poll ``/healthz`` and
dashboard queries and record every answer's latency."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.reliability.harness import (
    PROTOBUF,
    UI_QUERIES,
    Poller,
    flush,
    otlp_request,
    stop,
    stored_ids,
    traffic_request,
)
from tests.support import ServerProcess
from tokentrail.demo.traffic import Traffic
from tokentrail.ingest.wire import kv

PROJECT = "giant"
MODELS = ("gpt-4o-mini", "claude-3-5-haiku-20241022", "gpt-4.1-nano")


def one_trace(spans: int) -> tuple[bytes, list[str]]:
    """One agent trace: a root span and ``spans - 1`` children: every 10th a tool span, the others
    LLM calls, most directly under the root, some under the last tool span, some inside the previous
    LLM span (two instrumentations of one call), pairs of siblings sharing a response id: every path
    of the double-count check (ingest/dedupe.py) sees candidates."""
    trace_id = os.urandom(16)
    now = time.time_ns()
    root = trace_pb2.Span(trace_id=trace_id, span_id=os.urandom(8), name="giant-agent",
                          start_time_unix_nano=now - 600 * 10**9, end_time_unix_nano=now)
    root.attributes.extend([kv("tokentrail.kind", "agent"), kv("tokentrail.route", "giant")])
    out = [root]
    parent = root.span_id
    for i in range(spans - 1):
        start = now - 600 * 10**9 + i * (600 * 10**9 // spans)
        s = trace_pb2.Span(trace_id=trace_id, span_id=os.urandom(8), start_time_unix_nano=start,
                           end_time_unix_nano=start + 400_000_000, kind=trace_pb2.Span.SPAN_KIND_CLIENT)
        if i % 10 == 9:
            s.parent_span_id, s.name = root.span_id, "search_kb"
            s.kind = trace_pb2.Span.SPAN_KIND_INTERNAL
            s.attributes.extend([kv("tokentrail.kind", "tool"), kv("tokentrail.route", "giant")])
            parent = s.span_id
        else:
            model = MODELS[i % len(MODELS)]
            s.parent_span_id = (root.span_id, parent, out[-1].span_id)[i % 3] if i % 7 else root.span_id
            s.name = f"chat {model}"
            s.attributes.extend([kv("gen_ai.operation.name", "chat"), kv("gen_ai.system", "openai"),
                                 kv("gen_ai.request.model", model), kv("gen_ai.response.model", model),
                                 kv("gen_ai.usage.input_tokens", 100 + i % 900),
                                 kv("gen_ai.usage.output_tokens", 10 + i % 90),
                                 kv("gen_ai.response.finish_reasons", ["stop"]),
                                 kv("gen_ai.response.id", f"resp-{i // 2}"),
                                 kv("tokentrail.route", "giant"), kv("user.id", f"user-{i % 50}")])
        out.append(s)
    return otlp_request(out), [s.span_id.hex() for s in out]


def _phase(server: ServerProcess, name: str, body: bytes, load_timeout: float) -> dict[str, Any]:
    poller = Poller(server.url, ("/healthz", *UI_QUERIES), timeout=10).start()
    t0 = time.monotonic()
    figures: dict[str, Any] = {"body_mb": round(len(body) / 2**20, 1)}
    try:
        r = httpx.post(server.url + "/v1/traces", content=body, timeout=120,
                       headers={**PROTOBUF, "x-tokentrail-project": PROJECT})
        figures["post_status"], figures["post_s"] = r.status_code, round(time.monotonic() - t0, 2)
        try:
            loaded = flush(server, load_timeout)
        except httpx.TimeoutException:
            loaded = False
        figures["loaded_s"] = round(time.monotonic() - t0, 2) if loaded else None  # None: not within load_timeout
    finally:
        poller.join()
    figures["polls"] = poller.figures()
    figures["poll_failures"] = poller.failures()
    return {name: figures}


def run(root: Path, *, trace_spans: int, traces: int, load_timeout: float = 120) -> dict[str, Any]:
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(data).start()
    body1, ids1 = one_trace(trace_spans)
    body2, ids2 = traffic_request(Traffic(seed=3), traces)
    figures: dict[str, Any] = {"scenario": "giant", "trace_spans": trace_spans, "traces": traces}
    try:
        figures.update(_phase(server, "one_trace", body1, load_timeout))
        figures.update(_phase(server, "many_traces", body2, load_timeout))
    finally:
        stop(server)
    stored, _ = stored_ids(data, PROJECT)
    expected = set(ids1) | set(ids2)
    figures["sent_spans"] = len(expected)
    figures["stored_spans"] = len(stored.keys() & expected)
    phases = [figures["one_trace"], figures["many_traces"]]
    figures["health_max_s"] = max(p["polls"]["/healthz"]["max_s"] or 0 for p in phases)
    figures["query_max_s"] = max(p["polls"][q]["max_s"] or 0 for p in phases for q in UI_QUERIES)
    return figures
