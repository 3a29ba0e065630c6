"""The OTLP wire format as the engine reads it.

A spool segment holds length-delimited ``ExportTraceServiceRequest`` messages. The
engine decodes them itself (ClickHouse ``Protobuf`` input format) with the schema below:
a wire-compatible subset of the OTLP protos (same field numbers; unused fields are
skipped; ``AnyValue`` fields are ``optional`` so the engine sees which one is set;
nested arrays stop at one level, deeper values are dropped).

The server appends three fields of its own (numbers far above OTLP's) to each request
before spooling it: protobuf concatenation semantics make that a valid message, which
standard OTLP decoders read unchanged (unknown fields are ignored).
"""

from __future__ import annotations

from google.protobuf.internal.decoder import _DecodeVarint
from google.protobuf.internal.encoder import _VarintBytes
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

MESSAGE = "TtRequest"

SCHEMA = """
syntax = "proto3";
message TtRequest {
  repeated ResourceSpans resource_spans = 1;
  string tt_project = 1001;
  string tt_source = 1002;
  fixed64 tt_received_unix_nano = 1003;
}
message ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
message Resource { repeated KeyValue attributes = 1; }
message ScopeSpans { Scope scope = 1; repeated Span spans = 2; }
message Scope { string name = 1; string version = 2; }
message Span {
  bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5; int32 kind = 6;
  fixed64 start_time_unix_nano = 7; fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9;
  repeated Event events = 11; Status status = 15;
}
message Event { fixed64 time_unix_nano = 1; string name = 2; repeated KeyValue attributes = 3; }
message Status { string message = 2; int32 code = 3; }
message KeyValue { string key = 1; AnyValue value = 2; }
message AnyValue {
  optional string string_value = 1; optional bool bool_value = 2; optional int64 int_value = 3;
  optional double double_value = 4; ArrayValue array_value = 5; bytes bytes_value = 7;
}
message ArrayValue { repeated ScalarValue values = 1; }
message ScalarValue {
  optional string string_value = 1; optional bool bool_value = 2; optional int64 int_value = 3;
  optional double double_value = 4;
}
"""

_SCALAR = ("string_value Nullable(String), bool_value Nullable(Bool), int_value Nullable(Int64), "
           "double_value Nullable(Float64)")
_KV = (f"Array(Tuple(key String, value Tuple({_SCALAR}, array_value Tuple(values Array(Tuple({_SCALAR}))), "
       "bytes_value String)))")
_SPAN = ("Tuple(trace_id String, span_id String, parent_span_id String, name String, kind Int32, "
         f"start_time_unix_nano UInt64, end_time_unix_nano UInt64, attributes {_KV}, "
         f"events Array(Tuple(time_unix_nano UInt64, name String, attributes {_KV})), "
         "status Tuple(message String, code Int32))")

STRUCTURE = (
    f"resource_spans Array(Tuple(resource Tuple(attributes {_KV}), "
    f"scope_spans Array(Tuple(scope Tuple(name String, version String), spans Array({_SPAN}))))), "
    "tt_project String, tt_source String, tt_received_unix_nano UInt64"
)


def _string_field(number: int, value: str) -> bytes:
    raw = value.encode()
    return _VarintBytes(number << 3 | 2) + _VarintBytes(len(raw)) + raw


def envelope(request: bytes, project: str, source: str, received_unix_nano: int) -> bytes:
    """``request`` (a serialized ExportTraceServiceRequest) plus tokentrail's own fields."""
    extra = _string_field(1001, project) + _string_field(1002, source)
    extra += _VarintBytes(1003 << 3 | 1) + received_unix_nano.to_bytes(8, "little")
    return request + extra


def envelope_fields(record: bytes) -> dict[str, object]:
    """tokentrail's own fields of a spooled record (``envelope``): project, source, received time. Reads
    only the top-level tags (the request's spans are skipped unread); a record too corrupt to scan
    gives what was read before the damage."""
    out: dict[str, object] = {}
    pos = 0
    try:
        while pos < len(record):
            tag, pos = _DecodeVarint(record, pos)
            number, kind = tag >> 3, tag & 7
            if kind == 2:
                size, pos = _DecodeVarint(record, pos)
                if number in (1001, 1002):
                    out["project" if number == 1001 else "source"] = record[pos:pos + size].decode(errors="replace")
                pos += size
            elif kind == 1:
                if number == 1003:
                    out["received_unix_nano"] = int.from_bytes(record[pos:pos + 8], "little")
                pos += 8
            elif kind == 0:
                _, pos = _DecodeVarint(record, pos)
            elif kind == 5:
                pos += 4
            else:
                break
    except Exception:  # a torn or corrupt record: keep what was read
        pass
    return out


def scan(segment: bytes) -> tuple[list[bytes], int]:
    """The framed records of a spool segment, in order, and the length of the whole records (a torn last
    one, cut by a crash, is left out)."""
    out: list[bytes] = []
    pos = 0
    while pos < len(segment):
        try:
            size, start = _DecodeVarint(segment, pos)
        except Exception:  # a torn varint at the very end
            break
        if start + size > len(segment):
            break
        out.append(segment[start:start + size])
        pos = start + size
    return out, pos


def records(segment: bytes) -> list[bytes]:
    return scan(segment)[0]


def frame(message: bytes) -> bytes:
    """Length-delimited framing, as the engine's ``Protobuf`` format reads it."""
    return _VarintBytes(len(message)) + message


def kv(key: str, value: object) -> KeyValue:
    """An OTLP attribute from a Python value (lists become string arrays)."""
    v = AnyValue()
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, float):
        v.double_value = value
    elif isinstance(value, list | tuple):
        v.array_value.values.extend(AnyValue(string_value=str(x)) for x in value)
    else:
        v.string_value = str(value)
    return KeyValue(key=key, value=v)
