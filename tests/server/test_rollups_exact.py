"""Rollups never disagree with the spans: right after a flood of 50k spans, while the rollup job is still
catching up, every page's 24 h (raw spans), 7 d (hourly rollup) and 30 d (daily rollup) totals equal
raw-span SQL at every moment, and a restart with minutes still owed keeps them equal."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support import ServerThread, running_server
from tokentrail.demo.traffic import Traffic

PROJECT = "exact"


@pytest.fixture(scope="module")
def flooded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    data = tmp_path_factory.mktemp("exact")
    with running_server(data, rollup_seconds=2.0) as server:
        traffic = Traffic(seed=5)
        sent = 0
        with httpx.Client(base_url=server.url, timeout=60) as c:
            # recent spans over the last 3 hours: several hours and the current day are touched
            for body in traffic.requests(20_000, per_request=2_000, span_seconds=3 * 3600):
                r = c.post("/v1/traces", content=body, headers={"content-type": "application/x-protobuf",
                                                               "x-tokentrail-project": PROJECT})
                assert r.status_code == 200, r.text
        sent = traffic.spans_made
        assert sent >= 50_000
        assert server.runtime.inserter.flush(120)  # every span stored; rollups NOT settled on purpose
        yield server


def _truth(server: ServerThread) -> dict[str, float]:
    row = server.runtime.store.query("""
        SELECT count() AS requests, sum(input_tokens) AS input_tokens, round(sum(coalesce(total_cost, 0)), 4) AS cost,
               countIf(status = 'error') AS errors
        FROM tokentrail.spans FINAL WHERE project = {p:String} AND kind IN ('llm', 'embedding')""", {"p": PROJECT})[0]
    return {k: float(v) for k, v in row.items()}


def _pages(server: ServerThread, range_: str) -> dict[str, dict[str, float]]:
    q = {"project": PROJECT, "range": range_}
    s = server.client.get("/api/metrics/summary", params=q).json()
    cost = server.client.get("/api/cost", params=q).json()["daily"]
    by_model = server.client.get("/api/metrics/breakdown", params={**q, "by": "model", "limit": 500, "order": "requests",
                                                                   "metric": "requests,input_tokens"}).json()
    rows = by_model["rows"] if isinstance(by_model, dict) else by_model
    finish = server.client.get("/api/quality", params=q).json()["finish_reasons"]
    people = server.client.get("/api/users", params={**q, "limit": 1000}).json()
    people_rows = people["rows"]
    return {
        "summary": {"requests": s["requests"], "input_tokens": s["input_tokens"], "cost": round(s["cost_usd"], 4),
                    "errors": s["errors"]},
        "cost page": {"requests": sum(d["requests"] for d in cost), "cost": round(sum(d["cost_usd"] for d in cost), 4)},
        "by model": {"requests": sum(r["requests"] for r in rows), "input_tokens": sum(r["input_tokens"] for r in rows)},
        "quality": {"llm_calls": sum(r["count"] for r in finish)},
        "users": {"requests": sum(r["requests"] for r in people_rows)},
    }


def _agree(server: ServerThread) -> None:
    truth = _truth(server)
    llm_calls = server.runtime.store.query("SELECT count() AS n FROM tokentrail.spans FINAL WHERE project = {p:String} "
                                           "AND kind = 'llm'", {"p": PROJECT})[0]["n"]
    user_calls = server.runtime.store.query(
        "SELECT count() AS n FROM tokentrail.spans FINAL WHERE project = {p:String} AND user_id != '' "
        "AND kind IN ('llm', 'embedding')", {"p": PROJECT})[0]["n"]
    for range_ in ("24h", "7d", "30d"):
        pages = _pages(server, range_)
        assert pages["summary"] == {k: truth[k] for k in pages["summary"]}, (range_, pages, truth)
        assert pages["cost page"] == {k: truth[k] for k in pages["cost page"]}, (range_, pages, truth)
        assert pages["by model"] == {k: truth[k] for k in pages["by model"]}, (range_, pages, truth)
        assert pages["quality"]["llm_calls"] == llm_calls, range_
        assert pages["users"]["requests"] == user_calls, (range_, pages["users"], user_calls)


def test_every_range_equals_the_spans_while_rollups_catch_up(flooded: ServerThread) -> None:
    pending_seen = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pending_seen += len(flooded.runtime.pending_minutes(PROJECT)) > 0
        _agree(flooded)
    assert pending_seen, "the rollups were never behind: the check proved nothing"
    flooded.runtime.settle()
    assert not flooded.runtime.pending_minutes(PROJECT)
    _agree(flooded)
