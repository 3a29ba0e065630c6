"""OpenAI wire format: /v1/chat/completions, /v1/embeddings, /v1/models, and helpers shared with /v1/responses."""

from __future__ import annotations

import base64
import random
import struct
import time
from typing import Any

from aiohttp import web

from .errors import openai_error, openai_error_body, openai_headers
from .scenarios import (
    SCENARIO_HEADER,
    Reply,
    Scenario,
    ScenarioError,
    content_texts,
    dated,
    parse_scenario,
    plan_reply,
)
from .streaming import BODY, SEQ, SSEWriter, json_response, reply_json, sse_bytes

FINGERPRINT = "fp_fake"
DEFAULT_EMBEDDING_DIMENSIONS = 8
MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini", "text-embedding-3-small")


class Rejected(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


def start_request(request: web.Request, last_user_text: str) -> tuple[dict, Scenario, str, int]:
    """Validate the common fields and resolve the scenario; raises Rejected with an error response."""
    body, seq = request[BODY], request[SEQ]
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise Rejected(openai_error(400, "you must provide a model parameter", seq=seq, param="model"))
    try:
        scenario, model = parse_scenario(model, request.headers.get(SCENARIO_HEADER), last_user_text)
    except ScenarioError as exc:
        raise Rejected(openai_error(400, str(exc), seq=seq)) from exc
    if scenario.error:
        raise Rejected(openai_error(scenario.error, seq=seq, model=model, retry_after=scenario.retry_after))
    return body, scenario, model, seq


def last_user_text(messages: Any) -> str:
    if isinstance(messages, str):
        return messages
    for message in reversed(messages if isinstance(messages, list) else []):
        if isinstance(message, dict) and message.get("role") == "user":
            return " ".join(content_texts(message.get("content")))
    return ""


def tool_choice(choice: Any) -> tuple[str, str | None]:
    if isinstance(choice, dict):  # {"type": "function", "function": {"name"}} or Responses {"type", "name"}
        return "required", (choice.get("function") or choice).get("name")
    return (choice if choice in ("none", "required") else "auto"), None


def _stream_error() -> bytes:
    return sse_bytes(openai_error_body(500))


# ---------------------------------------------------------------- chat completions


def _chat_usage(reply: Reply) -> dict:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.total_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reply.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_tool_calls(reply: Reply) -> list[dict]:
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in reply.tool_calls
    ]


async def chat_completions(request: web.Request) -> web.StreamResponse:
    messages = request[BODY].get("messages")
    try:
        body, scenario, model, seq = start_request(request, last_user_text(messages))
    except Rejected as rejected:
        return rejected.response
    if not isinstance(messages, list) or not messages:
        return openai_error(400, "Missing required parameter: 'messages'.", seq=seq, param="messages")
    tools = [
        (t["function"].get("name", ""), t["function"].get("parameters"))
        for t in body.get("tools") or []
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    mode, forced = tool_choice(body.get("tool_choice"))
    reply = plan_reply(
        scenario,
        prompt_texts=[
            text for m in messages if isinstance(m, dict) for text in content_texts(m.get("content"))
        ],
        last_user_text=last_user_text(messages),
        tools=tools,
        tool_mode=mode,
        forced_tool=forced,
        after_tool_result=isinstance(messages[-1], dict) and messages[-1].get("role") in ("tool", "function"),
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        seq=seq,
    )
    base = {
        "id": f"chatcmpl-fake{seq}",
        "created": int(time.time()),
        "model": dated(model),
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
    if body.get("stream"):
        include_usage = (
            bool((body.get("stream_options") or {}).get("include_usage")) and not scenario.no_usage
        )
        return await _stream_chat(request, scenario, reply, base, include_usage)

    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text or None,
        "refusal": None,
        "annotations": [],
    }
    if reply.tool_calls:
        message["tool_calls"] = _chat_tool_calls(reply)
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish}
    result = {**base, "object": "chat.completion", "choices": [choice]}
    if not scenario.no_usage:
        result["usage"] = _chat_usage(reply)
    return await reply_json(request, scenario, result, openai_headers(seq))


async def _stream_chat(
    request: web.Request, scenario: Scenario, reply: Reply, base: dict, include_usage: bool
) -> web.StreamResponse:
    base = {**base, "object": "chat.completion.chunk"}

    def chunk(delta: dict, finish: str | None = None) -> dict:
        data = {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            data["usage"] = None
        return data

    writer = SSEWriter(request, scenario, openai_headers(request[SEQ]), _stream_error)
    await writer.start()
    if reply.tool_calls:
        for index, call in enumerate(reply.tool_calls):
            head = {
                "index": index,
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            first = {"role": "assistant", "content": None, "refusal": None} if index == 0 else {}
            await writer.send(chunk({**first, "tool_calls": [head]}))
            for piece in call.pieces:
                await writer.send(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}), content=True
                )
    else:
        await writer.send(chunk({"role": "assistant", "content": "", "refusal": None}))
        for piece in reply.text_pieces:
            await writer.send(chunk({"content": piece}), content=True)
    await writer.end_of_content()
    await writer.send(chunk({}, reply.finish))
    if include_usage:
        await writer.send({**base, "choices": [], "usage": _chat_usage(reply)})
    await writer.write(b"data: [DONE]\n\n")
    return await writer.finish()


# ---------------------------------------------------------------- embeddings and models


def _embedding(text: str, dimensions: int) -> list[float]:
    rng = random.Random(text)
    vector = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    return [v / norm for v in vector]


async def embeddings(request: web.Request) -> web.Response:
    items = request[BODY].get("input")
    try:
        body, scenario, model, seq = start_request(request, items if isinstance(items, str) else "")
    except Rejected as rejected:
        return rejected.response
    if isinstance(items, str) or (isinstance(items, list) and items and isinstance(items[0], int)):
        items = [items]
    if not isinstance(items, list) or not items:
        return openai_error(
            400, "'input' : input must be a string or an array of strings", seq=seq, param="input"
        )
    dimensions = body.get("dimensions") or DEFAULT_EMBEDDING_DIMENSIONS
    as_base64 = body.get("encoding_format") == "base64"
    data, tokens = [], 0
    for index, item in enumerate(items):
        tokens += len(item.split()) if isinstance(item, str) else len(item)
        vector: Any = _embedding(str(item), dimensions)
        if as_base64:
            vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    if scenario.prompt_tokens is not None:
        tokens = scenario.prompt_tokens
    result = {
        "object": "list",
        "data": data,
        "model": dated(model),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return await reply_json(request, scenario, result, openai_headers(seq))


def _model(name: str) -> dict:
    return {"id": name, "object": "model", "created": 1700000000, "owned_by": "fake-llm"}


async def list_models(request: web.Request) -> web.Response:
    data = [_model(name) for name in MODELS]
    return json_response({"object": "list", "data": data}, headers=openai_headers(request[SEQ]))


async def get_model(request: web.Request) -> web.Response:
    name = request.match_info["model"]
    return json_response(_model(name), headers=openai_headers(request[SEQ]))
