"""Alert evaluation cost and detection delay.

    python bench/alerts.py [--calls 10000000] [--days 8] [--runs 3] [--rules 100] [--data DIR]
                           [--skip-incidents] [--skip-evaluation] [--quiet-step 15]

1. Detection delay: the incidents suite's synthetic seasonal week (tests/alerts/traffic.py +
   incidents.py) in its own store; each incident's rule is evaluated every minute from the incident's
   start (cost_jump every hour: it compares whole hours) until it fires, so the delay is exact to the
   minute. The quiet week (same rules, no incident) goes through the real evaluator
   every ``--quiet-step`` minutes over its last day: alerts fired there are false alarms.
2. Evaluation cost: ``--calls`` generated calls over ``--days`` (bench/gen_calls.py, reused from
   ``--data`` between runs) and ``--rules`` rules mixing every kind, group-by and metric across the
   generated routes and models; ``Evaluator.run(force=True)`` ``--runs`` times after a warm-up round.
   Reported: the round's seconds (wall, and CPU of this process: the engine runs in it, so CPU time
   says more than wall time on a shared machine; the load average is printed beside), per kind p50 /
   max seconds and store queries per rule in the round and each rule alone (outside a round, as a
   preview runs it), the heaviest named queries, queries a round repeats, and
   the store's fixed cost per query (``SELECT 1``).

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gen_calls import MODELS, ROUTES, open_generated  # noqa: E402

from tokentrail.alerts import checks  # noqa: E402
from tokentrail.alerts.config import AlertsConfig  # noqa: E402
from tokentrail.alerts.evaluator import Evaluator  # noqa: E402
from tokentrail.alerts.rules import parse_rule  # noqa: E402
from tokentrail.storage.backend import Store, open_store  # noqa: E402
from tokentrail.storage.migrations import migrate  # noqa: E402

MINUTE = timedelta(minutes=1)


# ---------------------------------------------------------------- 100 rules over the generated calls

def rule_specs(n: int) -> list[dict[str, Any]]:
    """``n`` rules mixing every kind (and each kind's variants) over gen_calls' routes and models."""
    priced = [m for m in MODELS if m != "mystery-model-v0"]
    base: list[dict[str, Any]] = [
        {"kind": "budget", "period": "day", "percent_of_expected": 120},
        {"kind": "budget", "period": "week", "threshold_usd": 50000},
        {"kind": "budget", "period": "month", "percent_of_expected": 130},
        {"kind": "budget", "per": "user", "metric": "tokens", "window": "24h", "factor": 10},
        {"kind": "budget", "per": "customer", "window": "24h", "factor": 10},
        {"kind": "cost_jump", "group_by": "route"},
        {"kind": "cost_jump", "group_by": "model"},
        {"kind": "cost_jump", "group_by": ""},
        {"kind": "cost_jump", "group_by": "environment", "window": "6h"},
        {"kind": "burn_rate", "slo": "availability", "objective": 0.95},
        {"kind": "burn_rate", "slo": "latency", "threshold_ms": 3000, "objective": 0.95},
        {"kind": "burn_rate", "slo": "ttft", "threshold_ms": 600, "objective": 0.95},
        {"kind": "anomaly", "metric": "output_tokens_per_call", "group_by": "route", "direction": "both"},
        {"kind": "anomaly", "metric": "error_rate", "group_by": "model", "window": "30m"},
        {"kind": "anomaly", "metric": "tokens", "group_by": "route", "window": "10m"},
        {"kind": "anomaly", "metric": "tokens", "group_by": "user", "window": "1h"},
        {"kind": "anomaly", "metric": "tool_calls_per_session", "window": "15m"},
        {"kind": "anomaly", "metric": "requests"},
        {"kind": "anomaly", "metric": "requests", "group_by": "route", "direction": "both"},
        {"kind": "anomaly", "metric": "ttft_p95", "group_by": "route"},
        {"kind": "anomaly", "metric": "latency_p95", "group_by": "model"},
        {"kind": "anomaly", "metric": "cost_usd", "group_by": "customer", "window": "6h"},
        {"kind": "anomaly", "metric": "cost_usd", "group_by": "environment"},
        {"kind": "silent_model", "window": "30m"},
        {"kind": "unpriced_model"},
        {"kind": "rate_drop", "metric": "schema_valid_rate", "group_by": "route"},
        {"kind": "rate_drop", "metric": "cache_hit_rate", "group_by": "model"},
        {"kind": "rate_drop", "metric": "cache_hit_rate"},
    ]
    scoped: list[dict[str, Any]] = []  # the same kinds scoped to one route or model, as teams write them
    for i, route in enumerate(ROUTES):
        f = {"route": route}
        scoped += [
            {"kind": "burn_rate", "slo": "availability", "objective": 0.95, "filters": f},
            {"kind": "burn_rate", "slo": "latency", "threshold_ms": 2500, "objective": 0.9, "filters": f},
            {"kind": "budget", "period": "day", "percent_of_expected": 150, "filters": f},
            {"kind": "anomaly", "metric": ["output_tokens_per_call", "error_rate", "requests", "tokens"][i % 4],
             "group_by": "model", "filters": f},
            {"kind": "cost_jump", "group_by": "model", "filters": f},
            {"kind": "silent_model", "filters": f},
            {"kind": "rate_drop", "metric": "schema_valid_rate", "filters": f},
        ]
    for model in priced:
        f = {"model": model}
        scoped += [{"kind": "burn_rate", "slo": "availability", "objective": 0.95, "filters": f},
                   {"kind": "anomaly", "metric": "latency_p95", "filters": f},
                   {"kind": "unpriced_model", "filters": f}]
    specs = (base + scoped)[:n]
    while len(specs) < n:  # more than the mix holds: repeat it on other environments
        specs.append({**base[len(specs) % len(base)], "filters": {"environment": "staging"}})
    return [{**s, "name": f"r{i:03d}-{variant(s)}".replace("/", "-")[:100]} for i, s in enumerate(specs)]


def variant(spec: dict[str, Any]) -> str:
    kind = spec["kind"]
    extra = {"budget": lambda s: s.get("per") or s.get("period", "day"),
             "cost_jump": lambda s: s.get("group_by", "route"),
             "burn_rate": lambda s: s.get("slo", "availability"),
             "anomaly": lambda s: s["metric"] + (f".{s['group_by']}" if s.get("group_by") else ""),
             "rate_drop": lambda s: s["metric"] + (f".{s['group_by']}" if s.get("group_by") else "")}.get(kind)
    return f"{kind}:{extra(spec)}" if extra else kind


class Counting:
    """Counts the store's queries and their time per rule evaluation (wrapping checks.run)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.queries = 0
        self.query_seconds = 0.0
        self.per_rule: dict[str, tuple[int, float]] = {}
        self.rule = "(round)"
        self.by_site: dict[tuple[str, str], list[float]] = defaultdict(list)  # (rule, named query) -> seconds
        self.seen: set[str] = set()   # this round's queries: a repeat could have been shared
        self.repeats, self.repeat_seconds = 0, 0.0
        inner = store.query

        def query(sql: str, params: Any = None) -> list[dict[str, Any]]:
            t = time.perf_counter()
            try:
                return inner(sql, params)
            finally:
                took = time.perf_counter() - t
                self.queries += 1
                self.query_seconds += took
                self.by_site[(self.rule, _named_query())].append(took)
                key = sql + repr(sorted((params or {}).items()))
                if key in self.seen:
                    self.repeats += 1
                    self.repeat_seconds += took
                self.seen.add(key)

        store.query = query  # type: ignore[method-assign]
        run = checks.run

        def counted_run(s: Store, rule: Any, now: datetime) -> list[checks.Finding]:
            q0, t0 = self.queries, self.query_seconds
            self.rule = rule.name
            try:
                return run(s, rule, now)
            finally:
                self.per_rule[rule.name] = (self.queries - q0, self.query_seconds - t0)
                self.rule = "(round)"

        checks.run = counted_run  # type: ignore[assignment]


def _named_query() -> str:
    """The query/ function (the named query) that sent the SQL being run."""
    for frame in reversed(traceback.extract_stack()[:-2]):
        if "/tokentrail/query/" in frame.filename:
            return f"{Path(frame.filename).stem}.{frame.name}"
    return "other"


def p50(xs: list[float]) -> float:
    return round(statistics.median(xs), 4) if xs else 0.0


def evaluation_cost(args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.perf_counter()
    store = open_generated(args.data, args.calls, args.days)
    gen_s = time.perf_counter() - t0
    # the data's own "now" (a store reused from an earlier run ends when it was generated)
    end = datetime.fromisoformat(store.query(f"SELECT max(start_time) AS t FROM {store.database}.spans")[0]["t"])
    now = (end.replace(tzinfo=UTC) if end.tzinfo is None else end) + MINUTE
    specs = rule_specs(args.rules)
    rules = [parse_rule(s) for s in specs]
    kind_of = {s["name"]: s["kind"] for s in specs}
    variant_of = {s["name"]: variant(s) for s in specs}
    fixed = []
    for _ in range(20):
        t = time.perf_counter()
        store.query("SELECT 1 AS x")
        fixed.append(time.perf_counter() - t)
    counting = Counting(store)
    ev = Evaluator(store, AlertsConfig(rules=rules), holder="bench", base_url="http://bench")
    try:
        ev.run(now=now, force=True)  # warm-up: caches, first reads of the parts
        rounds, per_rule = [], defaultdict(list)
        for _ in range(args.runs):
            q0, t0 = counting.queries, counting.query_seconds
            counting.seen.clear()
            counting.repeats, counting.repeat_seconds = 0, 0.0
            cpu = time.process_time()
            stats = ev.run(now=now, force=True)
            cpu = time.process_time() - cpu
            assert stats is not None
            rounds.append({"seconds": stats.seconds, "cpu_seconds": round(cpu, 2), "queries": counting.queries - q0,
                           "query_seconds": round(counting.query_seconds - t0, 3), "errors": stats.errors,
                           "repeats": counting.repeats, "repeat_seconds": round(counting.repeat_seconds, 3),
                           "firing": stats.firing})
            for name, sec in stats.per_rule_seconds.items():
                per_rule[name].append(sec)
    finally:
        ev.stop()
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in sorted(set(kind_of.values())):
        names = [n for n in per_rule if kind_of[n] == kind]
        secs = [statistics.median(per_rule[n]) for n in names]
        by_kind[kind] = {"rules": len(names), "p50_s": p50(secs), "max_s": round(max(secs), 4),
                         "queries_per_rule": p50([counting.per_rule[n][0] for n in names])}
    in_rounds = {k: list(v) for k, v in counting.by_site.items()}  # what the rounds read (before the rules run alone below)
    # each rule on its own, outside a round (as a preview or a replay step runs it): no sharing
    alone: dict[str, list[float]] = defaultdict(list)
    for r in rules:
        t = time.perf_counter()
        checks.run(store, r, now)
        alone[r.kind].append(time.perf_counter() - t)
    for kind, secs in alone.items():
        by_kind[kind] |= {"alone_p50_s": p50(secs), "alone_max_s": round(max(secs), 4)}
    by_variant: dict[str, list[float]] = defaultdict(list)
    for n, secs in per_rule.items():
        by_variant[variant_of[n]].append(statistics.median(secs))
    slowest = sorted(by_variant.items(), key=lambda kv: -max(kv[1]))[:8]
    sites: dict[str, list[float]] = defaultdict(list)  # (kind variant, named query) over all measured runs
    for (name, fn), secs in in_rounds.items():
        sites[f"{variant_of.get(name, name)} {fn}"] += secs
    runs = args.runs + 1
    heaviest = sorted(sites.items(), key=lambda kv: -sum(kv[1]))[:10]
    out = {"calls": args.calls, "days": args.days, "generate_s": round(gen_s, 1), "rules": len(rules),
           "round_seconds": [r["seconds"] for r in rounds], "round_p50_s": p50([r["seconds"] for r in rounds]),
           "round_cpu_seconds": [r["cpu_seconds"] for r in rounds],
           "load_average": round(os.getloadavg()[0], 1), "cpus": os.cpu_count(),
           "target_s": 5.0, "queries_per_round": rounds[-1]["queries"],
           "store_seconds_per_round": rounds[-1]["query_seconds"],
           "repeated_queries_per_round": rounds[-1]["repeats"], "repeated_seconds_per_round": rounds[-1]["repeat_seconds"],
           "store_fixed_ms_per_query": round(statistics.median(fixed) * 1000, 2),
           "rule_errors": rounds[-1]["errors"], "firing": rounds[-1]["firing"], "per_kind": by_kind,
           "slowest_variants": {k: round(max(v), 4) for k, v in slowest},
           "heaviest_queries": {k: {"per_round_s": round(sum(v) / runs, 3), "per_round": round(len(v) / runs, 1)}
                                for k, v in heaviest}}
    store.close()
    return out


# ---------------------------------------------------------------- detection delay and the quiet week

def incidents_part(quiet_step: int) -> dict[str, Any]:
    from tests.alerts import traffic
    from tests.alerts.incidents import RULES, incidents

    end = traffic.end_of_data()
    store = open_store(f"chdb://{tempfile.mkdtemp(prefix='tt-bench-alerts-')}/db")
    migrate(store, {"spans": 30})
    since = end - timedelta(days=9)
    t0 = time.perf_counter()
    traffic.load(store, traffic.week("quiet", end), "quiet", since, end)
    found = incidents(end)
    for inc in found:
        calls = traffic.week(inc.name, end, mutate=inc.mutate)
        if inc.extra:
            inc.extra(calls, inc.name, end)
        traffic.load(store, calls, inc.name, since, end)
    load_s = time.perf_counter() - t0

    def rules(project: str) -> list[Any]:
        return [parse_rule({**r, "project": project}) for r in RULES]

    def active(rule: Any, t: datetime) -> bool:
        return any(f.active for f in checks.run(store, rule, t))

    delays: dict[str, Any] = {}
    for inc in found:
        rule = next(r for r in rules(inc.name) if r.name == inc.rule)
        start = end - inc.start
        deadline = min(end, start + inc.within)
        # every minute (cost_jump compares whole hours: its verdict only changes on the hour)
        step = timedelta(hours=1) if rule.kind == "cost_jump" else MINUTE
        t, evaluations = start + step, 1
        while t <= deadline and not active(rule, t):
            t += step
            evaluations += 1
        delays[inc.name] = {"rule": inc.rule, "detected": t <= deadline, "within_min": inc.within / MINUTE,
                            "evaluations": evaluations, "step_min": step / MINUTE}
        if t <= deadline:
            delays[inc.name]["delay_min"] = (t - start) / MINUTE
    # the quiet week through the real evaluator: every rule, every quiet_step minutes over its last day
    ev = Evaluator(store, AlertsConfig(rules=rules("quiet")), holder="bench", base_url="http://bench")
    rounds = 0
    try:
        t = end - timedelta(hours=24)
        while t <= end:
            ev.run(now=t, force=True)
            rounds += 1
            t += timedelta(minutes=quiet_step)
    finally:
        ev.stop()
    fired = store.query(f"SELECT rule, key, summary, toString(time) AS time FROM {store.database}.alert_events "
                        "WHERE project = 'quiet' AND state = 'firing' ORDER BY time")
    store.close()
    return {"load_s": round(load_s, 1), "detection": delays,
            "quiet_week": {"rules": len(RULES), "rounds": rounds, "step_min": quiet_step, "fired": len(fired),
                           "alerts": fired}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--rules", type=int, default=100)
    ap.add_argument("--data", type=Path, default=None, help="reuse a generated store")
    ap.add_argument("--skip-incidents", action="store_true")
    ap.add_argument("--skip-evaluation", action="store_true")
    ap.add_argument("--quiet-step", type=int, default=15, help="minutes between quiet-week rounds")
    args = ap.parse_args()
    out: dict[str, Any] = {"bench": "alerts"}
    if not args.skip_incidents:  # first, in its own store (chDB: one data directory open at a time)
        out["incidents"] = incidents_part(args.quiet_step)
    if not args.skip_evaluation:
        out["evaluation"] = evaluation_cost(args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
