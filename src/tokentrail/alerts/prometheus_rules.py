"""Prometheus alerting rules generated from the same rule definitions, for teams that alert through
Alertmanager. They read the counters and histograms ``/metrics`` exports (``tokentrail_spans_total``,
``tokentrail_cost_usd_total``, ``tokentrail_unpriced_calls_total``, ``tokentrail_latency_seconds`` /
``tokentrail_ttft_seconds``; labels: project, route, model, provider, kind, status), so only what
those can express is generated; the others are listed in a comment with the reason (tokentrail's own
evaluator still runs them).

- ``burn_rate``: one recording rule per window (bad ratio) and one alert per window pair, the SRE
  workbook's multiwindow multi-burn-rate form. Latency / TTFT thresholds use the histogram bucket at or
  above the threshold (``tokentrail_latency_seconds_bucket{le=...}``).
- ``budget`` (project spend; ``period`` read as a rolling day / week / month): spend over the period
  above ``threshold_usd``.
- ``cost_jump``: cost per group over the window vs the same window a day earlier.
- ``silent_model``: no call in the window for a model that had calls the same window a day earlier.
- ``unpriced_model``: any call of a model with no price in the window.
"""

from __future__ import annotations

from typing import Any

import yaml

from tokentrail.alerts.rules import parse_duration
from tokentrail.storage.rollup_tables import LATENCY_BUCKETS_MS

LLM = 'kind=~"llm|embedding"'
_PROM_LABELS = {"route", "model", "provider"}
_PERIOD = {"day": "1d", "week": "7d", "month": "30d"}


def _selector(rule: Any, extra: str = "") -> str:
    parts = [f'project="{_esc(rule.project)}"', LLM]
    parts += [f'{k}="{_esc(v)}"' for k, v in sorted(rule.filters.items())]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}"


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"')


def _prom_duration(d: str) -> str:
    s = int(parse_duration(d).total_seconds())
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s % n == 0:
            return f"{s // n}{unit}"
    return f"{s}s"


def _labels(rule: Any, severity: str) -> dict[str, str]:
    return {"severity": severity, "project": rule.project, "tokentrail_rule": rule.name}


def _unsupported(rule: Any) -> str | None:
    bad = [k for k in rule.filters if k not in _PROM_LABELS]
    if bad:
        return f"filters on {', '.join(bad)}: /metrics has no such label"
    if rule.kind == "anomaly":
        return "robust seasonal baselines (median / MAD) have no PromQL equivalent"
    if rule.kind == "rate_drop":
        return "/metrics exports no schema-valid or cache-hit counters per call"
    if rule.kind == "budget" and (rule.per or rule.threshold_usd is None):
        return "per-user / percent-of-expected budgets need data /metrics does not carry"
    return None


def _burn(rule: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    records, alerts = [], []
    name = rule.name.replace("-", "_").replace(".", "_").replace(":", "_")
    if rule.slo == "availability":
        bad = _selector(rule, 'status="error"')

        def ratio(w: str) -> str:
            return (f"sum(rate(tokentrail_spans_total{bad}[{w}])) / "
                    f"sum(rate(tokentrail_spans_total{_selector(rule)}[{w}]))")
    else:
        le = next((b for b in LATENCY_BUCKETS_MS if b >= rule.threshold_ms), None)
        metric = "tokentrail_latency_seconds" if rule.slo == "latency" else "tokentrail_ttft_seconds"
        le_s = "+Inf" if le is None else str(le / 1000)  # the label exactly as /metrics writes it ("1.0")
        # as the evaluator (query/slo.py): a failed call's latency is not judged
        judged = 'status!="error"' if rule.slo == "latency" else ""
        under = _selector(rule, ",".join(x for x in (judged, f'le="{le_s}"') if x))
        every = _selector(rule, judged)

        def ratio(w: str) -> str:
            return (f"1 - (sum(rate({metric}_bucket{under}[{w}])) / "
                    f"sum(rate({metric}_count{every}[{w}])))")
    windows = sorted({_prom_duration(w.long) for w in rule.windows} | {_prom_duration(w.short) for w in rule.windows},
                     key=lambda w: parse_duration(w))
    for w in windows:
        records.append({"record": f"tokentrail:{name}:bad_ratio:rate{w}", "expr": ratio(w),
                        "labels": {"project": rule.project, "tokentrail_rule": rule.name}})
    budget = 1 - rule.objective
    for w in rule.windows:
        lw, sw = _prom_duration(w.long), _prom_duration(w.short)
        alerts.append({
            "alert": f"{rule.name}-{lw}",
            "expr": f"tokentrail:{name}:bad_ratio:rate{lw} > ({w.factor:g} * {budget:g}) and "
                    f"tokentrail:{name}:bad_ratio:rate{sw} > ({w.factor:g} * {budget:g})",
            "for": rule.for_ if parse_duration(rule.for_).total_seconds() else "0m",
            "labels": _labels(rule, w.severity),
            "annotations": {"summary": f"{rule.slo} SLO {rule.objective:.2%} of project {rule.project} burning its "
                                       f"30-day error budget at over {w.factor:g}x ({lw} and {sw} windows)",
                            "description": rule.description}})
    return records, alerts


def _simple(rule: Any) -> dict[str, Any]:
    if rule.kind == "budget":
        w = _PERIOD[rule.period]
        expr = f"sum(increase(tokentrail_cost_usd_total{_selector(rule)}[{w}])) > {rule.threshold_usd:g}"
        summary = f"spend of project {rule.project} over the last {w} above ${rule.threshold_usd:g}"
    elif rule.kind == "cost_jump":
        w = _prom_duration(rule.window)
        by = f" by ({rule.group_by})" if rule.group_by in _PROM_LABELS else ""
        cur = f"sum{by}(increase(tokentrail_cost_usd_total{_selector(rule)}[{w}]))"
        prev = f"sum{by}(increase(tokentrail_cost_usd_total{_selector(rule)}[{w}] offset 1d))"
        expr = f"({cur} > {1 + rule.percent / 100:g} * {prev}) and ({cur} > {rule.min_usd:g})"
        summary = f"cost over {w} more than {rule.percent:g}% above the same window a day earlier"
    elif rule.kind == "silent_model":
        w = _prom_duration(rule.window)
        cur = f"sum by (model)(increase(tokentrail_spans_total{_selector(rule)}[{w}]))"
        prev = f"sum by (model)(increase(tokentrail_spans_total{_selector(rule)}[{w}] offset 1d))"
        expr = f"({prev} >= {rule.min_expected:g}) unless ({cur} > 0)"
        summary = f"a model of project {rule.project} that had calls a day ago has had none for {w}"
    else:  # unpriced_model
        w = _prom_duration(rule.window)
        expr = f"sum by (model)(increase(tokentrail_unpriced_calls_total{_selector(rule)}[{w}])) > 0"
        summary = f"calls of a model with no known price in project {rule.project}"
    return {"alert": rule.name, "expr": expr, "for": rule.for_ if parse_duration(rule.for_).total_seconds() else "0m",
            "labels": _labels(rule, rule.severity), "annotations": {"summary": summary, "description": rule.description}}


def generate(rules: list[Any]) -> str:
    """A Prometheus rule file (YAML) for ``rules``; ``promtool check rules`` accepts it."""
    groups: list[dict[str, Any]] = []
    skipped: list[str] = []
    for rule in rules:
        why = _unsupported(rule)
        if why:
            skipped.append(f"# {rule.name} ({rule.kind}): not generated: {why}")
            continue
        if rule.kind == "burn_rate":
            records, alerts = _burn(rule)
            groups.append({"name": f"tokentrail-{rule.name}", "rules": records + alerts})
        else:
            groups.append({"name": f"tokentrail-{rule.name}", "rules": [_simple(rule)]})
    header = ["# Generated by tokentrail from its alert rules (tokentrail alerts prometheus-rules).",
              "# They read tokentrail's /metrics; scrape it at least every 30 s.", *skipped]
    return "\n".join(header) + "\n" + yaml.safe_dump({"groups": groups}, sort_keys=False, width=200)
