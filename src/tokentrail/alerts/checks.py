"""What each kind of rule looks at, as of a moment ``now`` (so a rule can be replayed over history).

Every check reads the named queries (``query.metrics.timeseries`` / ``breakdown``, ``query.slo``; shared
between the rules of one evaluation round: ``round_cache``) and returns :class:`Finding` s: one per
group (route, model, user ...) it has a verdict on. An active finding is a condition that holds now;
the evaluator turns findings into pending / firing / resolved alerts. Each finding carries what the
spike explainer needs (metric, window, baseline window).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tokentrail.alerts import round_cache, stats
from tokentrail.alerts.round_cache import call as shared
from tokentrail.alerts.rules import (
    AnomalyRule,
    BudgetRule,
    BurnRateRule,
    CostJumpRule,
    RateDropRule,
    SilentModelRule,
    UnpricedModelRule,
    parse_duration,
)
from tokentrail.query import metrics, slo
from tokentrail.query.filters import Filters
from tokentrail.storage.backend import Store

log = logging.getLogger("tokentrail.alerts")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_COUNTS = ("requests", "errors", "input_tokens", "output_tokens", "cost_usd")


@dataclass
class Finding:
    key: str                       # "" for the whole scope, else "route=checkout" ...
    labels: dict[str, str]
    active: bool
    value: float | None
    threshold: float | None
    summary: str
    severity: str | None = None    # overrides the rule's (burn-rate windows)
    # for the explainer: which additive metric changed, over which window, against which baseline
    explain: dict[str, Any] = field(default_factory=dict)


def _key(group_by: str, value: str) -> tuple[str, dict[str, str]]:
    if not group_by:
        return "", {}
    return f"{group_by}={value}", {group_by: value}


def _f(rule: Any, since: datetime, until: datetime, **extra: str) -> Filters:
    return Filters(project=rule.project, since=since, until=until, equals={**rule.equals(), **extra})


def _explain(metric: str, now: datetime, window: timedelta, baseline_since: datetime, baseline_until: datetime,
             labels: dict[str, str], rule: Any) -> dict[str, Any]:
    """What the explainer needs: the metric, both windows, the rule's scope (the alert's own labels are
    the ``focus``: explaining inside them could not show them as the cause)."""
    scope = dict(rule.equals())
    # the explainer's baseline: the week before the window (a stable mix), whatever the check compared with
    baseline_since, baseline_until = now - window - 7 * DAY, now - window
    out: dict[str, Any] = {"metric": metric, "since": (now - window).isoformat(), "until": now.isoformat(),
                           "baseline_since": baseline_since.isoformat(), "baseline_until": baseline_until.isoformat(),
                           "filters": scope, "focus": labels}
    if getattr(rule, "metric", "") == "tool_calls_per_session":
        out["filters"] = {**scope, "kind": "tool"}
        out["dimensions"] = ["session", "user", "route"]
    return out


def _hour_floor(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _series(store: Store, f: Filters, names: list[str], group_by: str | None, step: int, top: int = 20
            ) -> tuple[list[datetime], dict[str, dict[str, list[Any]]]]:
    # the usual counts come along: rules of a round reading the same range, groups and step share one query
    wanted = [*_COUNTS, *(n for n in names if n not in _COUNTS)]
    ts = shared(metrics.timeseries, store, f, wanted, group_by=group_by, top=top, step=step)
    times = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in ts["timestamps"]]
    return times, {s["group"]: s["metrics"] for s in ts["series"]}


def _sum(times: list[datetime], values: list[Any], since: datetime, until: datetime) -> float:
    return float(sum(v or 0 for t, v in zip(times, values, strict=True) if since <= t < until))


# ---------------------------------------------------------------- budget

def _period_start(now: datetime, period: str) -> datetime:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _previous_starts(start: datetime, period: str, n: int) -> list[datetime]:
    out, cur = [], start
    for _ in range(n):
        if period == "day":
            cur = cur - DAY
        elif period == "week":
            cur = cur - 7 * DAY
        else:
            cur = (cur - DAY).replace(day=1)
        out.append(cur)
    return out


def budget(store: Store, rule: BudgetRule, now: datetime) -> list[Finding]:
    if rule.per:
        return _budget_per(store, rule, now)
    start = _period_start(now, rule.period)
    history = {"day": 7, "week": 4, "month": 3}[rule.period]
    starts = _previous_starts(start, rule.period, history)
    step = 3600 if rule.period == "day" else 86400
    times, series = _series(store, _f(rule, starts[-1], now), ["cost_usd"], None, step)
    cost = series.get("all", {}).get("cost_usd", [0] * len(times))
    spent = _sum(times, cost, start, now)
    length = (now - start) if rule.period != "day" else DAY
    ends = [start] + starts[:-1]
    totals = [_sum(times, cost, s, e) for s, e in zip(starts, ends, strict=True)]
    expected = stats.median(totals) if any(totals) else 0.0
    # how much of a period's spend has usually happened by this point in it (the daily cycle)
    elapsed = now - start
    if rule.period == "day":
        fracs = [_sum(times, cost, s, s + elapsed) / t for s, t in zip(starts, totals, strict=True) if t > 0]
        frac = stats.median(fracs) if fracs else elapsed / DAY
    else:
        period_len = (ends[0] - starts[0]) if rule.period == "month" else 7 * DAY
        frac = elapsed / period_len
        length = period_len
    frac = min(max(frac, 1e-6), 1.0)
    threshold = rule.threshold_usd if rule.threshold_usd is not None else (
        (rule.percent_of_expected or 120.0) / 100.0 * expected if expected else None)
    if threshold is None:
        return [Finding("", {}, False, spent, None, "no spend history yet to compare with")]
    projected = spent / frac
    # confident: spend is already over, or the projection is and a quarter of the period's usual spend is in
    active = spent >= threshold or (rule.project_spend and projected >= threshold and frac >= 0.25)
    summary = (f"{rule.period} spend ${spent:,.2f} so far, projected ${projected:,.2f} vs budget ${threshold:,.2f}"
               + (f" ({(rule.percent_of_expected or 120):.0f}% of the usual ${expected:,.2f})"
                  if rule.threshold_usd is None else ""))
    return [Finding("", {}, active, round(projected, 4), round(threshold, 4), summary,
                    explain=_explain("cost_usd", now, now - start, starts[0], starts[0] + elapsed, {}, rule)
                    | {"length_seconds": length.total_seconds()})]


def _budget_per(store: Store, rule: BudgetRule, now: datetime) -> list[Finding]:
    window = parse_duration(rule.window)
    rows = shared(metrics.breakdown, store, _f(rule, now - window, now), by=rule.per, limit=200,
                             order="cost_usd" if rule.metric == "cost_usd" else "output_tokens",
                             names=["requests", "cost_usd", "input_tokens", "output_tokens"])["rows"]
    rows = [r for r in rows if r["key"] != ""]
    value_of: Callable[[dict[str, Any]], float] = (
        (lambda r: float(r["cost_usd"] or 0)) if rule.metric == "cost_usd"
        else (lambda r: float((r["input_tokens"] or 0) + (r["output_tokens"] or 0))))
    out = []
    if len(rows) < 3:
        return out
    values = {r["key"]: value_of(r) for r in rows}
    for subject, v in values.items():
        others = [x for k, x in values.items() if k != subject]
        med = stats.median(others)
        threshold = rule.factor * med
        cost = float(next(r["cost_usd"] or 0 for r in rows if r["key"] == subject))
        active = med > 0 and v >= threshold and cost >= rule.min_usd
        key, labels = _key(rule.per, subject)
        unit = "$" if rule.metric == "cost_usd" else ""
        out.append(Finding(key, labels, active, v, threshold,
                           f"{rule.per} {subject} used {unit}{v:,.2f} {rule.metric} in {rule.window}, "
                           f"{v / med if med else float('inf'):.1f}x the median {rule.per} ({unit}{med:,.2f})",
                           explain=_explain("cost_usd" if rule.metric == "cost_usd" else "tokens", now, window,
                                            now - 2 * window, now - window, labels, rule)))
    return out


# ---------------------------------------------------------------- cost jump

def cost_jump(store: Store, rule: CostJumpRule, now: datetime) -> list[Finding]:
    window = parse_duration(rule.window)
    end = _hour_floor(now)  # whole hours: today's partial hour is not compared with a whole one
    since = end - window - rule.baseline_days * DAY
    times, series = _series(store, _f(rule, since, end), ["cost_usd"], rule.group_by or None, 3600, top=30)
    out = []
    for group, m in series.items():
        if group == "other":
            continue
        cost = m["cost_usd"]
        current = _sum(times, cost, end - window, end)
        # the same window on previous days of the same kind (weekday / weekend): a Monday is not
        # compared with a Sunday's dip
        weekend = (end - window / 2).weekday() >= 5
        shifts = range(1, rule.baseline_days + 1)
        same = [k for k in shifts if ((end - k * DAY - window / 2).weekday() >= 5) == weekend]
        base = [_sum(times, cost, end - k * DAY - window, end - k * DAY) for k in (same if len(same) >= 2 else shifts)]
        baseline = stats.median(base)
        key, labels = _key(rule.group_by, group)
        if baseline <= 0:
            continue
        change = current / baseline - 1.0
        active = change * 100 >= rule.percent and current >= rule.min_usd
        name = f"{rule.group_by} {group}" if rule.group_by else "cost"
        out.append(Finding(key, labels, active, round(current, 4), round(baseline * (1 + rule.percent / 100), 4),
                           f"{name}: ${current:,.2f} in the last {rule.window} vs ${baseline:,.2f} usual "
                           f"({change * 100:+.0f}%)",
                           explain=_explain("cost_usd", end, window, end - DAY - window, end - DAY, labels, rule)))
    return out


# ---------------------------------------------------------------- SLO burn rate

def _burn_query(rule: BurnRateRule, now: datetime) -> tuple[Any, ...]:
    """The arguments of the rule's ``slo.window_counts`` after the store."""
    windows = sorted({parse_duration(w.long) for w in rule.windows} | {parse_duration(w.short) for w in rule.windows})
    return rule.project, rule.equals(), windows, now, rule.slo, rule.threshold_ms


def prefetch(store: Store, rules: list[Any], now: datetime, chunk: int = 40) -> None:
    """Ahead of a round's rules: the burn-rate rules of each project read in one pass over the spans
    (``slo.window_counts_many``) instead of one each, their answers left in the round's shared memory.
    A failure leaves each rule to ask (and fail) on its own."""
    by_project: dict[str, list[BurnRateRule]] = {}
    for r in rules:
        if r.kind == "burn_rate":
            by_project.setdefault(r.project, []).append(r)
    for project, burns in by_project.items():
        if len(burns) < 2:
            continue  # asked on its own, as outside a round
        for i in range(0, len(burns), chunk):
            part = burns[i:i + chunk]
            queries = [_burn_query(r, now) for r in part]
            try:
                answers = slo.window_counts_many(store, project, [(q[1], q[2], q[4], q[5]) for q in queries], now)
            except Exception:  # noqa: BLE001 - the rules then run one by one
                log.exception("burn-rate rules of project %s could not be read together", project)
                continue
            for q, answer in zip(queries, answers, strict=True):
                round_cache.put(answer, slo.window_counts, store, *q)


def burn_rate(store: Store, rule: BurnRateRule, now: datetime) -> list[Finding]:
    counts = shared(slo.window_counts, store, *_burn_query(rule, now))
    best: tuple[int, Any, float, float] | None = None
    parts = []
    rank = {"page": 0, "ticket": 1, "info": 2}
    for w in rule.windows:
        lb, lt = counts[parse_duration(w.long)]
        sb, st = counts[parse_duration(w.short)]
        long_rate = stats.burn_rate(lb, lt, rule.objective)
        short_rate = stats.burn_rate(sb, st, rule.objective)
        parts.append(f"{w.long}: {long_rate or 0:.1f}x / {w.short}: {short_rate or 0:.1f}x")
        if long_rate is None or short_rate is None or st < rule.min_requests:
            continue
        if long_rate >= w.factor and short_rate >= w.factor:
            cand = (rank[w.severity], w, long_rate, short_rate)
            if best is None or cand[0] < best[0]:
                best = cand
    what = {"availability": "errors", "latency": f"calls over {rule.threshold_ms:g} ms" if rule.threshold_ms else "",
            "ttft": f"first tokens over {rule.threshold_ms:g} ms" if rule.threshold_ms else ""}[rule.slo]
    metric = "errors" if rule.slo == "availability" else "requests"
    if best is None:
        return [Finding("", {}, False, None, None, f"{rule.slo} SLO {rule.objective:.2%}: burn " + "; ".join(parts))]
    _, w, long_rate, short_rate = best
    long = parse_duration(w.long)
    return [Finding("", {}, True, round(long_rate, 2), w.factor,
                    f"{rule.slo} SLO {rule.objective:.2%} ({what}): burning the 30-day error budget at "
                    f"{long_rate:.1f}x over {w.long} and {short_rate:.1f}x over {w.short} (limit {w.factor:g}x)",
                    severity=w.severity,
                    explain=_explain(metric, now, long, now - long - DAY, now - DAY, {}, rule))]


# ---------------------------------------------------------------- anomalies

_ANOMALY_SERIES = {  # metric -> (timeseries metrics to read, how to compute the value from a bucket/row)
    "output_tokens_per_call": (["output_tokens", "requests"], lambda m, i: _ratio(m, "output_tokens", "requests", i)),
    "error_rate": (["errors", "requests"], lambda m, i: _ratio(m, "errors", "requests", i)),
    "tokens": (["input_tokens", "output_tokens", "requests"],
               lambda m, i: _at(m, "input_tokens", i) + _at(m, "output_tokens", i)),
    "requests": (["requests"], lambda m, i: _at(m, "requests", i)),
    "cost_usd": (["cost_usd", "requests"], lambda m, i: _at(m, "cost_usd", i)),
    "ttft_p95": (["ttft_ms", "requests"], lambda m, i: m["ttft_ms_p95"][i] if i is not None else None),
    "latency_p95": (["latency_ms", "requests"], lambda m, i: m["latency_ms_p95"][i] if i is not None else None),
}
ADDITIVE = {"tokens", "requests", "cost_usd"}
EXPLAIN_METRIC = {"output_tokens_per_call": "output_tokens", "error_rate": "errors", "tokens": "tokens",
                  "requests": "requests", "cost_usd": "cost_usd", "ttft_p95": "requests", "latency_p95": "requests",
                  "tool_calls_per_session": "requests"}


def _at(m: dict[str, list[Any]], name: str, i: int) -> float:
    return float(m[name][i] or 0)


def _ratio(m: dict[str, list[Any]], num: str, den: str, i: int) -> float | None:
    d = m[den][i] or 0
    return (m[num][i] or 0) / d if d else None


def _current_rows(store: Store, rule: AnomalyRule, now: datetime, window: timedelta) -> dict[str, dict[str, Any]]:
    """The window's value per group, from the breakdown (raw spans: exact to the minute)."""
    extra = {"kind": "tool"} if rule.metric == "tool_calls_per_session" else {}
    by = "session" if rule.metric == "tool_calls_per_session" else rule.group_by or "project"
    f = _f(rule, now - window, now, **extra)
    names = ["requests", "errors", "input_tokens", "output_tokens", "cost_usd"]
    if rule.metric == "ttft_p95":
        names.append("ttft_ms")
    if rule.metric == "latency_p95":
        names.append("latency_ms")
    if by == "project":
        s = shared(metrics.summary, store, f, names)
        return {"all": {"key": "all", **s}}
    order = "cost_usd" if rule.metric == "cost_usd" else "requests"
    rows = shared(metrics.breakdown, store, f, by=by, limit=200 if by in ("user", "customer", "session") else rule.top,
                             order=order, names=names)["rows"]
    return {r["key"]: r for r in rows}


def _row_value(metric: str, r: dict[str, Any]) -> float | None:
    n = r.get("requests") or 0
    if metric == "output_tokens_per_call":
        return (r.get("output_tokens") or 0) / n if n else None
    if metric == "error_rate":
        return (r.get("errors") or 0) / n if n else None
    if metric == "tokens":
        return float((r.get("input_tokens") or 0) + (r.get("output_tokens") or 0))
    if metric in ("requests", "tool_calls_per_session"):
        return float(n)
    if metric == "cost_usd":
        return float(r.get("cost_usd") or 0)
    q = (r.get("ttft_ms") if metric == "ttft_p95" else r.get("latency_ms")) or {}
    return q.get("p95")


def _verdict(rule: AnomalyRule, value: float, z: float, base: float) -> bool:
    change = abs(value - base) / abs(base) if base else float("inf")
    if change < rule.min_change:
        return False
    return (z >= rule.threshold if rule.direction == "up" else z <= -rule.threshold if rule.direction == "down"
            else abs(z) >= rule.threshold)


def anomaly(store: Store, rule: AnomalyRule, now: datetime) -> list[Finding]:
    window = parse_duration(rule.window)
    current = _current_rows(store, rule, now, window)
    if rule.group_by in ("user", "customer", "session") or rule.metric == "tool_calls_per_session":
        return _anomaly_peers(rule, now, window, current)
    # seasonal baseline: the same hours on each previous day (and the hours either side), per group
    names, fn = _ANOMALY_SERIES[rule.metric]
    end = _hour_floor(now)
    times, series = _series(store, _f(rule, end - rule.baseline_days * DAY - HOUR, end), names,
                            rule.group_by or None, 3600, top=rule.top)
    index = {t: i for i, t in enumerate(times)}
    scale = window / HOUR if rule.metric in ADDITIVE else 1.0  # an hour of baseline per window of data
    out = []
    for group, row in current.items():
        m = series.get(group if rule.group_by else "all")
        value = _row_value(rule.metric, row)
        n = row.get("requests") or 0
        key, labels = _key(rule.group_by, group)
        if m is None or value is None:
            continue
        hour = _hour_floor(now)
        if rule.seasonal:
            slots = [hour - k * DAY + d * HOUR for k in range(1, rule.baseline_days + 1) for d in (-1, 0, 1)]
        else:
            slots = [t for t in times if t < end]
        base = []
        for t in slots:
            i = index.get(t)
            if i is None:
                continue
            if (m["requests"][i] or 0) < max(1, rule.min_requests * (1.0 if rule.metric in ADDITIVE else 0.25)) \
                    and rule.metric not in ADDITIVE:
                continue  # a ratio over a handful of calls is noise
            v = fn(m, i)
            if v is not None:
                base.append(v * scale)
        if len(base) < 3:
            continue
        z, med, spread = stats.robust_z(value, base, rel_floor=0.1, abs_floor=_abs_floor(rule.metric))
        if rule.metric not in ADDITIVE and n:
            # a ratio over fewer calls than the baseline's hours wobbles more: widen by the sampling error
            base_n = stats.median([m["requests"][index[t]] or 0 for t in slots if t in index]) or n
            spread *= max(1.0, (base_n / n) ** 0.5)
            if rule.metric == "error_rate":  # binomial sampling error of the usual rate over n calls
                spread = max(spread, (max(med, 0.005) * (1 - med) / n) ** 0.5)
            z = (value - med) / spread
        active = n >= rule.min_requests and _verdict(rule, value, z, med)
        out.append(Finding(key, labels, active, round(value, 4), round(med + rule.threshold * spread, 4),
                           f"{rule.metric}{' of ' + rule.group_by + ' ' + group if rule.group_by else ''}: "
                           f"{value:,.4g} in the last {rule.window} vs {med:,.4g} usual at this hour "
                           f"({z:+.1f} robust sd)",
                           explain=_explain(EXPLAIN_METRIC[rule.metric], now, window, now - DAY - window, now - DAY,
                                            labels, rule)))
    return out


def _abs_floor(metric: str) -> float:
    # the smallest move that can matter, whatever the baseline's spread
    return {"error_rate": 0.01, "output_tokens_per_call": 5.0, "requests": 3.0, "tokens": 500.0,
            "cost_usd": 0.01, "ttft_p95": 50.0, "latency_p95": 100.0, "tool_calls_per_session": 3.0}.get(metric, 1e-9)


def _anomaly_peers(rule: AnomalyRule, now: datetime, window: timedelta, current: dict[str, dict[str, Any]]
                   ) -> list[Finding]:
    """Users, customers and sessions: each against its peers in the same window (one user at 10x the
    others), since a per-subject history is usually too short to be a baseline."""
    values = {k: _row_value(rule.metric, r) for k, r in current.items() if k != ""}
    values = {k: v for k, v in values.items() if v is not None}
    by = rule.group_by or "session"
    out = []
    if len(values) < 5:
        return out
    for subject, v in values.items():
        peers = [x for k, x in values.items() if k != subject]
        z, med, spread = stats.robust_z(v, peers, rel_floor=0.25, abs_floor=_abs_floor(rule.metric))
        key, labels = _key(by, subject)
        active = _verdict(rule, v, z, med) and (rule.metric == "tool_calls_per_session" or
                                                (current[subject].get("requests") or 0) >= 1)
        out.append(Finding(key, labels, active, round(v, 4), round(med + rule.threshold * spread, 4),
                           f"{rule.metric} of {by} {subject}: {v:,.4g} in the last {rule.window}, "
                           f"{v / med if med else float('inf'):.1f}x the median {by} ({med:,.4g}; {z:+.1f} robust sd)",
                           explain=_explain(EXPLAIN_METRIC[rule.metric], now, window, now - DAY - window, now - DAY,
                                            labels, rule)))
    return out


# ---------------------------------------------------------------- silent / unpriced models, rate drops

def silent_model(store: Store, rule: SilentModelRule, now: datetime) -> list[Finding]:
    window = parse_duration(rule.window)
    days = max(1, round(parse_duration(rule.baseline) / DAY))
    end = _hour_floor(now)
    # from 3 hours before the first day's hour: a range over a day reads the hourly rollup, not the spans
    times, series = _series(store, _f(rule, end - days * DAY - 3 * HOUR, end), ["requests"], "model", 3600, top=50)
    index = {t: i for i, t in enumerate(times)}
    recent = {r["key"]: r["requests"] for r in
              shared(metrics.breakdown, store, _f(rule, now - window, now), by="model", limit=200, order="requests",
                                names=["requests"])["rows"]}
    out = []
    hour = _hour_floor(now)
    for model, m in series.items():
        if model in ("other", ""):
            continue
        # calls expected in the window: the same hours on previous days, scaled to the window
        per_hour = [m["requests"][index[t]] or 0 for k in range(1, days + 1) for t in (hour - k * DAY,)
                    if t in index]
        expected = stats.median(per_hour) * (window / HOUR) if per_hour else 0.0
        seen = recent.get(model, 0)
        key, labels = _key("model", model)
        active = seen == 0 and expected >= rule.min_expected
        out.append(Finding(key, labels, active, float(seen), expected,
                           f"model {model}: {seen} calls in the last {rule.window}, ~{expected:,.0f} expected "
                           f"(p={stats.poisson_silence_p(expected):.1e} of silence by chance)",
                           explain=_explain("requests", now, window, now - DAY - window, now - DAY, labels, rule)))
    return out


def unpriced_model(store: Store, rule: UnpricedModelRule, now: datetime) -> list[Finding]:
    window = parse_duration(rule.window)
    rows = shared(metrics.breakdown, store, _f(rule, now - window, now), by="model", limit=200, order="unpriced",
                             names=["requests", "unpriced"])["rows"]
    out = []
    for r in rows:
        if not r["key"]:
            continue
        key, labels = _key("model", r["key"])
        n = int(r.get("unpriced") or 0)
        out.append(Finding(key, labels, n > 0, float(n), 0.0,
                           f"model {r['key']}: {n} calls in the last {rule.window} with no known price "
                           "(their cost is missing from every total)",
                           explain=_explain("requests", now, window, now - DAY - window, now - DAY, labels, rule)))
    return out


def rate_drop(store: Store, rule: RateDropRule, now: datetime) -> list[Finding]:
    window = parse_duration(rule.window)
    num, den = metrics.RATES[rule.metric]
    cur = shared(metrics.breakdown, store, _f(rule, now - window, now), by=rule.group_by or "project", limit=50,
                            order="requests", names=["requests", num, den]) if rule.group_by else None
    rows = cur["rows"] if cur else [{"key": "all", **shared(metrics.summary, store, _f(rule, now - window, now), [num, den])}]
    base_f = _f(rule, now - window - rule.baseline_days * DAY, now - window)
    if rule.group_by:
        base = {r["key"]: r for r in shared(metrics.breakdown, store, base_f, by=rule.group_by, limit=200, order="requests",
                                                      names=["requests", num, den])["rows"]}
    else:
        base = {"all": shared(metrics.summary, store, base_f, [num, den])}
    out = []
    for r in rows:
        b = base.get(r["key"])
        if not b or not (r.get(den) or 0) or not (b.get(den) or 0):
            continue
        now_rate, base_rate = r[num] / r[den], b[num] / b[den]
        drop = (base_rate - now_rate) * 100
        key, labels = _key(rule.group_by, r["key"])
        active = drop >= rule.drop_points and (r.get(den) or 0) >= rule.min_requests
        label = f" of {rule.group_by} {r['key']}" if rule.group_by else ""
        out.append(Finding(key, labels, active, round(now_rate, 4), round(base_rate - rule.drop_points / 100, 4),
                           f"{rule.metric}{label}: {now_rate:.1%} in the last {rule.window} vs {base_rate:.1%} "
                           f"over the previous {rule.baseline_days} days ({-drop:+.1f} points)",
                           explain=_explain(den, now, window, now - DAY - window, now - DAY, labels, rule)))
    return out


CHECKS: dict[str, Callable[[Store, Any, datetime], list[Finding]]] = {
    "budget": budget, "cost_jump": cost_jump, "burn_rate": burn_rate, "anomaly": anomaly,
    "silent_model": silent_model, "unpriced_model": unpriced_model, "rate_drop": rate_drop,
}


def run(store: Store, rule: Any, now: datetime) -> list[Finding]:
    return CHECKS[rule.kind](store, rule, now)
