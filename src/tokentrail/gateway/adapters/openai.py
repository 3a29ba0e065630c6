"""OpenAI wire format (OpenAI, Azure-style and every OpenAI-compatible server: vLLM, Ollama, OpenRouter).

Usage: chat/completions ``usage.prompt_tokens`` (cached included, ``prompt_tokens_details.cached_tokens``),
``completion_tokens`` (reasoning included); in a stream only the final chunk carries it, and only when
the client asked for ``stream_options.include_usage``. Responses API: ``usage.input_tokens`` /
``output_tokens`` in the response object (``response.completed`` in a stream). Embeddings:
``usage.prompt_tokens``.
"""

from __future__ import annotations

from typing import Any

import orjson

from tokentrail.gateway.adapters import Outcome, as_int, iter_sse, loads

OPERATIONS = {"/chat/completions": "chat", "/completions": "text_completion", "/responses": "responses",
              "/embeddings": "embeddings"}
INPUT_KEYS = frozenset({"content", "text", "input", "instructions", "prompt", "output", "arguments"})
AUTH_HEADER = "Authorization"
STREAM_END = (b"[DONE]", b"response.completed", b"response.incomplete")


def operation(method: str, path: str) -> str | None:
    """The recorded operation of a request, or None for a pass-through path (models, files, ...)."""
    if method != "POST":
        return None
    return OPERATIONS.get(path[3:] if path.startswith("/v1/") else path)


def auth_value(key: str) -> str:
    return "Bearer " + key


def _usage(out: Outcome, usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    out.usage_seen = True
    out.input_tokens = as_int(usage.get("prompt_tokens", usage.get("input_tokens")))
    out.output_tokens = as_int(usage.get("completion_tokens", usage.get("output_tokens")))
    in_details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
    out_details = usage.get("completion_tokens_details") or usage.get("output_tokens_details") or {}
    out.cached_input_tokens = as_int(in_details.get("cached_tokens")) if isinstance(in_details, dict) else 0
    out.reasoning_tokens = as_int(out_details.get("reasoning_tokens")) if isinstance(out_details, dict) else 0


def _error(out: Outcome, error: Any) -> None:
    if isinstance(error, dict):
        out.error_type = str(error.get("code") or error.get("type") or "")
        out.error_message = str(error.get("message") or "")
    elif error:
        out.error_message = str(error)


def _choices(out: Outcome, choices: Any) -> None:
    for choice in choices if isinstance(choices, list) else ():
        if not isinstance(choice, dict):
            continue
        if choice.get("finish_reason"):
            out.finish_reasons.append(str(choice["finish_reason"]))
        message = choice.get("message") or choice.get("delta") or {}
        text = message.get("content") if isinstance(message, dict) else None
        if isinstance(text, str) and text:
            out.output.append(text)
        elif isinstance(choice.get("text"), str) and choice["text"]:
            out.output.append(choice["text"])
        for i, call in enumerate((message.get("tool_calls") or []) if isinstance(message, dict) else ()):
            if not isinstance(call, dict):
                continue
            fn = call.get("function") or {}
            args = fn.get("arguments") if isinstance(fn, dict) else None
            if isinstance(args, str) and args:
                out.add_other(args)
            # a stream sends each call's id and name once, then its arguments in pieces, by index
            slot = out.call_at(call["index"] if isinstance(call.get("index"), int) else i)
            slot["id"] = slot["id"] or str(call.get("id") or "")
            if isinstance(fn, dict):
                slot["name"] = slot["name"] or str(fn.get("name") or "")
                slot["arguments"] += args if isinstance(args, str) else ""


def _response_object(out: Outcome, resp: Any) -> None:
    """A Responses API response object (non-streaming body, or the terminal stream event's)."""
    if not isinstance(resp, dict):
        return
    out.response_model = str(resp.get("model") or out.response_model)
    out.response_id = str(resp.get("id") or out.response_id)
    _usage(out, resp.get("usage"))
    details = resp.get("incomplete_details")
    status = (details or {}).get("reason") if isinstance(details, dict) else None
    if status or resp.get("status") not in (None, "in_progress"):
        out.finish_reasons = [str(status or resp.get("status"))]
    if resp.get("error"):
        _error(out, resp["error"])
    calls = [i for i in resp.get("output") or () if isinstance(i, dict) and i.get("type") == "function_call"]
    for n, item in enumerate(calls):
        slot = out.call_at(n)
        slot.update(id=str(item.get("call_id") or item.get("id") or ""), name=str(item.get("name") or ""),
                    arguments=str(item.get("arguments") or ""))
    if out.output:
        return
    for item in resp.get("output") or ():
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("arguments"), str):
            out.add_other(item["arguments"])
        for part in item.get("content") or ():
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                out.output.append(part["text"])


def parse_response(operation: str, body: bytes) -> Outcome:
    out = Outcome()
    doc = loads(body)
    if not isinstance(doc, dict):
        return out
    if "error" in doc and doc["error"]:
        _error(out, doc["error"])
        return out
    if operation == "responses":
        _response_object(out, doc)
        return out
    out.response_model = str(doc.get("model") or "")
    out.response_id = str(doc.get("id") or "")
    _usage(out, doc.get("usage"))
    _choices(out, doc.get("choices"))
    return out


def parse_stream(operation: str, data: bytes) -> Outcome:
    out = Outcome()
    for event, payload in iter_sse(data):
        if payload == b"[DONE]":
            out.complete = True
            continue
        doc = loads(payload)
        if not isinstance(doc, dict):
            continue
        if operation == "responses":
            _responses_event(out, event or str(doc.get("type", "")), doc)
            continue
        if doc.get("error"):
            _error(out, doc["error"])
            continue
        if not out.response_model and doc.get("model"):
            out.response_model, out.response_id = str(doc["model"]), str(doc.get("id") or "")
        if doc.get("usage"):
            _usage(out, doc["usage"])
        _choices(out, doc.get("choices"))
    return out


def _responses_event(out: Outcome, kind: str, doc: dict[str, Any]) -> None:
    if kind in ("response.output_text.delta", "response.function_call_arguments.delta"):
        if isinstance(doc.get("delta"), str):
            if kind == "response.output_text.delta":
                out.output.append(doc["delta"])
            else:
                out.add_other(doc["delta"])
    elif kind in ("response.completed", "response.incomplete", "response.failed"):
        out.complete = True
        _response_object(out, doc.get("response"))
    elif kind == "response.created":
        _response_object(out, doc.get("response"))
    elif kind == "error":
        _error(out, doc.get("error") or doc)


def error_body(status: int, message: str, kind: str) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": kind}})
