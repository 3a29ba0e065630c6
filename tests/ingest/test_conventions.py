"""The keys of the OTel GenAI conventions, OpenInference and OpenLLMetry fill the same columns."""

from __future__ import annotations

import time

import pytest
from opentelemetry.sdk.trace import TracerProvider

from tests.ingest.otel_helpers import provider_exporting_to
from tests.support import ServerThread

CASES = {
    "genai": {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-3-5-haiku", "gen_ai.response.model": "claude-3-5-haiku-20241022",
        "gen_ai.usage.input_tokens": 500, "gen_ai.usage.output_tokens": 40,
        "gen_ai.usage.cache_read.input_tokens": 100, "gen_ai.usage.cache_creation.input_tokens": 50,
        "gen_ai.response.finish_reasons": ("end_turn",), "enduser.id": "u1", "gen_ai.conversation.id": "s1",
    },
    "openinference": {
        "openinference.span.kind": "LLM", "llm.provider": "anthropic", "llm.model_name": "claude-3-5-haiku-20241022",
        "llm.token_count.prompt": 500, "llm.token_count.completion": 40,
        "llm.token_count.prompt_details.cache_read": 100, "llm.token_count.prompt_details.cache_write": 50,
        "user.id": "u1", "session.id": "s1", "input.value": "hello", "output.value": "hi there",
    },
    "openllmetry": {
        "llm.request.type": "chat", "gen_ai.system": "Anthropic", "gen_ai.request.model": "claude-3-5-haiku",
        "gen_ai.response.model": "claude-3-5-haiku-20241022", "gen_ai.usage.prompt_tokens": 500,
        "gen_ai.usage.completion_tokens": 40, "gen_ai.usage.cache_read_input_tokens": 100,
        "gen_ai.usage.cache_creation_input_tokens": 50, "llm.is_streaming": True,
        "traceloop.association.properties.user_id": "u1", "traceloop.association.properties.session_id": "s1",
    },
}


def _emit(provider: TracerProvider, attrs: dict) -> None:
    with provider.get_tracer("t").start_as_current_span("llm call", attributes=attrs):
        pass
    provider.shutdown()


@pytest.mark.parametrize("convention", sorted(CASES))
def test_convention_fills_the_columns(server: ServerThread, project: str, convention: str) -> None:
    _emit(provider_exporting_to(server.url, project), CASES[convention])
    (row,) = server.query("SELECT * FROM tokentrail.spans FINAL WHERE project = {p:String}", {"p": project})
    assert (row["kind"], row["provider"]) == ("llm", "anthropic")
    assert "claude-3-5-haiku" in (row["response_model"] or row["request_model"])
    assert (row["input_tokens"], row["output_tokens"]) == (500, 40)
    assert (row["cached_input_tokens"], row["cache_write_tokens"]) == (100, 50)
    assert (row["user_id"], row["session_id"]) == ("u1", "s1")
    assert row["total_cost"] > 0
    if convention == "openinference":
        content = [{"input": c["input"], "output": c["output"]} for c in server.contents("project = {p:String}",
                                                                                 {"p": project})]
        assert content == [{"input": "hello", "output": "hi there"}]
        assert "input.value" not in row["attributes"]
    if convention == "openllmetry":
        assert row["streamed"] is True


def test_openinference_messages_without_input_value_are_kept(server: ServerThread, project: str) -> None:
    """OpenInference with only the flattened messages (no input.value / output.value): they become the
    call's content as one JSON object of those keys, not dropped."""
    import json

    sent_in = {"llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": "Be brief.",
               "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": "Weather in Paris?"}
    sent_out = {"llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "get_weather",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"city": "Paris"}'}
    _emit(provider_exporting_to(server.url, project), {
        "openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini", "llm.token_count.prompt": 12,
        **sent_in, **sent_out})
    (c,) = server.contents("project = {p:String}", {"p": project})
    assert json.loads(c["input"]) == sent_in and json.loads(c["output"]) == sent_out
    (row,) = server.query("SELECT attributes FROM tokentrail.spans FINAL WHERE project = {p:String}", {"p": project})
    assert not any(k.startswith("llm.input_messages") for k in row["attributes"])  # content stays out of attributes


def test_spec_example_otlp_json(server: ServerThread, project: str) -> None:
    """The shape of opentelemetry-proto's examples/trace.json (hex ids, string int64s, camelCase)."""
    body = """{"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
      "scopeSpans": [{"scope": {"name": "my.library", "version": "1.0.0"},
        "spans": [{"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
          "parentSpanId": "EEE19B7EC3C1B173", "name": "I'm a server span", "startTimeUnixNano": "1544712660000000000",
          "endTimeUnixNano": "1544712661000000000", "kind": 2,
          "attributes": [{"key": "my.span.attr", "value": {"stringValue": "some value"}},
                         {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "42"}}],
          "status": {"code": 2, "message": "boom"}}]}]}]}"""
    now = int(time.time())
    r = server.client.post("/v1/traces", content=body.replace("1544712660", str(now)).replace(
        "1544712661", str(now + 1)), headers={"content-type": "application/json", "x-tokentrail-project": project})
    assert r.status_code == 200, r.text
    (row,) = server.query("SELECT * FROM tokentrail.spans FINAL WHERE project = {p:String}", {"p": project})
    assert row["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert row["parent_span_id"] == "eee19b7ec3c1b173"
    assert row["duration_ms"] == 1000 and row["input_tokens"] == 42
    assert (row["status"], row["error_message"], row["service"]) == ("error", "boom", "my.service")
    assert row["attributes"]["my.span.attr"] == "some value"
