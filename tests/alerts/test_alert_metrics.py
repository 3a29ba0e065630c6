"""``/metrics`` carries what the generated Prometheus rules read (every selector of every generated kind
matches series a real server exports after real ingest), and the alert evaluator's own health: rounds,
their duration, failing rules, firing alerts per rule and severity, notifications per receiver."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.alerts.receivers import Endpoint, endpoint
from tests.support import ServerThread, running_server, wait_for
from tokentrail.alerts import checks, prometheus_rules
from tokentrail.alerts.rules import parse_rule

PROJECT = "shop"


@pytest.fixture(scope="module")
def hooks() -> Iterator[tuple[Endpoint, Endpoint]]:
    with endpoint() as good, endpoint(default=400, answer=b'{"error": "bad payload"}') as bad:
        yield good, bad


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, hooks: tuple[Endpoint, Endpoint]) -> Iterator[ServerThread]:
    good, bad = hooks
    d = tmp_path_factory.mktemp("tt-alert-metrics")
    (d / "alerts.toml").write_text(f"""
[receivers.good]
type = "webhook"
url = "{good.url}"

[receivers.bad]
type = "webhook"
url = "{bad.url}"

[[rules]]
name = "unpriced"
kind = "unpriced_model"
project = "{PROJECT}"
severity = "ticket"
receivers = ["good", "bad"]

[[rules]]
name = "broken"
kind = "rate_drop"
project = "{PROJECT}"
metric = "cache_hit_rate"
""")

    def failing_check(*args: Any) -> list[checks.Finding]:
        raise RuntimeError("the store went away")

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(checks.CHECKS, "rate_drop", failing_check)  # one rule failing every round
        with running_server(d / "data", alerts_file=str(d / "alerts.toml"), alerts_interval=1.0) as s:
            yield s


def _send(server: ServerThread, items: list[dict[str, Any]], project: str = PROJECT) -> None:
    base = {"provider": "openai", "route": "checkout", "input_tokens": 300, "output_tokens": 50, "duration_ms": 700}
    r = server.client.post("/api/ingest/batch", json=[base | i for i in items],
                           headers={"x-tokentrail-project": project})
    assert r.status_code < 300, r.text
    server.flush()


def _scrape(server: ServerThread) -> dict[str, list[tuple[dict[str, str], float]]]:
    """/metrics parsed by prometheus_client's own parser: sample name -> [(labels, value)]."""
    r = server.client.get("/metrics")
    assert r.status_code == 200
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _value(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float | None:
    hits = [v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items())]
    return sum(hits) if hits else None


_SELECTOR = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\{([^}]*)\}")
_MATCHER = re.compile(r'\s*([a-zA-Z_]+)\s*(=~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*')


def _matches(labels: dict[str, str], matchers: list[tuple[str, str, str]]) -> bool:
    for name, op, value in matchers:
        got = labels.get(name, "")
        if op == "=" and got != value or op == "!=" and got == value:
            return False
        if op == "=~" and not re.fullmatch(value, got):
            return False
    return True


def test_metrics_carry_what_every_generated_rule_reads(server: ServerThread) -> None:
    _send(server, [{"model": "gpt-4o-mini"}, {"model": "gpt-4o-mini", "ttft_ms": 300},
                   {"model": "gpt-4o-mini", "status": "error", "http_status": 500, "duration_ms": 2000},
                   {"model": "house-model-q"}], project="probe")  # no alert rule watches "probe"
    scope = {"project": "probe", "filters": {"route": "checkout"}}
    rules = [parse_rule({**scope, **r}) for r in (
        {"name": "avail", "kind": "burn_rate", "slo": "availability"},
        {"name": "lat", "kind": "burn_rate", "slo": "latency", "threshold_ms": 1000},
        {"name": "ttft", "kind": "burn_rate", "slo": "ttft", "threshold_ms": 400},
        {"name": "budget", "kind": "budget", "period": "day", "threshold_usd": 5},
        {"name": "jump", "kind": "cost_jump", "group_by": "route"},
        {"name": "silent", "kind": "silent_model"},
        {"name": "unpriced-q", "kind": "unpriced_model"})]
    generated = yaml.safe_load(prometheus_rules.generate(rules))
    exprs = [r["expr"] for g in generated["groups"] for r in g["rules"]]
    assert len(generated["groups"]) == len(rules)
    samples = _scrape(server)
    selectors = [(m.group(1), [x.groups() for x in _MATCHER.finditer(m.group(2))])
                 for e in exprs for m in _SELECTOR.finditer(e)]
    metric_names = {name for name, _ in selectors}
    assert metric_names == {"tokentrail_spans_total", "tokentrail_cost_usd_total", "tokentrail_unpriced_calls_total",
                            "tokentrail_latency_seconds_bucket", "tokentrail_latency_seconds_count",
                            "tokentrail_ttft_seconds_bucket", "tokentrail_ttft_seconds_count"}
    for name, matchers in selectors:
        assert any(_matches(labels, matchers) for labels, _ in samples.get(name, [])), \
            f"no series of {name} matches {matchers}"
    # and the numbers behind them are the calls sent
    assert _value(samples, "tokentrail_spans_total", project="probe", status="error") == 1
    assert _value(samples, "tokentrail_unpriced_calls_total", project="probe", model="house-model-q") == 1
    assert _value(samples, "tokentrail_latency_seconds_bucket", project="probe", le="1.0") == 3
    assert _value(samples, "tokentrail_ttft_seconds_count", project="probe") == 1
    assert (_value(samples, "tokentrail_cost_usd_total", project="probe", model="gpt-4o-mini") or 0) > 0


def test_the_evaluators_own_metrics(server: ServerThread, hooks: tuple[Endpoint, Endpoint]) -> None:
    good, bad = hooks
    _send(server, [{"model": "house-model-x"} for _ in range(3)])
    firing = {"project": PROJECT, "rule": "unpriced", "severity": "ticket"}
    samples = wait_for(lambda: (s := _scrape(server)) and _value(s, "tokentrail_alerts_firing", **firing) and
                       _value(s, "tokentrail_alert_notifications_total", receiver="bad", outcome="failed") and
                       _value(s, "tokentrail_alert_notifications_total", receiver="good", outcome="sent") and s,
                       timeout=30, interval=0.2)
    assert _value(samples, "tokentrail_alerts_firing", **firing) == 1
    assert (_value(samples, "tokentrail_alert_rounds_total") or 0) >= 1
    assert _value(samples, "tokentrail_alert_rules") == 2
    assert 0 < (_value(samples, "tokentrail_alert_last_round_timestamp_seconds") or 0) <= time.time()
    assert (_value(samples, "tokentrail_alert_round_seconds") or 0) > 0
    assert _value(samples, "tokentrail_alert_rule_seconds", rule="unpriced") is not None
    # the failing rule is counted every round, the healthy one never
    assert (_value(samples, "tokentrail_alert_rule_errors_total", rule="broken") or 0) >= 1
    assert _value(samples, "tokentrail_alert_rule_errors_total", rule="unpriced") is None
    # notifications as the receivers saw them: the good one got one post, the bad one refused it (400: no retry)
    assert len(good.received) == 1 and bad.attempts == 1
    assert _value(samples, "tokentrail_alert_notifications_total", receiver="good", type="webhook",
                  outcome="sent") == 1
    assert _value(samples, "tokentrail_alert_notifications_total", receiver="bad", outcome="sent") == 0
    assert _value(samples, "tokentrail_alert_notifications_total", receiver="bad", outcome="failed") == 1
    assert _value(samples, "tokentrail_alert_receiver_healthy", receiver="good") == 1
    assert _value(samples, "tokentrail_alert_receiver_healthy", receiver="bad") == 0
    assert _value(samples, "tokentrail_alert_notification_backlog", receiver="good") == 0
