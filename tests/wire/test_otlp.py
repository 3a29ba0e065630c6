"""The one hand-written OTLP encoder (SDK and gateway) decodes with the official classes, also for text a
careless app hands over that is not valid Unicode: one bad string never makes the server refuse an export."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tokentrail.wire import otlp as wire


def test_a_lone_surrogate_is_replaced_and_the_export_stays_valid() -> None:
    body = wire.request([wire.span(b"\x01" * 16, b"\x02" * 8, b"", "chat \ud800", wire.KIND_CLIENT, 1, 2,
                                   [("gen_ai.prompt", "hi \udc00 there"), ("ok", "fine")], wire.STATUS_ERROR,
                                   "bad \ud83d")],
                        "scope", "1.0", [("service.name", "svc")])
    span = ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans[0]
    assert span.name == "chat ?" and span.status.message == "bad ?"
    assert {a.key: a.value.string_value for a in span.attributes} == {"gen_ai.prompt": "hi ? there", "ok": "fine"}


def test_negative_and_huge_integers_and_nested_lists() -> None:
    body = wire.request([wire.span(b"\x01" * 16, b"\x02" * 8, b"\x03" * 8, "s", wire.KIND_INTERNAL, 0, 0,
                                   [("neg", -(2**63)), ("huge", 2**64), ("nested", [[1, 2], "x"])])], "scope")
    span = ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans[0]
    values = {a.key: a.value for a in span.attributes}
    assert values["neg"].int_value == -(2**63) and values["huge"].string_value == str(2**64)
    assert [v.string_value for v in values["nested"].array_value.values] == ["[1, 2]", "x"]
