"""Filtered pages read spans_by_user (the spans sorted by customer, user and session) where raw spans
answered before: for every filter (alone and in pairs) and range, every query of the dashboards answers
exactly what the same query answers from the spans, both right after the rollup job ran and while it
still owes minutes (their rows come from the spans then). A span whose user is filled in later, and a
purged span, leave no row behind."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import ServerThread, running_server
from tokentrail.demo.traffic import Traffic
from tokentrail.query import cost, metrics, quality, rollups, traces, users
from tokentrail.query.filters import Filters
from tokentrail.query.rollups import PEOPLE_DERIVED
from tokentrail.storage.schema import SPANS

PROJECT = "layouts"
FILTERS = ("user", "customer", "session", "route", "model", "model_family", "release", "environment", "status", "tag")
# the demo's model names (demo/traffic.py) -> their family, as the names say
DEMO_FAMILY = {"gpt-4o-mini-2024-07-18": "gpt-4o-mini", "gpt-4o-mini": "gpt-4o-mini",
               "claude-3-5-haiku-20241022": "claude-3-5-haiku", "gpt-4.1-nano": "gpt-4.1-nano",
               "gpt-4o-2024-08-06": "gpt-4o", "claude-sonnet-4-20250514": "claude-sonnet-4", "o4-mini": "o4-mini",
               "text-embedding-3-small": "text-embedding-3-small", "mystery-model-v0": "mystery-model-v0"}
RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def _send(server: ServerThread, traffic: Traffic, traces_: int, seconds: float) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        for body in traffic.requests(traces_, per_request=500, span_seconds=seconds):
            r = c.post("/v1/traces", content=body, headers={"content-type": "application/x-protobuf",
                                                           "x-tokentrail-project": PROJECT})
            assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    # the rollup job never runs by itself here: the test decides when minutes are refreshed
    with running_server(tmp_path_factory.mktemp("layouts"), rollup_seconds=100_000.0) as s:
        traffic = Traffic(seed=11, users=40, customers=6)
        _send(s, traffic, 2500, 29 * 86400)  # a month of traces
        _send(s, traffic, 400, 20 * 3600)  # and a busier last day
        assert s.runtime.settle()
        yield s


def _values(server: ServerThread, within: timedelta = timedelta(days=3650)) -> dict[str, list[str]]:
    """Up to six values of each filter seen on calls started within ``within`` of now (a session lasts an
    hour: the first names of the month's sessions may all lie outside the last day)."""
    since = (datetime.now(UTC) - within).replace(tzinfo=None)
    row = server.runtime.store.query("""
        SELECT groupUniqArray(user_id) AS user, groupUniqArray(customer) AS customer,
               groupUniqArray(session_id) AS session, groupUniqArray(route) AS route,
               groupUniqArray(if(response_model != '', response_model, request_model)) AS model,
               groupUniqArray(release) AS release, groupUniqArray(environment) AS environment,
               groupUniqArray(status) AS status, groupUniqArrayArray(tags) AS tag
        FROM tokentrail.spans FINAL WHERE project = {p:String} AND kind = 'llm'
          AND start_time >= {since:DateTime64(3)}""", {"p": PROJECT, "since": since})[0]
    row["model_family"] = sorted({DEMO_FAMILY[m] for m in row["model"]})
    return {k: sorted(v for v in vs if v)[:6] for k, vs in row.items()}


def _queries(store: Any, f: Filters) -> dict[str, Callable[[], Any]]:
    """Every query a dashboard page asks under a filter (bench/pages.py), with keys to compare by."""
    every = [*metrics.METRICS]

    def by_key(rows: list[dict[str, Any]], key: str = "key") -> list[dict[str, Any]]:
        rows = [dict(r, versions=by_key(r["versions"])) if "versions" in r else r for r in rows]  # model families
        return sorted(rows, key=lambda r: str(r[key]))

    out: dict[str, Callable[[], Any]] = {
        "summary": lambda: metrics.summary(store, f),
        "summary names": lambda: metrics.summary(store, f, ["requests", "cost_usd", "latency_ms"]),
        "timeseries": lambda: metrics.timeseries(store, f, every),
        "timeseries by route": lambda: metrics.timeseries(store, f, ["requests", "cost_usd"], group_by="route", top=3),
        "daily cost": lambda: cost.daily(store, f),
        "weekly cost": lambda: cost.weekly(store, f),
        "output length": lambda: quality.output_length(store, f),
        "finish reasons": lambda: quality.finish_reasons(store, f),
        "traces": lambda: traces.search(store, f, 20),
        # the costs only: traces of equal cost (failed calls cost 0) come in any order
        "costliest traces": lambda: [t["cost_usd"] for t in traces.search(store, f, 10, order="cost")["traces"]],
        "sessions": lambda: traces.sessions(store, f, 20),
    }
    for by in ("model", "model_family", "route", "user", "customer"):
        out[f"by {by}"] = lambda by=by: dict(metrics.breakdown(store, f, by, 500, "cost_usd"),
                                             rows=by_key(metrics.breakdown(store, f, by, 500, "cost_usd")["rows"]))
    for by in ("user", "customer"):
        out[f"leaderboard {by}"] = lambda by=by: by_key(users.leaderboard(store, f, by, "cost", 500)["rows"])
    return out


def _spans_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every raw-span read from the spans, as before spans_by_user (with the columns the engine computes for
    spans_by_user rows, user_key and cost_pico, computed from the spans' own)."""
    derived = ", ".join([*(c.name for c in SPANS.columns if c.materialized),  # not in *
                         *(f"{sql} AS {name}" for name, sql in PEOPLE_DERIVED.items())])
    monkeypatch.setattr(Filters, "span_source", lambda self, database, llm_only=True, people=None:
                        f"(SELECT *, {derived} FROM {database}.spans FINAL)")
    monkeypatch.setattr(traces, "exact_people_source", lambda database, project, pending: f"{database}.spans FINAL")


def _close(a: Any, b: Any, path: str = "") -> None:
    """Equal; floats to 1e-6 relative, or one unit of the 6th decimal they are rounded to (a sum over the
    same values in another order may round the other way)."""
    if isinstance(a, float | int) and isinstance(b, float | int) and (isinstance(a, float) or isinstance(b, float)):
        assert abs(a - b) <= 1e-6 * max(abs(a), abs(b)) + 1.01e-6, (path, a, b)
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), (path, a.keys() ^ b.keys())
        for k in a:
            if k == "cost_share":  # rounded to 4 decimals: a sum in another order may round the other way
                assert abs(a[k] - b[k]) <= 1.01e-4 if a[k] is not None and b[k] is not None else a[k] == b[k]
            elif k != "cost_per_1k_requests":  # 1000 x the rounded cost / requests: compared as those
                _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def _compare(server: ServerThread, equals: dict[str, str], range_: str, monkeypatch: pytest.MonkeyPatch) -> int:
    """Every query under ``equals`` over ``range_``: with spans_by_user, then from the spans only. Returns
    how many calls matched the filter (so a test can tell it checked something)."""
    rt = server.runtime
    now = datetime.now(UTC) + timedelta(minutes=1)  # one end for both sides (not "now" twice: a bucket apart)
    f = Filters(project=PROJECT, since=now - RANGES[range_], until=now, equals=equals,
                pending=rt.pending_minutes(PROJECT), stale_days=rt.stale_days(PROJECT))
    store = rt.store
    got = {name: q() for name, q in _queries(store, f).items()}
    with monkeypatch.context() as m:
        _spans_only(m)
        want = {name: q() for name, q in _queries(store, f).items()}
    for name in got:
        _close(got[name], want[name], f"{equals} {range_} {name}")
    return int(got["summary"]["requests"])


def test_spans_by_user_holds_exactly_the_calls_and_named_spans(server: ServerThread) -> None:
    q = server.runtime.store.query
    people = q("SELECT count() AS n FROM tokentrail.spans_by_user FINAL WHERE project = {p:String}", {"p": PROJECT})
    spans = q(f"SELECT count() AS n FROM tokentrail.spans FINAL WHERE project = {{p:String}} "
              f"AND {rollups.PEOPLE_ROWS}", {"p": PROJECT})
    by_user = q("SELECT user_id, count() AS n, round(sum(coalesce(total_cost, 0)), 9) AS c "
                "FROM tokentrail.spans_by_user FINAL WHERE project = {p:String} GROUP BY user_id ORDER BY user_id",
                {"p": PROJECT})
    raw = q("SELECT user_id, count() AS n, round(sum(coalesce(total_cost, 0)), 9) AS c FROM tokentrail.spans FINAL "
            f"WHERE project = {{p:String}} AND {rollups.PEOPLE_ROWS} GROUP BY user_id ORDER BY user_id",
            {"p": PROJECT})
    assert int(people[0]["n"]) == int(spans[0]["n"]) > 5000
    assert by_user == raw


@pytest.mark.parametrize("range_", list(RANGES))
@pytest.mark.parametrize("name", FILTERS)
def test_each_filter_answers_as_the_spans(server: ServerThread, name: str, range_: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    values = _values(server, RANGES[range_] - timedelta(minutes=10))[name]
    matched = sum(_compare(server, {name: v}, range_, monkeypatch) for v in values[:2])
    assert matched > 0, (name, range_, values)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pair=st.lists(st.sampled_from(FILTERS), min_size=2, max_size=2, unique=True), pick=st.integers(0, 5),
       range_=st.sampled_from(list(RANGES)))
def test_any_pair_of_filters_answers_as_the_spans(server: ServerThread, pair: list[str], pick: int, range_: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    values = _values(server)
    _compare(server, {n: values[n][pick % len(values[n])] for n in pair}, range_, monkeypatch)


def test_owed_minutes_come_from_the_spans(server: ServerThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """New traces the rollup job has not refreshed yet: pending minutes, read from the spans."""
    _send(server, Traffic(seed=12, users=40, customers=6), 300, 3 * 3600)
    assert server.runtime.inserter.flush(120)  # stored, not refreshed (the admin flush would refresh)
    assert server.runtime.pending_minutes(PROJECT)
    values = _values(server)
    for name in ("user", "customer", "session", "route", "tag"):
        for range_ in RANGES:
            _compare(server, {name: values[name][0]}, range_, monkeypatch)
    assert server.runtime.settle()
    assert not server.runtime.pending_minutes(PROJECT)
    for name in ("user", "customer"):
        _compare(server, {name: values[name][0]}, "24h", monkeypatch)


def test_a_backfill_owing_thousands_of_minutes_still_answers_exactly(server: ServerThread,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A backfill over days leaves thousands of minutes owed: their list must neither overflow the engine's
    query size (it answered HTTP 500 "Max query size exceeded" on a fresh demo) nor change an answer."""
    _send(server, Traffic(seed=13, users=40, customers=6), 3000, 6 * 86400)
    assert server.runtime.inserter.flush(120)
    owed = server.runtime.pending_minutes(PROJECT)
    assert len(owed) > 10 * rollups.LITERAL_LIST
    for path in ("metrics/timeseries", "metrics/summary", "metrics/breakdown"):
        r = server.client.get(f"/api/{path}", params={"range": "7d", "project": PROJECT})
        assert r.status_code == 200, r.text
    values = _values(server)
    _compare(server, {}, "7d", monkeypatch)
    _compare(server, {"user": values["user"][0]}, "30d", monkeypatch)
    _compare(server, {"route": values["route"][0]}, "7d", monkeypatch)
    assert server.runtime.settle()


def test_a_span_given_a_user_later_leaves_no_row_under_its_old_key(server: ServerThread) -> None:
    store = server.runtime.store
    row = store.query("""
        SELECT trace_id, span_id, user_id, toStartOfMinute(start_time) AS minute FROM tokentrail.spans FINAL
        WHERE project = {p:String} AND kind = 'llm' AND user_id != '' ORDER BY start_time DESC LIMIT 1""",
                      {"p": PROJECT})[0]
    key = {"p": PROJECT, "t": row["trace_id"], "s": row["span_id"]}
    # a newer version of the span names another user (as the double-count rule's context fill does)
    store.command("""
        INSERT INTO tokentrail.spans SELECT * REPLACE ('someone-else' AS user_id,
                                                                                    now64(3) AS ingested_at)
        FROM tokentrail.spans FINAL WHERE project = {p:String} AND trace_id = {t:String} AND span_id = {s:String}""",
                  key)
    minute = datetime.fromisoformat(row["minute"])
    rollups.refresh(store, {(PROJECT, minute)})
    rows = store.query("SELECT user_id FROM tokentrail.spans_by_user FINAL WHERE project = {p:String} "
                       "AND trace_id = {t:String} AND span_id = {s:String}", key)
    assert rows == [{"user_id": "someone-else"}]
    # and the span purged from the spans: the refresh leaves none
    store.command("ALTER TABLE tokentrail.spans DELETE WHERE project = {p:String} AND trace_id = {t:String} "
                  "AND span_id = {s:String} SETTINGS mutations_sync = 2", key)
    rollups.refresh(store, {(PROJECT, minute)})
    assert not store.query("SELECT 1 FROM tokentrail.spans_by_user FINAL WHERE project = {p:String} "
                           "AND trace_id = {t:String} AND span_id = {s:String}", key)
