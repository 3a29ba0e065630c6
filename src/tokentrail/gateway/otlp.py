"""The gateway's spans as OTLP protobuf, through the one wire encoder (``tokentrail.wire.otlp``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tokentrail.wire import otlp as wire

STATUS_OK, STATUS_ERROR = wire.STATUS_OK, wire.STATUS_ERROR
KIND_CLIENT = wire.KIND_CLIENT


@dataclass(slots=True)
class SpanFields:
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    name: str
    start_ns: int
    end_ns: int
    attributes: list[tuple[str, object]]
    error_message: str | None = None  # None: status OK


def encode_span(s: SpanFields) -> bytes:
    status, message = (STATUS_OK, "") if s.error_message is None else (STATUS_ERROR, s.error_message)
    return wire.span(s.trace_id, s.span_id, s.parent_span_id, s.name, KIND_CLIENT, s.start_ns, s.end_ns,
                     s.attributes, status, message)


def encode_request(spans: Iterable[bytes], scope: str) -> bytes:
    """An ``ExportTraceServiceRequest`` holding ``spans`` (encoded) under one instrumentation scope."""
    return wire.request(spans, scope)
