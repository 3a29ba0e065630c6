"""One definition of the flat format: a file's events become the very rows the HTTP batch makes of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.batch.helpers import SEED_EVENT, write_lines
from tests.clock import EPOCH, day
from tests.support import ServerThread
from tokentrail.batch import flat
from tokentrail.batch.run import DeadLetter, Runner, Summary
from tokentrail.batch.targets import ServerTarget
from tokentrail.ingest.native import NativeSpan
from tokentrail.pricing.store import COST_COLUMNS
from tokentrail.storage.schema import SPANS_IN

RICH_EVENTS: list[dict[str, Any]] = [
    SEED_EVENT,
    {"trace_id": "0AF7651916CD43DD8448EB211C80319C", "span_id": "B7AD6B7169203331",
     "parent_span_id": "00f067aa0ba902b7", "name": "search docs", "kind": "tool",
     "start_time": f"{day()}T17:32:11.123456+02:00", "end_time": f"{day()}T15:32:12.5Z", "provider": "OpenAI",
     "model": "gpt-4o", "response_model": "gpt-4o-2024-08-06", "input_tokens": 2000, "output_tokens": 500,
     "cached_input_tokens": 1000, "cache_write_tokens": 100, "reasoning_tokens": 50, "status": "error",
     "error_type": "RateLimitError", "error_message": "slow \"down\"", "http_status": 429, "finish_reason": "length",
     "stream": True, "cached": True, "schema_validated": False, "user_id": "u-é", "user_id_hash": "ignored",
     "session_id": "s1", "route": "a\\b", "customer": "acme", "environment": "prod", "release": "1.2.3",
     "service": "api", "tags": ["x", "y z"], "input": "hello \u2603", "output": "world",
     "metadata": {"team": "ml", "n": 3, "ratio": 0.25, "on": True, "nested": {"a": 1}, "empty": "", "shadow": 1},
     "shadow": "extra wins", "count": 7, "big": 1e3, "frac": 1.5, "flag": False, "list": [1, 2], "nothing": None},
    {"request_id": "epoch-s", "start_time": EPOCH, "model": "claude-sonnet-4", "input_tokens": 10},
    {"request_id": "epoch-ms", "timestamp": EPOCH * 1000 + 123, "latency_total_ms": 12.3456, "model": "o4-mini"},
    {"request_id": "epoch-ns", "timestamp": EPOCH * 10**9 + 123456789, "latency_total_ms": 0.0005, "model": "gpt-4o"},
    {"request_id": "epoch-frac", "timestamp": EPOCH + 0.25, "duration_ms": 3, "ttft_ms": 0, "model": "o4-mini"},
    {"request_id": "naive", "timestamp": f"{day()} 15:32:11.5", "downstream_status": 500, "model": "gpt-4o-mini"},
    {"request_id": "err-only", "timestamp": f"{day()}T15:32", "status": "error", "kind": "embedding",
     "model": "text-embedding-3-small"},
    {"request_id": "rid-trace", "trace_id": "1" * 32, "timestamp": f"{day()}T15:32:11Z", "model": "mystery-x"},
    {"request_id": "rid-span", "span_id": "2" * 16, "timestamp": f"{day()}T15:32:11Z", "model": "gpt-4o"},
    {"request_id": "", "trace_id": "3" * 32, "span_id": "4" * 16, "timestamp": f"{day()}T15:32:11Z",
     "status": "ok", "tags": [], "metadata": {}, "user_id": "", "schema_validated": None, "cached": None,
     "model": "gpt-4o-mini"},
    {"request_id": "tool", "kind": "tool", "name": "search docs", "timestamp": f"{day()}T15:32:11Z"},
    dict(SEED_EVENT, request_id="word-1", downstream_status="Timed-Out"),
    dict(SEED_EVENT, request_id="word-2", downstream_status="cancelled", status="ok"),
    dict(SEED_EVENT, request_id="word-3", downstream_status="upstream gone", error_type="Gone"),
    {"request_id": "word-4", "http_status": "deadline_exceeded", "model": "gpt-4o", "timestamp": f"{day()}T15:32:11Z"},
]


def _rows(server: ServerThread, project: str) -> list[dict[str, Any]]:
    rows = server.query("SELECT * FROM tokentrail.spans FINAL WHERE project = {p:String} ORDER BY trace_id, span_id",
                        {"p": project})
    return [{k: v for k, v in r.items() if k not in ("project", "source", "ingested_at")} for r in rows]


def _load_file(server: ServerThread, path: Path, project: str, tmp_path: Path) -> Summary:
    return Runner(ServerTarget(server.url), project, DeadLetter(tmp_path / "dead.jsonl")).run([str(path)])


def test_every_native_field_is_mapped_by_the_fast_path() -> None:
    assert [f.name for f in flat.FIELDS] == list(NativeSpan.model_fields)
    mapping, scalars = flat.mapping(), flat._lines_select().split("AS scalars")[0]
    for f in flat.FIELDS:
        used = (f"texts[{flat.TEXT_FIELDS.index(f.name) + 1}]" if f.name in flat.TEXT_FIELDS else f.raw) in mapping
        used |= f"t_{f.name}" in mapping or f"JSONExtractKeysAndValuesRaw({f.raw})" in scalars
        assert used, f"NativeSpan.{f.name} is not mapped to a column"
    assert set(flat.mapped_columns()) | set(COST_COLUMNS) == set(SPANS_IN.column_names)


def test_file_events_give_the_rows_of_the_http_batch(server: ServerThread, project: str, tmp_path: Path) -> None:
    r = server.client.post("/api/ingest/batch", json=RICH_EVENTS, headers={"x-tokentrail-project": project + "-http"})
    assert r.status_code == 200, r.text
    summary = _load_file(server, write_lines(tmp_path / "events.jsonl", RICH_EVENTS), project, tmp_path)
    assert (summary.rows, summary.rejected) == (len(RICH_EVENTS), 0)
    file_rows, http_rows = _rows(server, project), _rows(server, project + "-http")
    assert len(file_rows) == len(RICH_EVENTS)
    for a, b in zip(file_rows, http_rows, strict=True):
        assert a == b
    assert summary.cost == pytest.approx(sum(x["total_cost"] or 0 for x in http_rows), rel=1e-12)  # summing order


def test_every_rich_event_takes_the_fast_path(server: ServerThread, project: str, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "events.jsonl", RICH_EVENTS)
    target = ServerTarget(server.url)
    seen = []
    real_load = target.load
    target.load = lambda chunk, data, keep: seen.append(real_load(chunk, data, keep)) or seen[-1]  # type: ignore
    Runner(target, project, DeadLetter(tmp_path / "dead.jsonl")).run([str(path)])
    assert sum(r.fast_rows for r in seen) == len(RICH_EVENTS)


def test_coerced_shapes_take_the_slow_path_with_the_same_result(server: ServerThread, project: str,
                                                                tmp_path: Path) -> None:
    lax = [dict(SEED_EVENT, request_id="lax-1", input_tokens="12", cached="yes", timestamp=f"{EPOCH}"),
           dict(SEED_EVENT, request_id="lax-2", output_tokens=5.0, schema_validated=1, downstream_status=" 404"),
           dict(SEED_EVENT, request_id="lax-3", timestamp=f"{day()}", latency_total_ms="250.5"),
           {"request_id": "lax-4", "start_time": f"{day()}T15:32:11Z", "timestamp": f"{day(-4)}T00:00:00Z",
            "model": "gpt-4o-mini"}]
    r = server.client.post("/api/ingest/batch", json=lax, headers={"x-tokentrail-project": project + "-http"})
    assert r.status_code == 200, r.text
    summary = _load_file(server, write_lines(tmp_path / "lax.jsonl", lax), project, tmp_path)
    assert (summary.rows, summary.rejected) == (len(lax), 0)
    assert _rows(server, project) == _rows(server, project + "-http")


def test_refused_events_are_refused_for_the_same_reason(server: ServerThread, project: str, tmp_path: Path) -> None:
    bad = [dict(SEED_EVENT, input_tokens=-5), dict(SEED_EVENT, model=5), dict(SEED_EVENT, timestamp=None),
           dict(SEED_EVENT, kind="robot"), dict(SEED_EVENT, trace_id="xyz"), dict(SEED_EVENT, tags="a"),
           dict(SEED_EVENT, downstream_status=99), dict(SEED_EVENT, input_tokens=1.5)]
    r = server.client.post("/api/ingest/batch", json=bad, headers={"x-tokentrail-project": project + "-http"})
    http_errors = [e["error"] for e in r.json()["errors"]]
    summary = _load_file(server, write_lines(tmp_path / "bad.jsonl", bad), project, tmp_path)
    letters = [json.loads(x) for x in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert (summary.rows, summary.rejected) == (0, len(bad))
    assert [x["error"] for x in letters] == http_errors
    assert [x["line"] for x in letters] == list(range(1, len(bad) + 1))
