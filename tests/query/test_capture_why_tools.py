"""A tool span without arguments or result says why, as an LLM call without a prompt does (a real server:
the trace API's ``not_captured``); a span with its content, or of another kind, is not explained."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import ServerThread, running_server

P = "why-tools"


@pytest.fixture(scope="module")
def trace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, str, dict[str, str]]]:
    trace_id, start = secrets.token_hex(16), datetime.now(UTC) - timedelta(minutes=5)
    ids = {k: secrets.token_hex(8) for k in ("agent", "tool", "tool_with_content", "llm")}

    def span(key: str, kind: str, i: int, **more: object) -> dict:
        t = start + timedelta(seconds=i)
        return {"trace_id": trace_id, "span_id": ids[key], "parent_span_id": "" if key == "agent" else ids["agent"],
                "name": key, "kind": kind, "start_time": t.isoformat(),
                "end_time": (t + timedelta(milliseconds=300)).isoformat(), **more}

    items = [span("agent", "agent", 0), span("tool", "tool", 1),
             span("tool_with_content", "tool", 2, input='{"order": 7}', output='{"status": "shipped"}'),
             span("llm", "llm", 3, model="gpt-4o-mini", input_tokens=10, output_tokens=2)]
    with running_server(tmp_path_factory.mktemp("why-tools")) as s:
        r = s.client.post("/api/ingest/batch", json=items, headers={"x-tokentrail-project": P})
        assert r.status_code == 200, r.text
        s.flush()
        yield s, trace_id, ids


def test_a_tool_span_without_content_says_why(trace: tuple[ServerThread, str, dict[str, str]]) -> None:
    server, trace_id, ids = trace
    r = server.client.get(f"/api/traces/{trace_id}", params={"project": P})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert set(doc["content"]) == {ids["tool_with_content"]}
    why = doc["not_captured"]
    assert set(why) == {ids["tool"], ids["llm"]}  # not the agent span, not the tool whose content is kept
    assert why[ids["tool"]]["code"] == why[ids["llm"]]["code"]
    assert why[ids["tool"]]["text"] and why[ids["tool"]]["change"]
