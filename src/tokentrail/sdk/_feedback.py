"""``feedback()`` (a score linked to a trace or call) and ``validate()`` (schema check of an output).

Both are safe to call anywhere: they never raise (the SDK's guard) and never wait on
the network. A score is sent in the background to ``POST /api/scores`` with its own
``score_id``, so a retried send is not counted twice. ``feedback`` needs only ids, so
another process (e.g. the web handler that gets the thumbs-up) can send it later.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tokentrail.sdk import _state
from tokentrail.sdk._context import CURRENT
from tokentrail.sdk._guard import internal_error
from tokentrail.sdk._observe import current_observed
from tokentrail.sdk._records import LAST_CALL, CallRef, Recorded


def last_call() -> CallRef | None:
    """Ids of the last LLM call made in this context (thread / task), to link feedback to it later."""
    record = LAST_CALL.get()
    return CallRef(record) if record is not None else None


def current_trace_id() -> str | None:
    """The trace id (32 hex) of the current observed step, else of the last LLM call, else None."""
    from opentelemetry import trace

    sc = trace.get_current_span().get_span_context()
    if sc.is_valid:
        return format(sc.trace_id, "032x")
    record = LAST_CALL.get()
    return record.trace_hex if record is not None else None


def feedback(value: float | bool | None = None, *, name: str = "user_feedback", label: str = "",
             trace_id: str | None = None, request_id: str | None = None, span_id: str | None = None,
             comment: str = "", user_id: str | None = None, source: str = "feedback") -> str | None:
    """Send a score (numeric ``value`` or a ``label``) linked to a trace, a call (``request_id``) or a span.

    With no id, it is linked to the last LLM call of this context. Returns the score id,
    or None when there was nothing to link it to or the SDK is not initialized.
    """
    try:
        exporter = _state.STATE.exporter
        if exporter is None:
            return None
        if not (trace_id or request_id or span_id):
            record = LAST_CALL.get()
            if record is None:
                return None
            trace_id, request_id = record.trace_hex, record.span_hex
        if user_id is None:
            ctx = CURRENT.get()
            user_id = ctx.user_id if ctx is not None and ctx.user_id else ""
        score: dict[str, Any] = {
            "score_id": uuid.uuid4().hex, "name": name, "label": label, "comment": comment, "source": source,
            "user_id": user_id, "timestamp": datetime.now(UTC).isoformat(),
        }
        if value is not None:
            score["value"] = float(value)
        for key, v in (("trace_id", trace_id), ("request_id", request_id), ("span_id", span_id)):
            if v:
                score[key] = v
        exporter.submit_score(score)
        return score["score_id"]
    except Exception:
        internal_error("tokentrail.feedback()")
        return None


@dataclass
class Validation:
    """Result of ``validate``: ``value`` is the parsed output (a model instance for a pydantic schema)."""

    valid: bool
    value: Any = None
    errors: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.valid


def _output_text(output: Any) -> Any:
    """The text (or data) of an LLM output: a string, a chat completion, a Responses result, a Message."""
    if isinstance(output, str | bytes | dict | list):
        return output.decode() if isinstance(output, bytes) else output
    choices = getattr(output, "choices", None)
    if choices:
        message = getattr(choices[0], "message", None)
        if getattr(message, "content", None):
            return message.content
        calls = getattr(message, "tool_calls", None)
        if calls:
            return calls[0].function.arguments
    text = getattr(output, "output_text", None)
    if isinstance(text, str) and text:
        return text
    content = getattr(output, "content", None)
    if isinstance(content, list):
        texts = [b.text for b in content if getattr(b, "type", None) == "text"]
        if texts:
            return "".join(texts)
        inputs = [b.input for b in content if getattr(b, "type", None) == "tool_use"]
        if inputs:
            return inputs[0]
    return output


def _check(data: Any, schema: Any) -> Validation:
    from pydantic import BaseModel, TypeAdapter, ValidationError

    if isinstance(schema, type) and issubclass(schema, BaseModel):
        try:
            value = schema.model_validate_json(data) if isinstance(data, str) else schema.model_validate(data)
            return Validation(True, value)
        except ValidationError as e:
            return Validation(False, None, [f"{'.'.join(map(str, err['loc'])) or '$'}: {err['msg']}"
                                            for err in e.errors()[:20]])
    if isinstance(schema, dict):
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError as e:
                return Validation(False, None, [f"$: not JSON: {e}"])
        import jsonschema

        validator = jsonschema.validators.validator_for(schema)(schema)
        errors = [f"{e.json_path}: {e.message}" for e in list(validator.iter_errors(data))[:20]]
        return Validation(not errors, data if not errors else None, errors)
    adapter = TypeAdapter(schema)
    try:
        value = adapter.validate_json(data) if isinstance(data, str) else adapter.validate_python(data)
        return Validation(True, value)
    except ValidationError as e:
        return Validation(False, None, [f"{'.'.join(map(str, err['loc'])) or '$'}: {err['msg']}"
                                        for err in e.errors()[:20]])


def validate(output: Any, schema: Any, *, call: CallRef | None = None) -> Validation:
    """Check an LLM output against a pydantic model, a JSON schema (dict) or a type; record it on the call.

    The result (``tokentrail.schema_valid`` and ``tokentrail.schema_errors``) is recorded on
    ``call``, else on the last LLM call of this context, else on the current observed step.
    """
    try:
        result = _check(_output_text(output), schema)
    except Exception as e:
        internal_error("tokentrail.validate()")
        return Validation(False, None, [f"could not validate: {type(e).__name__}: {e}"])
    try:
        record: Recorded | None = call._record if call is not None else _latest()
        if record is not None:
            _record_result(record, result)
    except Exception:
        internal_error("recording a validation")
    return result


def _latest() -> Recorded | None:
    """The last LLM call, unless the current observed step started after it (then the step)."""
    last, step = LAST_CALL.get(), current_observed()
    if step is not None and (last is None or last.start_ns < step.start_ns):
        return step
    return last


def _record_result(record: Recorded, result: Validation) -> None:
    attrs: dict[str, Any] = {"tokentrail.schema_valid": result.valid}
    if result.errors:
        attrs["tokentrail.schema_errors"] = "; ".join(result.errors)[:2000]
    record.schema = attrs
    exporter = _state.STATE.exporter
    finished = hasattr(record, "t1")
    if exporter is not None and finished:
        exporter.submit(record)  # sent again with the result; the newer copy of the span replaces the first
