"""The spike explainer: what changed between a window and a baseline window, and who did it.

For an additive metric (cost, tokens, requests, errors, output tokens), each value of each dimension
(route, model, user, customer, release, environment; session when asked) gets its value in the window,
its value in the baseline (scaled to the window's length), and its *excess*: how far it is from what it
would hold now had the mix stayed as in the baseline (its baseline share x the window's total). Ranking
by ``|excess| / total x |excess| / max(value, expected)`` is blind to the daily cycle (everything grows
together at the peak hour, no one stands out) and favours a value that is almost all excess (a user
who was 2% of the tokens and now holds a loop) over one whose share merely grew (the route that user
was on); a dimension whose one value carries everything (a single environment) explains nothing. The traces behind the top
contributors come with it. Reads only the named queries (``metrics.breakdown``, ``metrics.timeseries``,
``traces.search``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tokentrail.errors import BadRequest
from tokentrail.query import metrics, traces
from tokentrail.query.filters import DIMENSIONS, HOUR_MAX_HOURS, RAW_MAX_HOURS, Filters

DIMENSIONS_EXPLAINED = ("route", "model", "user", "customer", "release", "environment")
METRICS = {  # explained metric -> breakdown metrics to read, and how to get the value of a row
    "cost_usd": (["cost_usd"], lambda r: r.get("cost_usd") or 0.0),
    "tokens": (["input_tokens", "output_tokens"], lambda r: (r.get("input_tokens") or 0) + (r.get("output_tokens") or 0)),
    "input_tokens": (["input_tokens"], lambda r: r.get("input_tokens") or 0),
    "output_tokens": (["output_tokens"], lambda r: r.get("output_tokens") or 0),
    "requests": (["requests"], lambda r: r.get("requests") or 0),
    "errors": (["errors"], lambda r: r.get("errors") or 0),
    "unpriced": (["unpriced"], lambda r: r.get("unpriced") or 0),
}
ORDER = {"cost_usd": "cost_usd", "tokens": "input_tokens", "input_tokens": "input_tokens",
         "output_tokens": "output_tokens", "requests": "requests", "errors": "errors", "unpriced": "unpriced"}


def _floor(t: datetime, seconds: int) -> datetime:
    return datetime.fromtimestamp(int(t.timestamp()) // seconds * seconds, UTC)


def _whole(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    hours = (until - since).total_seconds() / 3600
    if hours <= RAW_MAX_HOURS:
        return since, until
    grain = 86400 if hours > HOUR_MAX_HOURS else 3600
    return _floor(since, grain), _floor(until, grain)


def _window(project: str, since: datetime, until: datetime, equals: dict[str, str]) -> Filters:
    return Filters(project=project, since=since, until=until, equals=dict(equals))


def explain(store: Any, project: str, metric: str, since: datetime, until: datetime, baseline_since: datetime,
            baseline_until: datetime, equals: dict[str, str] | None = None, dimensions: tuple[str, ...] | None = None,
            limit: int = 10, with_traces: bool = True, focus: dict[str, str] | None = None) -> dict[str, Any]:
    if metric not in METRICS:
        raise BadRequest(f"cannot explain {metric!r}; use one of {', '.join(METRICS)}")
    if not (since < until and baseline_since < baseline_until):
        raise BadRequest("each window must end after it starts")
    equals = dict(equals or {})
    dims = tuple(d for d in (dimensions or DIMENSIONS_EXPLAINED) if d not in equals)
    bad = [d for d in dims if d not in DIMENSIONS]
    if bad:
        raise BadRequest(f"cannot explain by {', '.join(bad)}")
    names, value = METRICS[metric]
    focus = dict(focus or {})
    # a range longer than raw spans answer reads whole hours (days) of the rollups: cut such a window at
    # whole hours (days), or the baseline would take in the start of the window it is compared with
    since, until = _whole(since, until)
    baseline_since, baseline_until = _whole(baseline_since, baseline_until)
    if baseline_until > since:
        baseline_until = since
    if not baseline_since < baseline_until:
        raise BadRequest("the baseline must end before the window starts")

    def rank(r: dict[str, Any]) -> tuple[Any, ...]:
        # equal scores (several values each holding the whole change): the alert's own subject first,
        # then a set value before an unset one ("" rarely causes anything), then the larger excess
        return (-round(r["score"], 3), focus.get(r["dimension"]) != r["value"], r["value"] == "", -abs(r["excess"]))

    scale = (until - since) / (baseline_until - baseline_since)
    cur_f = _window(project, since, until, equals)
    base_f = _window(project, baseline_since, baseline_until, equals)
    cur_total = value(metrics.summary(store, cur_f))
    base_total = value(metrics.summary(store, base_f)) * scale
    change = cur_total - base_total
    contributors: list[dict[str, Any]] = []
    by_dimension: dict[str, list[dict[str, Any]]] = {}
    for d in dims:
        cur = {r["key"]: value(r) for r in metrics.breakdown(store, cur_f, by=d, limit=200, order=ORDER[metric],
                                                             names=["requests", *names])["rows"]}
        base = {r["key"]: value(r) * scale for r in metrics.breakdown(store, base_f, by=d, limit=200,
                                                                      order=ORDER[metric],
                                                                      names=["requests", *names])["rows"]}
        rows = []
        for key in set(cur) | set(base):
            c, b = float(cur.get(key, 0.0)), float(base.get(key, 0.0))
            base_share = b / base_total if base_total else 0.0
            # what this value would hold now if the mix had not changed, and how far it is from that
            expected = base_share * cur_total
            excess = c - expected
            relative = abs(excess) / max(c, expected) if max(c, expected) > 0 else 0.0
            score = abs(excess) / max(cur_total, base_total, 1e-12) * relative
            rows.append({"dimension": d, "value": key, "current": round(c, 6), "baseline": round(b, 6),
                         "change": round(c - b, 6), "expected": round(expected, 6), "excess": round(excess, 6),
                         "share_of_change": round((c - b) / change, 4) if change else None,
                         "share_of_baseline": round(base_share, 4), "score": round(score, 6)})
        rows.sort(key=rank)
        by_dimension[d] = rows[:limit]
        contributors += rows[:limit]
    contributors.sort(key=rank)
    top = contributors[:limit]
    out: dict[str, Any] = {
        "project": project, "metric": metric, "filters": equals,
        "window": {"since": since.isoformat(), "until": until.isoformat(), "value": round(cur_total, 6)},
        "baseline": {"since": baseline_since.isoformat(), "until": baseline_until.isoformat(),
                     "value": round(base_total, 6), "scaled_by": round(scale, 4)},
        "change": round(change, 6),
        "change_percent": round(100 * change / base_total, 1) if base_total else None,
        "top": top, "by_dimension": by_dimension,
    }
    if top:
        lead = top[0]
        # the chart: the top contributor against the rest, over both windows
        span = max(until, baseline_until) - min(since, baseline_since)
        chart_f = _window(project, min(since, baseline_since), max(until, baseline_until), equals)
        series_metric = {"tokens": "input_tokens"}.get(metric, metric)
        try:
            out["chart"] = metrics.timeseries(store, chart_f, [series_metric], group_by=lead["dimension"], top=3,
                                              step=metrics.auto_interval(span.total_seconds() / 3600))
        except BadRequest:
            out["chart"] = None
        if with_traces:
            focus = {**equals, lead["dimension"]: lead["value"]}
            if lead["excess"] >= 0:  # what it did in the window, costliest first
                out["traces"] = traces.search(store, _window(project, since, until, focus), limit=10,
                                              order="cost")["traces"]
            else:  # it went missing: its last calls before that
                out["traces"] = traces.search(store, _window(project, baseline_since, baseline_until, focus),
                                              limit=10)["traces"]
            out["traces_window"] = "window" if lead["excess"] >= 0 else "baseline"
    return out
