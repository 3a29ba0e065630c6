"""One evaluation round reads the store once per question: the burn-rate rules of a project are counted
in one pass over the spans (and those counts are the calls' own, window by window), rules asking the
same named query share its answer, and outside a round (previews, replays) nothing is shared."""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.alerts import traffic
from tokentrail.alerts import checks, round_cache
from tokentrail.alerts.config import AlertsConfig
from tokentrail.alerts.evaluator import Evaluator
from tokentrail.alerts.rules import parse_rule
from tokentrail.query import slo
from tokentrail.storage.backend import Store, open_store
from tokentrail.storage.migrations import migrate

NOW = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
PROJECT = "rounds"


@pytest.fixture(scope="module")
def data() -> Iterator[tuple[Store, list[dict[str, Any]]]]:
    """~1,500 calls over 3 days with errors, slow calls and streams, and the same calls as plain dicts."""
    store = open_store(f"chdb://{tempfile.mkdtemp(prefix='tt-rounds-')}/db")
    migrate(store, {"spans": 30})
    rng = random.Random(5)
    calls, kept = traffic.Calls(), []
    for _ in range(1500):
        c = {"t": NOW - timedelta(seconds=rng.uniform(1, 3 * 86400 - 1)),
             "route": rng.choice(["chat", "summarize"]), "model": rng.choice(["gpt-4o-mini", "gpt-4o"]),
             "status": "error" if rng.random() < 0.08 else "ok", "duration_ms": rng.choice([300.0, 900.0, 4000.0]),
             "ttft_ms": rng.choice([None, 200.0, 800.0])}
        calls.add(PROJECT, c["t"], c["route"], c["model"], user="user-1", session="s", input_tokens=100,
                  output_tokens=10, duration_ms=c["duration_ms"], ttft_ms=c["ttft_ms"], status=c["status"])
        kept.append(c)
    traffic.load(store, calls, PROJECT, NOW - timedelta(days=3), NOW)
    yield store, kept
    store.close()


def _expected(calls: list[dict[str, Any]], equals: dict[str, str], w: timedelta, slo_: str,
              threshold: float | None) -> tuple[int, int]:
    inside = [c for c in calls if c["t"] >= NOW - w and all(c[k] == v for k, v in equals.items())]
    if slo_ == "availability":
        return sum(c["status"] == "error" for c in inside), len(inside)
    if slo_ == "latency":
        judged = [c for c in inside if c["status"] != "error"]
        return sum(c["duration_ms"] > threshold for c in judged), len(judged)
    judged = [c for c in inside if c["ttft_ms"] is not None]
    return sum(c["ttft_ms"] > threshold for c in judged), len(judged)


SPECS: list[tuple[dict[str, str], list[timedelta], str, float | None]] = [
    ({}, [timedelta(minutes=5), timedelta(hours=1), timedelta(days=3)], "availability", None),
    ({"route": "chat"}, [timedelta(hours=6), timedelta(days=1)], "availability", None),
    ({"model": "gpt-4o", "route": "summarize"}, [timedelta(hours=2), timedelta(days=2)], "latency", 1000.0),
    ({"route": "chat"}, [timedelta(minutes=30), timedelta(days=3)], "ttft", 500.0),
]


def test_many_slos_in_one_pass_count_each_calls_own_windows(data: tuple[Store, list[dict[str, Any]]]) -> None:
    store, calls = data
    many = slo.window_counts_many(store, PROJECT, SPECS, NOW)
    for (equals, windows, slo_, threshold), got in zip(SPECS, many, strict=True):
        want = {w: _expected(calls, equals, w, slo_, threshold) for w in windows}
        assert got == want, (equals, slo_)
        assert slo.window_counts(store, PROJECT, equals, windows, NOW, slo_, threshold) == want
        assert all(total for _, total in want.values())  # the data exercises every window


class _Counting:
    def __init__(self, store: Store) -> None:
        self.store, self.sql, self._inner = store, [], store.query

    def __enter__(self) -> list[str]:
        def query(sql: str, params: Any = None) -> list[dict[str, Any]]:
            self.sql.append(sql)
            return self._inner(sql, params)
        self.store.query = query  # type: ignore[method-assign]
        return self.sql

    def __exit__(self, *exc: Any) -> None:
        del self.store.query  # back to the class's method


def _rules() -> list[Any]:
    base = {"project": PROJECT, "windows": [{"long": "1h", "short": "5m", "factor": 14.4, "severity": "page"},
                                            {"long": "3d", "short": "6h", "factor": 1, "severity": "ticket"}]}
    burns = [parse_rule({**base, "name": f"burn-{i}", "kind": "burn_rate", **extra}) for i, extra in enumerate(
        [{}, {"filters": {"route": "chat"}}, {"slo": "latency", "threshold_ms": 1000},
         {"slo": "ttft", "threshold_ms": 500, "filters": {"model": "gpt-4o"}}])]
    anomalies = [parse_rule({"project": PROJECT, "name": f"anomaly-{m}", "kind": "anomaly", "metric": m,
                             "group_by": "route"}) for m in ("tokens", "requests", "output_tokens_per_call")]
    return burns + anomalies


def test_a_round_reads_each_question_once(data: tuple[Store, list[dict[str, Any]]]) -> None:
    store, _ = data
    rules = _rules()
    alone = {}
    for r in rules:  # outside a round: each rule reads for itself, and what it finds is the reference
        with _Counting(store) as sql:
            alone[r.name] = checks.run(store, r, NOW)
        assert sql, "outside a round every rule asks the store"
    ev = Evaluator(store, AlertsConfig(rules=rules), holder="t", base_url="http://tt")
    seen: dict[str, list[checks.Finding]] = {}
    run = checks.run

    def recording(s: Store, rule: Any, now: datetime) -> list[checks.Finding]:
        seen[rule.name] = run(s, rule, now)
        return seen[rule.name]

    try:
        checks.run = recording  # type: ignore[assignment]
        with _Counting(store) as sql:
            stats = ev.run(now=NOW, force=True)
    finally:
        checks.run = run  # type: ignore[assignment]
        ev.stop()
    assert stats is not None and stats.errors == 0, stats.rule_errors
    spans_reads = [q for q in sql if "spans FINAL" in q and "countIf(start_time >=" in q]
    assert len(spans_reads) == 1, "the four burn-rate rules are counted in one pass"
    # the three anomaly rules read the same hourly series per route (and its top routes) once
    series_reads = [q for q in sql if "toStartOfInterval" in q]
    assert len(series_reads) == 1, series_reads
    # and every rule found exactly what it finds alone
    assert {n: [(f.key, f.active, f.value) for f in fs] for n, fs in seen.items()} == \
        {n: [(f.key, f.active, f.value) for f in fs] for n, fs in alone.items()}


def test_nothing_is_shared_outside_a_round(data: tuple[Store, list[dict[str, Any]]]) -> None:
    store, _ = data
    rule = _rules()[0]
    with _Counting(store) as sql:
        checks.run(store, rule, NOW)
        checks.run(store, rule, NOW)
    assert len(sql) == 2
    with round_cache.sharing(), _Counting(store) as sql:
        checks.run(store, rule, NOW)
        checks.run(store, rule, NOW)
    assert len(sql) == 1
