"""OpenAI Responses API wire format: POST /v1/responses (plain and streamed events)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from .errors import openai_error, openai_error_body, openai_headers
from .openai_routes import Rejected, last_user_text, start_request, tool_choice
from .scenarios import Reply, Scenario, content_texts, dated, plan_reply
from .streaming import BODY, SEQ, SSEWriter, reply_json, sse_bytes


def _responses_texts(body: dict) -> list[str]:
    texts = content_texts(body.get("instructions"))
    items = body.get("input")
    for item in [items] if isinstance(items, str) else items if isinstance(items, list) else []:
        if isinstance(item, str) or not isinstance(item, dict):
            texts.extend(content_texts(item))
        elif item.get("type") == "function_call_output":
            texts.extend(content_texts(item.get("output")))
        else:
            texts.extend(content_texts(item.get("content")))
    return texts


def _responses_usage(reply: Reply) -> dict:
    return {
        "input_tokens": reply.prompt_tokens,
        "input_tokens_details": {
            "cached_tokens": reply.cached_tokens,
            "cache_write_tokens": reply.cache_write_tokens,
        },
        "output_tokens": reply.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
        "total_tokens": reply.total_tokens,
    }


def _responses_output(reply: Reply, seq: int, status: str) -> list[dict]:
    if reply.tool_calls:
        return [
            {
                "type": "function_call",
                "id": f"fc_fake{seq}_{i}",
                "call_id": c.id,
                "name": c.name,
                "arguments": "" if status == "in_progress" else c.arguments,
                "status": status,
            }
            for i, c in enumerate(reply.tool_calls)
        ]
    part = {"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}
    content = [] if status == "in_progress" else [part]
    return [
        {"type": "message", "id": f"msg_fake{seq}", "status": status, "role": "assistant", "content": content}
    ]


def _response_object(body: dict, model: str, seq: int, reply: Reply | None, scenario: Scenario) -> dict:
    done = reply is not None
    incomplete = done and reply.finish == "length"
    return {
        "id": f"resp_fake{seq}",
        "object": "response",
        "created_at": int(time.time()),
        "status": ("incomplete" if incomplete else "completed") if done else "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "metadata": body.get("metadata") or {},
        "model": dated(model),
        "output": _responses_output(reply, seq, "incomplete" if incomplete else "completed") if done else [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": _responses_usage(reply) if done and not scenario.no_usage else None,
        "user": None,
    }


async def responses(request: web.Request) -> web.StreamResponse:
    items = request[BODY].get("input")
    try:
        body, scenario, model, seq = start_request(request, last_user_text(items))
    except Rejected as rejected:
        return rejected.response
    if items is None:
        return openai_error(400, "Missing required parameter: 'input'.", seq=seq, param="input")
    tools = [
        (t.get("name", ""), t.get("parameters"))
        for t in body.get("tools") or []
        if isinstance(t, dict) and t.get("type") == "function"
    ]
    mode, forced = tool_choice(body.get("tool_choice"))
    last = items[-1] if isinstance(items, list) and items else None
    reply = plan_reply(
        scenario,
        prompt_texts=_responses_texts(body),
        last_user_text=last_user_text(items),
        tools=tools,
        tool_mode=mode,
        forced_tool=forced,
        after_tool_result=isinstance(last, dict) and last.get("type") == "function_call_output",
        max_tokens=body.get("max_output_tokens"),
        seq=seq,
    )
    if body.get("stream"):
        return await _stream_responses(request, body, model, scenario, reply)
    return await reply_json(
        request, scenario, _response_object(body, model, seq, reply, scenario), openai_headers(seq)
    )


async def _stream_responses(
    request: web.Request, body: dict, model: str, scenario: Scenario, reply: Reply
) -> web.StreamResponse:
    seq = request[SEQ]

    def error_event() -> bytes:
        data = {
            "type": "error",
            "code": "server_error",
            "message": openai_error_body(500)["error"]["message"],
            "param": None,
            "sequence_number": writer.next_sequence(),
        }
        return sse_bytes(data, "error")

    writer = SSEWriter(request, scenario, openai_headers(seq), error_event, sequence_numbers=True)

    async def send(kind: str, content: bool = False, **fields: Any) -> None:
        await writer.send({"type": kind, **fields}, kind, content=content)

    await writer.start()
    pending = _response_object(body, model, seq, None, scenario)
    await send("response.created", response=pending)
    await send("response.in_progress", response=pending)
    final = _response_object(body, model, seq, reply, scenario)
    last = len(final["output"]) - 1
    for index, (item, done_item) in enumerate(
        zip(_responses_output(reply, seq, "in_progress"), final["output"], strict=True)
    ):
        await send("response.output_item.added", output_index=index, item=item)
        ids = {"item_id": item["id"], "output_index": index}
        if item["type"] == "function_call":
            call = reply.tool_calls[index]
            for piece in call.pieces:
                await send("response.function_call_arguments.delta", content=True, delta=piece, **ids)
            if index == last:
                await writer.end_of_content()
            await send(
                "response.function_call_arguments.done", arguments=call.arguments, name=call.name, **ids
            )
        else:
            part = done_item["content"][0]
            ids["content_index"] = 0
            await send("response.content_part.added", part={**part, "text": ""}, **ids)
            for piece in reply.text_pieces:
                await send("response.output_text.delta", content=True, delta=piece, logprobs=[], **ids)
            await writer.end_of_content()
            await send("response.output_text.done", text=reply.text, logprobs=[], **ids)
            await send("response.content_part.done", part=part, **ids)
        await send("response.output_item.done", output_index=index, item=done_item)
    await send(
        "response.incomplete" if final["status"] == "incomplete" else "response.completed", response=final
    )
    return await writer.finish()
