"""Captured content in the trace view, as a conversation (pages/conversation.js), in headless Chromium.

The traces are made the way users make them: the tokentrail SDK around the official openai and
anthropic clients talking to the fake provider (tests/fake_llm: chat with a tool call, a streamed
answer, Anthropic with an image and tool_use/tool_result, the Responses API with function_call /
function_call_output), and the real OpenTelemetry SDK sending the attributes OpenInference and the
OTel GenAI libraries (OpenLLMetry, OpenLIT, opentelemetry-instrumentation-openai-v2) write, in the
shapes captured from those libraries (tests/interop). Each lives in its own project of the UI
tests' server, so the demo's numbers are untouched.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.trace import Status, StatusCode

import tokentrail
from tests.fake_llm import FakeLLM, start_fake_llm
from tests.ingest.otel_helpers import provider_exporting_to
from tests.support import wait_for
from tests.ui.conftest import Demo, open_page
from tokentrail.privacy.policy import sampled

PROJECT = "conv"
SAMPLED_PROJECT = "conv-sampled"
SHOTS = os.environ.get("TOKENTRAIL_UI_SHOTS", "")  # a directory: save screenshots there for review
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 136).decode()  # 34,824 bytes of "image"
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Current weather for a city",
                                           "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]}}}]


@dataclass
class Traces:
    ids: dict[str, str] = field(default_factory=dict)


def _weather(city: str) -> str:
    return json.dumps({"city": city, "temp_c": 21, "sky": "clear"})


def _openai_tool_agent(client: openai.OpenAI) -> str:
    with tokentrail.observe("agent", name="weather-agent"):
        messages: list[dict[str, Any]] = [{"role": "system", "content": "You are a weather bot."},
                                          {"role": "user", "content": "What is the weather in Paris?"}]
        first = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
        call = first.choices[0].message.tool_calls[0]
        with tokentrail.observe("tool", name="get_weather") as step:
            args = json.loads(call.function.arguments)
            step.set_input(args)
            result = _weather(args["city"])
            step.set_output(result)
        messages += [{"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
                     {"role": "tool", "tool_call_id": call.id, "content": result}]
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS, stream=True,
                                                stream_options={"include_usage": True})
        for _ in stream:
            pass
        return tokentrail.current_trace_id()


def _anthropic_image_tool(client: anthropic.Anthropic) -> str:
    tools = [{"name": "describe", "description": "Describe a picture",
              "input_schema": {"type": "object", "properties": {"detail": {"type": "string"}}}}]
    with tokentrail.observe("agent", name="vision-agent"):
        user = {"role": "user", "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]}
        first = client.messages.create(model="claude-haiku-4-5", max_tokens=200, system="You see images.",
                                       messages=[user], tools=tools)
        use = next(b for b in first.content if b.type == "tool_use")
        client.messages.create(model="claude-haiku-4-5", max_tokens=200, system="You see images.", tools=tools,
                               messages=[user, {"role": "assistant", "content": [b.model_dump() for b in first.content]},
                                         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                                                       "content": "a cat on a red sofa"}]}])
        return tokentrail.current_trace_id()


def _responses(client: openai.OpenAI) -> str:
    tools = [{"type": "function", "name": "get_weather", "description": "Current weather",
              "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]
    with tokentrail.observe("agent", name="responses-agent"):
        first = client.responses.create(model="gpt-4o-mini", instructions="Answer briefly.",
                                        input="Weather in Oslo?", tools=tools)
        call = next(i for i in first.output if i.type == "function_call")
        client.responses.create(model="gpt-4o-mini", instructions="Answer briefly.", tools=tools, input=[
            {"role": "user", "content": "Weather in Oslo?"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": _weather("Oslo")}])
        return tokentrail.current_trace_id()


def _xss(client: openai.OpenAI) -> str:
    with tokentrail.observe("agent", name="xss-agent"):
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": XSS}])
        return tokentrail.current_trace_id()


# the attributes instrumentation libraries write (shapes from tests/interop captures)
_OI_IN = {"model": "gpt-4o-mini", "messages": [
    {"role": "user", "content": "What is the weather in Paris?"},
    {"role": "assistant", "content": None, "tool_calls": [{"id": "call_oi_0", "type": "function",
                                                           "function": {"name": "get_weather",
                                                                        "arguments": "{\"city\":\"Paris\"}"}}]},
    {"role": "tool", "tool_call_id": "call_oi_0", "content": "{\"temp_c\": 21, \"sky\": \"clear\"}"}], "tools": TOOLS}
_OI_OUT = {"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18", "choices": [
    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "It is 21 C and clear."}}]}
_GENAI_IN = [{"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
             {"role": "user", "parts": [{"type": "text", "content": "Weather in Rome?"}]},
             {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_g_0", "name": "get_weather",
                                              "arguments": {"city": "Rome"}}]},
             {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_g_0",
                                         "response": "{\"temp_c\": 25}"}]}]
_GENAI_OUT = [{"role": "assistant", "parts": [{"type": "text", "content": "25 C in Rome."}], "finish_reason": "stop"}]


def _library_spans(url: str) -> dict[str, str]:
    provider = provider_exporting_to(url, PROJECT)
    tracer = provider.get_tracer("openinference.instrumentation.openai")
    with tracer.start_as_current_span("library-agent", attributes={"openinference.span.kind": "AGENT"}) as root:
        with tracer.start_as_current_span("ChatCompletion", attributes={
                "openinference.span.kind": "LLM", "llm.system": "openai", "llm.model_name": "gpt-4o-mini",
                "input.value": json.dumps(_OI_IN), "input.mime_type": "application/json",
                "output.value": json.dumps(_OI_OUT), "output.mime_type": "application/json",
                "llm.input_messages.0.message.role": "user"}) as oi:
            pass
        genai = provider.get_tracer("opentelemetry.instrumentation.openai_v2")
        with genai.start_as_current_span("chat gpt-4o-mini", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.input.messages": json.dumps(_GENAI_IN),
                "gen_ai.output.messages": json.dumps(_GENAI_OUT)}) as ga:
            pass
        with genai.start_as_current_span("chat gpt-4o-mini", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini"}) as bare:  # no content sent at all
            pass
        big = [{"role": "user", "parts": [{"type": "text", "content": "Describe this scan."},
                                          {"type": "blob", "modality": "image", "mime_type": "image/png",
                                           "content": base64.b64encode(os.urandom(900_000)).decode()},
                                          {"type": "text", "content": "And this line comes after it."}]}]
        with genai.start_as_current_span("chat gpt-4o-mini", attributes={  # over ingest_max_value_bytes: cut
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.input.messages": json.dumps(big), "gen_ai.output.messages": json.dumps(_GENAI_OUT)}) as cut:
            pass
    provider.shutdown()
    hexid = "{:032x}".format
    return {"library": hexid(root.get_span_context().trace_id), "oi": format(oi.get_span_context().span_id, "016x"),
            "genai": format(ga.get_span_context().span_id, "016x"), "bare": format(bare.get_span_context().span_id, "016x"),
            "cut": format(cut.get_span_context().span_id, "016x")}


def _sampled_out_span(demo: Demo) -> dict[str, str]:
    """A call of a project whose rule keeps 1% of traces, in a trace outside that 1%: its content is dropped."""
    put = demo.server.client.put("/api/admin/capture-policy", json={"scope": f"project:{SAMPLED_PROJECT}",
                                                                    "rule": "sampled:0.01"})
    assert put.status_code == 200, put.text
    provider = provider_exporting_to(demo.url, SAMPLED_PROJECT)
    tracer = provider.get_tracer("test")
    while True:
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
                "tokentrail.route": "faq", "gen_ai.input.messages": json.dumps(_GENAI_IN),
                "gen_ai.output.messages": json.dumps(_GENAI_OUT)}) as span:
            pass
        trace_id = span.get_span_context().trace_id.to_bytes(16, "big")
        if not sampled(trace_id, 0.01):
            break
    with tracer.start_as_current_span("chat gpt-4o-mini", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.input.messages": json.dumps(_GENAI_IN)}) as failed:
        failed.set_status(Status(StatusCode.ERROR, "upstream returned 500"))
    provider.shutdown()
    return {"sampled_out": trace_id.hex(), "failed": format(failed.get_span_context().trace_id, "032x")}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLLM]:
    with start_fake_llm() as f:
        yield f


@pytest.fixture(scope="module")
def traces(demo: Demo, fake: FakeLLM) -> Traces:
    # the default content limit (20,000 characters) is below the image's base64: the image is kept as its size
    tokentrail.init(endpoint=demo.url, project=PROJECT, capture="always", flush_seconds=0.2, service_name="conv-app")
    try:
        oai = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0)
        claude = anthropic.Anthropic(base_url=fake.base_url, api_key="sk-ant-test", max_retries=0)
        out = Traces({"openai": _openai_tool_agent(oai), "anthropic": _anthropic_image_tool(claude),
                      "responses": _responses(oai), "xss": _xss(oai)})
        assert tokentrail.flush(10)
    finally:
        tokentrail.shutdown()
    out.ids.update(_library_spans(demo.url))
    out.ids.update(_sampled_out_span(demo))
    demo.server.flush()

    def stored() -> bool:
        docs = [demo.server.client.get(f"/api/traces/{out.ids[k]}", params={"project": PROJECT}).json()
                for k in ("openai", "anthropic", "responses", "xss", "library")]
        return all(d.get("content") for d in docs) and len(docs[0]["spans"]) == 4 and len(docs[4]["spans"]) == 5

    wait_for(stored, 30, 0.2)
    return out


def _trace(demo: Demo, trace_id: str, project: str = PROJECT) -> dict[str, Any]:
    return demo.server.client.get(f"/api/traces/{trace_id}", params={"project": project}).json()


def _open(page: Any, demo: Demo, trace_id: str, project: str = PROJECT) -> Any:
    return open_page(page, f"{demo.url}/ui/traces/{trace_id}?project={project}")


def _pick(page: Any, span_id: str) -> None:
    page.click(f"[data-testid=span-row][data-span-id='{span_id}']")
    page.wait_for_selector(f"[data-testid=span-row].selected[data-span-id='{span_id}']")


def _roles(page: Any) -> list[str]:
    return page.locator("[data-testid=span-detail] [data-testid=conv-message]").evaluate_all(
        "ms => ms.map(m => m.dataset.role + (m.classList.contains('conv-out') ? ':out' : ''))")


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def test_an_openai_tool_call_reads_as_a_conversation(demo: Demo, traces: Traces, page: Any) -> None:
    doc = _trace(demo, traces.ids["openai"])
    llm = [s for s in doc["spans"] if s["kind"] == "llm"]
    assert len(llm) == 2 and llm[1]["streamed"]
    _open(page, demo, traces.ids["openai"])
    _pick(page, llm[1]["span_id"])
    assert _roles(page) == ["system", "user", "assistant", "tool", "assistant:out"]
    detail = page.locator("[data-testid=span-detail]")
    assert detail.locator("[data-testid=conv-role]").first.inner_text().startswith("SYSTEM")
    call = detail.locator("[data-testid=conv-tool-call]")
    assert call.locator("[data-testid=conv-tool-name]").inner_text() == "get_weather"
    stored_args = json.loads(doc["content"][llm[0]["span_id"]]["output"])[0]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(call.locator("[data-testid=conv-tool-args]").inner_text()) == json.loads(stored_args)
    result = detail.locator("[data-testid=conv-tool-result]")
    assert "get_weather" in result.inner_text()  # the result names the call it answers
    tool = next(s for s in doc["spans"] if s["kind"] == "tool")
    assert json.loads(result.locator("[data-testid=conv-tool-result-text]").inner_text()) == json.loads(
        doc["content"][tool["span_id"]]["output"])
    # the streamed answer: the chunks the SDK joined, shown as one message
    out = detail.locator("[data-testid=conv-message].conv-out")
    stored_out = json.loads(doc["content"][llm[1]["span_id"]]["output"])[0]["content"]
    assert stored_out and out.locator("[data-testid=conv-text]").inner_text() == stored_out
    assert out.locator("[data-testid=conv-streamed]").inner_text() == "streamed, joined"
    _shot(page, "trace-openai-tool-conversation")


def test_a_tool_span_shows_arguments_and_result(demo: Demo, traces: Traces, page: Any) -> None:
    doc = _trace(demo, traces.ids["openai"])
    tool = next(s for s in doc["spans"] if s["kind"] == "tool")
    _open(page, demo, traces.ids["openai"])
    _pick(page, tool["span_id"])
    assert page.inner_text("[data-testid=content-input-label]") == "ARGUMENTS"
    assert page.inner_text("[data-testid=content-output-label]") == "RESULT"
    first = next(s for s in doc["spans"] if s["kind"] == "llm")
    asked = json.loads(doc["content"][first["span_id"]]["output"])[0]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(page.inner_text("[data-testid=content-input]")) == json.loads(asked)
    assert json.loads(page.inner_text("[data-testid=content-output]")) == json.loads(_weather(json.loads(asked)["city"]))
    assert "Prompt" not in page.inner_text("[data-testid=span-content]")


def test_raw_json_is_one_click_away(demo: Demo, traces: Traces, page: Any) -> None:
    doc = _trace(demo, traces.ids["openai"])
    llm = [s for s in doc["spans"] if s["kind"] == "llm"][1]
    stored = doc["content"][llm["span_id"]]
    _open(page, demo, traces.ids["openai"])
    _pick(page, llm["span_id"])
    assert not page.is_visible("[data-testid=content-raw]")
    page.click("[data-testid=view-raw]")
    assert page.is_visible("[data-testid=content-raw]") and not page.is_visible("[data-testid=conversation]")
    assert json.loads(page.inner_text("[data-testid=raw-input]")) == json.loads(stored["input"])
    assert json.loads(page.inner_text("[data-testid=raw-output]")) == json.loads(stored["output"])
    _shot(page, "trace-raw-json")
    page.click("[data-testid=view-readable]")
    assert page.is_visible("[data-testid=conversation]") and not page.is_visible("[data-testid=content-raw]")


def test_anthropic_image_and_tool_use(demo: Demo, traces: Traces, page: Any) -> None:
    doc = _trace(demo, traces.ids["anthropic"])
    llm = [s for s in doc["spans"] if s["kind"] == "llm"]
    _open(page, demo, traces.ids["anthropic"])
    _pick(page, llm[1]["span_id"])
    assert _roles(page)[:4] == ["system", "user", "assistant", "tool"]
    detail = page.locator("[data-testid=span-detail]")
    assert detail.locator("[data-testid=conv-message][data-role=system]").inner_text().endswith("You see images.")
    kb = round(len(base64.b64decode(PNG)) / 1024)
    assert detail.locator("[data-testid=conv-media]").inner_text() == f"[image: image/png, {kb} KB]"
    assert PNG[:200] not in detail.inner_text()  # the image's bytes are not dumped into the page
    assert detail.locator("[data-testid=conv-tool-call] [data-testid=conv-tool-name]").first.inner_text() == "describe"
    assert detail.locator("[data-testid=conv-tool-result-text]").inner_text() == "a cat on a red sofa"
    assert "describe" in detail.locator("[data-testid=conv-tool-result]").inner_text()
    _shot(page, "trace-anthropic-image-tool")


def test_responses_api_function_call_and_output(demo: Demo, traces: Traces, page: Any) -> None:
    doc = _trace(demo, traces.ids["responses"])
    llm = [s for s in doc["spans"] if s["kind"] == "llm"]
    _open(page, demo, traces.ids["responses"])
    _pick(page, llm[1]["span_id"])
    roles = _roles(page)
    assert roles[:4] == ["system", "user", "assistant", "tool"] and roles[-1] == "assistant:out"
    detail = page.locator("[data-testid=span-detail]")
    assert detail.locator("[data-testid=conv-message][data-role=system]").inner_text().endswith("Answer briefly.")
    assert detail.locator("[data-testid=conv-tool-name]").first.inner_text() == "get_weather"
    assert json.loads(detail.locator("[data-testid=conv-tool-result-text]").inner_text()) == json.loads(_weather("Oslo"))
    _pick(page, llm[0]["span_id"])  # the first call's output: the function call it asked for
    out = page.locator("[data-testid=span-detail] [data-testid=conv-message].conv-out")
    assert out.locator("[data-testid=conv-tool-name]").inner_text() == "get_weather"


def test_library_shapes_openinference_and_genai(demo: Demo, traces: Traces, page: Any) -> None:
    _open(page, demo, traces.ids["library"])
    _pick(page, traces.ids["oi"])
    assert _roles(page) == ["user", "assistant", "tool", "assistant:out"]
    assert page.locator("[data-testid=span-detail] .conv-out [data-testid=conv-text]").inner_text() == "It is 21 C and clear."
    # the tools the request offered (OpenInference keeps the whole request body)
    assert page.inner_text("[data-testid=conv-tools]").startswith("1 tool offered: get_weather")
    _pick(page, traces.ids["genai"])
    assert _roles(page) == ["system", "user", "assistant", "tool", "assistant:out"]
    detail = page.locator("[data-testid=span-detail]")
    assert json.loads(detail.locator("[data-testid=conv-tool-args]").inner_text()) == {"city": "Rome"}
    assert json.loads(detail.locator("[data-testid=conv-tool-result-text]").inner_text()) == {"temp_c": 25}
    _shot(page, "trace-genai-conversation")


def test_content_cut_at_the_size_limit_still_reads_as_a_conversation(demo: Demo, traces: Traces, page: Any) -> None:
    doc = _trace(demo, traces.ids["library"])
    stored = doc["content"][traces.ids["cut"]]["input"]
    assert stored.endswith("…[truncated]")  # the server cut it (ingest_max_value_bytes)
    _open(page, demo, traces.ids["library"])
    _pick(page, traces.ids["cut"])
    assert _roles(page) == ["user", "assistant:out"]
    detail = page.locator("[data-testid=span-detail]")
    assert detail.locator("[data-testid=conv-text]").first.inner_text() == "Describe this scan."
    assert detail.locator("[data-testid=conv-media]").inner_text() == "[image: image/png, cut at the size limit]"
    assert "comes after it" not in detail.inner_text()
    assert detail.locator("[data-testid=content-truncated]").is_visible()


def test_a_prompt_holding_html_is_shown_as_text(demo: Demo, traces: Traces, page: Any) -> None:
    doc = _trace(demo, traces.ids["xss"])
    llm = next(s for s in doc["spans"] if s["kind"] == "llm")
    _open(page, demo, traces.ids["xss"])
    _pick(page, llm["span_id"])
    detail = page.locator("[data-testid=span-detail]")
    assert detail.locator("[data-testid=conv-message][data-role=user] [data-testid=conv-text]").inner_text() == XSS
    assert detail.locator("img, script").count() == 0
    page.click("[data-testid=view-raw]")
    assert json.loads(page.inner_text("[data-testid=raw-input]"))[0]["content"] == XSS
    assert page.evaluate("window.__xss") is None


def test_a_call_without_content_says_why_and_how_to_keep_it(demo: Demo, traces: Traces, page: Any) -> None:
    # a rule that keeps 1% of traces, and a trace outside that 1%
    _open(page, demo, traces.ids["sampled_out"], SAMPLED_PROJECT)
    note = page.locator("[data-testid=content-not-captured]")
    assert note.get_attribute("data-code") == "sampled-out"
    why = page.inner_text("[data-testid=not-captured-why]")
    assert "sampled out" in why and "project conv-sampled" in why and "1% of traces" in why
    assert "failed calls" in why  # errors are kept whatever the sample
    change = page.inner_text("[data-testid=not-captured-change]")
    assert change.startswith("tokentrail capture-policy set always --project conv-sampled --route faq")
    _shot(page, "trace-not-captured-sampled-out")
    # the same project's failed call keeps its content: the error rule
    failed = _trace(demo, traces.ids["failed"], SAMPLED_PROJECT)
    assert [c["captured_reason"] for c in failed["content"].values()] == ["error"]
    _open(page, demo, traces.ids["failed"], SAMPLED_PROJECT)
    assert page.inner_text("[data-testid=captured-reason]").startswith("kept: the call failed")
    # a library that sent no content, under a rule that keeps every call: the sender is the cause
    _open(page, demo, traces.ids["library"])
    _pick(page, traces.ids["bare"])
    note = page.locator("[data-testid=content-not-captured]")
    assert note.get_attribute("data-code") == "not-sent"
    assert "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT" in note.inner_text()
    # the server keeps every call already: the fix shown is the sender's, not a capture-policy command
    change = page.inner_text("[data-testid=not-captured-change]")
    assert "capture-policy" not in change and "at the sender" in note.inner_text()
