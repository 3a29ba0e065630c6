"""The official anthropic client through the gateway (base_url <server>/gateway/anthropic)."""

from __future__ import annotations

import anthropic
import pytest

from tests.fake_llm import FakeLLM
from tests.gateway.conftest import anthropic_direct, anthropic_via, masked, one_span
from tests.support import ServerThread

HELLO = [{"role": "user", "content": "Hello there, how are you"}]  # 5 words


def test_message_body_is_the_upstream_one(server: ServerThread, fake_llm: FakeLLM, project: str) -> None:
    kwargs = dict(model="claude-haiku-4-5", max_tokens=100, messages=HELLO)
    via = anthropic_via(server, project).messages.with_raw_response.create(**kwargs)
    direct = anthropic_direct(fake_llm).messages.with_raw_response.create(**kwargs)
    assert masked(via.http_response.content) == masked(direct.http_response.content)
    assert via.headers["content-type"] == direct.headers["content-type"]
    assert "request-id" in via.headers and len(via.headers["x-tokentrail-request-id"]) == 16
    via_sent, direct_sent = (r["headers"] for r in fake_llm.requests_to("/v1/messages"))
    for name in ("x-api-key", "authorization", "anthropic-version", "user-agent"):
        assert via_sent.get(name) == direct_sent.get(name), name


def test_message_usage_counts_cached_and_cache_write_tokens_as_input(
    server: ServerThread, project: str
) -> None:
    msg = anthropic_via(server, project).messages.create(
        model="claude-haiku-4-5+cached:2+cache-write:1", max_tokens=100, messages=HELLO
    )
    u = msg.usage
    row = one_span(server, project)
    assert (row["provider"], row["operation"], row["source"]) == ("anthropic", "chat", "gateway")
    assert (
        row["input_tokens"] == u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens == 5
    )
    assert (row["cached_input_tokens"], row["cache_write_tokens"]) == (2, 1)
    assert row["output_tokens"] == u.output_tokens == 10
    assert row["finish_reason"] == "end_turn"
    assert row["total_cost"] > 0 and not row["tokens_estimated"]


def test_stream_usage_comes_from_message_start_and_message_delta(
    server: ServerThread, fake_llm: FakeLLM, project: str
) -> None:
    kwargs = dict(model="claude-haiku-4-5+chunks:3+cached:1", max_tokens=100, messages=HELLO, stream=True)
    with anthropic_via(server, project).messages.with_streaming_response.create(**kwargs) as via:
        via_bytes = b"".join(via.iter_bytes())
    with anthropic_direct(fake_llm).messages.with_streaming_response.create(**kwargs) as direct:
        direct_bytes = b"".join(direct.iter_bytes())
    assert masked(via_bytes) == masked(direct_bytes)
    row = one_span(server, project)
    assert row["streamed"] and row["ttft_ms"] > 0
    assert (row["input_tokens"], row["cached_input_tokens"], row["output_tokens"]) == (5, 1, 10)
    assert not row["tokens_estimated"]


def test_stream_helper_of_the_official_client(server: ServerThread, project: str) -> None:
    with anthropic_via(server, project).messages.stream(
        model="claude-haiku-4-5", max_tokens=100, messages=HELLO
    ) as stream:
        text = "".join(stream.text_stream)
    assert text == "This is a deterministic reply from the fake LLM server."
    assert one_span(server, project)["output_tokens"] == 10


def test_stream_without_usage_gets_estimated_tokens(server: ServerThread, project: str) -> None:
    events = anthropic_via(server, project).messages.create(
        model="claude-haiku-4-5+no-usage", max_tokens=100, messages=HELLO, stream=True
    )
    assert [e.type for e in events][-1] == "message_stop"
    row = one_span(server, project)
    assert row["tokens_estimated"] and 8 <= row["output_tokens"] <= 14 and 4 <= row["input_tokens"] <= 8


def test_tool_use_arguments_count_as_output(server: ServerThread, project: str) -> None:
    tools = [
        {
            "name": "get_weather",
            "description": "Weather",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ]
    anthropic_via(server, project).messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=HELLO, tools=tools
    )
    row = one_span(server, project)
    assert row["finish_reason"] == "tool_use" and row["output_tokens"] == 10


def test_rate_limit_is_passed_through_and_recorded(server: ServerThread, project: str) -> None:
    with pytest.raises(anthropic.RateLimitError) as err:
        anthropic_via(server, project).messages.create(
            model="claude-haiku-4-5+error-429", max_tokens=10, messages=HELLO
        )
    assert err.value.response.headers["retry-after"] == "1"
    row = one_span(server, project)
    assert (row["status"], row["http_status"], row["error_type"]) == ("error", 429, "RateLimitError")
    assert "rate_limit_error" in row["error_message"]


def test_overloaded_is_recorded(server: ServerThread, project: str) -> None:
    with pytest.raises(anthropic.APIStatusError):
        anthropic_via(server, project).messages.create(
            model="claude-haiku-4-5+error-529", max_tokens=10, messages=HELLO
        )
    row = one_span(server, project)
    assert (row["http_status"], row["error_type"]) == (529, "OverloadedError")


def test_count_tokens_passes_through_unrecorded(server: ServerThread, project: str) -> None:
    client = anthropic_via(server, project)
    assert client.messages.count_tokens(model="claude-haiku-4-5", messages=HELLO).input_tokens == 5
    client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=HELLO)
    assert [r["operation"] for r in [one_span(server, project)]] == ["chat"]
