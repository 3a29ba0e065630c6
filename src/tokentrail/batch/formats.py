"""The lines the engine leaves to Python: detected one by one and decoded with the HTTP ingest code.

A line is an OTLP/JSON ``ExportTraceServiceRequest`` (the OpenTelemetry Collector's file
exporter writes one per line) when it has ``resourceSpans``; otherwise a flat event,
checked by ``NativeSpan`` exactly as ``POST /api/ingest/batch`` checks it. Score files
(under a ``scores/`` directory, the SDK's layout) hold ``POST /api/scores`` objects.
What cannot be loaded becomes a ``Reject`` with its line number and the reason.

So that a reload dedupes, events are completed as ``flat.py`` completes them in the
engine: ids derived from (file, line number, line) when the event has no request_id and
no ids, and the file's time when it has no timestamp.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel

from tokentrail.batch.flat import OTLP_KEYS
from tokentrail.errors import BadRequest
from tokentrail.ingest import native, otlp
from tokentrail.ingest.scores import ScoreIn, parse_scores

MAX_REJECTED_TEXT = 1 << 20  # a dead letter keeps at most this much of a line


class Reject(BaseModel):
    line: int  # 1-based, as editors count
    error: str
    text: str


@dataclass
class Decoded:
    requests: list[bytes] = field(default_factory=list)  # serialized ExportTraceServiceRequests
    spans: int = 0
    rejects: list[Reject] = field(default_factory=list)


def line_digest(source: str, line_no: int, line: bytes) -> bytes:
    """What ids are derived from when an event has none (the engine computes the same)."""
    return hashlib.sha256(f"{source}\n{line_no}\n".encode() + line).digest()


def _text(line: bytes) -> str:
    return line[:MAX_REJECTED_TEXT].decode("utf-8", "replace")


def _parse(line_no: int, line: bytes) -> tuple[Any, Reject | None]:
    try:
        doc = json.loads(line)
    except (UnicodeDecodeError, ValueError) as e:
        return None, Reject(line=line_no + 1, error=f"not valid JSON: {e}", text=_text(line))
    if not isinstance(doc, dict):
        return None, Reject(line=line_no + 1, error="a line must be a JSON object", text=_text(line))
    return doc, None


def complete_event(doc: dict[str, Any], source: str, line_no: int, line: bytes, base_time_us: int) -> None:
    """Give ``doc`` the ids and time the engine would give it (see the module docstring)."""
    if not (doc.get("trace_id") and doc.get("span_id")) and not doc.get("request_id"):
        digest = line_digest(source, line_no, line)
        if not doc.get("trace_id"):
            doc["trace_id"] = digest[:16].hex()
        if not doc.get("span_id"):
            doc["span_id"] = digest[16:24].hex()
    if "start_time" not in doc and "timestamp" not in doc:
        doc["start_time"] = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=base_time_us)


def decode_span_lines(lines: list[tuple[int, bytes]], source: str, base_time_us: int) -> Decoded:
    """Decode flat events and OTLP requests; every line not loaded is rejected with a reason."""
    out = Decoded()
    events: list[dict[str, Any]] = []
    event_lines: list[tuple[int, bytes]] = []
    for line_no, line in lines:
        doc, reject = _parse(line_no, line)
        if reject:
            out.rejects.append(reject)
        elif any(k in doc for k in OTLP_KEYS):
            _add_otlp(out, line_no, line)
        else:
            complete_event(doc, source, line_no, line, base_time_us)
            events.append(doc)
            event_lines.append((line_no, line))
    if events:
        decoded, problems = native.decode_items(events)
        for p in problems:
            line_no, line = event_lines[p["index"]]
            out.rejects.append(Reject(line=line_no + 1, error=p["error"], text=_text(line)))
        if decoded.spans:
            out.requests.append(decoded.payload)
            out.spans += decoded.spans
    out.rejects.sort(key=lambda r: r.line)
    return out


def _add_otlp(out: Decoded, line_no: int, line: bytes) -> None:
    try:
        decoded = otlp.decode_request(line, "application/json")
    except BadRequest as e:
        out.rejects.append(Reject(line=line_no + 1, error=e.message, text=_text(line)))
        return
    if decoded.spans:
        out.requests.append(decoded.payload)
        out.spans += decoded.spans
    if decoded.rejected:  # the line's other spans are loaded
        out.rejects.append(Reject(line=line_no + 1, text=_text(line), error=(
            f"{decoded.rejected} span(s) of this OTLP request rejected: " + "; ".join(decoded.errors[:3]))))


def decode_score_lines(lines: list[tuple[int, bytes]], source: str) -> tuple[list[ScoreIn], list[Reject]]:
    """Scores (``POST /api/scores`` objects); one without ``score_id`` gets one derived from its line."""
    docs: list[dict[str, Any]] = []
    doc_lines: list[tuple[int, bytes]] = []
    rejects: list[Reject] = []
    for line_no, line in lines:
        if not line.strip():
            continue
        doc, reject = _parse(line_no, line)
        if reject:
            rejects.append(reject)
            continue
        if not doc.get("score_id"):
            doc["score_id"] = line_digest(source, line_no, line)[:16].hex()
        docs.append(doc)
        doc_lines.append((line_no, line))
    good, problems = parse_scores(docs)
    for p in problems:
        line_no, line = doc_lines[p["index"]]
        rejects.append(Reject(line=line_no + 1, error=p["error"], text=_text(line)))
    return good, sorted(rejects, key=lambda r: r.line)
