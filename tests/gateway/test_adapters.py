"""Reading usage, model, finish reasons and errors from bodies and event streams, per wire format."""

from __future__ import annotations

import gzip
import json

from tokentrail.gateway.adapters import anthropic, decode_body, iter_sse, openai, request_info


def sse(*events: tuple[str, object]) -> bytes:
    out = b""
    for name, data in events:
        payload = data if isinstance(data, bytes) else json.dumps(data).encode()
        out += (f"event: {name}\n".encode() if name else b"") + b"data: " + payload + b"\n\n"
    return out


def chat_chunk(content: str | None = None, finish: str | None = None, usage: dict | None = None) -> dict:
    choices = (
        []
        if usage
        else [{"index": 0, "delta": {"content": content} if content else {}, "finish_reason": finish}]
    )
    return {"id": "chatcmpl-1", "model": "gpt-4o-mini-2024-07-18", "choices": choices, "usage": usage}


def test_openai_chat_stream_reads_the_final_usage_chunk() -> None:
    usage = {
        "prompt_tokens": 12,
        "completion_tokens": 3,
        "prompt_tokens_details": {"cached_tokens": 4},
        "completion_tokens_details": {"reasoning_tokens": 1},
    }
    data = sse(
        ("", chat_chunk("Hi")),
        ("", chat_chunk(" there")),
        ("", chat_chunk(finish="stop")),
        ("", chat_chunk(usage=usage)),
        ("", b"[DONE]"),
    )
    out = openai.parse_stream("chat", data)
    assert (out.input_tokens, out.output_tokens, out.cached_input_tokens, out.reasoning_tokens) == (
        12,
        3,
        4,
        1,
    )
    assert out.usage_seen and out.complete and out.finish_reasons == ["stop"]
    assert (out.response_model, "".join(out.output)) == ("gpt-4o-mini-2024-07-18", "Hi there")


def test_openai_stream_cut_mid_event_keeps_what_arrived() -> None:
    data = sse(("", chat_chunk("Hello")), ("", chat_chunk(" world")))[:-20]
    out = openai.parse_stream("chat", data)
    assert out.output == ["Hello"] and not out.usage_seen and not out.complete
    out.estimate_missing(["a prompt of six words here"])
    assert out.estimated and out.output_tokens == 1 and out.input_tokens == 6


def test_openai_tool_call_arguments_are_output() -> None:
    body = {
        "id": "c",
        "model": "m",
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "content": None,
                    "tool_calls": [{"function": {"name": "f", "arguments": '{"city": "Paris"}'}}],
                },
            }
        ],
    }
    out = openai.parse_response("chat", json.dumps(body).encode())
    assert out.output == ['{"city": "Paris"}'] and out.finish_reasons == ["tool_calls"] and not out.usage_seen


def test_openai_error_body() -> None:
    out = openai.parse_response(
        "chat", b'{"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}}'
    )
    assert (out.error_type, out.error_message) == ("rate_limit_exceeded", "slow down")


def test_responses_stream_usage_from_the_completed_event() -> None:
    done = {
        "type": "response.completed",
        "response": {
            "id": "resp_1",
            "model": "gpt-4.1",
            "status": "completed",
            "usage": {
                "input_tokens": 9,
                "output_tokens": 2,
                "input_tokens_details": {"cached_tokens": 3},
                "output_tokens_details": {"reasoning_tokens": 0},
            },
        },
    }
    data = sse(
        ("response.output_text.delta", {"type": "response.output_text.delta", "delta": "Hey"}),
        ("response.completed", done),
    )
    out = openai.parse_stream("responses", data)
    assert (out.input_tokens, out.output_tokens, out.cached_input_tokens) == (9, 2, 3)
    assert out.complete and out.output == ["Hey"] and out.finish_reasons == ["completed"]


def test_anthropic_stream_usage_from_message_start_and_delta() -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "model": "claude-sonnet-4-5",
            "usage": {
                "input_tokens": 5,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 20,
                "output_tokens": 1,
            },
        },
    }
    data = sse(
        ("message_start", start),
        (
            "content_block_delta",
            {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "Yo"}},
        ),
        (
            "message_delta",
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}},
        ),
        ("message_stop", {"type": "message_stop"}),
    )
    out = anthropic.parse_stream("chat", data)
    assert (out.input_tokens, out.cached_input_tokens, out.cache_write_tokens, out.output_tokens) == (
        125,
        100,
        20,
        7,
    )
    assert out.usage_seen and out.complete and out.finish_reasons == ["end_turn"] and out.output == ["Yo"]


def test_anthropic_stream_cut_after_message_start_keeps_the_input_count() -> None:
    start = {
        "type": "message_start",
        "message": {"model": "claude-haiku-4-5", "usage": {"input_tokens": 40, "output_tokens": 1}},
    }
    data = sse(
        ("message_start", start),
        (
            "content_block_delta",
            {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "one two three"}},
        ),
    )
    out = anthropic.parse_stream("chat", data)
    out.estimate_missing(["ignored because the provider said 40"])
    assert (out.input_tokens, out.output_tokens, out.estimated) == (40, 3, True)


def test_anthropic_in_stream_error() -> None:
    data = sse(("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
    out = anthropic.parse_stream("chat", data)
    assert (out.error_type, out.error_message) == ("overloaded_error", "Overloaded")


def test_sse_with_crlf_and_multiline_data() -> None:
    assert list(iter_sse(b"event: a\r\ndata: 1\r\ndata: 2\r\n\r\n: comment\r\n\r\n")) == [("a", b"1\n2")]


def test_gzip_bodies_are_decoded_even_when_cut() -> None:
    raw = json.dumps({"usage": {"prompt_tokens": 3}}).encode() * 50
    packed = gzip.compress(raw)
    assert decode_body(packed, "gzip") == raw
    assert raw.startswith(decode_body(packed[: len(packed) // 2], "gzip"))
    assert decode_body(b"plain", "") == b"plain"


def test_request_info_finds_model_and_prompt_texts() -> None:
    body = json.dumps(
        {
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Hi"},
                        {"type": "image_url", "image_url": {"url": "u"}},
                    ],
                },
            ],
            "stop": ["\n"],
        }
    ).encode()
    assert request_info(body, openai.INPUT_KEYS) == ("gpt-4o", ["Be brief.", "Hi"])
    assert request_info(b"not json", openai.INPUT_KEYS) == ("", [])
    emb = json.dumps({"model": "e", "input": ["one", "two"]}).encode()
    assert request_info(emb, openai.INPUT_KEYS) == ("e", ["one", "two"])


def test_operations_recorded_per_format() -> None:
    assert openai.operation("POST", "/v1/chat/completions") == "chat"
    assert openai.operation("POST", "/embeddings") == "embeddings"
    assert openai.operation("GET", "/v1/models") is None
    assert anthropic.operation("POST", "/v1/messages") == "chat"
    assert anthropic.operation("POST", "/v1/messages/count_tokens") is None
