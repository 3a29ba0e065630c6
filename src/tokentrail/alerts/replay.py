"""``tokentrail alerts test RULE --since 7d``: evaluate a rule over stored history, as if the evaluator
had run every ``step``, and say when it would have fired and resolved (nothing is written, nobody is
notified). Tune a rule's noise before enabling it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tokentrail.alerts import checks
from tokentrail.alerts.rules import parse_duration
from tokentrail.alerts.state import AlertState, step
from tokentrail.errors import BadRequest
from tokentrail.storage.backend import Store

MAX_STEPS = 2000


def default_step(rule: Any) -> timedelta:
    window = parse_duration(getattr(rule, "window", "10m") or "10m")
    return max(timedelta(minutes=5), min(window / 2, timedelta(hours=1)))


def replay(store: Store, rule: Any, since: timedelta, every: timedelta | None = None,
           until: datetime | None = None) -> dict[str, Any]:
    # the default step widens to stay within MAX_STEPS evaluations; an explicit one is refused beyond it
    every = every or max(default_step(rule), since / MAX_STEPS)
    until = until or datetime.now(UTC)
    start = until - since
    n = int(since / every)
    if n > MAX_STEPS:
        raise BadRequest(f"{n} evaluations asked ({since} every {every}); at most {MAX_STEPS}: "
                         "use a larger step or a shorter range")
    states: dict[str, AlertState] = {}
    episodes: list[dict[str, Any]] = []
    open_: dict[str, dict[str, Any]] = {}
    t = start + every
    evaluations = errors = 0
    while t <= until:
        evaluations += 1
        try:
            findings = checks.run(store, rule, t)
        except Exception as e:  # noqa: BLE001 - reported, the replay goes on
            errors += 1
            if errors == 1:
                first_error = f"{type(e).__name__}: {e}"[:300]
            t += every
            continue
        result = step(rule, findings, states, t, [], json.dumps)
        for s in result.states:
            states[s.key] = s
            if s.key == "__group__":
                continue
            if s.state == "firing" and s.key not in open_:
                open_[s.key] = {"key": s.key, "labels": s.labels, "fired_at": t.isoformat(), "resolved_at": None,
                                "peak": s.value, "summary": s.summary, "severity": s.severity}
                episodes.append(open_[s.key])
            elif s.state == "firing":
                ep = open_[s.key]
                if s.value is not None and (ep["peak"] is None or s.value > ep["peak"]):
                    ep["peak"], ep["summary"] = s.value, s.summary
            elif s.state == "resolved" and s.key in open_:
                open_.pop(s.key)["resolved_at"] = t.isoformat()
        t += every
    out = {"rule": rule.name, "since": start.isoformat(), "until": until.isoformat(),
           "step_seconds": every.total_seconds(), "evaluations": evaluations, "fired": len(episodes),
           "episodes": episodes}
    if errors:
        out["errors"] = errors
        out["first_error"] = first_error
    return out
