"""Spans out of the process: OTLP/HTTP protobuf for the server, flat JSON lines for log files.

JSON lines (one object per line, UTF-8) use the field names of the server's native
batch format (``tokentrail.ingest.native.NativeSpan``), so ``tokentrail ingest`` and
``POST /api/ingest/batch`` read them as they are. Attributes without a NativeSpan field
(request parameters, ``tokentrail.capture_reason``, ``tokentrail.tokens_estimated``,
``tokentrail.project`` ...) are kept under one ``attributes`` object of OTel keys, which
today's NativeSpan ignores (a JSON object is not a scalar extra).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tokentrail.sdk._records import STATUS_ERROR, SpanOut
from tokentrail.wire import otlp as wire

SCOPE = "tokentrail.sdk"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tokentrail")
    except PackageNotFoundError:  # a source tree, not installed
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


def encode_span(s: SpanOut) -> bytes:
    """An encoded OTLP Span (the one wire encoder: ``tokentrail.wire.otlp``)."""
    return wire.span(s.trace_id.to_bytes(16, "big"), s.span_id.to_bytes(8, "big"),
                     s.parent_id.to_bytes(8, "big") if s.parent_id else b"", s.name, s.kind, s.start_ns, s.end_ns,
                     s.attrs.items(), s.status, s.message or "")


def otlp_request(spans: list[bytes], resource: dict[str, Any]) -> bytes:
    """A serialized ExportTraceServiceRequest of encoded ``spans`` (one resource, one scope)."""
    return wire.request(spans, SCOPE, VERSION, resource.items())


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
    "tokentrail.input": "input", "tokentrail.output": "output", "tokentrail.kind": "kind",
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
        "release": resource.get("service.version"),
    }
    if s.message:
        line["error_message"] = s.message
    metadata: dict[str, Any] = {}
    attributes: dict[str, Any] = {"tokentrail.project": project} if project else {}
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
