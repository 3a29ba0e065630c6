"""The alert lifecycle without a store: pending -> firing after ``for``, repeat interval, grouping
per rule, resolve notifications, silences with an expiry, and a group that has no data any more."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tokentrail.alerts.checks import Finding
from tokentrail.alerts.rules import parse_rule
from tokentrail.alerts.state import GROUP, AlertState, Silence, step

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)


def _rule(**kw):
    return parse_rule({"kind": "anomaly", "name": "spike", "metric": "tokens", "group_by": "route",
                       "project": "shop", **kw})


def _f(route: str, active: bool, value: float = 10.0) -> Finding:
    return Finding(f"route={route}", {"route": route}, active, value, 5.0, f"{route} at {value}")


class Run:
    """Feeds findings through ``step`` round after round, keeping the states as the store would."""

    def __init__(self, rule, silences=()):
        self.rule, self.silences, self.states, self.sent = rule, list(silences), {}, []

    def at(self, t: datetime, *findings: Finding):
        out = step(self.rule, list(findings), dict(self.states), t, self.silences, json.dumps)
        for s in out.states:
            self.states[s.key] = s
        if out.notify:
            self.sent.append((t, out.notify, [s.key for s in out.firing]))
        return out


def test_pending_until_for_then_firing_then_resolved_once() -> None:
    r = Run(_rule(**{"for": "5m"}))
    r.at(T0, _f("chat", True))
    assert r.states["route=chat"].state == "pending" and not r.sent
    r.at(T0 + 4 * M, _f("chat", True))
    assert r.states["route=chat"].state == "pending"
    r.at(T0 + 5 * M, _f("chat", True))
    assert r.states["route=chat"].state == "firing" and r.sent == [(T0 + 5 * M, "firing", ["route=chat"])]
    r.at(T0 + 6 * M, _f("chat", False))
    assert r.states["route=chat"].state == "resolved"
    assert r.sent[-1] == (T0 + 6 * M, "resolved", [])
    r.at(T0 + 7 * M, _f("chat", False))
    assert len(r.sent) == 2  # resolved is said once


def test_a_blip_shorter_than_for_never_notifies() -> None:
    r = Run(_rule(**{"for": "10m"}))
    r.at(T0, _f("chat", True))
    r.at(T0 + 3 * M, _f("chat", False))
    assert r.states["route=chat"].state == "inactive" and not r.sent


def test_grouped_per_rule_renotified_when_the_group_grows_and_every_repeat_interval() -> None:
    r = Run(_rule(repeat_interval="1h"))
    r.at(T0, _f("chat", True, 50))
    r.at(T0 + M, _f("chat", True, 50), _f("search", True, 80))  # a new key joins: say so
    r.at(T0 + 2 * M, _f("chat", True, 50), _f("search", True, 80))  # same group: nothing new
    r.at(T0 + 62 * M, _f("chat", True, 50), _f("search", True, 80))  # repeat interval passed
    assert [(t - T0, what, keys) for t, what, keys in r.sent] == [
        (timedelta(0), "firing", ["route=chat"]),
        (M, "firing", ["route=search", "route=chat"]),  # largest value first
        (62 * M, "firing", ["route=search", "route=chat"]),
    ]
    r.at(T0 + 63 * M, _f("chat", False), _f("search", True, 80))  # one resolves, the group still fires
    assert r.sent[-1][1] == "firing" and len(r.sent) == 3
    r.at(T0 + 64 * M, _f("chat", False), _f("search", False))
    assert r.sent[-1][1] == "resolved" and r.states[GROUP].state == "resolved"


def test_a_group_without_data_resolves() -> None:
    r = Run(_rule())
    r.at(T0, _f("chat", True))
    r.at(T0 + M)  # the check no longer reports the route at all
    assert r.states["route=chat"].state == "resolved" and "(no data now)" in r.states["route=chat"].summary
    assert r.sent[-1][1] == "resolved"


def test_silences_match_rule_and_labels_and_expire() -> None:
    silence = Silence(id="s1", project="shop", rule="spike", matchers={"route": "chat"}, starts_at=T0,
                      ends_at=T0 + 30 * M)
    r = Run(_rule(), [silence])
    out = r.at(T0 + M, _f("chat", True))
    assert out.silenced and not r.sent and r.states["route=chat"].state == "firing"
    assert any(e.state == "silenced" for e in out.events)
    r.at(T0 + 2 * M, _f("chat", True), _f("search", True))  # a key the silence does not cover
    assert r.sent and r.sent[-1][2] == ["route=chat", "route=search"] or r.sent[-1][2] == ["route=search", "route=chat"]
    other = Run(_rule(), [silence])
    other.at(T0 + 31 * M, _f("chat", True))  # the silence has expired
    assert other.sent and other.sent[0][1] == "firing"
    wrong_project = Silence(id="s2", project="other", rule="", matchers={}, starts_at=T0, ends_at=T0 + 60 * M)
    assert not wrong_project.matches("spike", "shop", {"route": "chat"}, T0 + M)


def test_severity_of_the_group_is_the_worst_firing() -> None:
    r = Run(_rule(severity="ticket"))
    page = Finding("", {}, True, 20.0, 14.4, "burning", severity="page")
    out = r.at(T0, page)
    assert r.states[GROUP].severity == "page" and out.firing[0].severity == "page"
    assert isinstance(r.states[GROUP], AlertState)
