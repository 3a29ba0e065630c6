"""Alert lifecycle, pure: findings of one evaluation in, new states and events out.

Per (rule, key): a condition that starts to hold is ``pending``; once it has held for the rule's
``for`` it is ``firing``; when it stops holding (or the check no longer reports the group) it is
``resolved``. Notifications are per rule (a rule's firing keys are one group, one incident): sent when
the group starts firing, when new keys join it, every ``repeat_interval`` while it fires, and once when
its last key resolves. Silenced alerts change state as usual but notify no one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from tokentrail.alerts.checks import Finding

GROUP = "__group__"


@dataclass
class AlertState:
    rule: str
    key: str
    project: str
    state: str                       # pending, firing, resolved, inactive
    severity: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    value: float | None = None
    threshold: float | None = None
    summary: str = ""
    explain: str = ""
    since: datetime | None = None
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    last_notified: datetime | None = None
    notified_keys: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.state in ("pending", "firing")


@dataclass
class Silence:
    id: str
    project: str
    rule: str
    matchers: dict[str, str]
    ends_at: datetime
    starts_at: datetime
    comment: str = ""
    created_by: str = ""

    def matches(self, rule: str, project: str, labels: dict[str, str], now: datetime) -> bool:
        if not (self.starts_at <= now < self.ends_at) or project != self.project:
            return False
        if self.rule and self.rule != rule:
            return False
        return all(labels.get(k) == v for k, v in self.matchers.items())


@dataclass
class Step:
    states: list[AlertState]            # rows to write (changed)
    events: list[AlertState]            # history rows (state = what happened)
    notify: str | None = None           # "firing" / "resolved" / None: send a group notification
    firing: list[AlertState] = field(default_factory=list)   # the rule's firing alerts after this step
    silenced: bool = False


def step(rule: Any, findings: list[Finding], previous: dict[str, AlertState], now: datetime,
         silences: list[Silence], explain_json: Any) -> Step:
    """One evaluation of ``rule``: ``previous`` maps key -> stored state (GROUP included)."""
    out = Step([], [])
    seen: set[str] = set()
    hold: timedelta = rule.for_duration
    for f in findings:
        seen.add(f.key)
        prev = previous.get(f.key)
        sev = f.severity or rule.severity
        common = dict(labels=f.labels, value=f.value, threshold=f.threshold, summary=f.summary, severity=sev,
                      explain=explain_json(f.explain))
        if f.active:
            if prev is None or not prev.active:
                cur = AlertState(rule.name, f.key, rule.project, "pending", since=now, **common)
                out.events.append(replace(cur))
            else:
                cur = replace(prev, **common)
            if cur.state == "pending" and now - (cur.since or now) >= hold:
                cur.state, cur.fired_at, cur.resolved_at = "firing", now, None
                out.events.append(replace(cur))
            out.states.append(cur)
        elif prev is not None and prev.active:
            was_firing = prev.state == "firing"
            cur = replace(prev, state="resolved" if was_firing else "inactive", resolved_at=now, **common)
            out.states.append(cur)
            if was_firing:
                out.events.append(replace(cur))
    for key, prev in previous.items():  # no verdict this time (no data for the group): it resolves
        if key == GROUP or key in seen or not prev.active:
            continue
        was_firing = prev.state == "firing"
        cur = replace(prev, state="resolved" if was_firing else "inactive", resolved_at=now,
                      summary=prev.summary + " (no data now)")
        out.states.append(cur)
        if was_firing:
            out.events.append(replace(cur))
    # the rule's group: which keys fire now
    current = {s.key: s for s in previous.values() if s.key != GROUP}
    current.update({s.key: s for s in out.states})
    firing = sorted((s for s in current.values() if s.state == "firing"), key=lambda s: -(s.value or 0))
    out.firing = firing
    group = previous.get(GROUP) or AlertState(rule.name, GROUP, rule.project, "inactive")
    keys = [s.key for s in firing]
    out.silenced = bool(firing) and all(any(x.matches(rule.name, rule.project, s.labels, now) for x in silences)
                                        for s in firing)
    new_group = replace(group)
    if firing:
        grew = bool(set(keys) - set(group.notified_keys))
        due = group.last_notified is None or now - group.last_notified >= rule.repeat
        if group.state != "firing":
            new_group.state, new_group.fired_at, new_group.since, new_group.resolved_at = "firing", now, now, None
        if (group.state != "firing" or grew or due) and not out.silenced:
            out.notify = "firing"
            new_group.last_notified, new_group.notified_keys = now, keys
        elif out.silenced and (group.state != "firing" or grew):
            out.events.append(replace(new_group, state="silenced", summary=f"{len(keys)} firing, silenced"))
        new_group.severity = min((s.severity for s in firing), key=lambda v: {"page": 0, "ticket": 1}.get(v, 2))
    elif group.state == "firing":
        new_group.state, new_group.resolved_at = "resolved", now
        if group.notified_keys:  # tell whoever was told it fires
            out.notify = "resolved"
        new_group.notified_keys = []
    if new_group != group:
        out.states.append(new_group)
    return out
