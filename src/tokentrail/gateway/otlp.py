"""A direct OTLP protobuf encoder for the gateway's spans: bytes in, no message objects.

Building a span with the protobuf classes costs ~3 us per attribute (most of a call's
recording cost); writing the same wire bytes directly costs a fraction of that. Only the
fields the gateway sets are written; the output is a standard ``ExportTraceServiceRequest``
(tests decode it with the official classes).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

_MASK64 = (1 << 64) - 1
STATUS_OK, STATUS_ERROR = 1, 2
KIND_CLIENT = 3


def _varint(n: int) -> bytes:
    n &= _MASK64
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL = tuple(bytes((i,)) for i in range(0x80))


def _len(tag: bytes, payload: bytes) -> bytes:
    n = len(payload)
    return tag + (_SMALL[n] if n < 0x80 else _varint(n)) + payload


def _str(tag: bytes, text: str) -> bytes:
    return _len(tag, text.encode("utf-8", "surrogatepass"))


def any_value(value: object) -> bytes:
    """An ``AnyValue``: str, bool, int, float, or a list (as an array of strings)."""
    if isinstance(value, bool):
        return b"\x10" + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        return b"\x18" + _varint(value)
    if isinstance(value, float):
        return b"\x21" + struct.pack("<d", value)
    if isinstance(value, list | tuple):
        return _len(b"\x2a", b"".join(_len(b"\x0a", _str(b"\x0a", str(v))) for v in value))
    return _str(b"\x0a", str(value))


_KEYS: dict[str, bytes] = {}  # encoded attribute keys (a bounded memo: keys repeat call after call)


def key_value(key: str, value: object) -> bytes:
    encoded = _KEYS.get(key)
    if encoded is None:
        encoded = _str(b"\x0a", key)
        if len(_KEYS) < 4096:
            _KEYS[key] = encoded
    return _len(b"\x4a", encoded + _len(b"\x12", any_value(value)))  # Span.attributes = 9


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
    parts = [_len(b"\x0a", s.trace_id), _len(b"\x12", s.span_id)]
    if s.parent_span_id:
        parts.append(_len(b"\x22", s.parent_span_id))
    parts += [_str(b"\x2a", s.name), b"\x30" + _varint(KIND_CLIENT),
              b"\x39" + struct.pack("<Q", s.start_ns), b"\x41" + struct.pack("<Q", s.end_ns)]
    parts += [key_value(k, v) for k, v in s.attributes]
    if s.error_message is None:
        status = b"\x18" + _varint(STATUS_OK)
    else:
        status = _str(b"\x12", s.error_message) + b"\x18" + _varint(STATUS_ERROR)
    parts.append(_len(b"\x7a", status))  # Span.status = 15
    return b"".join(parts)


def encode_request(spans: Iterable[bytes], scope: str) -> bytes:
    """An ``ExportTraceServiceRequest`` holding ``spans`` (encoded) under one instrumentation scope."""
    scope_spans = _len(b"\x0a", _str(b"\x0a", scope)) + b"".join(_len(b"\x12", s) for s in spans)
    return _len(b"\x0a", _len(b"\x12", scope_spans))  # resource_spans[0].scope_spans[0]
