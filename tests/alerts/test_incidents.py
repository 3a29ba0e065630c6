"""Incidents injected into a week of noisy, seasonal traffic are each detected within their window,
the same week without incidents fires at most one alert, and the explainer ranks the injected cause
first (issue #22's checks)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.alerts import traffic
from tests.alerts.incidents import RULES, Incident, incidents
from tokentrail.alerts import checks
from tokentrail.alerts.config import AlertsConfig
from tokentrail.alerts.evaluator import Evaluator
from tokentrail.alerts.explain import DIMENSIONS_EXPLAINED, explain
from tokentrail.alerts.rules import parse_rule
from tokentrail.storage.backend import Store, open_store
from tokentrail.storage.migrations import migrate

# generating and loading the synthetic weeks takes minutes on a loaded machine
pytestmark = pytest.mark.timeout(1200)

END = traffic.end_of_data()
INCIDENTS = incidents(END)


def _rules(project: str) -> list[Any]:
    return [parse_rule({**r, "project": project}) for r in RULES]


@pytest.fixture(scope="module")
def store() -> Iterator[Store]:
    s = open_store(f"chdb://{tempfile.mkdtemp(prefix='tt-alerts-')}/db")
    migrate(s, {"spans": 30})
    since = END - timedelta(days=9)
    traffic.load(s, traffic.week("quiet", END), "quiet", since, END)
    for inc in INCIDENTS:
        calls = traffic.week(inc.name, END, mutate=inc.mutate)
        if inc.extra:
            inc.extra(calls, inc.name, END)
        traffic.load(s, calls, inc.name, since, END)
    try:
        yield s
    finally:
        s.close()


def test_the_quiet_week_fires_at_most_one_alert(store: Store) -> None:
    """Every rule, evaluated every 30 minutes over the last day of normal traffic, through the real
    evaluator (state machine, store), fires at most once in total."""
    ev = Evaluator(store, AlertsConfig(rules=_rules("quiet")), holder="test", base_url="http://tt")
    try:
        t = END - timedelta(hours=24)
        while t <= END:
            stats = ev.run(now=t, force=True)
            assert stats is not None and stats.errors == 0, stats.rule_errors
            t += timedelta(minutes=30)
    finally:
        ev.stop()
    fired = store.query("SELECT rule, key, summary, time FROM tokentrail.alert_events "
                        "WHERE project = 'quiet' AND state = 'firing' ORDER BY time")
    assert len(fired) <= 1, fired


def _first_detection(store: Store, inc: Incident) -> tuple[datetime, checks.Finding] | None:
    rule = next(r for r in _rules(inc.name) if r.name == inc.rule)
    t0 = END - inc.start
    t = t0 + inc.step
    while t <= min(END, t0 + inc.within):
        active = [f for f in checks.run(store, rule, t) if f.active]
        if active:
            return t, active[0]
        t += inc.step
    return None


@pytest.mark.parametrize("inc", INCIDENTS, ids=[i.name for i in INCIDENTS])
def test_each_incident_is_detected_and_explained(store: Store, inc: Incident) -> None:
    found = _first_detection(store, inc)
    assert found is not None, f"{inc.name} not detected by {inc.rule} within {inc.within}"
    at, finding = found
    delay = at - (END - inc.start)
    assert delay <= inc.within
    # the finding names the injected group (when the rule groups)
    if finding.labels:
        assert any(inc.truth.get(k) == v for k, v in finding.labels.items()), (finding.labels, inc.truth)
    e = finding.explain
    dims = tuple(e.get("dimensions") or DIMENSIONS_EXPLAINED)
    if any(k in inc.truth for k in ("session",)) and "session" not in dims:
        dims = (*dims, "session")
    out = explain(store, inc.name, e["metric"], datetime.fromisoformat(e["since"]), datetime.fromisoformat(e["until"]),
                  datetime.fromisoformat(e["baseline_since"]), datetime.fromisoformat(e["baseline_until"]),
                  equals=e["filters"], dimensions=dims)
    top = out["top"][0]
    assert inc.truth.get(top["dimension"]) == top["value"], json.dumps(out["top"][:3], indent=1)
    assert out["traces"], "the traces behind the top contributor"
    print(f"{inc.name}: detected after {delay}, top cause {top['dimension']}={top['value']} "
          f"({top['share_of_change']:.0%} of the change)")
