"""Anthropic adapter: messages (sync, async, streams, tool use), usage with cache read/write tokens.

Anthropic reports ``input_tokens`` without the cached and cache-write tokens; tokentrail's
``gen_ai.usage.input_tokens`` includes them (so input = input + cache read + cache write).
"""

from __future__ import annotations

from typing import Any

from tokentrail.sdk.instrument._adapter import Adapter, g, request_params

_PARAMS = {
    "model": "gen_ai.request.model", "temperature": "gen_ai.request.temperature", "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k", "max_tokens": "gen_ai.request.max_tokens",
    "stop_sequences": "gen_ai.request.stop_sequences", "service_tier": "gen_ai.anthropic.request.service_tier",
}


def _usage(usage: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Usage attributes; a stream's message_delta usage updates the message_start one (``base``)."""
    fields = dict(base or {})
    for name in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
        value = g(usage, name)
        if value is not None:
            fields[name] = value
    return fields


def _usage_attributes(fields: dict[str, Any]) -> dict[str, Any]:
    if not fields:
        return {}
    read = fields.get("cache_read_input_tokens") or 0
    write = fields.get("cache_creation_input_tokens") or 0
    a: dict[str, Any] = {"gen_ai.usage.input_tokens": (fields.get("input_tokens") or 0) + read + write,
                         "gen_ai.usage.output_tokens": fields.get("output_tokens")}
    if read:
        a["gen_ai.usage.cache_read.input_tokens"] = read
    if write:
        a["gen_ai.usage.cache_creation.input_tokens"] = write
    return a


class AnthropicAdapter(Adapter):
    provider = "anthropic"
    routes = {"/v1/messages": ("messages", "llm")}
    operation_names = {"messages": "chat"}

    def is_token(self, chunk: Any) -> bool:
        return getattr(chunk, "type", None) == "content_block_delta"

    def request_attributes(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        a = request_params(body, _PARAMS)
        tools = [g(t, "name") for t in body.get("tools") or ()]
        if tools:
            a["gen_ai.request.tools"] = [t for t in tools if isinstance(t, str)]
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and thinking.get("budget_tokens"):
            a["gen_ai.anthropic.request.thinking_budget"] = thinking["budget_tokens"]
        return a

    def response_attributes(self, operation: str, result: Any) -> dict[str, Any]:
        a: dict[str, Any] = {"gen_ai.response.model": g(result, "model"), "gen_ai.response.id": g(result, "id")}
        if g(result, "stop_reason"):
            a["gen_ai.response.finish_reasons"] = [g(result, "stop_reason")]
        a.update(_usage_attributes(_usage(g(result, "usage"))))
        names = [g(b, "name") for b in g(result, "content") or () if g(b, "type") == "tool_use"]
        if names:
            a["tokentrail.tool_calls"] = names
        return a

    def stream_attributes(self, operation: str, chunks: list[Any], body: dict[str, Any],
                          count: int) -> dict[str, Any]:
        a: dict[str, Any] = {}
        usage: dict[str, Any] = {}
        names: list[str] = []
        for event in chunks:
            kind = g(event, "type")
            if kind == "message_start":
                message = g(event, "message")
                a["gen_ai.response.model"] = g(message, "model")
                a["gen_ai.response.id"] = g(message, "id")
                usage = _usage(g(message, "usage"), usage)
            elif kind == "content_block_start" and g(g(event, "content_block"), "type") == "tool_use":
                names.append(g(g(event, "content_block"), "name"))
            elif kind == "message_delta":
                usage = _usage(g(event, "usage"), usage)
                if g(g(event, "delta"), "stop_reason"):
                    a["gen_ai.response.finish_reasons"] = [g(g(event, "delta"), "stop_reason")]
        a.update(_usage_attributes(usage))
        if names:
            a["tokentrail.tool_calls"] = names
        return a

    def input(self, operation: str, body: dict[str, Any]) -> Any:
        if body.get("system"):
            return {"system": body["system"], "messages": body.get("messages")}
        return body.get("messages")

    def output(self, operation: str, result: Any) -> Any:
        return g(result, "content")

    def stream_output(self, operation: str, chunks: list[Any]) -> Any:
        blocks: dict[int, dict[str, Any]] = {}
        for event in chunks:
            kind = g(event, "type")
            if kind == "content_block_start":
                block = g(event, "content_block")
                entry: dict[str, Any] = {"type": g(block, "type")}
                if g(block, "type") == "tool_use":
                    entry.update(name=g(block, "name"), id=g(block, "id"), input="")
                else:
                    entry["text"] = g(block, "text") or ""
                blocks[g(event, "index") or 0] = entry
            elif kind == "content_block_delta":
                entry = blocks.setdefault(g(event, "index") or 0, {"type": "text", "text": ""})
                delta = g(event, "delta")
                if g(delta, "type") == "input_json_delta":
                    entry["input"] = entry.get("input", "") + (g(delta, "partial_json") or "")
                elif g(delta, "text"):
                    entry["text"] = entry.get("text", "") + g(delta, "text")
                elif g(delta, "thinking"):
                    entry["thinking"] = entry.get("thinking", "") + g(delta, "thinking")
        return [blocks[i] for i in sorted(blocks)]


ADAPTER = AnthropicAdapter()


def targets() -> list[Any]:
    import anthropic

    return [anthropic.Anthropic, anthropic.AsyncAnthropic]
