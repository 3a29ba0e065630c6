"""Anthropic wire format: /v1/messages, /v1/messages/count_tokens, /v1/models (with ``anthropic-version``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .errors import anthropic_error, anthropic_error_body, anthropic_headers
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

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
MODELS = ("claude-opus-4-7", "claude-sonnet-4-6", "claude-haiku-4-5")


def _texts(messages: list, system: Any) -> tuple[list[str], str]:
    """(all prompt texts, text of the last user message that has text, tool results excluded)."""
    texts = content_texts(system)
    last_user = ""
    for message in messages:
        if isinstance(message, dict):
            content = message.get("content")
            texts.extend(content_texts(content))
            if isinstance(content, list):  # tool results are not "user text"
                content = [p for p in content if not (isinstance(p, dict) and p.get("type") == "tool_result")]
            if message.get("role") == "user" and (text := " ".join(content_texts(content))):
                last_user = text
    return texts, last_user


def _after_tool_result(messages: list) -> bool:
    content = messages[-1].get("content") if isinstance(messages[-1], dict) else None
    return isinstance(content, list) and any(
        isinstance(p, dict) and p.get("type") == "tool_result" for p in content
    )


def _tool_choice(choice: Any) -> tuple[str, str | None]:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool":
        return "required", choice.get("name")
    return {"any": "required", "none": "none"}.get(kind, "auto"), None


def _usage(reply: Reply) -> dict:
    return {
        "input_tokens": reply.prompt_tokens - reply.cached_tokens - reply.cache_write_tokens,
        "cache_creation_input_tokens": reply.cache_write_tokens,
        "cache_read_input_tokens": reply.cached_tokens,
        "output_tokens": reply.completion_tokens,
        "service_tier": "standard",
    }


def _blocks(reply: Reply) -> list[dict]:
    if reply.tool_calls:
        return [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.input} for c in reply.tool_calls]
    return [{"type": "text", "text": reply.text}]


def _parse(request: web.Request) -> tuple[Scenario, str, Reply] | web.Response:
    body, seq = request[BODY], request[SEQ]
    model, messages = body.get("model"), body.get("messages")
    for field, ok in (("model", isinstance(model, str) and model), ("messages", isinstance(messages, list))):
        if not ok:
            return anthropic_error(400, f"{field}: Field required", seq=seq)
    texts, last_user = _texts(messages, body.get("system"))
    try:
        scenario, model = parse_scenario(model, request.headers.get(SCENARIO_HEADER), last_user)
    except ScenarioError as exc:
        return anthropic_error(400, str(exc), seq=seq)
    if scenario.error:
        return anthropic_error(scenario.error, seq=seq, model=model, retry_after=scenario.retry_after)
    if request.path.endswith("/count_tokens"):
        return scenario, model, plan_reply(scenario, prompt_texts=texts, last_user_text=last_user, tools=[])
    if not isinstance(body.get("max_tokens"), int):
        return anthropic_error(400, "max_tokens: Field required", seq=seq)
    if not messages:
        return anthropic_error(400, "messages: at least one message is required", seq=seq)
    tools = [
        (t.get("name", ""), t.get("input_schema"))
        for t in body.get("tools") or []
        if isinstance(t, dict) and "input_schema" in t
    ]
    mode, forced = _tool_choice(body.get("tool_choice"))
    reply = plan_reply(
        scenario,
        prompt_texts=texts,
        last_user_text=last_user,
        tools=tools,
        tool_mode=mode,
        forced_tool=forced,
        after_tool_result=_after_tool_result(messages),
        max_tokens=body["max_tokens"],
        call_id_prefix="toolu_",
        seq=seq,
    )
    return scenario, model, reply


async def messages(request: web.Request) -> web.StreamResponse:
    parsed = _parse(request)
    if isinstance(parsed, web.Response):
        return parsed
    scenario, model, reply = parsed
    seq = request[SEQ]
    message: dict[str, Any] = {
        "id": f"msg_fake{seq}",
        "type": "message",
        "role": "assistant",
        "model": dated(model),
        "content": _blocks(reply),
        "stop_reason": STOP_REASONS[reply.finish],
        "stop_sequence": None,
    }
    if not scenario.no_usage:
        message["usage"] = _usage(reply)
    if request[BODY].get("stream"):
        return await _stream(request, scenario, reply, message)
    return await reply_json(request, scenario, message, anthropic_headers(seq))


async def _stream(
    request: web.Request, scenario: Scenario, reply: Reply, message: dict
) -> web.StreamResponse:
    def error_event() -> bytes:
        return sse_bytes(anthropic_error_body(529, seq=request[SEQ]), "error")

    writer = SSEWriter(request, scenario, anthropic_headers(request[SEQ]), error_event)

    async def send(kind: str, content: bool = False, **fields: Any) -> None:
        await writer.send({"type": kind, **fields}, kind, content=content)

    await writer.start()
    start = {**message, "content": [], "stop_reason": None}
    if "usage" in message:
        start["usage"] = {**message["usage"], "output_tokens": 1}
    await send("message_start", message=start)
    await send("ping")
    for index, block in enumerate(message["content"]):
        if block["type"] == "tool_use":
            call = reply.tool_calls[index]
            await send("content_block_start", index=index, content_block={**block, "input": {}})
            for piece in call.pieces:
                await send(
                    "content_block_delta",
                    True,
                    index=index,
                    delta={"type": "input_json_delta", "partial_json": piece},
                )
        else:
            await send("content_block_start", index=index, content_block={"type": "text", "text": ""})
            for piece in reply.text_pieces:
                await send(
                    "content_block_delta", True, index=index, delta={"type": "text_delta", "text": piece}
                )
        if index == len(message["content"]) - 1:
            await writer.end_of_content()
        await send("content_block_stop", index=index)
    delta: dict[str, Any] = {"delta": {"stop_reason": message["stop_reason"], "stop_sequence": None}}
    if "usage" in message:
        delta["usage"] = {"output_tokens": reply.completion_tokens}
    await send("message_delta", **delta)
    await send("message_stop")
    return await writer.finish()


async def count_tokens(request: web.Request) -> web.Response:
    parsed = _parse(request)
    if isinstance(parsed, web.Response):
        return parsed
    _, _, reply = parsed
    return json_response({"input_tokens": reply.prompt_tokens}, headers=anthropic_headers(request[SEQ]))


async def list_models(request: web.Request) -> web.Response:
    data = [
        {"type": "model", "id": name, "display_name": name, "created_at": "2025-01-01T00:00:00Z"}
        for name in MODELS
    ]
    body = {"data": data, "has_more": False, "first_id": MODELS[0], "last_id": MODELS[-1]}
    return json_response(body, headers=anthropic_headers(request[SEQ]))
