"""Spans out of the process: OTLP/HTTP protobuf for the server, flat JSON lines for log files.

JSON lines (one object per line, UTF-8) use the field names of the server's native
batch format (``tokentrail.ingest.native.NativeSpan``), so ``tokentrail ingest`` and
``POST /api/ingest/batch`` read them as they are. Attributes without a NativeSpan field
(request parameters, ``tokentrail.capture_reason``, ``tokentrail.tokens_estimated``,
``tokentrail.project`` ...) are kept under one ``attributes`` object of OTel keys, which
today's NativeSpan ignores (a JSON object is not a scalar extra).
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from typing import Any

from tokentrail.sdk._records import STATUS_ERROR, SpanOut

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


# Hand-written protobuf encoding of the few OTLP messages we send: about 4x faster than building
# upb message objects attribute by attribute (tests decode it with the official classes).

def _varint(n: int) -> bytes:
    if n < 0x80:
        return _SMALL[n]
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = [bytes((i,)) for i in range(0x80)]
_INT64 = 1 << 64


def _ld(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    return tag + _varint(len(payload)) + payload


def _any(value: Any) -> bytes:
    """An encoded AnyValue."""
    if isinstance(value, str):
        return _ld(b"\x0a", value.encode())
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return b"\x18" + _varint(value % _INT64)
        return _ld(b"\x0a", str(value).encode())
    if isinstance(value, float):
        return b"\x21" + struct.pack("<d", value)
    if isinstance(value, list | tuple):
        items = b"".join(_ld(b"\x0a", _any(x if isinstance(x, str | bool | int | float) else str(x)))
                         for x in value)
        return _ld(b"\x2a", items)
    return _ld(b"\x0a", str(value).encode())


_KEYS: dict[str, bytes] = {}


def _kv(key: str, value: Any) -> bytes:
    """An encoded KeyValue (the key's bytes are cached: the same keys come back in every span)."""
    head = _KEYS.get(key)
    if head is None:
        if len(_KEYS) > 10_000:
            _KEYS.clear()
        head = _KEYS[key] = _ld(b"\x0a", key.encode())
    return head + _ld(b"\x12", _any(value))


def _attributes(tag: bytes, attrs: dict[str, Any]) -> bytes:
    return b"".join(_ld(tag, _kv(k, v)) for k, v in attrs.items() if v is not None)


def encode_span(s: SpanOut) -> bytes:
    """An encoded OTLP Span."""
    parts = [b"\x0a\x10", s.trace_id.to_bytes(16, "big"), b"\x12\x08", s.span_id.to_bytes(8, "big")]
    if s.parent_id:
        parts += [b"\x22\x08", s.parent_id.to_bytes(8, "big")]
    parts += [_ld(b"\x2a", s.name.encode()), b"\x30", _varint(s.kind), b"\x39", struct.pack("<Q", s.start_ns),
              b"\x41", struct.pack("<Q", s.end_ns), _attributes(b"\x4a", s.attrs)]
    status = (_ld(b"\x12", s.message.encode()) if s.message else b"") + (b"\x18" + _varint(s.status) if s.status
                                                                         else b"")
    parts.append(_ld(b"\x7a", status))
    return b"".join(parts)


def otlp_request(spans: list[bytes], resource: dict[str, Any]) -> bytes:
    """A serialized ExportTraceServiceRequest of encoded ``spans`` (one resource, one scope)."""
    scope = _ld(b"\x0a", _ld(b"\x0a", SCOPE.encode()) + _ld(b"\x12", VERSION.encode()))
    scope_spans = scope + b"".join(_ld(b"\x12", s) for s in spans)
    resource_spans = _ld(b"\x0a", _attributes(b"\x0a", resource)) + _ld(b"\x12", scope_spans)
    return _ld(b"\x0a", resource_spans)


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
