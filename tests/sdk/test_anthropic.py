"""The real anthropic client against the fake provider: messages sync, async, streamed, tools, cache tokens."""

from __future__ import annotations

import asyncio
import gc
import json
import weakref

import anthropic
import pytest

import tokentrail
from tests.sdk.conftest import Init, one, spans
from tests.support import ServerThread

MESSAGES = [{"role": "user", "content": "Summarize the ticket in one line please"}]
TOOL = {"name": "get_order", "description": "Look up an order",
        "input_schema": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}


def scenario(value: str) -> dict[str, dict[str, str]]:
    return {"extra_headers": {"X-Fake-Scenario": value}}


def test_message_with_cache_tokens(sdk: Init, claude: anthropic.Anthropic, server: ServerThread,
                                   project: str) -> None:
    sdk()
    with tokentrail.context(route="summarize", user_id="u-9"):
        message = claude.messages.create(model="claude-haiku-4-5", max_tokens=200, stop_sequences=["END"],
                                         system="You are terse.", messages=MESSAGES,
                                         **scenario("cached:4, cache-write:3"))
    u = message.usage
    row = one(server, project)
    assert (row["provider"], row["operation"], row["request_model"], row["response_model"]) == (
        "anthropic", "chat", "claude-haiku-4-5", message.model)  # message.model: the dated snapshot answered
    # tokentrail's input tokens include cached and cache-write tokens (Anthropic reports them apart)
    assert row["input_tokens"] == u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens
    assert (row["cached_input_tokens"], row["cache_write_tokens"], row["output_tokens"]) == (4, 3, u.output_tokens)
    assert (row["finish_reason"], row["route"], row["user_id"]) == ("end_turn", "summarize", "u-9")
    assert row["attributes"]["gen_ai.request.max_tokens"] == "200"
    assert json.loads(row["attributes"]["gen_ai.request.stop_sequences"]) == ["END"]


def test_async_message(sdk: Init, aclaude: anthropic.AsyncAnthropic, server: ServerThread, project: str) -> None:
    sdk()

    async def main() -> int:
        with tokentrail.context(session_id="s-async"):
            message = await aclaude.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES)
        return message.usage.output_tokens

    output_tokens = asyncio.run(main())
    row = one(server, project)
    assert (row["session_id"], row["output_tokens"], row["status"]) == ("s-async", output_tokens, "ok")


def test_stream_with_cache_tokens_and_ttft(sdk: Init, claude: anthropic.Anthropic, server: ServerThread,
                                           project: str) -> None:
    sdk()
    stream = claude.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES, stream=True,
                                    **scenario("chunks:4, cached:2, cache-write:1, slow-first-token:100"))
    events = list(stream)
    start = next(e for e in events if e.type == "message_start").message.usage
    delta = next(e for e in events if e.type == "message_delta")
    row = one(server, project)
    assert row["streamed"] is True and row["ttft_ms"] >= 100
    assert row["input_tokens"] == start.input_tokens + 2 + 1
    assert (row["cached_input_tokens"], row["cache_write_tokens"]) == (2, 1)
    assert row["output_tokens"] == delta.usage.output_tokens
    assert row["finish_reason"] == delta.delta.stop_reason


def test_stream_helper_and_async_stream(sdk: Init, claude: anthropic.Anthropic, aclaude: anthropic.AsyncAnthropic,
                                        server: ServerThread, project: str) -> None:
    sdk()
    with claude.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES) as stream:
        final = stream.get_final_message()

    async def main() -> None:
        stream = await aclaude.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES,
                                               stream=True)
        async for _ in stream:
            pass

    asyncio.run(main())
    rows = spans(server, project, 2)
    assert all(r["streamed"] and r["output_tokens"] == final.usage.output_tokens for r in rows)


def test_tool_use(sdk: Init, claude: anthropic.Anthropic, server: ServerThread, project: str) -> None:
    sdk()
    message = claude.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES, tools=[TOOL])
    assert message.stop_reason == "tool_use"
    list(claude.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES, tools=[TOOL],
                                stream=True))
    for row in spans(server, project, 2):
        assert row["finish_reason"] == "tool_use"
        assert json.loads(row["attributes"]["tokentrail.tool_calls"]) == ["get_order"]


def test_overloaded_error_is_recorded_and_raised(sdk: Init, claude: anthropic.Anthropic, server: ServerThread,
                                                 project: str) -> None:
    sdk()
    with pytest.raises(anthropic.RateLimitError):
        claude.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES,
                               **scenario("error-429, retry-after:3"))
    row = one(server, project)
    assert (row["status"], row["http_status"], row["error_type"]) == ("error", 429, "RateLimitError")
    assert json.loads(row["attributes"]["http.response.header.retry-after"]) == ["3"]


def test_stream_error_event_is_recorded(sdk: Init, claude: anthropic.Anthropic, server: ServerThread,
                                        project: str) -> None:
    sdk()
    with pytest.raises(anthropic.APIStatusError):
        for _ in claude.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES, stream=True,
                                        **scenario("chunks:4, stream-error-after:2")):
            pass
    row = one(server, project)
    assert (row["status"], row["streamed"]) == ("error", True)


def test_a_dropped_stream_is_freed_at_once_and_still_recorded(sdk: Init, claude: anthropic.Anthropic,
                                                              server: ServerThread, project: str) -> None:
    sdk()
    gc.disable()  # freed by reference counting alone: the wrapper adds no reference cycle
    try:
        stream = claude.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES, stream=True)
        alive = weakref.ref(stream)
        del stream
        assert alive() is None
    finally:
        gc.enable()
    row = one(server, project)
    assert (row["streamed"], row["attributes"]["tokentrail.stream_closed_early"]) == (True, "true")
