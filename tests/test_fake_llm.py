"""The fake LLM provider must work with the official openai and anthropic clients, unmodified."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.fake_llm import BASE_SENTENCE, TOOL_CALL_TOKENS, FakeLLM, start_fake_llm

REPO_ROOT = Path(__file__).resolve().parents[1]
WEATHER_TOOL_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "unit": {"enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer"},
    },
    "required": ["city", "unit"],
}
OPENAI_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_TOOL_SCHEMA}}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_TOOL_SCHEMA}]
USER = [{"role": "user", "content": "What is the weather in Paris"}]  # 6 words


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeLLM]:
    with start_fake_llm() as fake:
        yield fake


@pytest.fixture
def fake(fake_server: FakeLLM) -> FakeLLM:
    fake_server.reset()
    return fake_server


@pytest.fixture
def oai(fake: FakeLLM) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0)


@pytest.fixture
def claude(fake: FakeLLM) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.base_url, api_key="sk-ant-test", max_retries=0)


def _request(url: str, body: object = None) -> tuple[int, Any]:
    """GET (or POST ``body``, JSON-encoded unless bytes) without a client library; returns (status, JSON)."""
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# ---------------------------------------------------------------- OpenAI chat completions


def test_chat_completion_exact_output_and_usage(fake: FakeLLM, oai: openai.OpenAI) -> None:
    messages = [{"role": "system", "content": "Be brief"}, *USER]
    result = oai.chat.completions.create(model="gpt-4o-mini", messages=messages)

    assert result.choices[0].message.content == BASE_SENTENCE
    assert result.choices[0].finish_reason == "stop"
    assert result.model == "gpt-4o-mini-2024-07-18"  # the dated snapshot that answered, as OpenAI does
    assert result.id == f"chatcmpl-fake{fake.last_request['seq']}"
    assert result._request_id == f"req_fake{fake.last_request['seq']}"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens, result.usage.total_tokens) == (
        8,
        10,
        18,
    )
    assert result.usage.prompt_tokens_details.cached_tokens == 0
    assert result.usage.completion_tokens_details.reasoning_tokens == 0


def test_chat_completion_cached_reasoning_words_and_max_tokens(oai: openai.OpenAI) -> None:
    result = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=USER,
        extra_headers={"X-Fake-Scenario": "cached:4, reasoning:5, words:3"},
    )
    assert result.choices[0].message.content == "This is a"
    usage = result.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (6, 8, 14)
    assert usage.prompt_tokens_details.cached_tokens == 4
    assert usage.completion_tokens_details.reasoning_tokens == 5

    truncated = oai.chat.completions.create(
        model="gpt-4o-mini+words:25", messages=USER, max_completion_tokens=12
    )
    assert truncated.choices[0].finish_reason == "length"
    assert truncated.usage.completion_tokens == 12
    assert truncated.choices[0].message.content == BASE_SENTENCE + " This is"


def test_chat_stream_chunks_and_final_usage_chunk(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="gpt-4o-mini+chunks:4", messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    assert chunks[0].choices[0].delta.role == "assistant"
    contents = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(contents) == 4 and "".join(contents) == BASE_SENTENCE
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    assert chunks[-1].choices == [] and chunks[-1].model == "gpt-4o-mini-2024-07-18"
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (6, 10)


def test_chat_stream_without_usage(oai: openai.OpenAI) -> None:
    plain = list(oai.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True))
    assert len(plain) == 12 and all(c.usage is None and c.choices for c in plain)  # role + 10 words + finish

    no_usage = list(
        oai.chat.completions.create(
            model="gpt-4o-mini+no-usage", messages=USER, stream=True, stream_options={"include_usage": True}
        )
    )
    assert all(c.usage is None for c in no_usage)
    assert oai.chat.completions.create(model="gpt-4o-mini+no-usage", messages=USER).usage is None


def test_chat_tool_calls_plain_streamed_and_after_tool_result(oai: openai.OpenAI) -> None:
    result = oai.chat.completions.create(model="gpt-4o-mini", messages=USER, tools=OPENAI_TOOLS)
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "fake", "unit": "celsius"}
    assert result.usage.completion_tokens == TOOL_CALL_TOKENS

    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o-mini+chunks:5", messages=USER, tools=OPENAI_TOOLS, stream=True
        )
    )
    deltas = [tc for c in chunks for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].id and deltas[0].function.name == "get_weather" and deltas[0].function.arguments == ""
    assert len(deltas) == 6  # header + 5 argument pieces
    assert "".join(d.function.arguments for d in deltas) == call.function.arguments
    assert chunks[-1].choices[0].finish_reason == "tool_calls"

    with oai.chat.completions.stream(model="gpt-4o-mini", messages=USER, tools=OPENAI_TOOLS) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.tool_calls[0].function.arguments == call.function.arguments

    follow_up = [
        *USER,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny 20 degrees"},
    ]
    answer = oai.chat.completions.create(model="gpt-4o-mini", messages=follow_up, tools=OPENAI_TOOLS)
    assert answer.choices[0].finish_reason == "stop" and answer.choices[0].message.content == BASE_SENTENCE
    assert answer.usage.prompt_tokens == 6 + 3  # tool result counted, tool call arguments not


def test_async_openai_chat_and_stream(fake: FakeLLM) -> None:
    async def scenario() -> tuple[str, str]:
        async with openai.AsyncOpenAI(
            base_url=fake.openai_base_url, api_key="sk-test", max_retries=0
        ) as client:
            plain = await client.chat.completions.create(model="gpt-4o", messages=USER)
            stream = await client.chat.completions.create(model="gpt-4o+chunks:2", messages=USER, stream=True)
            text = "".join([c.choices[0].delta.content or "" async for c in stream])
            return plain.choices[0].message.content, text

    assert asyncio.run(scenario()) == (BASE_SENTENCE, BASE_SENTENCE)


def test_magic_word_echo(oai: openai.OpenAI) -> None:
    result = oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "[fake:echo] repeat after me"}]
    )
    assert result.choices[0].message.content == "repeat after me"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (4, 3)  # the tag is one word


# ---------------------------------------------------------------- OpenAI responses, embeddings, models


def test_responses_plain_and_streamed(oai: openai.OpenAI) -> None:
    result = oai.responses.create(model="gpt-4.1", input="What is the weather", instructions="Be brief")
    assert result.output_text == BASE_SENTENCE and result.status == "completed"
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.total_tokens) == (6, 10, 16)
    assert result.usage.input_tokens_details.cached_tokens == 0

    events = list(oai.responses.create(model="gpt-4.1+chunks:3", input=USER, stream=True))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"] and types[-1] == "response.completed"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == BASE_SENTENCE
    assert types.count("response.output_text.delta") == 3
    assert events[-1].response.usage.output_tokens == 10 and events[-1].response.output_text == BASE_SENTENCE

    with oai.responses.stream(model="gpt-4.1", input="hello") as stream:
        assert stream.get_final_response().output_text == BASE_SENTENCE

    last = list(oai.responses.create(model="gpt-4.1", input="hello", max_output_tokens=4, stream=True))[-1]
    assert last.type == "response.incomplete" and last.response.status == "incomplete"
    assert last.response.incomplete_details.reason == "max_output_tokens"
    assert last.response.output_text == "This is a deterministic"


def test_responses_function_call(oai: openai.OpenAI) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER_TOOL_SCHEMA}]
    result = oai.responses.create(model="gpt-4.1", input="weather?", tools=tools)
    call = result.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "fake", "unit": "celsius"}

    events = list(oai.responses.create(model="gpt-4.1", input="weather?", tools=tools, stream=True))
    pieces = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    assert len(pieces) == 3 and "".join(pieces) == call.arguments

    follow_up = [
        {"role": "user", "content": "weather?"},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny"},
    ]
    assert oai.responses.create(model="gpt-4.1", input=follow_up, tools=tools).output_text == BASE_SENTENCE


def test_embeddings_float_and_base64(oai: openai.OpenAI) -> None:
    as_floats = oai.embeddings.create(
        model="text-embedding-3-small", input=["one two", "three"], encoding_format="float"
    )
    as_base64 = oai.embeddings.create(
        model="text-embedding-3-small", input=["one two", "three"]
    )  # client default
    assert as_floats.usage.prompt_tokens == 3 and as_floats.usage.total_tokens == 3
    assert len(as_floats.data) == 2 and len(as_floats.data[0].embedding) == 8
    for exact, decoded in zip(as_floats.data, as_base64.data, strict=True):
        assert decoded.embedding == pytest.approx(exact.embedding, abs=1e-6)
    assert sum(v * v for v in exact.embedding) == pytest.approx(1.0)
    # an explicit encoding_format="base64" is returned undecoded by the client: little-endian float32
    raw = oai.embeddings.create(
        model="text-embedding-3-small", input="x", dimensions=32, encoding_format="base64"
    )
    assert len(struct.unpack("<32f", base64.b64decode(raw.data[0].embedding))) == 32


def test_models_in_both_formats(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    assert "gpt-4o-mini" in [m.id for m in oai.models.list()]
    assert oai.models.retrieve("gpt-4o").id == "gpt-4o"
    assert "claude-sonnet-4-6" in [m.id for m in claude.models.list()]


# ---------------------------------------------------------------- Anthropic messages


def test_anthropic_message_exact_usage_with_cache(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="claude-sonnet-4-6", max_tokens=100, system="Be brief", messages=USER,
        extra_headers={"X-Fake-Scenario": "cached:2 cache-write:3"},
    )  # fmt: skip
    assert message.content[0].text == BASE_SENTENCE and message.stop_reason == "end_turn"
    assert message.model == "claude-sonnet-4-6-20260217" and message._request_id.startswith("req_fake")
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (3, 2, 3)
    assert usage.output_tokens == 10

    truncated = claude.messages.create(model="claude-sonnet-4-6", max_tokens=2, messages=USER)
    assert truncated.stop_reason == "max_tokens" and truncated.content[0].text == "This is"
    assert claude.messages.count_tokens(model="claude-sonnet-4-6", messages=USER).input_tokens == 6


def test_anthropic_stream_event_sequence(claude: anthropic.Anthropic) -> None:
    events = list(
        claude.messages.create(
            model="claude-haiku-4-5+chunks:3+cached:1", max_tokens=100, messages=USER, stream=True
        )
    )
    assert [e.type for e in events] == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start_usage = events[0].message.usage
    assert (
        start_usage.input_tokens,
        start_usage.cache_read_input_tokens,
        start_usage.cache_creation_input_tokens,
    ) == (
        5,
        1,
        0,
    )
    assert "".join(e.delta.text for e in events if e.type == "content_block_delta") == BASE_SENTENCE
    assert events[-2].usage.output_tokens == 10 and events[-2].delta.stop_reason == "end_turn"

    with claude.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=USER) as stream:
        assert "".join(stream.text_stream) == BASE_SENTENCE
        assert stream.get_final_message().usage.output_tokens == 10


def test_anthropic_tool_use_plain_streamed_and_after_result(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model="claude-sonnet-4-6", max_tokens=100, messages=USER, tools=ANTHROPIC_TOOLS
    )
    block = message.content[0]
    assert message.stop_reason == "tool_use" and block.type == "tool_use" and block.id.startswith("toolu_")
    assert block.input == {"city": "fake", "unit": "celsius"}

    events = list(
        claude.messages.create(
            model="claude-sonnet-4-6", max_tokens=100, messages=USER, tools=ANTHROPIC_TOOLS, stream=True
        )
    )
    assert events[1].content_block.type == "tool_use" and events[1].content_block.name == "get_weather"
    partial = [e.delta.partial_json for e in events if e.type == "content_block_delta"]
    assert all(e.delta.type == "input_json_delta" for e in events if e.type == "content_block_delta")
    assert json.loads("".join(partial)) == block.input
    assert events[-2].delta.stop_reason == "tool_use"

    with claude.messages.stream(
        model="claude-sonnet-4-6", max_tokens=100, messages=USER, tools=ANTHROPIC_TOOLS
    ) as s:
        assert s.get_final_message().content[0].input == block.input

    follow_up = [
        *USER,
        {"role": "assistant", "content": [block.model_dump(exclude_none=True)]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "Sunny"}]},
    ]
    answer = claude.messages.create(
        model="claude-sonnet-4-6", max_tokens=100, messages=follow_up, tools=ANTHROPIC_TOOLS
    )
    assert answer.stop_reason == "end_turn" and answer.usage.input_tokens == 7


def test_async_anthropic_stream(fake: FakeLLM) -> None:
    async def scenario() -> tuple[str, int]:
        async with anthropic.AsyncAnthropic(base_url=fake.base_url, api_key="k", max_retries=0) as client:
            async with client.messages.stream(
                model="claude-haiku-4-5", max_tokens=50, messages=USER
            ) as stream:
                text = "".join([piece async for piece in stream.text_stream])
                final = await stream.get_final_message()
            return text, final.usage.output_tokens

    assert asyncio.run(scenario()) == (BASE_SENTENCE, 10)


# ---------------------------------------------------------------- errors and failure scenarios


def test_rate_limit_429(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(
            model="gpt-4o-mini", messages=USER, extra_headers={"X-Fake-Scenario": "error-429"}
        )
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.code == "rate_limit_exceeded" and caught.value.type == "requests"

    with pytest.raises(anthropic.RateLimitError) as caught_anthropic:
        claude.messages.create(model="claude-haiku-4-5+error-429+retry-after:7", max_tokens=5, messages=USER)
    assert caught_anthropic.value.response.headers["retry-after"] == "7"
    assert caught_anthropic.value.body["error"]["type"] == "rate_limit_error"


def test_server_and_client_errors(fake: FakeLLM, oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        oai.chat.completions.create(model="gpt-4o-mini+error-500", messages=USER, stream=True)
    assert caught.value.body["type"] == "server_error"
    with pytest.raises(openai.BadRequestError):
        oai.responses.create(model="gpt-4.1+error-400", input="x")
    with pytest.raises(openai.BadRequestError, match="unknown scenario"):
        oai.chat.completions.create(
            model="gpt-4o-mini", messages=USER, extra_headers={"X-Fake-Scenario": "nope"}
        )
    with pytest.raises(anthropic.InternalServerError) as caught_anthropic:
        claude.messages.create(
            model="claude-haiku-4-5", max_tokens=5, messages=[{"role": "user", "content": "[fake:error-500]"}]
        )
    assert caught_anthropic.value.body["error"]["type"] == "api_error"

    status, body = _request(f"{fake.base_url}/v1/messages", {"model": "claude-haiku-4-5", "messages": USER})
    assert status == 400 and body["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }
    status, body = _request(f"{fake.openai_base_url}/chat/completions", b"{not json")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    status, body = _request(f"{fake.openai_base_url}/no/such/route")
    assert status == 404 and body["error"]["type"] == "invalid_request_error"


def test_aborted_stream_raises_in_clients(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in oai.chat.completions.create(
            model="gpt-4o-mini+abort-after:3", messages=USER, stream=True
        ):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "This is a"

    # the anthropic client surfaces the transport error itself (httpx RemoteProtocolError) in streams
    with pytest.raises(Exception, match="incomplete chunked read|Connection error") as caught:
        list(
            claude.messages.create(
                model="claude-haiku-4-5+abort-after:2", max_tokens=50, messages=USER, stream=True
            )
        )
    assert type(caught.value).__name__ in ("RemoteProtocolError", "APIConnectionError")

    with pytest.raises(openai.APIConnectionError):  # non-streaming: dropped without any response
        oai.chat.completions.create(model="gpt-4o-mini+abort-after:0", messages=USER)

    # the server survives and still answers
    assert (
        oai.chat.completions.create(model="gpt-4o-mini", messages=USER).choices[0].message.content
        == BASE_SENTENCE
    )


def test_in_stream_error_events(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    with pytest.raises(openai.APIError, match="server had an error"):
        list(
            oai.chat.completions.create(model="gpt-4o-mini+stream-error-after:2", messages=USER, stream=True)
        )
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        list(
            claude.messages.create(
                model="claude-haiku-4-5+stream-error-after:2", max_tokens=50, messages=USER, stream=True
            )
        )
    events = list(oai.responses.create(model="gpt-4.1+stream-error-after:1", input="x", stream=True))
    assert events[-1].type == "error"


def test_client_disconnect_mid_stream_is_harmless(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="gpt-4o-mini+words:2000+chunk-delay:1", messages=USER, stream=True
    )
    next(iter(stream))
    stream.close()
    assert oai.chat.completions.create(model="gpt-4o-mini", messages=USER).usage.total_tokens == 16


def test_slow_first_token_and_delay_are_measurable(oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    def time_to_first_content(model: str) -> float:
        started = time.perf_counter()
        for chunk in oai.chat.completions.create(model=model, messages=USER, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                return time.perf_counter() - started
        raise AssertionError("no content")

    slow = time_to_first_content("gpt-4o-mini+slow-first-token:400")
    assert 0.4 <= slow < 5
    assert time_to_first_content("gpt-4o-mini") < slow

    started = time.perf_counter()
    with claude.messages.stream(
        model="claude-haiku-4-5+slow-first-token:300", max_tokens=50, messages=USER
    ) as stream:
        next(iter(stream.text_stream))
    assert time.perf_counter() - started >= 0.3

    started = time.perf_counter()
    oai.chat.completions.create(
        model="gpt-4o-mini", messages=USER, extra_headers={"X-Fake-Scenario": "delay:300"}
    )
    assert time.perf_counter() - started >= 0.3


# ---------------------------------------------------------------- recording and process mode


def test_requests_are_recorded(fake: FakeLLM, oai: openai.OpenAI, claude: anthropic.Anthropic) -> None:
    with pytest.raises(openai.RateLimitError):
        oai.chat.completions.create(model="gpt-4o-mini+error-429", messages=USER)
    claude.messages.create(model="claude-haiku-4-5", max_tokens=5, messages=USER)

    first, second = fake.requests
    assert (first["method"], first["path"]) == ("POST", "/v1/chat/completions")
    assert first["headers"]["authorization"] == "Bearer sk-test"
    assert first["json"]["messages"] == USER and first["json"]["model"] == "gpt-4o-mini+error-429"
    # recent anthropic clients send the key as a bearer token, older ones as x-api-key
    assert "sk-ant-test" in (
        second["headers"].get("x-api-key"),
        second["headers"].get("authorization", "")[7:],
    )
    assert "anthropic-version" in second["headers"]
    assert fake.requests_to("/v1/messages") == [second]

    status, over_http = _request(f"{fake.base_url}/_fake/requests")
    assert status == 200 and [r["seq"] for r in over_http] == [first["seq"], second["seq"]]
    urllib.request.urlopen(
        urllib.request.Request(f"{fake.base_url}/_fake/reset", method="POST"), timeout=10
    ).close()
    assert fake.requests == []


def test_process_entry_point() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_llm", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("fake-llm listening on http://127.0.0.1:"), line
        base_url = line.split()[-1]
        client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="sk-test", max_retries=0)
        assert client.chat.completions.create(model="gpt-4o-mini", messages=USER).usage.prompt_tokens == 6
        assert _request(f"{base_url}/_fake/requests")[1][0]["path"] == "/v1/chat/completions"
    finally:
        process.terminate()
        process.wait(10)
    assert process.returncode == 0
