"""A finished call -> one OTLP span with the keys the engine turns into columns (gen_ai.*, tokentrail.*).

Runs in the recorder thread. Content (prompt and reply) is attached only when the capture
policy allows: ``off`` never; ``errors`` (default) for failed calls and calls flagged with
``X-Tokentrail-Capture: true``; ``always`` unless the call says ``X-Tokentrail-Capture: false``.
The prompt is the request body as sent; the reply is the generated text, or, when the model called
tools, the reply in its provider's own shape with each call's id, name and arguments (an OpenAI
assistant message with ``tool_calls``; Anthropic content blocks with ``tool_use``), or the error
body for a failed call.
"""

from __future__ import annotations

import json

from tokentrail.gateway.adapters import Outcome, adapter_for, decode_body, request_info
from tokentrail.gateway.call import CLIENT_DISCONNECTED, STREAM_ABORTED, Call
from tokentrail.gateway.otlp import SpanFields, encode_span
from tokentrail.privacy import inline_data
from tokentrail.privacy.policy import Policy, Rule

CAPTURE_POLICIES = ("off", "errors", "always")
MAX_CONTENT = 256 << 10  # bytes of prompt or reply kept per call

# HTTP status -> the exception the official clients raise for it, so gateway and SDK rows group alike.
_HTTP_ERRORS = {400: "BadRequestError", 401: "AuthenticationError", 403: "PermissionDeniedError",
                404: "NotFoundError", 409: "ConflictError", 413: "RequestTooLargeError",
                422: "UnprocessableEntityError", 429: "RateLimitError", 529: "OverloadedError"}
_KINDS = {"embeddings": "embedding"}


def http_error_type(status: int) -> str:
    if status < 400:
        return ""
    return _HTTP_ERRORS.get(status) or ("InternalServerError" if status >= 500 else "APIStatusError")


def outcome_of(call: Call) -> tuple[Outcome, list[str]]:
    """Parse a call's bodies with its upstream's adapter; estimate tokens the provider did not report."""
    adapter = adapter_for(call.upstream.format)
    body = decode_body(call.body or b"".join(call.chunks), call.content_encoding)
    if call.streamed and call.status < 400:
        out = adapter.parse_stream(call.operation, body)
    else:
        out = adapter.parse_response(call.operation, body)
    out.request_model, prompt = request_info(call.request_body, adapter.INPUT_KEYS)
    if call.status < 400 and not call.failure or call.failure in (CLIENT_DISCONNECTED, STREAM_ABORTED):
        out.estimate_missing(prompt)
    return out, prompt


def _error(call: Call, out: Outcome) -> tuple[str, str]:
    """(error.type, message) of a failed call, ("", "") for a successful one."""
    detail = f"{out.error_type}: {out.error_message}" if out.error_type else out.error_message
    if call.failure:
        return call.failure, call.failure_message or detail
    if call.status >= 400:
        return http_error_type(call.status), detail or f"upstream answered HTTP {call.status}"
    if call.streamed and (out.error_message or out.error_type):
        return "StreamError", detail
    return "", ""


def _clip(data: bytes | str) -> str:
    """Content as kept: inline images, audio and files as their size (``privacy/inline_data.py``), then cut
    at ``MAX_CONTENT`` bytes."""
    text = inline_data.omit(data if isinstance(data, str) else data.decode("utf-8", "replace"))
    raw = text.encode()
    if len(raw) <= MAX_CONTENT:
        return text
    return raw[:MAX_CONTENT].decode("utf-8", "ignore") + f"...[{len(raw) - MAX_CONTENT} bytes not kept]"


def _capture_reason(policy: str | Policy, call: Call, failed: bool) -> str:
    """Why the call's content is kept ("" = not kept): the server's capture policy (``privacy/policy.py``),
    whose ``gateway`` rule defaults to the setting ``gateway_capture`` (a mode string here, in tests)."""
    if isinstance(policy, str):
        policy = Policy(gateway=Rule.parse(policy))
    route = next((str(v) for k, v in call.context.attributes if k == "tokentrail.route"), "")
    return policy.decide(project=call.project, route=route, source="gateway", trace_id=call.trace_id,
                         failed=failed, flag=call.context.capture) or ""


def _usage_attributes(call: Call, out: Outcome) -> list[tuple[str, object]]:
    usage: list[tuple[str, object]] = [("gen_ai.usage.input_tokens", out.input_tokens),
                                       ("gen_ai.usage.output_tokens", out.output_tokens)]
    if out.cached_input_tokens:
        usage.append(("gen_ai.usage.cache_read.input_tokens", out.cached_input_tokens))
    if out.cache_write_tokens:
        usage.append(("gen_ai.usage.cache_creation.input_tokens", out.cache_write_tokens))
    if out.reasoning_tokens:
        usage.append(("gen_ai.usage.reasoning.output_tokens", out.reasoning_tokens))
    if not call.cache_hit:
        return usage
    # A cache hit cost nothing: the billed token columns stay 0 (so cost is 0, not unpriced) and
    # the tokens the cached reply stands for are kept beside them.
    return [(k.replace("gen_ai.usage.", "tokentrail.cache."), v) for k, v in usage]


def build_span(call: Call, policy: str | Policy) -> bytes:
    """The call as an encoded OTLP ``Span``."""
    out, _ = outcome_of(call)
    error_type, message = _error(call, out)
    model = out.response_model or out.request_model
    attrs: list[tuple[str, object]] = [
        ("gen_ai.operation.name", call.operation), ("gen_ai.provider.name", call.upstream.provider),
        ("tokentrail.kind", _KINDS.get(call.operation, "llm")),
        ("tokentrail.gateway.upstream", call.upstream.name),
        ("tokentrail.streamed", call.streamed), ("tokentrail.cache_hit", call.cache_hit),
        *_usage_attributes(call, out),
    ]
    optional: list[tuple[str, object]] = [
        ("gen_ai.request.model", out.request_model), ("gen_ai.response.model", out.response_model),
        ("gen_ai.response.id", out.response_id), ("gen_ai.response.finish_reasons", out.finish_reasons),
        ("http.response.status_code", call.status), ("error.type", error_type),
        ("tokentrail.tokens_estimated", out.estimated), ("tokentrail.gateway.truncated", call.truncated),
        ("tokentrail.gateway.upstream_request_id", call.upstream_request_id),
        ("tokentrail.ttft_ms", round(call.ttft_s * 1000, 3) if call.ttft_s is not None else None),
    ]
    attrs += [(k, v) for k, v in optional if v]
    attrs += call.context.attributes
    reason = _capture_reason(policy, call, bool(error_type))
    if reason:
        reply = _reply(call, out) or decode_body(call.body or b"".join(call.chunks), call.content_encoding)
        attrs += [("tokentrail.input", _clip(call.request_body)), ("tokentrail.output", _clip(reply)),
                  ("tokentrail.capture_reason", reason)]
    return encode_span(SpanFields(
        trace_id=call.trace_id, span_id=call.span_id, parent_span_id=call.parent_span_id,
        name=f"{call.operation} {model}".strip(), start_ns=call.start_ns,
        end_ns=call.start_ns + int(call.duration_s * 1e9), attributes=attrs,
        error_message=message[:2000] if error_type else None))


def _reply(call: Call, out: Outcome) -> str:
    """What the model answered: its text; with tool calls, the reply in the provider's shape, so each call
    keeps its name (the conversation view shows it), its id and its arguments."""
    if not out.tool_calls:
        return "".join(out.output)
    calls = [out.tool_calls[i] for i in sorted(out.tool_calls)]
    text = out.text()
    if call.upstream.format == "anthropic":
        blocks: list[dict[str, object]] = [{"type": "text", "text": text}] if text else []
        for c in calls:
            try:
                args: object = json.loads(c["arguments"]) if c["arguments"] else {}
            except ValueError:  # a stream cut inside the arguments: kept as sent
                args = c["arguments"]
            blocks.append({"type": "tool_use", "id": c["id"], "name": c["name"], "input": args})
        return json.dumps(blocks, ensure_ascii=False)
    if call.operation == "responses":
        items: list[dict[str, object]] = [{"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": text}]}] if text else []
        items += [{"type": "function_call", "call_id": c["id"], "name": c["name"], "arguments": c["arguments"]}
                  for c in calls]
        return json.dumps({"output": items}, ensure_ascii=False)
    return json.dumps({"role": "assistant", "content": text or None, "tool_calls": [
        {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
        for c in calls]}, ensure_ascii=False)
