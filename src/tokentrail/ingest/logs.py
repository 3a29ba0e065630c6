"""OTLP/HTTP log export requests as prompt/response content of spans.

Some instrumentations send the content of an LLM call as log records linked to its span
(``trace_id``/``span_id``) instead of span attributes:

* OTel GenAI events (opentelemetry-instrumentation-openai-v2 legacy mode, traceloop with
  ``use_attributes=False``): ``gen_ai.{system,user,assistant,tool}.message`` (the input,
  one record per message, content in the body) and ``gen_ai.choice`` (the output).
* ``gen_ai.client.inference.operation.details`` (openai-v2 latest mode, openlit): the
  attributes ``gen_ai.input.messages`` / ``gen_ai.output.messages`` /
  ``gen_ai.system_instructions`` hold structured values.

Each span's records become one ``contents`` row: input = a JSON array of the input messages
in order (``{"role", "content"/"tool_calls"}`` like OpenAI's messages, or the semconv
``parts`` messages as sent), output = the choice's message (or the output messages).
Records with no trace/span id or no GenAI content are counted and dropped.

The row is written straight into the store before the request is answered (one INSERT per
request), merged with what the store already holds for the span: per field, content already
stored wins and the records only fill what is empty. So a log record never erases content
that came as span attributes, and a later batch (e.g. ``gen_ai.choice`` after the input
messages) completes the row; input made of single message events grows by later batches'
messages (see ``_merge``). ``contents`` is keyed on (project, day of the span start,
trace, span): the span's stored project and start time are used when the span is already
in the store, else the request's project and the earliest record time.
"""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tokentrail.ingest.otlp import hex_to_b64, items, parse_message
from tokentrail.privacy import encryption
from tokentrail.storage.backend import Store
from tokentrail.storage.schema import CONTENTS

MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE_EVENT = "gen_ai.choice"
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
LOG_REASON = "log_events"  # captured_reason of rows made from log records

# Log-derived writes are read-merge-insert: one at a time, so two batches of the same
# span (input messages, then the choice) cannot overwrite each other.
_WRITE_LOCK = threading.Lock()
WRITE_LOCK = _WRITE_LOCK  # also held by content rotation (privacy/rotation.py) while it rewrites rows


@dataclass
class SpanContent:
    trace_id: str  # hex
    span_id: str
    project: str  # "" = not fixed by the request or the data
    first_time_ns: int
    input_messages: list[Any] = field(default_factory=list)
    input_doc: Any = None  # a whole input from gen_ai.input.messages (wins over single messages)
    system: Any = None  # gen_ai.system_instructions
    choices: list[tuple[int, Any]] = field(default_factory=list)
    output_doc: Any = None

    def input_text(self) -> str:
        if self.input_doc is not None:
            doc = self.input_doc
            if isinstance(doc, str):
                return doc
            if self.system is not None and isinstance(doc, list) and not any(
                    isinstance(m, dict) and m.get("role") == "system" for m in doc):
                parts = self.system if isinstance(self.system, list) else [self.system]
                doc = [{"role": "system", "parts": parts}, *doc]
            return _dumps(doc)
        if self.input_messages:
            return _dumps(self.input_messages)
        if self.system is not None:
            return self.system if isinstance(self.system, str) else _dumps(
                [{"role": "system", "parts": self.system if isinstance(self.system, list) else [self.system]}])
        return ""

    def output_text(self) -> str:
        if self.output_doc is not None:
            return self.output_doc if isinstance(self.output_doc, str) else _dumps(self.output_doc)
        if not self.choices:
            return ""
        messages = [m for _, m in sorted(self.choices, key=lambda c: c[0])]
        return _dumps(messages[0] if len(messages) == 1 else messages)


@dataclass
class DecodedLogs:
    spans: dict[tuple[str, str], SpanContent]
    received_ns: int
    records: int = 0
    used: int = 0
    dropped: Counter[str] = field(default_factory=Counter)  # reason -> records


def array_param(values: list[str]) -> str:
    """An Array(String) query parameter in the engine's literal syntax."""
    return "[" + ",".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values) + "]"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def any_value(v: AnyValue) -> Any:
    """An OTLP AnyValue as a plain Python value (kvlists become dicts, bytes base64)."""
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return getattr(v, kind)


def _json_string(value: Any) -> Any:
    """Attribute values sent as JSON strings (some libraries) are parsed; other strings kept."""
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            return value
    return value


def _message(role: str, body: Any) -> dict[str, Any] | None:
    """One OTel GenAI message event body as an OpenAI-style message (None: no content)."""
    if isinstance(body, str):
        return {"role": role, "content": body} if body else None
    if not isinstance(body, dict):
        return None
    msg: dict[str, Any] = {"role": body.get("role") or role}
    if body.get("content") not in (None, "", []):
        msg["content"] = body["content"]
    if body.get("tool_calls"):
        msg["tool_calls"] = body["tool_calls"]
    if role == "tool" and body.get("id"):
        msg["tool_call_id"] = body["id"]
    return msg if ("content" in msg or "tool_calls" in msg) else None


def parse_request(body: bytes, content_type: str | None) -> ExportLogsServiceRequest:
    return parse_message(body, content_type, ExportLogsServiceRequest, "resourceLogs", "logs", _hex_record_ids)[0]


def _hex_record_ids(doc: dict[str, Any]) -> None:
    for rl in items(doc.get("resourceLogs", doc.get("resource_logs"))):
        for sl in items(rl.get("scopeLogs", rl.get("scope_logs"))):
            for rec in items(sl.get("logRecords", sl.get("log_records"))):
                hex_to_b64(rec, ("traceId", "spanId", "trace_id", "span_id"))


def _attr(attributes: Any, key: str) -> Any:
    for kv in attributes:
        if kv.key == key:
            return any_value(kv.value)
    return None


def extract(req: ExportLogsServiceRequest, received_ns: int) -> DecodedLogs:
    """Group the GenAI content of the request's log records by span."""
    out = DecodedLogs(spans={}, received_ns=received_ns)
    for rl in req.resource_logs:
        resource_project = _attr(rl.resource.attributes, "tokentrail.project")
        for sl in rl.scope_logs:
            records = sorted(enumerate(sl.log_records),
                             key=lambda r: (r[1].time_unix_nano or r[1].observed_time_unix_nano, r[0]))
            for _, rec in records:
                out.records += 1
                name = rec.event_name or _attr(rec.attributes, "event.name") or ""
                if name not in MESSAGE_EVENTS and name not in (CHOICE_EVENT, DETAILS_EVENT):
                    out.dropped["no GenAI content"] += 1
                    continue
                if not rec.trace_id and not rec.span_id:
                    out.dropped["no trace/span id"] += 1
                    continue
                if len(rec.trace_id) != 16 or rec.trace_id == b"\0" * 16 or len(rec.span_id) != 8 \
                        or rec.span_id == b"\0" * 8:
                    out.dropped["bad trace/span id"] += 1
                    continue
                key = (rec.trace_id.hex(), rec.span_id.hex())
                when = rec.time_unix_nano or rec.observed_time_unix_nano or received_ns
                sc = out.spans.get(key)
                fresh = sc is None
                if sc is None:
                    project = _attr(rec.attributes, "tokentrail.project") or resource_project or ""
                    sc = SpanContent(trace_id=key[0], span_id=key[1], project=str(project), first_time_ns=when)
                if not _add(sc, name, rec):
                    out.dropped["no GenAI content"] += 1
                    continue
                if fresh:
                    out.spans[key] = sc
                sc.first_time_ns = min(sc.first_time_ns, when)
                out.used += 1
    return out


def _add(sc: SpanContent, name: str, rec: Any) -> bool:
    """Add one record's content to ``sc``; False when it carries none."""
    body = any_value(rec.body) if rec.HasField("body") else None
    if name in MESSAGE_EVENTS:
        msg = _message(MESSAGE_EVENTS[name], body)
        if msg is None:
            return False
        sc.input_messages.append(msg)
        return True
    if name == CHOICE_EVENT:
        if not isinstance(body, dict):
            return False
        msg = body.get("message")
        if isinstance(msg, dict):
            msg = _message(str(msg.get("role") or "assistant"), msg)
        elif isinstance(msg, str) and msg:
            msg = {"role": "assistant", "content": msg}
        if msg is None:
            return False
        sc.choices.append((int(body.get("index") or 0), msg))
        return True
    found = False  # DETAILS_EVENT
    for key, slot in (("gen_ai.input.messages", "input_doc"), ("gen_ai.output.messages", "output_doc"),
                      ("gen_ai.system_instructions", "system")):
        value = _json_string(_attr(rec.attributes, key))
        if value in (None, "", []):
            continue
        setattr(sc, slot, value)
        found = True
    return found


def _ts(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)


def write(store: Store, decoded: DecodedLogs, fixed_project: str, default_project: str) -> int:
    """Merge each span's log content with what the store holds, in ONE insert; rows written."""
    if not decoded.spans:
        return 0
    db = store.database
    items = list(decoded.spans.values())
    trace_ids = sorted({s.trace_id for s in items})
    times = [s.first_time_ns for s in items] + [decoded.received_ns]
    lo, hi = _ts(min(times)) - timedelta(days=2), _ts(max(times)) + timedelta(days=2)
    params: dict[str, Any] = {"t": array_param(trace_ids), "lo": lo.replace(tzinfo=None).isoformat(sep=" "),
                              "hi": hi.replace(tzinfo=None).isoformat(sep=" "), "p": fixed_project}
    where_project = "AND project = {p:String}" if fixed_project else ""
    with _WRITE_LOCK:
        known = {(r["trace_id"], r["span_id"]): r for r in store.query(f"""
            SELECT trace_id, span_id, any(project) AS span_project, min(start_time) AS span_start
            FROM {db}.spans
            WHERE trace_id IN (SELECT arrayJoin({{t:Array(String)}})) {where_project}
              AND start_time BETWEEN {{lo:DateTime64(6)}} AND {{hi:DateTime64(6)}}
            GROUP BY trace_id, span_id""", params)}
        rows = []
        for s in items:
            span = known.get((s.trace_id, s.span_id))
            project = fixed_project or (span["span_project"] if span else "") or s.project or default_project
            start = span["span_start"] if span else None
            rows.append((s, project, start))
        existing = {(r["project"], r["trace_id"], r["span_id"]): encryption.decrypt_row(r) for r in store.query(f"""
            SELECT project, trace_id, span_id, start_time, {encryption.select_columns()}, captured_reason, ingested_at
            FROM {db}.contents FINAL
            WHERE project IN {{ps:Array(String)}} AND trace_id IN (SELECT arrayJoin({{t:Array(String)}}))
              AND start_time BETWEEN {{lo:DateTime64(6)}} AND {{hi:DateTime64(6)}}""",
            {"ps": array_param(sorted({p for _, p, _ in rows})), "t": params["t"], "lo": params["lo"],
             "hi": params["hi"]})}
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        out: dict[str, list[Any]] = {c: [] for c in CONTENTS.column_names}
        for s, project, start in rows:
            old = existing.get((project, s.trace_id, s.span_id))
            if old and "content_error" in old:
                continue  # stored content this server cannot read (unknown key) is never overwritten
            merged_in, merged_out = _merge(old, s)
            if old and merged_in == old["input"] and merged_out == old["output"]:
                continue  # nothing to add (a re-sent batch, or the span already had it all)
            version = now
            if old:  # replace that very row (same key); it is the span's own when the span came with content
                start = old["start_time"]
            start_dt = _parse_time(start) if start is not None else _ts(s.first_time_ns)
            if old:
                version = max(now, _parse_time(old["ingested_at"]) + timedelta(milliseconds=1))
            out["project"].append(project)
            out["trace_id"].append(s.trace_id)
            out["span_id"].append(s.span_id)
            out["start_time"].append(start_dt)
            out["input"].append(merged_in)
            out["output"].append(merged_out)
            out["captured_reason"].append(old["captured_reason"] if old else LOG_REASON)
            out["ingested_at"].append(version)
        if not out["project"]:
            return 0
        # encrypted and indexed here, with the active content key (the ingest INSERT does it in the engine)
        stored = encryption.python_columns(encryption.keyring(), (
            {"trace_id": t, "span_id": sp, "input": i, "output": o}
            for t, sp, i, o in zip(out["trace_id"], out["span_id"], out["input"], out["output"], strict=True)))
        table = pa.table({
            **{c: out[c] for c in ("project", "trace_id", "span_id", "captured_reason")},
            "key_id": stored["key_id"],
            "input": pa.array(stored["input"], pa.binary()),
            "output": pa.array(stored["output"], pa.binary()),
            "search_tokens": pa.array(stored["search_tokens"], pa.list_(pa.uint64())),
            "start_time": pa.array(out["start_time"], pa.timestamp("us", tz="UTC")),
            "ingested_at": pa.array(out["ingested_at"], pa.timestamp("ms", tz="UTC")),
        })
        store.insert_arrow(CONTENTS.name, table)
        return table.num_rows


def _merge(old: dict[str, Any] | None, s: SpanContent) -> tuple[str, str]:
    """Per field, stored content wins and the records fill what is empty. One exception: input
    built from single message events (stored with ``captured_reason`` LOG_REASON) grows by the
    messages of later exports, e.g. a SimpleLogRecordProcessor sends one record per request.
    A re-sent export (its messages already a run of the stored list) adds nothing."""
    new_in, new_out = s.input_text(), s.output_text()
    if old is None:
        return new_in, new_out
    merged_out = old["output"] or new_out
    merged_in = old["input"] or new_in
    if old["input"] and s.input_messages and s.input_doc is None and old["captured_reason"] == LOG_REASON:
        try:
            stored = json.loads(old["input"])
        except json.JSONDecodeError:
            stored = None
        if isinstance(stored, list) and not _contains_run(stored, s.input_messages):
            merged_in = _dumps(stored + s.input_messages)
    return merged_in, merged_out


def _contains_run(seq: list[Any], run: list[Any]) -> bool:
    n = len(run)
    return any(seq[i:i + n] == run for i in range(len(seq) - n + 1))


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).replace("Z", "")
    dt = datetime.fromisoformat(text)
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def response_body(as_json: bool, rejected: int = 0, message: str = "") -> tuple[bytes, str]:
    resp = ExportLogsServiceResponse()
    if rejected:
        resp.partial_success.rejected_log_records = rejected
        resp.partial_success.error_message = message
    if as_json:
        return json_format.MessageToJson(resp, indent=None).encode(), "application/json"
    return resp.SerializeToString(), "application/x-protobuf"
