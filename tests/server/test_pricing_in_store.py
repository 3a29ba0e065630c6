"""Prices in the store: unknown models are NULL and listed, a user file reloads live,
and past costs can be recomputed after a price change."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support import ServerThread, running_server, wait_for


def _days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


PRICE_CHANGE = _days_ago(15)[:10]


@pytest.fixture(scope="module")
def priced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerThread, Path]]:
    tmp = tmp_path_factory.mktemp("prices")
    prices = tmp / "prices.json"
    prices.write_text(json.dumps({"prices": [
        {"model": "house-model", "input": 1.0, "output": 2.0},
        {"model": "dated-model", "input": 1.0, "output": 1.0, "effective_from": "2020-01-01"},
        {"model": "dated-model", "input": 5.0, "output": 5.0, "effective_from": PRICE_CHANGE}]}))
    with running_server(tmp / "data", prices_file=str(prices)) as server:
        yield server, prices


def _send(server: ServerThread, project: str, model: str, request_id: str, when: str | None = None) -> None:
    item = {"request_id": request_id, "model": model, "input_tokens": 1_000_000, "output_tokens": 1_000_000}
    if when:
        item["timestamp"] = when
    r = server.client.post("/api/ingest/batch", json=[item], headers={"x-tokentrail-project": project})
    assert r.status_code == 200, r.text


def _cost(server: ServerThread, project: str, request_id: str) -> float | None:
    rows = server.query("SELECT total_cost FROM tokentrail.spans FINAL WHERE project = {p:String} "
                        "AND attributes['tokentrail.request_id'] = {r:String}", {"p": project, "r": request_id})
    return rows[0]["total_cost"]


def test_unknown_model_costs_null_and_is_listed(priced: tuple[ServerThread, Path], project: str) -> None:
    server, _ = priced
    _send(server, project, "no-such-model-9000", "u1")
    assert _cost(server, project, "u1") is None
    listed = server.client.get("/api/pricing", params={"project": project}).json()["unpriced_models"]
    assert [m["model"] for m in listed] == ["no-such-model-9000"]
    assert listed[0]["calls"] == 1


def test_user_price_file_applies_and_reloads_without_restart(priced: tuple[ServerThread, Path], project: str) -> None:
    server, prices = priced
    _send(server, project, "house-model", "a")
    assert _cost(server, project, "a") == pytest.approx(3.0)
    version = server.runtime.prices.version
    doc = json.loads(prices.read_text())
    doc["prices"][0] = {"model": "house-model", "input": 10.0, "output": 20.0}
    prices.write_text(json.dumps(doc))
    os.utime(prices, (time.time() + 5, time.time() + 5))
    wait_for(lambda: server.runtime.prices.version != version, 20)
    _send(server, project, "house-model", "b")
    assert _cost(server, project, "b") == pytest.approx(30.0)
    assert _cost(server, project, "a") == pytest.approx(3.0)  # the past keeps its price until recomputed


def test_recompute_costs_reprices_a_time_range(priced: tuple[ServerThread, Path], project: str) -> None:
    server, prices = priced
    _send(server, project, "late-priced-model", "r1", when=_days_ago(5))
    _send(server, project, "late-priced-model", "r2", when=_days_ago(2))
    assert _cost(server, project, "r1") is None
    doc = json.loads(prices.read_text())
    doc["prices"].append({"model": "late-priced-model", "input": 1.5, "output": 0.5})
    prices.write_text(json.dumps(doc))
    os.utime(prices, (time.time() + 10, time.time() + 10))
    r = server.client.post("/api/admin/recompute-costs",
                           json={"since": _days_ago(3), "until": _days_ago(1), "project": project})
    assert r.status_code == 200, r.text
    assert r.json()["unpriced_before"] == 1 and r.json()["unpriced_after"] == 0
    assert _cost(server, project, "r2") == pytest.approx(2.0)
    assert _cost(server, project, "r1") is None  # outside the range
    n = server.query("SELECT count() AS n FROM tokentrail.spans FINAL WHERE project = {p:String}", {"p": project})
    assert n[0]["n"] == 2  # re-priced rows replace, never add


def test_effective_dates_pick_the_price_in_force(priced: tuple[ServerThread, Path], project: str) -> None:
    server, _ = priced
    _send(server, project, "dated-model-2025-01-01", "old", when=_days_ago(20))
    _send(server, project, "dated-model", "new", when=_days_ago(5))
    assert _cost(server, project, "old") == pytest.approx(2.0)
    assert _cost(server, project, "new") == pytest.approx(10.0)


def test_a_broken_price_file_keeps_the_prices_and_says_why(priced: tuple[ServerThread, Path], project: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    server, prices = priced
    good = prices.read_text()
    version = server.runtime.prices.version
    _send(server, project, "house-model", "before-break")
    before = _cost(server, project, "before-break")
    prices.write_text('{"prices": [{"model": "house-model", "input": ')  # an editor saved half a file
    os.utime(prices, (time.time() + 10, time.time() + 10))
    with caplog.at_level("ERROR", logger="tokentrail.server"):
        wait_for(lambda: server.client.get("/api/pricing").json()["reload_error"], 20)
    error = server.client.get("/api/pricing").json()["reload_error"]
    assert "invalid JSON" in error and str(prices.name) in error
    assert server.runtime.prices.version == version  # the previous prices stay in use
    _send(server, project, "house-model", "while-broken")
    assert _cost(server, project, "while-broken") == pytest.approx(before)
    logged = [r.getMessage() for r in caplog.records if "price file not reloaded" in r.getMessage()]
    assert len(logged) == 1  # once, not at every reload check
    prices.write_text(good)
    os.utime(prices, (time.time() + 20, time.time() + 20))
    wait_for(lambda: server.client.get("/api/pricing").json()["reload_error"] is None, 20)
