"""The evaluator: on the server's one job runner, every ``alerts_interval`` seconds, if this server
holds the lease (one evaluator per store), evaluate every enabled rule, move alerts through
pending -> firing -> resolved, record history, and hand notifications to the dispatcher.

One failing rule is recorded (an ``error`` event, and on ``/metrics``) and never stops the others; a
failing receiver is retried on its own worker and never delays a round.
"""

from __future__ import annotations

import collections
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tokentrail.alerts import checks, round_cache
from tokentrail.alerts.config import AlertsConfig
from tokentrail.alerts.lease import Lease
from tokentrail.alerts.notify import Delivery, Dispatcher, Notification
from tokentrail.alerts.repository import Repository
from tokentrail.alerts.state import GROUP, AlertState, step
from tokentrail.storage.backend import Store

log = logging.getLogger("tokentrail.alerts")


@dataclass
class RoundStats:
    at: float = 0.0
    seconds: float = 0.0
    rules: int = 0
    errors: int = 0
    firing: int = 0
    per_rule_seconds: dict[str, float] = field(default_factory=dict)
    rule_errors: dict[str, str] = field(default_factory=dict)
    firing_by_rule: dict[tuple[str, str, str], int] = field(default_factory=dict)  # (project, rule, severity)


def dedup_key(project: str, rule: str) -> str:
    return f"tokentrail/{project}/{rule}"[:255]


def explain_url(base_url: str, rule: Any, explain: dict[str, Any]) -> str:
    from urllib.parse import urlencode

    # flat query parameters the UI's explain page reads: f.<dim> (the scope), focus.<dim> (the alert's labels)
    q: dict[str, Any] = {"rule": rule.name, "project": rule.project}
    for k, v in explain.items():
        if k == "filters":
            q.update({f"f.{a}": b for a, b in (v or {}).items()})
        elif k == "focus":
            q.update({f"focus.{a}": b for a, b in (v or {}).items()})
        elif isinstance(v, list | tuple):
            q[k] = ",".join(str(x) for x in v)
        else:
            q[k] = v
    return f"{base_url.rstrip('/')}/ui/explain?{urlencode(q)}"


class Evaluator:
    def __init__(self, store: Store, config: AlertsConfig, *, holder: str, base_url: str,
                 term_seconds: float = 60.0) -> None:
        self.store = store
        self.repo = Repository(store)
        self.config = config
        self.base_url = base_url
        self.lease = Lease(store, holder, term_seconds=term_seconds)
        self._pending_deliveries: list[dict[str, Any]] = []
        self.dispatcher = Dispatcher(config.receivers, on_delivery=self._delivered)
        self.last = RoundStats()
        self.rounds = 0                                  # for /metrics: rounds run, rule failures per rule
        self.rule_failures: collections.Counter[str] = collections.Counter()

    def reconfigure(self, config: AlertsConfig) -> None:
        old = self.dispatcher
        self.config = config
        self.dispatcher = Dispatcher(config.receivers, on_delivery=self._delivered)
        old.stop(timeout=1.0)

    def _delivered(self, n: Notification, d: Delivery) -> None:
        self._pending_deliveries.append({"time": datetime.now(UTC), "rule": n.rule, "project": n.project,
                                         "receiver": d.receiver, "status": n.status, "ok": d.ok,
                                         "attempts": d.attempts, "error": d.error})

    def rules(self) -> list[Any]:
        by_name = {r.name: r for r in self.repo.rules()}
        by_name.update({r.name: r for r in self.config.rules})  # the file wins
        return [r for r in by_name.values() if r.enabled]

    def run(self, now: datetime | None = None, *, force: bool = False) -> RoundStats | None:
        """One round; None when another server holds the lease."""
        if not force and not self.lease.held():
            return None
        now = now or datetime.now(UTC)
        started = time.perf_counter()
        stats = RoundStats(at=time.time())
        rules = self.rules()
        states = self.repo.states()
        silences = self.repo.silences()
        to_write: list[AlertState] = []
        events: list[AlertState] = []
        with round_cache.sharing():  # rules asking the same named query in this round share it
            checks.prefetch(self.store, rules, now)
            for rule in rules:
                t0 = time.perf_counter()
                try:
                    findings = checks.run(self.store, rule, now)
                except Exception as e:  # noqa: BLE001 - one rule's failure never stops the others
                    log.exception("alert rule %s failed", rule.name)
                    stats.errors += 1
                    stats.rule_errors[rule.name] = f"{type(e).__name__}: {e}"[:300]
                    self.rule_failures[rule.name] += 1
                    events.append(AlertState(rule.name, "", rule.project, "error", summary=stats.rule_errors[rule.name]))
                    continue
                finally:
                    stats.per_rule_seconds[rule.name] = round(time.perf_counter() - t0, 4)
                result = step(rule, findings, states.get(rule.name, {}), now, silences, json.dumps)
                to_write += result.states
                events += result.events
                stats.firing += len(result.firing)
                for a in result.firing:
                    k = (rule.project, rule.name, a.severity or rule.severity)
                    stats.firing_by_rule[k] = stats.firing_by_rule.get(k, 0) + 1
                if result.notify:
                    self._notify(rule, result.notify, result.firing or [s for s in result.states if s.key != GROUP],
                                 now, states.get(rule.name, {}).get(GROUP))
        self.repo.write_states(to_write, now)
        self.repo.write_events(events, now)
        self.flush_deliveries()
        stats.rules = len(rules)
        stats.seconds = round(time.perf_counter() - started, 4)
        self.last = stats
        self.rounds += 1
        return stats

    def flush_deliveries(self) -> None:
        rows, self._pending_deliveries = self._pending_deliveries, []
        try:
            self.repo.write_deliveries(rows)
        except Exception:  # noqa: BLE001 - the delivery log must not fail a round
            log.exception("could not record alert deliveries")

    def _notify(self, rule: Any, status: str, alerts: list[AlertState], now: datetime,
                group: AlertState | None) -> None:
        top = alerts[0] if alerts else None
        explain = json.loads(top.explain) if top and top.explain else {}
        if status == "firing" and top is not None:
            more = f" (+{len(alerts) - 1} more: {', '.join(a.key for a in alerts[1:4])})" if len(alerts) > 1 else ""
            summary = top.summary + more
        else:
            summary = f"{rule.name} resolved" + (f": {group.summary}" if group and group.summary else "")
        n = Notification(
            rule=rule.name, status=status, severity=(top.severity if top else rule.severity) or rule.severity,
            summary=summary, project=rule.project, dedup_key=dedup_key(rule.project, rule.name),
            started_at=(group.fired_at if group and group.fired_at else now), labels=top.labels if top else {},
            value=top.value if top else None, threshold=top.threshold if top else None,
            description=rule.description, explain_url=explain_url(self.base_url, rule, explain) if explain else "",
            resolved_at=now if status == "resolved" else None,
            details={"firing": [{"key": a.key, "value": a.value, "summary": a.summary} for a in alerts[:20]]})
        unknown = self.dispatcher.submit(n, rule.receivers or None)
        if unknown:
            log.error("alert rule %s names unknown receivers %s", rule.name, unknown)

    def stop(self) -> None:
        self.dispatcher.stop(timeout=2.0)
        self.flush_deliveries()
