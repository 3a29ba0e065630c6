"""A reply that calls tools keeps each call's id, name and arguments in the captured output, in the
provider's own shape (the conversation view shows the calls by name): OpenAI chat (JSON and stream),
the Responses API, Anthropic messages (JSON and stream). The expected calls are what the official
clients parsed from the fake provider's reply, never the server's output."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.gateway.conftest import CONTENTS, anthropic_via, one_span, openai_via
from tests.support import ServerThread

ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
CAPTURE = {"X-Tokentrail-Capture": "true"}
OAI_TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
ANT_TOOLS = [{"name": "get_weather", "description": "Weather", "input_schema": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]


def _output(server: ServerThread, project: str) -> Any:
    one_span(server, project)
    rows = server.contents(CONTENTS, {"p": project})
    assert len(rows) == 1
    return json.loads(rows[0]["output"])


@pytest.mark.parametrize("stream", [False, True])
def test_openai_chat_tool_calls_keep_their_names(server: ServerThread, project: str, stream: bool) -> None:
    client = openai_via(server, project, **CAPTURE)
    if stream:
        calls: dict[int, dict[str, str]] = {}
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=ASK, tools=OAI_TOOLS,
                                                    tool_choice="required", stream=True):
            for d in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                c = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
                c["id"] = c["id"] or (d.id or "")
                c["name"] = c["name"] or (d.function.name or "" if d.function else "")
                c["arguments"] += (d.function.arguments or "") if d.function else ""
        sent = [(c["id"], c["name"], c["arguments"]) for _, c in sorted(calls.items())]
    else:
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=ASK, tools=OAI_TOOLS,
                                               tool_choice="required")
        sent = [(c.id, c.function.name, c.function.arguments) for c in reply.choices[0].message.tool_calls]
    assert sent and all(name == "get_weather" and json.loads(args) for _, name, args in sent)
    got = _output(server, project)
    assert got["role"] == "assistant"
    assert [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in got["tool_calls"]] == sent


def test_responses_function_calls_keep_their_names(server: ServerThread, project: str) -> None:
    reply = openai_via(server, project, **CAPTURE).responses.create(
        model="gpt-4o-mini", input="What is the weather in Paris?", tool_choice="required",
        tools=[{"type": "function", "name": "get_weather", "description": "Weather",
                "parameters": OAI_TOOLS[0]["function"]["parameters"]}])
    sent = [(i.call_id, i.name, i.arguments) for i in reply.output if i.type == "function_call"]
    assert sent
    got = _output(server, project)
    assert [(i["call_id"], i["name"], i["arguments"]) for i in got["output"] if i["type"] == "function_call"] == sent


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_tool_use_keeps_its_name(server: ServerThread, project: str, stream: bool) -> None:
    client = anthropic_via(server, project, **CAPTURE)
    kwargs: dict[str, Any] = dict(model="claude-haiku-4-5", max_tokens=200, messages=ASK, tools=ANT_TOOLS,
                                  tool_choice={"type": "any"})
    if stream:
        with client.messages.stream(**kwargs) as s:
            message = s.get_final_message()
    else:
        message = client.messages.create(**kwargs)
    sent = [(b.id, b.name, b.input) for b in message.content if b.type == "tool_use"]
    assert sent and all(name == "get_weather" for _, name, _ in sent)
    got = _output(server, project)
    assert [(b["id"], b["name"], b["input"]) for b in got if b["type"] == "tool_use"] == sent
    texts = [b.text for b in message.content if b.type == "text"]
    assert [b["text"] for b in got if b["type"] == "text"] == (["".join(texts)] if "".join(texts) else [])

