"""OpenAI adapter: chat completions, Responses API, embeddings, legacy completions (sync, async, streams).

Streamed chat completions carry usage only when the app asked for it
(``stream_options={"include_usage": True}``). We do not add that option for the app:
it changes the request (some OpenAI-compatible servers reject it) and the chunks the
app receives. Without it, input tokens are estimated as prompt characters / 4 and
output tokens as the number of content chunks, flagged ``tokentrail.tokens_estimated``.
"""

from __future__ import annotations

from typing import Any

from tokentrail.sdk.instrument._adapter import Adapter, g, request_params

_PARAMS = {
    "model": "gen_ai.request.model", "temperature": "gen_ai.request.temperature", "top_p": "gen_ai.request.top_p",
    "max_completion_tokens": "gen_ai.request.max_tokens", "max_tokens": "gen_ai.request.max_tokens",
    "max_output_tokens": "gen_ai.request.max_tokens", "seed": "gen_ai.request.seed",
    "frequency_penalty": "gen_ai.request.frequency_penalty", "presence_penalty": "gen_ai.request.presence_penalty",
    "stop": "gen_ai.request.stop_sequences", "n": "gen_ai.request.choice.count",
    "service_tier": "gen_ai.openai.request.service_tier", "reasoning_effort": "gen_ai.request.reasoning.effort",
    "dimensions": "gen_ai.embeddings.dimension.count", "previous_response_id": "gen_ai.request.previous_response.id",
}


def _usage_chat(usage: Any) -> dict[str, Any]:
    if usage is None:
        return {}
    a = {"gen_ai.usage.input_tokens": g(usage, "prompt_tokens"),
         "gen_ai.usage.output_tokens": g(usage, "completion_tokens")}
    details = g(usage, "prompt_tokens_details")
    if g(details, "cached_tokens"):
        a["gen_ai.usage.cache_read.input_tokens"] = g(details, "cached_tokens")
    if g(details, "cache_write_tokens"):
        a["gen_ai.usage.cache_creation.input_tokens"] = g(details, "cache_write_tokens")
    reasoning = g(g(usage, "completion_tokens_details"), "reasoning_tokens")
    if reasoning:
        a["gen_ai.usage.reasoning.output_tokens"] = reasoning
    return a


def _usage_responses(usage: Any) -> dict[str, Any]:
    if usage is None:
        return {}
    a = {"gen_ai.usage.input_tokens": g(usage, "input_tokens"), "gen_ai.usage.output_tokens": g(usage, "output_tokens")}
    details = g(usage, "input_tokens_details")
    if g(details, "cached_tokens"):
        a["gen_ai.usage.cache_read.input_tokens"] = g(details, "cached_tokens")
    if g(details, "cache_write_tokens"):
        a["gen_ai.usage.cache_creation.input_tokens"] = g(details, "cache_write_tokens")
    reasoning = g(g(usage, "output_tokens_details"), "reasoning_tokens")
    if reasoning:
        a["gen_ai.usage.reasoning.output_tokens"] = reasoning
    return a


def _text_chars(value: Any) -> int:
    """Characters of the text in a prompt (strings, content parts, nested messages)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_text_chars(v) for k, v in value.items() if k in ("content", "text", "input", "instructions"))
    if isinstance(value, list | tuple):
        return sum(_text_chars(v) for v in value)
    return 0


class OpenAIAdapter(Adapter):
    provider = "openai"
    routes = {"/chat/completions": ("chat", "llm"), "/responses": ("responses", "llm"),
              "/embeddings": ("embeddings", "embedding"), "/completions": ("completions", "llm")}
    operation_names = {"chat": "chat", "responses": "chat", "embeddings": "embeddings",
                       "completions": "text_completion"}

    def is_token(self, chunk: Any) -> bool:
        fields = chunk.__dict__  # pydantic keeps fields there; a missed getattr on a model is slow
        choices = fields.get("choices")
        if choices is None:  # a Responses API event
            kind = fields.get("type")
            return isinstance(kind, str) and kind.endswith(".delta")
        if not choices:
            return False
        first = choices[0]
        delta = first.__dict__.get("delta")
        if delta is None:  # legacy completions stream
            return bool(first.__dict__.get("text"))
        return bool(delta.content or delta.tool_calls or delta.__dict__.get("refusal"))

    def request_attributes(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        a = request_params(body, _PARAMS)
        tools = [g(t, "name") or g(g(t, "function"), "name") for t in body.get("tools") or ()]
        if tools:
            a["gen_ai.request.tools"] = [t for t in tools if isinstance(t, str)]
        reasoning = body.get("reasoning")
        if isinstance(reasoning, dict) and reasoning.get("effort"):
            a["gen_ai.request.reasoning.effort"] = reasoning["effort"]
        fmt = body.get("response_format")
        if isinstance(fmt, dict) and fmt.get("type"):
            a["gen_ai.output.type"] = fmt["type"]
        if operation == "embeddings":
            inputs = body.get("input")
            a["tokentrail.embeddings.inputs"] = len(inputs) if isinstance(inputs, list) else 1
        return a

    def response_attributes(self, operation: str, result: Any) -> dict[str, Any]:
        a: dict[str, Any] = {"gen_ai.response.model": g(result, "model"), "gen_ai.response.id": g(result, "id")}
        if operation == "responses":
            return {**a, **self._responses(result)}
        if operation == "embeddings":
            a.update(_usage_chat(g(result, "usage")))
            a.pop("gen_ai.usage.output_tokens", None)
            data = g(result, "data") or []
            vector = g(data[0], "embedding") if data else None
            if isinstance(vector, list):
                a["gen_ai.embeddings.dimension.count"] = len(vector)
            return a
        a.update(_usage_chat(g(result, "usage")))
        choices = g(result, "choices") or []
        a["gen_ai.response.finish_reasons"] = [g(c, "finish_reason") or "" for c in choices]
        a["gen_ai.openai.response.system_fingerprint"] = g(result, "system_fingerprint")
        a["gen_ai.openai.response.service_tier"] = g(result, "service_tier")
        names = [g(g(t, "function"), "name") for c in choices for t in g(g(c, "message"), "tool_calls") or ()]
        if names:
            a["tokentrail.tool_calls"] = names
        return a

    def _responses(self, result: Any) -> dict[str, Any]:
        a = _usage_responses(g(result, "usage"))
        status = g(result, "status")
        output = g(result, "output") or []
        names = [g(item, "name") for item in output if g(item, "type") == "function_call"]
        if names:
            a["tokentrail.tool_calls"] = names
        if status == "incomplete":
            reason = g(g(result, "incomplete_details"), "reason") or "incomplete"
            finish = "length" if reason == "max_output_tokens" else reason
        elif status == "failed":
            finish = "error"
        else:
            finish = "tool_calls" if names else "stop"
        a["gen_ai.response.finish_reasons"] = [finish]
        a["gen_ai.openai.response.status"] = status
        return a

    def stream_attributes(self, operation: str, chunks: list[Any], body: dict[str, Any],
                          count: int) -> dict[str, Any]:
        if operation == "responses":
            final = next((g(c, "response") for c in reversed(chunks) if g(c, "response") is not None), None)
            return self.response_attributes(operation, final) if final is not None else {}
        a: dict[str, Any] = {}
        if chunks:
            a["gen_ai.response.model"] = g(chunks[0], "model") or None
            a["gen_ai.response.id"] = g(chunks[0], "id") or None
        finish: dict[int, str] = {}
        tools: dict[tuple[int, int], str] = {}
        plain = 0  # kept chunks without content: the chunks not kept all had content
        usage = None
        for chunk in chunks:  # parsed chunk objects: plain attribute reads (a miss on a pydantic model is slow)
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.finish_reason:
                    finish[choice.index] = choice.finish_reason
                delta = choice.delta if operation == "chat" else None
                if delta is None:
                    plain += not getattr(choice, "text", None)
                    continue
                if not (delta.content or delta.tool_calls):
                    plain += 1
                for call in delta.tool_calls or ():
                    if call.function is not None and call.function.name:
                        tools[(choice.index, call.index)] = call.function.name
        if finish:
            a["gen_ai.response.finish_reasons"] = [finish[i] for i in sorted(finish)]
        if tools:
            a["tokentrail.tool_calls"] = [tools[k] for k in sorted(tools)]
        if usage is not None:
            a.update(_usage_chat(usage))
        else:
            prompt = body.get("messages") if operation == "chat" else body.get("prompt")
            a["gen_ai.usage.input_tokens"] = max(1, round(_text_chars(prompt) / 4))
            a["gen_ai.usage.output_tokens"] = max(0, count - plain)
            a["tokentrail.tokens_estimated"] = True
        return a

    def input(self, operation: str, body: dict[str, Any]) -> Any:
        if operation == "chat":
            return body.get("messages")
        if operation == "responses":
            return {k: body[k] for k in ("instructions", "input") if body.get(k) is not None}
        if operation == "embeddings":
            return body.get("input")
        return body.get("prompt")

    def output(self, operation: str, result: Any) -> Any:
        if operation == "embeddings":
            return None
        if operation == "responses":
            return [item for item in g(result, "output") or () if g(item, "type") != "reasoning"]
        choices = g(result, "choices") or []
        if operation == "completions":
            return [g(c, "text") for c in choices]
        return [g(c, "message") for c in choices]

    def stream_output(self, operation: str, chunks: list[Any]) -> Any:
        if operation == "responses":
            final = next((g(c, "response") for c in reversed(chunks) if g(c, "response") is not None), None)
            if final is not None and g(final, "output"):
                return self.output(operation, final)
            return "".join(g(c, "delta") or "" for c in chunks if g(c, "type") == "response.output_text.delta")
        text: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        for chunk in chunks:
            for choice in g(chunk, "choices") or ():
                if g(choice, "index"):
                    continue  # the first choice only
                delta = g(choice, "delta")
                piece = g(delta, "content") or g(choice, "text")
                if piece:
                    text.append(piece)
                for call in g(delta, "tool_calls") or ():
                    entry = calls.setdefault(g(call, "index") or 0, {"name": "", "arguments": ""})
                    function = g(call, "function")
                    entry["name"] += g(function, "name") or ""
                    entry["arguments"] += g(function, "arguments") or ""
        out: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
        if calls:
            out["tool_calls"] = [calls[i] for i in sorted(calls)]
        return [out]


ADAPTER = OpenAIAdapter()


def targets() -> list[Any]:
    """The client classes to patch (subclasses such as AzureOpenAI inherit the patch)."""
    import openai

    return [openai.OpenAI, openai.AsyncOpenAI]
