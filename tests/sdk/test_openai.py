"""The real openai client against the fake provider: what reaches a running tokentrail server."""

from __future__ import annotations

import asyncio
import json

import openai
import pytest

import tokentrail
from tests.sdk.conftest import Init, one, spans
from tests.support import ServerThread

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                          "required": ["city"]}}}


def scenario(value: str) -> dict[str, dict[str, str]]:
    return {"extra_headers": {"X-Fake-Scenario": value}}


def test_chat_completion_reaches_the_server_with_tokens_params_and_context(
        sdk: Init, oai: openai.OpenAI, server: ServerThread, project: str) -> None:
    sdk(service_name="checkout", environment="staging", release="2.1.0")
    with tokentrail.context(user_id="u-1", session_id="s-1", route="support-chat", customer="acme",
                            tags=["beta"], metadata={"experiment": "b"}):
        reply = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, temperature=0.3, top_p=0.9,
                                            max_tokens=50, seed=7, **scenario("cached:2, reasoning:3"))
    assert reply.choices[0].message.content.startswith("This is a deterministic reply")
    row = one(server, project)
    assert (row["kind"], row["provider"], row["operation"]) == ("llm", "openai", "chat")
    assert (row["request_model"], row["response_model"]) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert (row["input_tokens"], row["output_tokens"]) == (reply.usage.prompt_tokens, reply.usage.completion_tokens)
    assert (row["cached_input_tokens"], row["reasoning_tokens"]) == (2, 3)
    assert row["tokens_estimated"] is False
    assert (row["status"], row["http_status"], row["finish_reason"], row["streamed"]) == ("ok", 200, "stop", False)
    assert (row["user_id"], row["session_id"], row["route"], row["customer"], row["tags"]) == (
        "u-1", "s-1", "support-chat", "acme", ["beta"])
    assert (row["service"], row["environment"], row["release"], row["source"]) == ("checkout", "staging", "2.1.0",
                                                                                   "sdk")
    attrs = row["attributes"]
    assert attrs["gen_ai.request.temperature"] == "0.3" and attrs["gen_ai.request.top_p"] == "0.9"
    assert attrs["gen_ai.request.max_tokens"] == "50" and attrs["gen_ai.request.seed"] == "7"
    assert attrs["tokentrail.metadata.experiment"] == "b"
    assert attrs["gen_ai.response.id"] == reply.id
    assert row["duration_ms"] > 0 and row["total_cost"] > 0
    assert row["trace_id"] == tokentrail.last_call().trace_id and row["span_id"] == tokentrail.last_call().span_id


def test_async_chat_completion(sdk: Init, aoai: openai.AsyncOpenAI, server: ServerThread, project: str) -> None:
    sdk()

    async def main() -> str:
        with tokentrail.context(route="async-route"):
            reply = await aoai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return reply.usage.completion_tokens

    completion_tokens = asyncio.run(main())
    row = one(server, project)
    assert (row["route"], row["output_tokens"], row["status"]) == ("async-route", completion_tokens, "ok")


def test_stream_records_ttft_and_exact_usage_when_the_app_asks_for_it(
        sdk: Init, oai: openai.OpenAI, server: ServerThread, project: str) -> None:
    sdk()
    stream = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                         stream_options={"include_usage": True},
                                         **scenario("chunks:4, slow-first-token:120, cached:1"))
    chunks = list(stream)
    usage = chunks[-1].usage
    row = one(server, project)
    assert row["streamed"] is True and row["ttft_ms"] >= 120
    assert row["duration_ms"] >= row["ttft_ms"]
    assert (row["input_tokens"], row["output_tokens"], row["cached_input_tokens"]) == (
        usage.prompt_tokens, usage.completion_tokens, 1)
    assert row["tokens_estimated"] is False and row["finish_reason"] == "stop"


def test_stream_without_usage_estimates_tokens_and_leaves_the_chunks_unchanged(
        sdk: Init, oai: openai.OpenAI, server: ServerThread, project: str) -> None:
    plain = [c.model_dump(exclude={"id", "created"})
             for c in oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                  **scenario("chunks:5"))]
    sdk()
    seen = [c.model_dump(exclude={"id", "created"})
            for c in oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                 **scenario("chunks:5"))]
    assert seen == plain
    row = one(server, project)
    assert row["tokens_estimated"] is True and row["output_tokens"] == 5
    assert row["input_tokens"] == round(len(MESSAGES[0]["content"]) / 4)


def test_async_stream(sdk: Init, aoai: openai.AsyncOpenAI, server: ServerThread, project: str) -> None:
    sdk()

    async def main() -> int:
        stream = await aoai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                                    stream_options={"include_usage": True}, **scenario("chunks:3"))
        return len([c async for c in stream])

    assert asyncio.run(main()) == 6  # role chunk, 3 content chunks, finish chunk, usage chunk
    row = one(server, project)
    assert row["streamed"] is True and row["ttft_ms"] is not None and row["output_tokens"] == 10


def test_stream_helper_of_the_client_is_recorded(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                 project: str) -> None:
    sdk()
    with oai.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES,
                                     stream_options={"include_usage": True}) as stream:
        final = stream.get_final_completion()
    row = one(server, project)
    assert row["streamed"] is True and row["output_tokens"] == final.usage.completion_tokens


def test_stream_closed_early_is_recorded_once(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                              project: str) -> None:
    sdk()
    with oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                     **scenario("chunks:6")) as stream:
        next(iter(stream))
    row = one(server, project)
    assert row["status"] == "ok" and row["attributes"]["tokentrail.stream_closed_early"] == "true"


def test_aborted_stream_is_an_error_and_the_app_sees_the_clients_exception(
        sdk: Init, oai: openai.OpenAI, server: ServerThread, project: str) -> None:
    sdk()
    stream = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                         **scenario("chunks:6, abort-after:2"))
    with pytest.raises(openai.APIConnectionError):
        for _ in stream:
            pass
    row = one(server, project)
    assert (row["status"], row["error_type"], row["streamed"]) == ("error", "APIConnectionError", True)


def test_tool_calls_are_recorded(sdk: Init, oai: openai.OpenAI, server: ServerThread, project: str) -> None:
    sdk()
    reply = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=[WEATHER_TOOL])
    assert reply.choices[0].message.tool_calls[0].function.name == "get_weather"
    stream = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=[WEATHER_TOOL], stream=True,
                                         stream_options={"include_usage": True})
    list(stream)
    plain, streamed = spans(server, project, 2)
    for row in (plain, streamed):
        assert row["finish_reason"] == "tool_calls"
        assert json.loads(row["attributes"]["tokentrail.tool_calls"]) == ["get_weather"]
        assert json.loads(row["attributes"]["gen_ai.request.tools"]) == ["get_weather"]
        assert row["output_tokens"] == 10
    assert streamed["ttft_ms"] is not None


def test_responses_api_sync_and_streamed(sdk: Init, oai: openai.OpenAI, server: ServerThread, project: str) -> None:
    sdk()
    response = oai.responses.create(model="gpt-4.1-mini", input="Say hello", max_output_tokens=100,
                                    **scenario("reasoning:4"))
    events = list(oai.responses.create(model="gpt-4.1-mini", input="Say hello", stream=True,
                                       **scenario("chunks:3")))
    plain, streamed = spans(server, project, 2)
    assert (plain["operation"], plain["request_model"], plain["response_model"]) == (
        "chat", "gpt-4.1-mini", "gpt-4.1-mini-2025-04-14")
    assert (plain["input_tokens"], plain["output_tokens"], plain["reasoning_tokens"]) == (
        response.usage.input_tokens, response.usage.output_tokens, 4)
    assert plain["finish_reason"] == "stop" and plain["attributes"]["gen_ai.request.max_tokens"] == "100"
    completed = next(e for e in events if e.type == "response.completed").response
    assert (streamed["streamed"], streamed["output_tokens"]) == (True, completed.usage.output_tokens)
    assert streamed["ttft_ms"] is not None and streamed["tokens_estimated"] is False


def test_embeddings(sdk: Init, oai: openai.OpenAI, server: ServerThread, project: str) -> None:
    sdk()
    result = oai.embeddings.create(model="text-embedding-3-small", input=["one two three", "four"])
    row = one(server, project)
    assert (row["kind"], row["operation"], row["request_model"]) == ("embedding", "embeddings",
                                                                    "text-embedding-3-small")
    assert (row["input_tokens"], row["output_tokens"]) == (result.usage.prompt_tokens, 0)
    assert row["attributes"]["gen_ai.embeddings.dimension.count"] == str(len(result.data[0].embedding))


def test_rate_limit_is_recorded_and_raised_unchanged(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                     project: str) -> None:
    sdk()
    with pytest.raises(openai.RateLimitError) as raised:
        oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **scenario("error-429, retry-after:7"))
    assert raised.value.status_code == 429
    row = one(server, project)
    assert (row["status"], row["http_status"], row["error_type"]) == ("error", 429, "RateLimitError")
    assert json.loads(row["attributes"]["http.response.header.retry-after"]) == ["7"]
    assert row["attributes"]["tokentrail.error_code"] == "rate_limit_exceeded"
    assert "Rate limit" in row["error_message"] and row["input_tokens"] == 0


def test_server_error_after_client_retries_is_one_span(sdk: Init, fake_llm, server: ServerThread,
                                                       project: str) -> None:
    sdk()
    client = openai.OpenAI(base_url=fake_llm.openai_base_url, api_key="sk-test", max_retries=1)
    client._calculate_retry_timeout = lambda *a, **k: 0.0  # no waiting between the client's own retries
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **scenario("error-500"))
    assert len(fake_llm.requests_to("/v1/chat/completions")) == 2
    row = one(server, project)
    assert (row["http_status"], row["error_type"]) == (500, "InternalServerError")


def test_raw_response_is_recorded_from_its_body(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                project: str) -> None:
    sdk()
    raw = oai.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    completion = raw.parse()
    row = one(server, project)
    assert (row["output_tokens"], row["response_model"]) == (completion.usage.completion_tokens, completion.model)


def test_calls_of_other_endpoints_are_not_recorded(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                   project: str) -> None:
    sdk()
    oai.models.list()
    oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert one(server, project)["operation"] == "chat"
