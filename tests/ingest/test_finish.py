"""A canonical finish reason beside the raw one, the same from every source (ingest/finish.py), and the
quality page's finish-reason counts from raw spans and from the rollups agree."""

from __future__ import annotations

import pytest

from tests.support import ServerThread
from tokentrail.ingest import finish

RAW = {"stop": "stop", "end_turn": "stop", "STOP": "stop", "stop_sequence": "stop", "length": "length",
       "max_tokens": "length", "MAX_TOKENS": "length", "tool_calls": "tool_calls", "tool_call": "tool_calls",
       "tool_use": "tool_calls", "function_call": "tool_calls", "content_filter": "content_filter",
       "refusal": "content_filter", "SAFETY": "content_filter", "weird_new_reason": "other", "": ""}


@pytest.mark.parametrize(("raw", "canonical"), RAW.items())
def test_raw_finish_reasons_map_to_the_documented_canonical_value(raw: str, canonical: str) -> None:
    assert finish.canonical(raw) == canonical


def test_the_engine_stores_the_canonical_value_beside_the_raw_one(server: ServerThread, project: str) -> None:
    calls = [{"request_id": f"r{i}", "model": "claude-haiku-4-5", "finish_reason": raw, "input_tokens": 1}
             for i, raw in enumerate(RAW)]
    calls.append({"request_id": "failed", "model": "gpt-4o-mini", "status": "error", "error_type": "RateLimitError"})
    r = server.client.post("/api/ingest/batch", json=calls, headers={"x-tokentrail-project": project})
    assert r.status_code == 200, r.text
    rows = server.query("SELECT span_id, finish_reason, finish FROM tokentrail.spans FINAL WHERE project = {p:String}",
                        {"p": project})
    got = {row["finish_reason"]: row["finish"] for row in rows if row["finish_reason"] or row["finish"] != "error"}
    assert got == RAW
    assert sum(1 for row in rows if (row["finish_reason"], row["finish"]) == ("", "error")) == 1


def test_quality_counts_canonical_finish_reasons_the_same_from_spans_and_rollups(server: ServerThread,
                                                                                project: str) -> None:
    calls = [{"request_id": f"q{i}", "model": "gpt-4o-mini", "finish_reason": raw, "output_tokens": 3}
             for i, raw in enumerate(["stop"] * 5 + ["length"] * 2 + ["tool_calls"] * 3 + ["end_turn"])]
    assert server.client.post("/api/ingest/batch", json=calls, headers={"x-tokentrail-project": project}).status_code == 200
    server.flush()
    server.runtime.settle()
    want = {"stop": 6, "length": 2, "tool_calls": 3}
    for range_ in ("24h", "7d"):  # raw spans, then the hourly rollup
        rows = server.client.get("/api/quality", params={"project": project, "range": range_}).json()["finish_reasons"]
        assert {r["finish"]: r["count"] for r in rows if r["count"]} == want, range_
    traces = server.client.get("/api/traces", params={"project": project, "finish": "length"}).json()
    assert len(traces["traces"] if isinstance(traces, dict) else traces) == 2
