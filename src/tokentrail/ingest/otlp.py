"""Decoding and checking OTLP/HTTP trace requests (protobuf or JSON, gzip or plain).

The request is parsed once to check it; a span that cannot become a row (bad ids,
no start time) is removed and reported in ``partial_success`` while its neighbours
are kept. What remains is spooled as protobuf bytes; the engine does the rest.

What is spooled is always RE-ENCODED from the parsed message, never the client's bytes: the Python
parser accepts bodies that the engine's Protobuf reader refuses (unknown fields with odd wire types,
a bool encoded as 3, ...), and a refused record would hold up every request spooled beside it. The
re-encoding drops unknown fields and writes every value canonically, so what is acknowledged is what
the engine reads (about 3 us per span).
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tokentrail.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from tokentrail.ingest.timewindow import EXPIRED, TimeWindow
from tokentrail.privacy.walk import Scrubber

MAX_BODY_BYTES = 64 << 20
M = TypeVar("M", bound=Message)


RECORD_MAX_BYTES = 8 << 20  # a larger request is spooled as several records (see ``_records``)


@dataclass
class Decoded:
    payload: bytes  # a serialized ExportTraceServiceRequest holding the good spans
    parts: list[bytes] = field(default_factory=list)  # or several, each of at most about RECORD_MAX_BYTES
    spans: int = 0
    rejected: int = 0  # every refused span, the expired ones included
    errors: list[str] = field(default_factory=list)
    expired: int = 0  # refused because they start before the span retention
    content_expired: int = 0  # kept, but their content starts before the content retention (not kept)


def decompress(body: bytes, encoding: str | None) -> bytes:
    encoding = (encoding or "identity").lower().strip()
    if encoding in ("identity", ""):
        return body
    try:
        if encoding == "gzip":
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            d = zlib.decompressobj()
        else:
            raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding!r}: use gzip, deflate or none")
        out = d.decompress(body, MAX_BODY_BYTES + 1)
    except (zlib.error, gzip.BadGzipFile) as e:
        raise BadRequest(f"body is not valid {encoding}: {e}") from e
    if len(out) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"decompressed body is over {MAX_BODY_BYTES} bytes")
    return out


def decode_request(body: bytes, content_type: str | None, window: TimeWindow | None = None,
                   scrub: Scrubber | None = None) -> Decoded:
    """Parse an OTLP trace export request; keep the good spans (times inside ``window``), redacted and
    with the capture policy applied by ``scrub`` (``tokentrail.privacy``) before anything is spooled."""
    req, _ = parse_message(body, content_type, ExportTraceServiceRequest, "resourceSpans", "trace",
                                  _hex_span_ids)
    return _checked(req, window or TimeWindow.now(), scrub)


PROTOBUF_TYPES = ("application/x-protobuf", "application/protobuf", "application/octet-stream")


def parse_message(body: bytes, content_type: str | None, cls: type[M], root: str, what: str,
                  hex_ids: Callable[[dict[str, Any]], None]) -> tuple[M, bool]:
    """An OTLP/HTTP request body as ``cls``, and whether it came as protobuf. OTLP/JSON is the
    protobuf JSON mapping except that ids are hex (``hex_ids`` turns them to base64 in place)
    and enums may be ints."""
    ctype = (content_type or "application/x-protobuf").split(";")[0].strip().lower()
    if ctype in PROTOBUF_TYPES:
        try:
            return cls.FromString(body), True
        except DecodeError as e:
            raise BadRequest(f"body is not an OTLP {cls.__name__} protobuf: {e}") from e
    if ctype != "application/json":
        raise UnsupportedMediaType(f"unsupported Content-Type {ctype!r}: use application/x-protobuf or application/json")
    doc = load_json(body)
    if not isinstance(doc, dict):
        raise BadRequest(f"body must be a JSON object with '{root}'")
    msg = cls()
    try:
        hex_ids(doc)
        json_format.ParseDict(doc, msg, ignore_unknown_fields=True)
    except json_format.ParseError as e:
        raise BadRequest(f"body is not an OTLP JSON {what} request: {e}") from e
    except (SystemError, UnicodeError, ValueError, TypeError) as e:  # e.g. a lone surrogate where text goes
        raise BadRequest(f"body is not an OTLP JSON {what} request: a value is not valid Unicode or of the "
                         f"wrong type ({type(e).__name__})") from e
    except RecursionError as e:
        raise BadRequest(f"body is not an OTLP JSON {what} request: values nested too deeply") from e
    return msg, False


def load_json(body: bytes) -> Any:
    """A JSON request body, or BadRequest (not UTF-8, not JSON, nested deeper than Python recurses)."""
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadRequest(f"body is not valid JSON: {e}") from e
    except RecursionError as e:
        raise BadRequest("body is not valid JSON: nested too deeply") from e


def hex_to_b64(obj: dict[str, Any], keys: tuple[str, ...]) -> None:
    """Turn the hex ids under ``keys`` of ``obj`` into the base64 the protobuf JSON mapping wants;
    a bad one becomes empty (its span or record is then refused on its own, not the request)."""
    for k in keys:
        value = obj.get(k)
        if isinstance(value, str) and value != "":
            try:
                obj[k] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                obj[k] = ""


def items(value: Any) -> list[dict[str, Any]]:
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def _hex_span_ids(doc: dict[str, Any]) -> None:
    for rs in items(doc.get("resourceSpans", doc.get("resource_spans"))):
        for ss in items(rs.get("scopeSpans", rs.get("scope_spans"))):
            for sp in items(ss.get("spans")):
                hex_to_b64(sp, ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"))
                for link in items(sp.get("links")):
                    hex_to_b64(link, ("traceId", "spanId"))


def _span_problem(span: Any, window: TimeWindow) -> tuple[str, str] | None:
    """Why ``span`` is refused ((kind, message)), or None. The usual case reads each field once (every
    read of a field of a parsed message costs about 0.3 us)."""
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    problem = _id_problem(span.trace_id, span.span_id, span.parent_span_id, start, end)
    if problem is not None:
        return "invalid", problem
    if window.content_kept_from_ns <= start <= window.latest_ns and end <= window.latest_ns:
        return None
    refused = window.problem(start, end)
    if refused is None and window.content_expired(start) and _has_content(span):
        return CONTENT_EXPIRED, ""
    return refused


CONTENT_EXPIRED = "content_expired"


def _has_content(span: Any) -> bool:
    """Whether ``span`` carries prompt/response content (checked only for spans older than the content
    retention, never on the live path)."""
    keys, pattern = _content_keys()
    attrs = [kv.key for kv in span.attributes] + [kv.key for ev in span.events for kv in ev.attributes]
    return any(k in keys or pattern.match(k) for k in attrs)


@cache
def _content_keys() -> tuple[frozenset[str], re.Pattern[str]]:
    from tokentrail.ingest.conventions import candidates, content_key_patterns

    keys = frozenset(k for column in ("input", "output") for k, _ in candidates(column))
    return keys, re.compile("|".join(content_key_patterns()))


_ZERO16, _ZERO8 = b"\0" * 16, b"\0" * 8


def _id_problem(trace_id: bytes, span_id: bytes, parent_span_id: bytes, start: int, end: int) -> str | None:
    if len(trace_id) != 16 or trace_id == _ZERO16:
        return "trace_id must be 16 bytes and not all zero"
    if len(span_id) != 8 or span_id == _ZERO8:
        return "span_id must be 8 bytes and not all zero"
    if parent_span_id and len(parent_span_id) != 8:
        return "parent_span_id must be empty or 8 bytes"
    if start == 0:
        return "start_time_unix_nano is missing"
    if end and end < start:
        return "end_time_unix_nano is before start_time_unix_nano"
    return None


def _checked(req: ExportTraceServiceRequest, window: TimeWindow, scrub: Scrubber | None = None) -> Decoded:
    total = rejected = expired = content_expired = 0
    errors: list[str] = []
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            bad = []
            for i, span in enumerate(ss.spans):
                problem = _span_problem(span, window)
                if problem is not None and problem[0] == CONTENT_EXPIRED:
                    content_expired += 1
                elif problem is not None:
                    bad.append(i)
                    expired += problem[0] == EXPIRED
                    if len(errors) < 10:
                        errors.append(f"span {span.name!r} ({span.span_id.hex() or 'no id'}): {problem[1]}")
            total += len(ss.spans)
            for i in reversed(bad):
                del ss.spans[i]
            rejected += len(bad)
    if scrub is not None:
        scrub.request(req)
    req.DiscardUnknownFields()
    payload = req.SerializeToString()
    return Decoded(payload=payload, parts=_records(req, payload), spans=total - rejected, rejected=rejected,
                   errors=errors, expired=expired, content_expired=content_expired)


def _records(req: ExportTraceServiceRequest, payload: bytes) -> list[bytes]:
    """``payload`` as spooled records of about ``RECORD_MAX_BYTES`` at most: a giant request (100,000 spans
    in one trace, 40 MB) becomes several, so the inserts that load it are several short statements and
    dashboard reads get the store between them. Each record keeps its spans' resource and scope."""
    if len(payload) <= RECORD_MAX_BYTES:
        return [payload]
    out: list[bytes] = []
    part, size = ExportTraceServiceRequest(), 0
    for rs in req.resource_spans:
        for ss in rs.scope_spans:
            target = None
            for span in ss.spans:
                n = span.ByteSize() + 8
                if size and size + n > RECORD_MAX_BYTES:
                    out.append(part.SerializeToString())
                    part, size, target = ExportTraceServiceRequest(), 0, None
                if target is None:
                    prs = part.resource_spans.add()
                    prs.resource.CopyFrom(rs.resource)
                    prs.schema_url = rs.schema_url
                    target = prs.scope_spans.add()
                    target.scope.CopyFrom(ss.scope)
                    target.schema_url = ss.schema_url
                    size += rs.resource.ByteSize() + ss.scope.ByteSize() + 16
                target.spans.append(span)
                size += n
    if size:
        out.append(part.SerializeToString())
    return out


def response_body(as_json: bool, rejected: int = 0, message: str = "") -> tuple[bytes, str]:
    """The OTLP success response: 200, with ``partial_success`` when spans were refused (the spec's
    answer: exporters treat a 4xx as a failed export and log an error for data that was stored)."""
    resp = ExportTraceServiceResponse()
    if rejected or message:
        resp.partial_success.rejected_spans = rejected
        resp.partial_success.error_message = message
    if as_json:
        return json_format.MessageToJson(resp, indent=None).encode(), "application/json"
    return resp.SerializeToString(), "application/x-protobuf"
