"""Budgets fire on their projection before the day ends; SLO burn-rate alerts page on a fast burn
and open a ticket on a slow one (the SRE workbook's multiwindow, multi-burn-rate defaults)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.alerts import traffic
from tokentrail.alerts import checks
from tokentrail.alerts.rules import parse_rule
from tokentrail.storage.backend import Store, open_store
from tokentrail.storage.migrations import migrate

# generating and loading the synthetic weeks takes minutes on a loaded machine
pytestmark = pytest.mark.timeout(1200)

END = traffic.end_of_data()  # 15:00 UTC on a weekday
MIDNIGHT = END.replace(hour=0)


def _double_today(t, call: dict[str, Any], rng) -> dict[str, Any]:
    if t >= MIDNIGHT:
        call["input_tokens"] *= 2
        call["output_tokens"] *= 2
    return call


def _errors(rate: float, since: timedelta):
    def mutate(t, call: dict[str, Any], rng) -> dict[str, Any]:
        if t >= END - since and rng.random() < rate:
            call["status"] = "error"
        return call
    return mutate


PROJECTS = {"budget": _double_today, "fastburn": _errors(0.9, timedelta(minutes=45)),
            "slowburn": _errors(0.03, timedelta(days=3, hours=12))}


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    s = open_store(f"chdb://{tempfile.mkdtemp(prefix='tt-burn-')}/db")
    migrate(s, {"spans": 30})
    for name, mutate in PROJECTS.items():
        traffic.load(s, traffic.week(name, END, mutate=mutate), name, END - timedelta(days=9), END)
    try:
        yield s
    finally:
        s.close()


def test_daily_budget_fires_on_its_projection_before_spend_reaches_it(store: Store) -> None:
    rule = parse_rule({"kind": "budget", "name": "daily", "project": "budget", "period": "day",
                       "percent_of_expected": 150})
    fired = None
    for hour in range(6, 15):
        (f,) = checks.run(store, rule, MIDNIGHT + timedelta(hours=hour))
        if f.active:
            fired = (hour, f)
            break
    assert fired is not None, "a day at twice the usual spend never fired"
    hour, f = fired
    spent = float(f.summary.split("$")[1].split(" ")[0].replace(",", ""))
    assert spent < f.threshold, "it should fire on the projection, before the spend itself crosses the budget"
    assert f.value >= f.threshold
    # yesterday, an ordinary day, never fired at any hour
    for hour in range(1, 24):
        (g,) = checks.run(store, rule, MIDNIGHT - timedelta(days=1) + timedelta(hours=hour))
        assert not g.active, g.summary


def test_fast_burn_pages_within_half_an_hour(store: Store) -> None:
    # 1% of calls fail normally: a 98% objective leaves the normal week at 0.5x (quiet); a 90% outage pages
    rule = parse_rule({"kind": "burn_rate", "name": "avail", "project": "fastburn", "objective": 0.98})
    start = END - timedelta(minutes=45)
    detected = None
    t = start + timedelta(minutes=1)
    while t <= END:
        (f,) = checks.run(store, rule, t)
        if f.active:
            detected = (t - start, f)
            break
        t += timedelta(minutes=1)
    assert detected is not None
    delay, f = detected
    assert delay <= timedelta(minutes=30) and f.severity == "page" and f.threshold == 14.4, (delay, f.summary)
    (before,) = checks.run(store, rule, start - timedelta(minutes=5))
    assert not before.active


def test_slow_burn_opens_a_ticket_not_a_page(store: Store) -> None:
    rule = parse_rule({"kind": "burn_rate", "name": "avail", "project": "slowburn", "objective": 0.99})
    (f,) = checks.run(store, rule, END)
    assert f.active and f.severity == "ticket" and f.threshold == 1.0, f.summary
    quiet = parse_rule({"kind": "burn_rate", "name": "avail", "project": "budget", "objective": 0.98})
    (g,) = checks.run(store, quiet, END)
    assert not g.active, g.summary
