"""The gateway's direct OTLP encoder writes what the official protobuf classes read."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1 import trace_pb2

from tokentrail.gateway.otlp import SpanFields, encode_request, encode_span

ATTRS: list[tuple[str, object]] = [
    ("s", "héllo ✓"),
    ("empty", ""),
    ("t", True),
    ("f", False),
    ("i", 0),
    ("big", 2**40),
    ("neg", -5),
    ("x", 12.5),
    ("tags", ["a", "b"]),
]


def _value(v: object) -> object:
    kind = v.WhichOneof("value")  # type: ignore[attr-defined]
    if kind == "array_value":
        return [x.string_value for x in v.array_value.values]  # type: ignore[attr-defined]
    return getattr(v, kind) if kind else ""


def test_encoded_request_decodes_to_the_same_span() -> None:
    fields = SpanFields(
        b"\x01" * 16,
        b"\x02" * 8,
        b"\x03" * 8,
        "chat gpt-4o",
        1_700_000_000_000_000_000,
        1_700_000_000_250_000_000,
        ATTRS,
        error_message="boom",
    )
    req = ExportTraceServiceRequest.FromString(
        encode_request([encode_span(fields)] * 2, "tokentrail.gateway")
    )
    scope = req.resource_spans[0].scope_spans[0]
    assert scope.scope.name == "tokentrail.gateway" and len(scope.spans) == 2
    span = scope.spans[0]
    assert (span.trace_id, span.span_id, span.parent_span_id, span.name) == (
        b"\x01" * 16,
        b"\x02" * 8,
        b"\x03" * 8,
        "chat gpt-4o",
    )
    assert (span.start_time_unix_nano, span.end_time_unix_nano) == (fields.start_ns, fields.end_ns)
    assert span.kind == trace_pb2.Span.SPAN_KIND_CLIENT
    assert (span.status.code, span.status.message) == (trace_pb2.Status.STATUS_CODE_ERROR, "boom")
    assert [(a.key, _value(a.value)) for a in span.attributes] == ATTRS


def test_ok_span_without_parent() -> None:
    span = trace_pb2.Span.FromString(encode_span(SpanFields(b"\x01" * 16, b"\x02" * 8, b"", "x", 1, 2, [])))
    assert span.parent_span_id == b"" and span.status.code == trace_pb2.Status.STATUS_CODE_OK
