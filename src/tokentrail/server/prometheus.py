"""Prometheus ``/metrics``: request, token and cost counters and latency / TTFT histograms
by project, route, model, provider, kind and status, plus the ingest pipeline's own health and the
alert evaluator's (rounds, their duration, failing rules, firing alerts per rule, notifications per
receiver), so the evaluator itself can be watched from outside.

Counters grow with every insert (from ``query.ingest_metrics``), so they count spans as
received (a re-sent span counts again here, never in the store's numbers). Label sets are
bounded: past ``max_series`` new combinations fold into route="other", model="other".
No user, session or customer ids are ever labels.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from tokentrail.query.ingest_metrics import LABELS, batch_aggregates
from tokentrail.storage.backend import Store
from tokentrail.storage.rollup_tables import LATENCY_BUCKETS_MS

_SUMS = ("requests", "rate_limited", "input_tokens", "output_tokens", "cost", "unpriced", "duration_sum_ms",
         "ttft_sum_ms", "truncated")


class SpanMetrics:
    def __init__(self, max_series: int = 2000) -> None:
        self.max_series = max_series
        self._series: dict[tuple[str, ...], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _key(self, row: dict[str, Any]) -> tuple[str, ...]:
        key = tuple(str(row[k]) for k in LABELS)
        if key in self._series or len(self._series) < self.max_series:
            return key
        folded = dict(row, route="other", model="other")
        return tuple(str(folded[k]) for k in LABELS)

    def add_batch(self, store: Store, version: datetime) -> None:
        self.add_rows(batch_aggregates(store, version))

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """Add one insert's aggregates (rows by ``LABELS``: ingest/batch_summary.py reads them with the
        rest of the after-insert work, in one query)."""
        with self._lock:
            for row in rows:
                s = self._series.setdefault(self._key(row), {
                    **{k: 0 for k in _SUMS}, "latency_buckets": [0] * (len(LATENCY_BUCKETS_MS) + 1),
                    "ttft_buckets": [0] * (len(LATENCY_BUCKETS_MS) + 1)})
                for k in _SUMS:
                    s[k] += row[k]
                for k in ("latency_buckets", "ttft_buckets"):
                    s[k] = [a + int(b) for a, b in zip(s[k], row[k], strict=True)]

    def truncated_spans(self) -> int:
        """Spans stored with a value cut at ``ingest_max_value_bytes``."""
        with self._lock:
            return sum(s["truncated"] for s in self._series.values())

    def snapshot(self) -> dict[tuple[str, ...], dict[str, Any]]:
        with self._lock:
            return {k: dict(v) for k, v in self._series.items()}


class TokentrailCollector(Collector):
    def __init__(self, runtime: Any) -> None:
        self.rt = runtime

    def collect(self) -> Iterator[Any]:
        series = self.rt.span_metrics.snapshot()
        labels = list(LABELS)
        fams = {
            "requests": CounterMetricFamily("tokentrail_spans", "Spans (LLM calls and steps) received", labels=labels),
            "rate_limited": CounterMetricFamily("tokentrail_rate_limited", "Calls answered 429", labels=labels),
            "input_tokens": CounterMetricFamily("tokentrail_input_tokens", "Input tokens", labels=labels),
            "output_tokens": CounterMetricFamily("tokentrail_output_tokens", "Output tokens", labels=labels),
            "cost": CounterMetricFamily("tokentrail_cost_usd", "Cost of priced calls, USD", labels=labels),
            "unpriced": CounterMetricFamily("tokentrail_unpriced_calls", "Successful calls of models with no price",
                                            labels=labels),
        }
        latency = HistogramMetricFamily("tokentrail_latency_seconds", "Span duration", labels=labels)
        ttft = HistogramMetricFamily("tokentrail_ttft_seconds", "Time to first token, streams", labels=labels)
        bounds = [str(b / 1000) for b in LATENCY_BUCKETS_MS] + ["+Inf"]
        for key, s in series.items():
            values = list(key)
            for name, fam in fams.items():
                fam.add_metric(values, s[name])
            latency.add_metric(values, list(zip(bounds, s["latency_buckets"], strict=True)), s["duration_sum_ms"] / 1000)
            if s["ttft_buckets"][-1]:
                ttft.add_metric(values, list(zip(bounds, s["ttft_buckets"], strict=True)), s["ttft_sum_ms"] / 1000)
        yield from fams.values()
        yield latency
        yield ttft
        yield from self._pipeline()
        yield from self._alerts()

    def _pipeline(self) -> Iterator[Any]:
        rt = self.rt
        accepted = CounterMetricFamily("tokentrail_ingest_accepted_spans", "Spans acknowledged by ingest")
        accepted.add_metric([], rt.counters.accepted_spans)
        yield accepted
        refused = CounterMetricFamily("tokentrail_ingest_refused", "Spans or requests refused", labels=["reason"])
        for kind, n in sorted(rt.counters.totals.items()):
            refused.add_metric([kind], n)
        yield refused
        truncated = CounterMetricFamily("tokentrail_ingest_truncated_spans",
                                        "Spans stored with a value cut at ingest_max_value_bytes")
        truncated.add_metric([], rt.span_metrics.truncated_spans())
        yield truncated
        backlog = GaugeMetricFamily("tokentrail_ingest_backlog_bytes", "Acknowledged bytes not yet in the store")
        backlog.add_metric([], rt.spool.backlog_bytes)
        yield backlog
        st = rt.inserter.stats
        failures = CounterMetricFamily("tokentrail_insert_failures", "Failed inserts (retried)")
        failures.add_metric([], st.failures)
        yield failures
        quarantined = CounterMetricFamily("tokentrail_spool_quarantined_requests",
                                          "Requests the store refused, kept in the spool's quarantine")
        quarantined.add_metric([], st.quarantined)
        yield quarantined

    def _alerts(self) -> Iterator[Any]:
        service = getattr(self.rt, "alerts", None)
        if service is None:
            return
        ev = service.evaluator
        last = ev.last
        rounds = CounterMetricFamily("tokentrail_alert_rounds", "Alert evaluation rounds run by this server "
                                     "(only the lease holder evaluates)")
        rounds.add_metric([], ev.rounds)
        yield rounds
        seconds = GaugeMetricFamily("tokentrail_alert_round_seconds", "Duration of the last evaluation round")
        seconds.add_metric([], last.seconds)
        yield seconds
        at = GaugeMetricFamily("tokentrail_alert_last_round_timestamp_seconds",
                               "When the last evaluation round ran (Unix time; 0: never on this server)")
        at.add_metric([], last.at)
        yield at
        rules = GaugeMetricFamily("tokentrail_alert_rules", "Rules evaluated in the last round")
        rules.add_metric([], last.rules)
        yield rules
        rule_seconds = GaugeMetricFamily("tokentrail_alert_rule_seconds", "Time each rule took in the last round",
                                         labels=["rule"])
        for name, sec in sorted(last.per_rule_seconds.items()):
            rule_seconds.add_metric([name], sec)
        yield rule_seconds
        errors = CounterMetricFamily("tokentrail_alert_rule_errors", "Evaluations of a rule that failed",
                                     labels=["rule"])
        for name, n in sorted(ev.rule_failures.items()):
            errors.add_metric([name], n)
        yield errors
        firing = GaugeMetricFamily("tokentrail_alerts_firing", "Alerts firing after the last round",
                                   labels=["project", "rule", "severity"])
        for (project, rule, severity), n in sorted(last.firing_by_rule.items()):
            firing.add_metric([project, rule, severity], n)
        yield firing
        yield from self._receivers(service.evaluator.dispatcher.status())

    def _receivers(self, receivers: list[dict[str, Any]]) -> Iterator[Any]:
        labels = ["receiver", "type"]
        sent = CounterMetricFamily("tokentrail_alert_notifications", "Notifications per receiver by outcome "
                                   "(sent; failed: given up after retries; dropped: queue full)",
                                   labels=[*labels, "outcome"])
        retries = CounterMetricFamily("tokentrail_alert_notification_retries", "Delivery attempts retried",
                                      labels=labels)
        backlog = GaugeMetricFamily("tokentrail_alert_notification_backlog", "Notifications waiting per receiver",
                                    labels=labels)
        healthy = GaugeMetricFamily("tokentrail_alert_receiver_healthy",
                                    "1 when the receiver's last delivery succeeded (or none failed yet)",
                                    labels=labels)
        for r in receivers:
            key = [r["name"], r["kind"]]
            for outcome in ("sent", "failed", "dropped"):
                sent.add_metric([*key, outcome], r[outcome])
            retries.add_metric(key, r["retries"])
            backlog.add_metric(key, r["backlog"])
            healthy.add_metric(key, 1 if r["healthy"] else 0)
        yield from (sent, retries, backlog, healthy)
