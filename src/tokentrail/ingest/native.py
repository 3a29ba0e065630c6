"""tokentrail's own batch format: flat JSON calls for simple clients and log files.

Each item is one LLM call (or span) with plain fields; it is turned into an OTLP span
carrying the same keys the SDK sends, so it takes the one normalization path. Items
are checked one by one: a bad item is reported with its index and reason, the good
ones are kept. With ``request_id`` (and no ids) the ids are derived from it, so a
re-sent event dedupes.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1 import trace_pb2
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tokentrail.ingest.otlp import Decoded
from tokentrail.ingest.timewindow import EXPIRED, TimeWindow
from tokentrail.ingest.wire import kv as _kv
from tokentrail.privacy.walk import Scrubber

# a downstream status that is a word, not an HTTP code: the call failed, and the word is its error type
# ("timeout" from the seeds' logs, or whatever an app writes: "error", "cancelled" ...)
STATUS_WORDS = {"timeout": "timeout", "timed_out": "timeout", "timedout": "timeout", "time_out": "timeout",
                "deadline_exceeded": "timeout", "canceled": "cancelled", "cancelled": "cancelled"}


MAX_TOKENS = 4_294_967_295  # the token columns are UInt32: a larger count is refused, never wrapped


class NativeSpan(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    request_id: str | None = None
    trace_id: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{32}$")
    span_id: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{16}$")
    parent_span_id: str | None = Field(default=None, pattern=r"^([0-9a-fA-F]{16})?$")
    name: str | None = None
    kind: Literal["llm", "embedding", "tool", "retrieval", "agent", "chain", "other"] = "llm"
    timestamp: datetime = Field(validation_alias="start_time", default_factory=lambda: datetime.now(UTC))
    end_time: datetime | None = None
    duration_ms: float | None = Field(default=None, ge=0, validation_alias="latency_total_ms")
    ttft_ms: float | None = Field(default=None, ge=0, validation_alias="latency_to_first_token_ms")
    provider: str | None = None
    model: str | None = None
    response_model: str | None = None
    input_tokens: int = Field(default=0, ge=0, le=MAX_TOKENS)
    output_tokens: int = Field(default=0, ge=0, le=MAX_TOKENS)
    cached_input_tokens: int = Field(default=0, ge=0, le=MAX_TOKENS)
    cache_write_tokens: int = Field(default=0, ge=0, le=MAX_TOKENS)
    reasoning_tokens: int = Field(default=0, ge=0, le=MAX_TOKENS)
    status: Literal["ok", "error"] | None = None
    error_type: str | None = None
    error_message: str | None = None
    http_status: int | None = Field(default=None, ge=100, le=599, validation_alias="downstream_status")
    finish_reason: str | None = None
    stream: bool | None = None
    cached: bool | None = None
    schema_validated: bool | None = None
    user_id: str | None = Field(default=None, validation_alias="user_id")
    session_id: str | None = None
    route: str | None = None
    customer: str | None = None
    environment: str | None = None
    release: str | None = None
    service: str | None = None
    tags: list[str] = []
    metadata: dict[str, Any] = {}
    input: str | None = None
    output: str | None = None

    @field_validator("timestamp", "end_time", mode="before")
    @classmethod
    def _epoch(cls, v: Any) -> Any:
        if isinstance(v, int | float) and not isinstance(v, bool):  # epoch seconds, ms or ns
            v = float(v)
            v = v / 1e9 if v > 1e14 else v / 1e3 if v > 1e11 else v
            if not 0 <= v < 1e10:  # before 1970 or after 2286: no datetime to make (the window says why)
                raise ValueError("epoch time out of range: must be between 2000-01-01 and one day from now")
            return datetime.fromtimestamp(v, UTC)
        return v

    @field_validator("http_status", mode="before")
    @classmethod
    def _status_text(cls, v: Any) -> Any:
        return int(v) if isinstance(v, str) and v.strip().isdigit() else v

    @model_validator(mode="before")
    @classmethod
    def _status_word(cls, data: Any) -> Any:
        """``downstream_status: "timeout"`` is a failed call (error type ``timeout``), never a refused line."""
        if not isinstance(data, dict):
            return data
        for key in ("downstream_status", "http_status"):
            value = data.get(key)
            if isinstance(value, str) and value.strip() and not value.strip().isdigit():
                word = value.strip().lower().replace(" ", "_").replace("-", "_")[:64]
                data = {k: v for k, v in data.items() if k != key}
                data["status"] = "error"
                if not data.get("error_type"):
                    data["error_type"] = STATUS_WORDS.get(word, word)
        return data

    @model_validator(mode="after")
    def _has_model(self) -> NativeSpan:
        if self.kind in ("llm", "embedding") and not (self.model or self.response_model):
            raise ValueError(f"an {self.kind} call needs a model (\"model\"): without one it cannot be priced "
                             "or grouped")
        return self


def _ids(item: NativeSpan) -> tuple[bytes, bytes]:
    if item.trace_id and item.span_id:
        return bytes.fromhex(item.trace_id), bytes.fromhex(item.span_id)
    if item.request_id:
        digest = hashlib.sha256(item.request_id.encode()).digest()
        trace = bytes.fromhex(item.trace_id) if item.trace_id else digest[:16]
        return trace, digest[16:24]
    return (bytes.fromhex(item.trace_id) if item.trace_id else os.urandom(16)), os.urandom(8)


def _attributes(item: NativeSpan) -> dict[str, Any]:
    user_id = item.user_id or (item.model_extra or {}).get("user_id_hash")
    a: dict[str, Any] = {
        "tokentrail.kind": item.kind, "gen_ai.provider.name": item.provider,
        "gen_ai.request.model": item.model, "gen_ai.response.model": item.response_model,
        "tokentrail.ttft_ms": item.ttft_ms, "tokentrail.streamed": item.stream,
        "tokentrail.cache_hit": item.cached, "tokentrail.schema_valid": item.schema_validated,
        "http.response.status_code": item.http_status, "error.type": item.error_type,
        "gen_ai.response.finish_reasons": [item.finish_reason] if item.finish_reason else None,
        "user.id": user_id, "session.id": item.session_id, "tokentrail.route": item.route,
        "tokentrail.customer": item.customer, "tokentrail.tags": item.tags or None,
        "deployment.environment.name": item.environment, "service.version": item.release,
        "service.name": item.service, "tokentrail.input": item.input, "tokentrail.output": item.output,
        "tokentrail.request_id": item.request_id,
    }
    for name in ("input_tokens", "output_tokens"):
        if getattr(item, name):
            a[f"gen_ai.usage.{name}"] = getattr(item, name)
    if item.cached_input_tokens:
        a["gen_ai.usage.cache_read.input_tokens"] = item.cached_input_tokens
    if item.cache_write_tokens:
        a["gen_ai.usage.cache_creation.input_tokens"] = item.cache_write_tokens
    if item.reasoning_tokens:
        a["gen_ai.usage.reasoning.output_tokens"] = item.reasoning_tokens
    extra = item.model_extra or {}
    for k, v in {**item.metadata, **{k: v for k, v in extra.items() if k not in ("user_id_hash", "attributes")}
                 }.items():
        if isinstance(v, str | int | float | bool):
            a[f"tokentrail.metadata.{k}"] = v
    raw = extra.get("attributes")  # OpenTelemetry keys as they are (the SDK's log files put the rest here)
    if isinstance(raw, dict):
        for k, v in raw.items():
            if isinstance(k, str) and k not in a and isinstance(v, str | int | float | bool | list):
                a[k] = v
    return {k: v for k, v in a.items() if v is not None and v != ""}


class Refused(ValueError):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _unix_ns(t: datetime) -> int:
    return int((t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp() * 1e9)


def to_span(item: NativeSpan, window: TimeWindow | None = None) -> trace_pb2.Span:
    trace_id, span_id = _ids(item)
    start = item.timestamp if item.timestamp.tzinfo else item.timestamp.replace(tzinfo=UTC)
    try:
        end = item.end_time or start + timedelta(milliseconds=item.duration_ms or 0)
    except OverflowError as e:
        raise Refused("invalid", "duration_ms: out of range") from e
    end = end if end.tzinfo else end.replace(tzinfo=UTC)
    problem = (window or TimeWindow.now()).problem(_unix_ns(start), _unix_ns(end))
    if problem:
        raise Refused(*problem)
    span = trace_pb2.Span(
        trace_id=trace_id, span_id=span_id,
        parent_span_id=bytes.fromhex(item.parent_span_id) if item.parent_span_id else b"",
        name=item.name or (f"{item.kind} {item.model}" if item.model else item.kind),
        start_time_unix_nano=_unix_ns(start), end_time_unix_nano=_unix_ns(end))
    span.attributes.extend(_kv(k, v) for k, v in _attributes(item).items())
    failed = item.status == "error" or bool(item.error_type) or (item.http_status or 0) >= 400
    span.status.code = trace_pb2.Status.STATUS_CODE_ERROR if failed else trace_pb2.Status.STATUS_CODE_OK
    if item.error_message:
        span.status.message = item.error_message
    return span


def _problem(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(x) for x in err['loc']) or 'item'}: {err['msg']}" for err in e.errors()[:5])


def decode_items(items: list[Any], window: TimeWindow | None = None,
                 scrub: Scrubber | None = None) -> tuple[Decoded, list[dict[str, Any]]]:
    """Convert native items; return the OTLP payload of the good ones (redacted and with the capture
    policy applied by ``scrub``) and the problems."""
    req = ExportTraceServiceRequest()
    scope = req.resource_spans.add().scope_spans.add()
    scope.scope.name = "tokentrail.native"
    problems: list[dict[str, Any]] = []
    window = window or TimeWindow.now()
    expired = content_expired = 0
    for i, raw in enumerate(items):
        try:
            item = NativeSpan.model_validate(raw)
            scope.spans.append(to_span(item, window))
            content_expired += bool(item.input or item.output) and window.content_expired(
                scope.spans[-1].start_time_unix_nano)
        except ValidationError as e:
            problems.append({"index": i, "error": _problem(e)})
        except Refused as e:
            expired += e.kind == EXPIRED
            problems.append({"index": i, "error": str(e)})
        except UnicodeEncodeError:
            problems.append({"index": i, "error": "a string is not valid Unicode (a lone surrogate such as \\ud800)"})
        except (ValueError, OverflowError, OSError) as e:
            problems.append({"index": i, "error": str(e)})
        except RecursionError:
            problems.append({"index": i, "error": "values nested too deeply"})
    if scrub is not None:
        scrub.request(req)
    decoded = Decoded(payload=req.SerializeToString(), spans=len(scope.spans), rejected=len(problems),
                      errors=[f"item {p['index']}: {p['error']}" for p in problems[:10]], expired=expired,
                      content_expired=content_expired)
    return decoded, problems
