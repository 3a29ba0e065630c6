"""Top users over every call of a range (a route filter, or a short range without one) are grouped by the
hashed user key with costs summed as integers, then named from their granules: the pages must equal a plain
GROUP BY over the spans, ties ordered by name, every page offset, and calls still owed to spans_by_user."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import ServerThread, running_server

P = "people-keys"
USERS = 30


def _calls(now: datetime) -> list[dict]:
    """Users with many ties: request counts 1-4, costs in whole millionths (gpt-4o-mini: 1,000 input tokens
    $0.00015, 100 output $0.00006), some on a model without a price (cost 0), a few errors, two routes, and
    calls of a customer with no user."""
    out = []
    for u in range(USERS):
        for i in range(u % 4 + 1):
            out.append({"user_id": f"u-{u:02d}", "customer": f"c-{u % 3}", "session_id": f"s-{u}-{i % 2}",
                        "route": "r1" if (u + i) % 5 else "r2",
                        "model": "acme-local-7b" if u % 7 == 0 else "gpt-4o-mini",
                        "input_tokens": 1000 * (1 + u % 2), "output_tokens": 100 * (1 + i % 2),
                        "status": "error" if (u * 3 + i) % 11 == 0 else "ok",
                        "start_time": (now - timedelta(minutes=5 + u + i)).isoformat()})
    out += [{"customer": "c-9", "route": "r1", "model": "gpt-4o-mini", "input_tokens": 1000, "output_tokens": 100,
             "start_time": (now - timedelta(minutes=3)).isoformat()} for _ in range(3)]
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with running_server(tmp_path_factory.mktemp("people-keys")) as s:
        r = s.client.post("/api/ingest/batch", json=_calls(datetime.now(UTC)), headers={"x-tokentrail-project": P})
        assert r.status_code == 200, r.text
        s.flush()
        yield s


ORDER = {"cost": "cost_usd", "requests": "requests", "tokens": "tokens", "errors": "errors"}


FILTERS = [{}, {"route": "r1"}, {"customer": "c-1"}]  # every call; a route; a person filter (a few granules)


def _truth(server: ServerThread, by: str, order: str, flt: dict, limit: int, offset: int) -> list[dict]:
    col = "user_id" if by == "user" else "customer"
    where = "".join(f" AND {k} = {{{k}:String}}" for k in flt)
    return server.query(f"""
        SELECT {col} AS key, count() AS requests, uniqIf(session_id, session_id != '') AS sessions,
               sum(input_tokens) + sum(output_tokens) AS tokens, round(sum(coalesce(total_cost, 0)), 6) AS cost_usd,
               countIf(total_cost IS NULL AND status = 'ok') AS unpriced, countIf(status = 'error') AS errors
        FROM tokentrail.spans FINAL
        WHERE project = {{p:String}} AND kind IN ('llm', 'embedding') AND {col} != ''
          AND start_time >= now64() - INTERVAL 1 DAY{where}
        GROUP BY key ORDER BY {ORDER[order]} DESC, key LIMIT {limit} OFFSET {offset}""", {"p": P, **flt})


@pytest.mark.parametrize("flt", FILTERS, ids=["all", "route", "customer"])
@pytest.mark.parametrize("order", list(ORDER))
@pytest.mark.parametrize("by", ["user", "customer"])
def test_leaderboard_pages_equal_a_plain_group_by(server: ServerThread, by: str, order: str, flt: dict) -> None:
    seen = []
    for offset in (0, 7, 14, 21, 28):
        params = {"project": P, "range": "24h", "by": by, "order": order, "limit": 7, "offset": offset}
        r = server.client.get("/api/users", params={**params, **flt})
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["source"] == "raw"
        got = [{k: row[k] for k in ("key", "requests", "sessions", "tokens", "cost_usd", "unpriced", "errors")}
               for row in doc["rows"]]
        assert got == _truth(server, by, order, flt, 7, offset), (offset, got)
        seen += [row["key"] for row in got]
    assert len(seen) == len(set(seen))  # no user on two pages
    assert len(seen) == (USERS if by == "user" and not flt else len(seen)) > 0


@pytest.mark.parametrize("flt", FILTERS, ids=["all", "route", "customer"])
@pytest.mark.parametrize("by", ["user", "customer"])
def test_breakdowns_by_person_equal_a_plain_group_by(server: ServerThread, by: str, flt: dict) -> None:
    params = {"project": P, "range": "24h", "by": by, "limit": 500, "metric": "requests,cost_usd,errors"}
    r = server.client.get("/api/metrics/breakdown", params={**params, **flt})
    assert r.status_code == 200, r.text
    got = {row["key"]: (row["requests"], row["cost_usd"], row["errors"]) for row in r.json()["rows"]}
    col = "user_id" if by == "user" else "customer"
    truth = server.query(f"""
        SELECT {col} AS key, count() AS n, round(sum(coalesce(total_cost, 0)), 6) AS c, countIf(status = 'error') AS e
        FROM tokentrail.spans FINAL WHERE project = {{p:String}} AND kind IN ('llm', 'embedding')
          AND start_time >= now64() - INTERVAL 1 DAY{"".join(f" AND {k} = {{{k}:String}}" for k in flt)}
        GROUP BY key""", {"p": P, **flt})
    assert got == {t["key"]: (t["n"], t["c"], t["e"]) for t in truth}
    assert ("" in got) == (by == "user" and "customer" not in flt)  # c-9's calls without a user: no name


def test_calls_not_yet_in_spans_by_user_are_counted_and_named(server: ServerThread) -> None:
    """A user seen only in minutes the rollup refresh still owes (read from the spans) is ranked and named."""
    r = server.client.post("/api/ingest/batch", headers={"x-tokentrail-project": P}, json=[
        {"user_id": "u-late", "route": "r1", "model": "gpt-4o-mini", "input_tokens": 100_000, "output_tokens": 0,
         "start_time": datetime.now(UTC).isoformat()}])
    assert r.status_code == 200, r.text
    assert server.runtime.inserter.flush(120)  # stored, not refreshed (the admin flush would refresh)
    assert server.runtime.pending_minutes(P)
    r = server.client.get("/api/users", params={"project": P, "range": "24h", "route": "r1", "limit": 1})
    assert r.status_code == 200, r.text
    top = r.json()["rows"][0]
    assert (top["key"], top["requests"], top["cost_usd"]) == ("u-late", 1, 0.015)
    r = server.client.get("/api/metrics/breakdown", params={"project": P, "range": "24h", "route": "r1",
                                                            "by": "user", "limit": 1})
    assert [(x["key"], x["requests"]) for x in r.json()["rows"]] == [("u-late", 1)]
    assert server.runtime.settle() and not server.runtime.pending_minutes(P)
    assert server.client.get("/api/users", params={"project": P, "range": "24h", "route": "r1", "limit": 1}
                             ).json()["rows"][0]["key"] == "u-late"
