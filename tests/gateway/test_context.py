"""Context headers, trace joining, feedback by request id, and content capture (default policy: errors)."""

from __future__ import annotations

import openai
import pytest

from tests.gateway.conftest import CONTENTS, one_span, openai_via, spans
from tests.support import ServerThread

HELLO = [{"role": "user", "content": "Hello there, how are you"}]
CONTEXT = {
    "X-Tokentrail-User": "user-42",
    "X-Tokentrail-Session": "sess-7",
    "X-Tokentrail-Route": "support-chat",
    "X-Tokentrail-Customer": "acme",
    "X-Tokentrail-Tags": "beta, mobile",
    "X-Tokentrail-Environment": "staging",
    "X-Tokentrail-Release": "2026.11.4",
    "X-Tokentrail-Property-Experiment": "prompt-v2",
}


def test_context_headers_fill_the_columns(server: ServerThread, project: str) -> None:
    openai_via(server, project, **CONTEXT).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    row = one_span(server, project)
    assert (row["user_id"], row["session_id"], row["route"], row["customer"]) == (
        "user-42",
        "sess-7",
        "support-chat",
        "acme",
    )
    assert row["tags"] == ["beta", "mobile"]
    assert (row["environment"], row["release"]) == ("staging", "2026.11.4")
    assert row["attributes"]["tokentrail.property.experiment"] == "prompt-v2"


def test_traceparent_makes_the_call_a_child_of_the_callers_span(server: ServerThread, project: str) -> None:
    trace, parent = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    openai_via(server, project, traceparent=f"00-{trace}-{parent}-01").chat.completions.create(
        model="gpt-4o-mini", messages=HELLO
    )
    row = one_span(server, project)
    assert (row["trace_id"], row["parent_span_id"]) == (trace, parent)


def test_feedback_on_a_request_id_reaches_its_trace(server: ServerThread, project: str) -> None:
    raw = openai_via(server, project).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=HELLO
    )
    request_id = raw.headers["x-tokentrail-request-id"]
    # sent at once: the gateway has not stored the call yet, the server waits for it (grace period)
    r = server.client.post("/api/scores", json={"request_id": request_id, "name": "thumbs", "value": 1},
                           headers={"X-Tokentrail-Project": project})
    assert r.status_code == 200, r.text
    call = one_span(server, project)
    assert call["span_id"] == request_id
    stored = server.query("SELECT trace_id, span_id FROM tokentrail.scores FINAL WHERE project = {p:String}",
                          {"p": project})
    assert stored == [{"trace_id": call["trace_id"], "span_id": request_id}]
    on_trace = server.client.get("/api/scores", params={"trace_id": call["trace_id"], "project": project}).json()
    assert [s["name"] for s in on_trace["scores"]] == ["thumbs"]


def test_feedback_on_an_unknown_request_id_is_refused(server: ServerThread, project: str) -> None:
    r = server.client.post("/api/scores", json={"request_id": "0123456789abcdef", "name": "thumbs", "value": 0},
                           headers={"X-Tokentrail-Project": project})
    assert r.status_code == 404, r.text
    assert r.json()["errors"][0]["index"] == 0 and "no span 0123456789abcdef" in r.json()["errors"][0]["error"]


def test_a_score_stored_with_only_a_span_id_shows_on_the_trace(server: ServerThread, project: str) -> None:
    # a batch score file loaded before its spans: linked by span id when the trace is read
    server.runtime.store.command(
        "INSERT INTO tokentrail.scores (project, score_id, trace_id, span_id, name, value, label, source, comment, "
        "user_id, timestamp, ingested_at) VALUES ({p:String}, 's1', '', 'aaaaaaaaaaaaaaaa', 'label', 1, '', 'file', "
        "'', '', now64(3), now64(3))", {"p": project})
    r = server.client.post("/api/ingest/batch", json=[{"trace_id": "b" * 32, "span_id": "a" * 16,
                                                       "model": "gpt-4o-mini"}],
                           headers={"X-Tokentrail-Project": project})
    assert r.status_code == 200, r.text
    server.flush()
    on_trace = server.client.get("/api/scores", params={"trace_id": "b" * 32, "project": project}).json()
    assert [s["score_id"] for s in on_trace["scores"]] == ["s1"]


def test_failed_calls_have_their_content_captured(server: ServerThread, project: str) -> None:
    client = openai_via(server, project)
    client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4o-mini+error-400", messages=HELLO)
    rows = spans(server, project, 2)
    contents = server.contents(CONTENTS, {"p": project})
    assert len(contents) == 1
    failed = next(r for r in rows if r["status"] == "error")
    assert contents[0]["span_id"] == failed["span_id"]
    assert contents[0]["captured_reason"] == "error"
    assert "Hello there, how are you" in contents[0]["input"]
    assert "invalid_request_error" in contents[0]["output"]


def test_flagged_call_is_captured_and_opt_out_is_respected(server: ServerThread, project: str) -> None:
    openai_via(server, project, **{"X-Tokentrail-Capture": "true"}).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO
    )
    with pytest.raises(openai.BadRequestError):
        openai_via(server, project, **{"X-Tokentrail-Capture": "false"}).chat.completions.create(
            model="gpt-4o-mini+error-400", messages=HELLO
        )
    spans(server, project, 2)
    contents = server.contents(CONTENTS, {"p": project})
    assert [c["captured_reason"] for c in contents] == ["flagged"]
    assert contents[0]["output"] == "This is a deterministic reply from the fake LLM server."
