"""The official openai client through the gateway: what it receives, and the row recorded for the call."""

from __future__ import annotations

import openai
import pytest

from tests.fake_llm import FakeLLM
from tests.gateway.conftest import masked, one_span, openai_direct, openai_via, spans
from tests.support import ServerThread

HELLO = [{"role": "user", "content": "Hello there, how are you"}]  # 5 words = 5 prompt tokens at the fake


def test_chat_body_and_headers_are_the_upstream_ones(
    server: ServerThread, fake_llm: FakeLLM, project: str
) -> None:
    via = openai_via(server, project).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=HELLO
    )
    direct = openai_direct(fake_llm).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=HELLO
    )
    assert masked(via.content) == masked(direct.content)
    assert via.headers["content-type"] == direct.headers["content-type"]
    for name in ("x-request-id", "openai-organization", "x-ratelimit-remaining-requests"):
        assert name in via.headers, name
    assert via.parse().choices[0].message.content == direct.parse().choices[0].message.content


def test_chat_call_is_recorded_with_usage_cost_and_request_id(server: ServerThread, project: str) -> None:
    raw = openai_via(server, project).chat.completions.with_raw_response.create(
        model="gpt-4o-mini+cached:2+reasoning:3", messages=HELLO
    )
    usage = raw.parse().usage
    row = one_span(server, project)
    assert row["span_id"] == raw.headers["x-tokentrail-request-id"]
    assert len(row["span_id"]) == 16
    assert (row["source"], row["kind"], row["operation"], row["provider"]) == (
        "gateway",
        "llm",
        "chat",
        "openai",
    )
    assert (row["request_model"], row["response_model"]) == ("gpt-4o-mini+cached:2+reasoning:3", raw.parse().model)
    assert row["input_tokens"] == usage.prompt_tokens == 5
    assert row["output_tokens"] == usage.completion_tokens
    assert row["cached_input_tokens"] == 2
    assert row["reasoning_tokens"] == 3
    assert not row["tokens_estimated"]
    assert row["total_cost"] > 0
    assert (row["status"], row["http_status"], row["error_type"]) == ("ok", 200, "")
    assert row["finish_reason"] == "stop"
    assert not row["streamed"] and row["ttft_ms"] is None
    assert row["duration_ms"] > 0
    assert row["attributes"]["tokentrail.gateway.upstream_request_id"] == raw.headers["x-request-id"]


def test_stream_bytes_are_forwarded_unchanged_and_usage_read_from_last_chunk(
    server: ServerThread, fake_llm: FakeLLM, project: str
) -> None:
    kwargs = dict(
        model="gpt-4o-mini+chunks:4", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    with openai_via(server, project).chat.completions.with_streaming_response.create(**kwargs) as via:
        via_bytes = b"".join(via.iter_bytes())
        request_id = via.headers["x-tokentrail-request-id"]
        assert via.headers["content-type"].startswith("text/event-stream")
    with openai_direct(fake_llm).chat.completions.with_streaming_response.create(**kwargs) as direct:
        direct_bytes = b"".join(direct.iter_bytes())
    assert masked(via_bytes) == masked(direct_bytes)
    row = one_span(server, project)
    assert row["span_id"] == request_id
    assert row["streamed"] and row["ttft_ms"] is not None and 0 < row["ttft_ms"] <= row["duration_ms"]
    assert (row["input_tokens"], row["output_tokens"], row["tokens_estimated"]) == (5, 10, False)
    assert row["status"] == "ok" and row["finish_reason"] == "stop"


def test_official_client_iterates_a_stream_through_the_gateway(server: ServerThread, project: str) -> None:
    stream = openai_via(server, project).chat.completions.create(
        model="gpt-4o-mini+chunks:3", messages=HELLO, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "This is a deterministic reply from the fake LLM server."


def test_stream_without_usage_gets_estimated_tokens(server: ServerThread, project: str) -> None:
    stream = openai_via(server, project).chat.completions.create(
        model="gpt-4o-mini+chunks:3+no-usage",
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
    )
    assert all(chunk.usage is None for chunk in stream)
    row = one_span(server, project)
    assert row["tokens_estimated"]
    assert 8 <= row["output_tokens"] <= 14  # 10 words
    assert 4 <= row["input_tokens"] <= 8  # 5 words
    assert row["total_cost"] > 0


def test_slow_first_token_shows_in_ttft(server: ServerThread, project: str) -> None:
    stream = openai_via(server, project).chat.completions.create(
        model="gpt-4o-mini+slow-first-token:300+chunks:2", messages=HELLO, stream=True
    )
    list(stream)
    row = one_span(server, project)
    assert 300 <= row["ttft_ms"] < 5000
    assert row["duration_ms"] >= row["ttft_ms"]


def test_rate_limit_is_passed_through_and_recorded(
    server: ServerThread, fake_llm: FakeLLM, project: str
) -> None:
    with pytest.raises(openai.RateLimitError) as via:
        openai_via(server, project).chat.completions.create(
            model="gpt-4o-mini+error-429+retry-after:7", messages=HELLO
        )
    with pytest.raises(openai.RateLimitError) as direct:
        openai_direct(fake_llm).chat.completions.create(
            model="gpt-4o-mini+error-429+retry-after:7", messages=HELLO
        )
    assert via.value.response.headers["retry-after"] == "7"
    assert masked(via.value.response.content) == masked(direct.value.response.content)
    row = one_span(server, project)
    assert row["span_id"] == via.value.response.headers["x-tokentrail-request-id"]
    assert (row["status"], row["http_status"], row["error_type"]) == ("error", 429, "RateLimitError")
    assert "rate_limit_exceeded" in row["error_message"]
    assert (row["input_tokens"], row["output_tokens"]) == (0, 0)
    assert row["request_model"] == "gpt-4o-mini+error-429+retry-after:7"


def test_server_error_is_passed_through_and_recorded(server: ServerThread, project: str) -> None:
    with pytest.raises(openai.InternalServerError):
        openai_via(server, project).chat.completions.create(model="gpt-4o-mini+error-500", messages=HELLO)
    row = one_span(server, project)
    assert (row["status"], row["http_status"], row["error_type"]) == ("error", 500, "InternalServerError")


def test_aborted_stream_fails_the_client_and_is_recorded(
    server: ServerThread, fake_llm: FakeLLM, project: str
) -> None:
    kwargs = dict(model="gpt-4o-mini+chunks:6+abort-after:2", messages=HELLO, stream=True)
    with pytest.raises(openai.APIConnectionError):
        list(openai_via(server, project).chat.completions.create(**kwargs))
    with pytest.raises(openai.APIConnectionError):
        list(openai_direct(fake_llm).chat.completions.create(**kwargs))
    row = one_span(server, project)
    assert (row["status"], row["error_type"], row["http_status"]) == ("error", "StreamAborted", 200)
    assert row["tokens_estimated"] and 0 < row["output_tokens"] < 10  # 2 of 6 deltas arrived


def test_in_stream_error_event_is_recorded(server: ServerThread, project: str) -> None:
    with pytest.raises(openai.APIError):
        list(
            openai_via(server, project).chat.completions.create(
                model="gpt-4o-mini+chunks:4+stream-error-after:1", messages=HELLO, stream=True
            )
        )
    row = one_span(server, project)
    assert (row["status"], row["error_type"]) == ("error", "StreamError")


def test_client_disconnect_cancels_upstream_and_records_the_call(server: ServerThread, project: str) -> None:
    stream = openai_via(server, project).chat.completions.create(
        model="gpt-4o-mini+chunks:20+chunk-delay:100", messages=HELLO, stream=True
    )
    seen = 0
    for chunk in stream:
        seen += bool(chunk.choices and chunk.choices[0].delta.content)
        if seen == 2:
            break
    stream.close()
    row = one_span(server, project)
    assert (row["status"], row["error_type"]) == ("error", "ClientDisconnected")
    assert row["duration_ms"] < 1500  # the full stream takes 1.9 s: the gateway stopped early
    assert row["tokens_estimated"] and row["output_tokens"] > 0 and row["input_tokens"] > 0


def test_responses_api_usage(server: ServerThread, project: str) -> None:
    client = openai_via(server, project)
    resp = client.responses.create(model="gpt-4o-mini+cached:1", input="Hello there friend")
    list(client.responses.create(model="gpt-4o-mini+chunks:3", input="Hello there friend", stream=True))
    rows = spans(server, project, 2)
    assert [r["operation"] for r in rows] == ["responses", "responses"]
    assert rows[0]["input_tokens"] == resp.usage.input_tokens == 3
    assert rows[0]["cached_input_tokens"] == 1
    assert rows[0]["output_tokens"] == resp.usage.output_tokens
    assert rows[1]["streamed"] and rows[1]["output_tokens"] == 10 and not rows[1]["tokens_estimated"]


def test_embeddings_are_recorded_as_embedding_spans(server: ServerThread, project: str) -> None:
    result = openai_via(server, project).embeddings.create(
        model="text-embedding-3-small", input=["one two", "three"]
    )
    row = one_span(server, project)
    assert (row["kind"], row["operation"]) == ("embedding", "embeddings")
    assert row["input_tokens"] == result.usage.prompt_tokens == 3
    assert row["total_cost"] > 0


def test_other_paths_pass_through_unrecorded(server: ServerThread, project: str) -> None:
    client = openai_via(server, project)
    assert any(m.id for m in client.models.list())
    client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    rows = spans(server, project, 1)
    assert [r["operation"] for r in rows] == ["chat"]


def test_client_key_is_forwarded_and_tokentrail_headers_are_not(
    server: ServerThread, fake_llm: FakeLLM, project: str
) -> None:
    openai_via(server, project, **{"X-Tokentrail-User": "u-1"}).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO
    )
    sent = fake_llm.requests_to("/v1/chat/completions")[-1]["headers"]
    assert sent["authorization"] == "Bearer sk-test"
    assert not [h for h in sent if h.startswith("x-tokentrail")]


def test_key_held_for_a_project_replaces_the_client_key(server: ServerThread, fake_llm: FakeLLM) -> None:
    from tests.gateway.conftest import KEYED_PROJECT, PROJECT_KEY

    openai_via(server, KEYED_PROJECT).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert (
        fake_llm.requests_to("/v1/chat/completions")[-1]["headers"]["authorization"]
        == f"Bearer {PROJECT_KEY}"
    )
    index = server.client.get("/gateway/").text
    assert PROJECT_KEY not in index and KEYED_PROJECT not in index  # nothing says which projects hold keys


def test_openai_compatible_upstream_under_its_own_name(server: ServerThread, project: str) -> None:
    openai_via(server, project, upstream="vllm").chat.completions.create(
        model="meta-llama/Llama-3.1-8B", messages=HELLO
    )
    row = one_span(server, project)
    assert (row["provider"], row["attributes"]["tokentrail.gateway.upstream"]) == ("vllm", "vllm")
    assert row["response_model"] == "meta-llama/Llama-3.1-8B"


def test_unreachable_upstream_answers_502_and_is_recorded(server: ServerThread, project: str) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        openai_via(server, project, upstream="dead").chat.completions.create(
            model="gpt-4o-mini", messages=HELLO
        )
    assert err.value.status_code == 502
    row = one_span(server, project)
    assert (row["status"], row["http_status"], row["error_type"]) == ("error", 502, "APIConnectionError")


def test_upstream_timeout_answers_504_and_is_recorded(server: ServerThread, project: str) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        openai_via(server, project).chat.completions.create(model="gpt-4o-mini+delay:3000", messages=HELLO)
    assert err.value.status_code == 504
    row = one_span(server, project)
    assert (row["status"], row["http_status"], row["error_type"]) == ("error", 504, "APITimeoutError")


def test_unknown_upstream_is_404(server: ServerThread) -> None:
    r = server.client.post("/gateway/nope/v1/chat/completions", json={})
    assert r.status_code == 404 and "openai" in r.json()["error"]


def test_requests_are_authenticated_like_the_rest_of_the_server(server: ServerThread) -> None:
    r = server.client.post(
        "/gateway/openai/v1/chat/completions", json={}, headers={"X-Tokentrail-Project": "not a project!"}
    )
    assert r.status_code == 400 and "X-Tokentrail-Project" in r.json()["error"]
