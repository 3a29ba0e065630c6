"""Spans out of the process: OTLP/HTTP protobuf for the server, flat JSON lines for log files.

JSON lines (one object per line, UTF-8) use the field names of the server's native
batch format (``tokentrail.ingest.native.NativeSpan``), so ``tokentrail ingest`` and
``POST /api/ingest/batch`` read them as they are; attributes without a NativeSpan field
are kept under ``attributes`` (an object of OTel attribute keys), and each line names
its ``project`` and ``capture_reason``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from tokentrail.sdk._records import STATUS_ERROR, SpanOut

SCOPE = "tokentrail.sdk"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("tokentrail")
    except Exception:  # not installed as a distribution (source tree)
        return "0"


VERSION = _version()


def resource_attributes(config: Any) -> dict[str, Any]:
    a = {"service.name": config.service_name, "telemetry.sdk.name": "tokentrail", "telemetry.sdk.language": "python",
         "telemetry.sdk.version": VERSION, "tokentrail.source": "sdk"}
    if config.release:
        a["service.version"] = config.release
    if config.environment:
        a["deployment.environment.name"] = config.environment
    return a


def _any(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value) if -(2**63) <= value < 2**63 else AnyValue(string_value=str(value))
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, list | tuple):
        v = AnyValue()
        v.array_value.values.extend(_any(x) if isinstance(x, str | bool | int | float) else
                                    AnyValue(string_value=str(x)) for x in value)
        return v
    return AnyValue(string_value=str(value))


def _kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any(v)) for k, v in attrs.items() if v is not None]


def otlp_request(spans: list[SpanOut], resource: dict[str, Any]) -> bytes:
    """A serialized ExportTraceServiceRequest holding ``spans``."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(_kvs(resource))
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = SCOPE, VERSION
    out = ss.spans
    for s in spans:
        span = trace_pb2.Span(trace_id=s.trace_id.to_bytes(16, "big"), span_id=s.span_id.to_bytes(8, "big"),
                              parent_span_id=s.parent_id.to_bytes(8, "big") if s.parent_id else b"",
                              name=s.name, kind=s.kind, start_time_unix_nano=s.start_ns,
                              end_time_unix_nano=s.end_ns, attributes=_kvs(s.attrs))
        span.status.code = s.status
        if s.message:
            span.status.message = s.message
        out.append(span)
    return req.SerializeToString()


# attribute key -> NativeSpan field
_NATIVE = {
    "gen_ai.provider.name": "provider", "gen_ai.request.model": "model", "gen_ai.response.model": "response_model",
    "gen_ai.usage.input_tokens": "input_tokens", "gen_ai.usage.output_tokens": "output_tokens",
    "gen_ai.usage.cache_read.input_tokens": "cached_input_tokens",
    "gen_ai.usage.cache_creation.input_tokens": "cache_write_tokens",
    "gen_ai.usage.reasoning.output_tokens": "reasoning_tokens", "tokentrail.ttft_ms": "ttft_ms",
    "tokentrail.streamed": "stream", "http.response.status_code": "http_status", "error.type": "error_type",
    "tokentrail.schema_valid": "schema_validated", "user.id": "user_id", "session.id": "session_id",
    "tokentrail.route": "route", "tokentrail.customer": "customer", "tokentrail.tags": "tags",
    "tokentrail.input": "input", "tokentrail.output": "output", "tokentrail.capture_reason": "capture_reason",
    "tokentrail.kind": "kind",
}


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


def native_line(s: SpanOut, resource: dict[str, Any], project: str) -> dict[str, Any]:
    """One JSON-lines object (NativeSpan fields) for a span."""
    line: dict[str, Any] = {
        "trace_id": format(s.trace_id, "032x"), "span_id": format(s.span_id, "016x"),
        "parent_span_id": format(s.parent_id, "016x") if s.parent_id else "", "name": s.name,
        "start_time": _iso(s.start_ns), "end_time": _iso(s.end_ns),
        "duration_ms": round((s.end_ns - s.start_ns) / 1e6, 3),
        "status": "error" if s.status == STATUS_ERROR else "ok",
        "service": resource.get("service.name"), "environment": resource.get("deployment.environment.name"),
        "release": resource.get("service.version"), "project": project or None,
    }
    if s.message:
        line["error_message"] = s.message
    metadata: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for key, value in s.attrs.items():
        field = _NATIVE.get(key)
        if field:
            line[field] = value
        elif key == "gen_ai.response.finish_reasons":
            line["finish_reason"] = value[0] if value else None
        elif key.startswith("tokentrail.metadata."):
            metadata[key[len("tokentrail.metadata."):]] = value
        else:
            attributes[key] = value
    if metadata:
        line["metadata"] = metadata
    if attributes:
        line["attributes"] = attributes
    return {k: v for k, v in line.items() if v is not None}
