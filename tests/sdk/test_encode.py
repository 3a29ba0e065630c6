"""The SDK's hand-written OTLP encoding decodes with the official protobuf classes, value for value."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tokentrail.sdk._encode import encode_span, otlp_request
from tokentrail.sdk._records import SpanOut


def _value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_value(x) for x in v.array_value.values]
    return getattr(v, kind)


def test_hand_encoded_request_decodes_with_the_official_classes() -> None:
    attrs = {"s": "héllo ✓", "empty": "", "t": True, "f": False, "i": 42, "neg": -7, "big": 2**63 - 1,
             "huge": 2**70, "x": 0.25, "arr": ["a", "b"], "mixed": [1, "two", 3.5, True], "obj": {"k": 1},
             "none": None, "long": "y" * 300}
    span = SpanOut(trace_id=2**127 + 5, span_id=2**63 + 9, parent_id=77, name="chat gpt ✓", kind=3,
                   start_ns=1_700_000_000_123_456_789, end_ns=1_700_000_001_000_000_000, status=2,
                   message="boom", attrs=attrs)
    root = SpanOut(trace_id=1, span_id=2, parent_id=0, name="", kind=1, start_ns=0, end_ns=0, status=0, message="")
    body = otlp_request([encode_span(span), encode_span(root)], {"service.name": "svc", "n": 3})
    req = ExportTraceServiceRequest.FromString(body)
    rs = req.resource_spans[0]
    assert {a.key: _value(a.value) for a in rs.resource.attributes} == {"service.name": "svc", "n": 3}
    assert rs.scope_spans[0].scope.name == "tokentrail.sdk"
    got, got_root = rs.scope_spans[0].spans
    assert (got.trace_id, got.span_id, got.parent_span_id) == (
        (2**127 + 5).to_bytes(16, "big"), (2**63 + 9).to_bytes(8, "big"), (77).to_bytes(8, "big"))
    assert (got.name, got.kind, got.start_time_unix_nano, got.end_time_unix_nano) == (
        "chat gpt ✓", 3, 1_700_000_000_123_456_789, 1_700_000_001_000_000_000)
    assert (got.status.code, got.status.message) == (2, "boom")
    assert {a.key: _value(a.value) for a in got.attributes} == {
        "s": "héllo ✓", "empty": "", "t": True, "f": False, "i": 42, "neg": -7, "big": 2**63 - 1,
        "huge": str(2**70), "x": 0.25, "arr": ["a", "b"], "mixed": [1, "two", 3.5, True], "obj": "{'k': 1}",
        "long": "y" * 300}
    assert (got_root.parent_span_id, got_root.status.code, len(got_root.attributes)) == (b"", 0, 0)
