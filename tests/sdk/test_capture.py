"""Content capture policy at the source (off / sampled / always, forced on errors, flagged) and redaction."""

from __future__ import annotations

import json

import openai
import pytest

import tokentrail
from tests.sdk.conftest import Init, contents, spans
from tests.support import ServerThread

SECRET = "Mail me at jane.doe@example.com, my key is sk-proj-abcdefghijklmnop1234"
MESSAGES = [{"role": "user", "content": SECRET}]


def call(client: openai.OpenAI, scenario: str = "", **kwargs) -> None:
    headers = {"X-Fake-Scenario": scenario} if scenario else {}
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, extra_headers=headers, **kwargs)


def test_off_captures_nothing_even_on_error(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                            project: str) -> None:
    sdk(capture="off")
    call(oai)
    with pytest.raises(openai.InternalServerError):
        call(oai, "error-500")
    spans(server, project, 2)
    assert contents(server, project) == {}


def test_always_captures_prompt_and_response_redacted_by_default(sdk: Init, oai: openai.OpenAI,
                                                                  server: ServerThread, project: str) -> None:
    sdk(capture="always")
    call(oai)
    (row,) = spans(server, project, 1)
    content = contents(server, project)[row["span_id"]]
    assert content["captured_reason"] == "always"
    prompt = json.loads(content["input"])
    assert prompt == [{"role": "user", "content": "Mail me at <EMAIL>, my key is <SECRET>"}]
    assert "deterministic reply" in json.loads(content["output"])[0]["content"]


def test_sampled_captures_the_sampled_share_and_every_error(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                            project: str) -> None:
    sdk(capture="sampled", capture_rate=0.0)
    call(oai)
    with pytest.raises(openai.RateLimitError):
        call(oai, "error-429")
    tokentrail.set_capture(rate=1.0)
    call(oai)
    rows = spans(server, project, 3)
    captured = contents(server, project)
    reasons = [captured[r["span_id"]]["captured_reason"] if r["span_id"] in captured else None for r in rows]
    assert reasons == [None, "error", "sampled"]
    assert json.loads(captured[rows[1]["span_id"]]["input"])[0]["role"] == "user"


def test_streamed_output_is_captured_whole(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                           project: str) -> None:
    sdk(capture="always", redact=None)
    list(oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                     extra_headers={"X-Fake-Scenario": "chunks:4"}))
    (row,) = spans(server, project, 1)
    content = contents(server, project)[row["span_id"]]
    assert json.loads(content["output"]) == [
        {"role": "assistant", "content": "This is a deterministic reply from the fake LLM server."}]
    # the SDK's hook is off, the server's redaction is not: the prompt is stored redacted all the same
    assert json.loads(content["input"]) == [{"role": "user", "content": "Mail me at <EMAIL>, my key is <SECRET>"}]


def test_redaction_hook_runs_before_content_leaves_the_process(sdk: Init, oai: openai.OpenAI,
                                                               server: ServerThread, project: str) -> None:
    seen: list[str] = []

    def redact(text: str) -> str:
        seen.append(text)
        return text.replace("jane.doe", "<who>").replace("deterministic", "<word>")

    sdk(capture="always", redact=redact)
    call(oai)
    (row,) = spans(server, project, 1)
    content = contents(server, project)[row["span_id"]]
    assert "<who>@example.com" in content["input"] and "jane.doe" not in content["input"]
    assert "<word> reply" in content["output"]
    assert len(seen) == 2


def test_flagged_context_and_route_overrides(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                             project: str) -> None:
    sdk(capture="sampled", capture_rate=0.0, capture_routes={"refunds": "always"})
    with tokentrail.context(route="refunds"):
        call(oai)
    with tokentrail.context(route="chit-chat"):
        call(oai)
        with tokentrail.context(capture="always"):
            call(oai)
    tokentrail.set_capture("off", route="refunds")
    with tokentrail.context(route="refunds"), pytest.raises(openai.RateLimitError):
        call(oai, "error-429")
    rows = spans(server, project, 4)
    captured = contents(server, project)
    reasons = [captured[r["span_id"]]["captured_reason"] if r["span_id"] in captured else None for r in rows]
    assert reasons == ["always", None, "flagged", None]


def test_observed_arguments_and_result_follow_the_policy(sdk: Init, server: ServerThread, project: str) -> None:
    sdk(capture="always")

    @tokentrail.observe(kind="tool")
    def lookup(order_id: str, verbose: bool = False) -> dict:
        return {"order": order_id, "status": "shipped"}

    lookup("o-42", verbose=True)
    with tokentrail.observe("retrieval", name="kb") as step:
        step.set_input("refund policy")
        step.set_output(["doc-1", "doc-2"])
    tokentrail.set_capture("off")
    lookup("o-43")
    rows = spans(server, project, 3)
    captured = contents(server, project)
    first, kb, off = rows
    assert json.loads(captured[first["span_id"]]["input"]) == {"args": ["o-42"], "kwargs": {"verbose": True}}
    assert json.loads(captured[first["span_id"]]["output"]) == {"order": "o-42", "status": "shipped"}
    assert (captured[kb["span_id"]]["input"], json.loads(captured[kb["span_id"]]["output"])) == (
        "refund policy", ["doc-1", "doc-2"])
    assert off["span_id"] not in captured


def test_long_content_is_cut(sdk: Init, oai: openai.OpenAI, server: ServerThread, project: str) -> None:
    sdk(capture="always", capture_max_chars=40)
    call(oai)
    (row,) = spans(server, project, 1)
    redacted = tokentrail.redact_pii(json.dumps(MESSAGES, separators=(",", ":")))
    assert contents(server, project)[row["span_id"]]["input"] == f"{redacted[:40]}...[cut {len(redacted) - 40} chars]"


def test_an_image_is_kept_as_its_size_and_the_conversation_after_it_survives(
        sdk: Init, oai: openai.OpenAI, claude, server: ServerThread, project: str) -> None:
    """A 300 KB image is far above the default content limit (20,000 characters): its base64 becomes its size,
    so the prompt stays valid JSON and the words after the image are kept (they were cut off with it)."""
    import base64
    import os

    picture = os.urandom(300_000)
    data = base64.b64encode(picture).decode()
    sdk(capture="always")
    oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{data}"}},
        {"type": "text", "text": "What breed is this dog?"}]}])
    claude.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": data}},
        {"type": "text", "text": "And this one?"}]}])
    rows = spans(server, project, 2)
    stored = contents(server, project)
    by_model = {r["request_model"]: json.loads(stored[r["span_id"]]["input"]) for r in rows}
    size = f"[base64 omitted: {len(picture)} bytes]"
    (chat,) = by_model["gpt-4o-mini"]
    assert chat["content"] == [{"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{size}"}},
                               {"type": "text", "text": "What breed is this dog?"}]
    (msg,) = by_model["claude-haiku-4-5"]  # the messages (no system prompt sent)
    assert msg["content"][0]["source"]["data"] == size and msg["content"][1]["text"] == "And this one?"
