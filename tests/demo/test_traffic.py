"""The demo traffic looks like an app's: sessions are conversations (one user, one feature, about an
hour), and a failed call reports no first token, no streaming and no schema check."""

from __future__ import annotations

import time
from collections import defaultdict

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tokentrail.demo.traffic import Traffic


def _spans(traffic: Traffic, traces: int, span_seconds: float):  # type: ignore[no-untyped-def]
    for body in traffic.requests(traces, per_request=200, start_ns=time.time_ns(), span_seconds=span_seconds):
        req = ExportTraceServiceRequest.FromString(body)
        for rs in req.resource_spans:
            for ss in rs.scope_spans:
                yield from ss.spans


def _attrs(span) -> dict[str, object]:  # type: ignore[no-untyped-def]
    out: dict[str, object] = {}
    for kv in span.attributes:
        v = kv.value
        out[kv.key] = getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None
    return out


def test_a_session_is_one_user_on_one_route_within_about_an_hour() -> None:
    routes: dict[str, set[str]] = defaultdict(set)
    users: dict[str, set[str]] = defaultdict(set)
    times: dict[str, list[int]] = defaultdict(list)
    for span in _spans(Traffic(seed=3), 3000, span_seconds=7 * 86400):
        a = _attrs(span)
        s = str(a["session.id"])
        routes[s].add(str(a["tokentrail.route"]))
        users[s].add(str(a["user.id"]))
        times[s].append(span.start_time_unix_nano)
    assert len(routes) > 500
    assert all(len(r) == 1 for r in routes.values())
    assert all(len(u) == 1 for u in users.values())
    assert max(max(t) - min(t) for t in times.values()) <= 2 * 3600 * 10**9


def test_a_failed_call_has_no_first_token_stream_or_schema_check() -> None:
    failed = 0
    for span in _spans(Traffic(seed=4, error_rate=0.2), 2000, span_seconds=3600):
        a = _attrs(span)
        if span.status.code == 2 and a.get("tokentrail.kind") is None:
            failed += 1
            assert "tokentrail.ttft_ms" not in a and "tokentrail.schema_valid" not in a
            assert a["tokentrail.streamed"] is False
            assert not any(k.startswith("gen_ai.usage.") for k in a)
    assert failed > 50
