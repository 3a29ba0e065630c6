"""Cost per 1,000 calls counts priced calls only: a call of a model without a price has no known cost, so it
is in neither the cost nor the count, and an interval holding only such calls has no value (not $0)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import ServerThread, running_server

P = "per-1k"
PRICED, UNPRICED = 3, 5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    mixed, unpriced_only = now - timedelta(hours=3), now - timedelta(hours=1)
    calls = [{"model": "gpt-4o-mini", "input_tokens": 1000, "output_tokens": 200, "route": "a", "user_id": "u-mixed",
              "start_time": (mixed + timedelta(seconds=i)).isoformat()} for i in range(PRICED)]
    calls += [{"model": "acme-local-7b", "input_tokens": 1000, "output_tokens": 200, "route": "a", "user_id": "u-mixed",
               "start_time": (mixed + timedelta(seconds=10 + i)).isoformat()} for i in range(UNPRICED)]
    calls += [{"model": "acme-local-7b", "input_tokens": 50, "output_tokens": 5, "route": "a", "user_id": "u-unpriced",
               "start_time": (unpriced_only + timedelta(seconds=i)).isoformat()} for i in range(2)]
    with running_server(tmp_path_factory.mktemp("per1k")) as s:
        r = s.client.post("/api/ingest/batch", json=calls, headers={"x-tokentrail-project": P})
        assert r.status_code == 200, r.text
        s.flush()
        yield s


def get(server: ServerThread, path: str, **params: object) -> dict:
    r = server.client.get(path, params={"project": P, "range": "6h", **params})
    assert r.status_code == 200, r.text
    return r.json()


def test_summary_and_breakdown_divide_by_priced_calls(server: ServerThread) -> None:
    s = get(server, "/api/metrics/summary")
    assert (s["requests"], s["unpriced"]) == (PRICED + UNPRICED + 2, UNPRICED + 2)
    assert s["cost_usd"] > 0
    assert s["cost_per_1k_requests"] == pytest.approx(1000 * s["cost_usd"] / PRICED, rel=1e-5)
    (row,) = get(server, "/api/metrics/breakdown", by="route")["rows"]
    assert row["cost_per_1k_requests"] == pytest.approx(1000 * s["cost_usd"] / PRICED, rel=1e-5)
    only = get(server, "/api/metrics/breakdown", by="model")["rows"]
    assert next(r for r in only if r["key"] == "acme-local-7b")["cost_per_1k_requests"] is None


def test_an_interval_of_unpriced_calls_has_no_value(server: ServerThread) -> None:
    ts = get(server, "/api/metrics/timeseries", metric="cost_per_1k_requests,requests", step=3600)
    (series,) = ts["series"]
    values = [(n, v) for n, v in zip(series["metrics"]["requests"], series["metrics"]["cost_per_1k_requests"],
                                     strict=True) if n]
    assert [n for n, _ in values] == [PRICED + UNPRICED, 2]
    assert values[0][1] == pytest.approx(1000 * get(server, "/api/metrics/summary")["cost_usd"] / PRICED, rel=1e-5)
    assert values[1][1] is None


@pytest.mark.parametrize("range_", ["6h", "30d"])  # raw spans / the per-user daily rollup
def test_users_cost_per_request_counts_priced_calls(server: ServerThread, range_: str) -> None:
    doc = get(server, "/api/users", range=range_)
    assert doc["source"] == ("raw" if range_ == "6h" else "rollup")
    rows = {r["key"]: r for r in doc["rows"]}
    mixed, unpriced = rows["u-mixed"], rows["u-unpriced"]
    assert (mixed["requests"], mixed["unpriced"]) == (PRICED + UNPRICED, UNPRICED)
    assert mixed["cost_usd"] > 0  # every priced call is this user's
    assert mixed["cost_usd"] == pytest.approx(get(server, "/api/metrics/summary", range=range_)["cost_usd"], rel=1e-5)
    assert mixed["cost_per_request"] == pytest.approx(mixed["cost_usd"] / PRICED, rel=1e-5)
    assert (unpriced["requests"], unpriced["unpriced"], unpriced["cost_usd"]) == (2, 2, 0)
    assert unpriced["cost_per_request"] is None


@pytest.mark.parametrize("range_", ["6h", "30d"])  # raw spans / the per-user daily rollup
def test_the_cost_pages_user_breakdown_counts_unpriced_calls(server: ServerThread, range_: str) -> None:
    doc = get(server, "/api/metrics/breakdown", by="user", range=range_, metric="requests,cost_usd,unpriced")
    rows = {r["key"]: r for r in doc["rows"]}
    assert (rows["u-mixed"]["requests"], rows["u-mixed"]["unpriced"]) == (PRICED + UNPRICED, UNPRICED)
    assert (rows["u-unpriced"]["requests"], rows["u-unpriced"]["unpriced"]) == (2, 2)
