"""End to end through Prometheus: a real tokentrail server with an alerts file, the Prometheus rules it
generates (``GET /api/alerts/prometheus-rules``, checked by ``promtool check rules``), Debian's
``prometheus`` scraping tokentrail's ``/metrics`` every second with the scrape token and evaluating
those rules, firing into Debian's ``prometheus-alertmanager``, which posts to a local webhook.

Traffic goes in through the real native ingest route: normal calls, then failed calls (status error,
HTTP 500) until the availability burn-rate alert fires, and calls of a model with no price for the
unpriced-model alert. Skipped only when the Prometheus binaries are not installed (CI installs them).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.alerts.receivers import Endpoint, endpoint
from tests.support import ServerThread, free_port, running_server, wait_for

PROJECT = "shop"
TOKEN = "scrape-secret-e2e"
PROMETHEUS, ALERTMANAGER, PROMTOOL = "prometheus", "prometheus-alertmanager", "promtool"
ALERTS_TOML = f"""
[[rules]]
name = "availability"
kind = "burn_rate"
project = "{PROJECT}"
slo = "availability"
objective = 0.99
min_requests = 1
windows = [{{long = "2m", short = "30s", factor = 2, severity = "page"}}]
description = "checkout calls failing"

[[rules]]
name = "latency"
kind = "burn_rate"
project = "{PROJECT}"
slo = "latency"
threshold_ms = 1000
objective = 0.95
windows = [{{long = "2m", short = "30s", factor = 2, severity = "ticket"}}]

[[rules]]
name = "unpriced"
kind = "unpriced_model"
project = "{PROJECT}"
window = "5m"
severity = "ticket"
"""


def _binaries() -> dict[str, str]:
    found = {b: shutil.which(b) for b in (PROMETHEUS, ALERTMANAGER, PROMTOOL)}
    missing = [b for b, p in found.items() if not p]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (Debian packages prometheus, prometheus-alertmanager)")
    return {b: str(p) for b, p in found.items()}


@dataclass
class Stack:
    tt: ServerThread
    hook: Endpoint
    prometheus: str
    alertmanager: str
    rules_file: Path


@contextmanager
def _process(cmd: list[str], log: Path, ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    out = open(log, "wb")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        def up() -> bool:
            assert proc.poll() is None, f"{cmd[0]} exited at start:\n{log.read_text()[-2000:]}"
            try:
                return httpx.get(ready_url, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, 30, 0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        out.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    bins = _binaries()
    d = tmp_path_factory.mktemp("tt-prom-e2e")
    (d / "alerts.toml").write_text(ALERTS_TOML)
    # tokentrail's own evaluator stays off: what fires here is Prometheus evaluating the generated rules
    with endpoint() as hook, running_server(d / "data", alerts_file=str(d / "alerts.toml"), alerts_interval=0,
                                            metrics_token=TOKEN) as tt:
        r = tt.client.get("/api/alerts/prometheus-rules", params={"project": PROJECT})
        assert r.status_code == 200, r.text
        rules_file = d / "tokentrail-rules.yml"
        rules_file.write_text(r.text)
        am_port, prom_port = free_port(), free_port()
        (d / "am").mkdir()
        (d / "alertmanager.yml").write_text(yaml.safe_dump({
            "route": {"receiver": "hook", "group_by": ["alertname", "tokentrail_rule"], "group_wait": "1s",
                      "group_interval": "1s", "repeat_interval": "1h"},
            "receivers": [{"name": "hook", "webhook_configs": [{"url": hook.url, "send_resolved": True}]}]}))
        (d / "prometheus.yml").write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules_file)],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
            "scrape_configs": [{"job_name": "tokentrail", "metrics_path": "/metrics",
                                "authorization": {"credentials": TOKEN},
                                "static_configs": [{"targets": [f"127.0.0.1:{tt.port}"]}]}]}))
        am_cmd = [bins[ALERTMANAGER], f"--config.file={d / 'alertmanager.yml'}", f"--storage.path={d / 'am'}",
                  f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="]
        prom_cmd = [bins[PROMETHEUS], f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}", "--web.enable-lifecycle"]
        am_url, prom_url = f"http://127.0.0.1:{am_port}", f"http://127.0.0.1:{prom_port}"
        with _process(am_cmd, d / "alertmanager.log", am_url + "/-/ready"), \
                _process(prom_cmd, d / "prometheus.log", prom_url + "/-/ready"):
            yield Stack(tt, hook, prom_url, am_url, rules_file)


def _send(tt: ServerThread, n: int, *, model: str = "gpt-4o-mini", failed: bool = False) -> None:
    item: dict[str, Any] = {"model": model, "provider": "openai", "route": "checkout", "input_tokens": 200,
                            "output_tokens": 40, "duration_ms": 800}
    if failed:
        item |= {"status": "error", "http_status": 500, "error_type": "InternalServerError"}
    r = tt.client.post("/api/ingest/batch", json=[dict(item) for _ in range(n)],
                       headers={"x-tokentrail-project": PROJECT})
    assert r.status_code < 300, r.text


def _prom_query(stack: Stack, expr: str) -> list[dict[str, Any]]:
    r = httpx.get(stack.prometheus + "/api/v1/query", params={"query": expr}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()["data"]["result"]


def _wait_for_post(stack: Stack, alertname: str, timeout: float = 60) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    try:
        return wait_for(lambda: _firing(stack, alertname), timeout, 0.2)
    except TimeoutError:  # say where it stopped: Prometheus's view of the alert, what the hook got
        alerts = httpx.get(stack.prometheus + "/api/v1/alerts", timeout=5).json()["data"]["alerts"]
        raise AssertionError(f"no {alertname} post within {timeout}s; Prometheus alerts: {alerts}; "
                             f"posts: {[r.json for r in stack.hook.received]}") from None


def _firing(stack: Stack, alertname: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Alerts named ``alertname`` in the Alertmanager webhook posts received so far, with the post."""
    out = []
    for got in list(stack.hook.received):
        body = got.json
        out += [(body, a) for a in body["alerts"] if a["labels"].get("alertname") == alertname]
    return out


@contextmanager
def _traffic(stack: Stack, **kwargs: Any) -> Iterator[None]:
    """Send a batch every 0.5 s in the background (counters must grow between scrapes for rate())."""
    stop = threading.Event()
    refused: list[str] = []

    def run() -> None:
        while not stop.is_set():
            try:
                _send(stack.tt, 5, **kwargs)
            except (AssertionError, httpx.HTTPError) as e:  # keep sending; reported below
                refused.append(str(e)[:200])
            stop.wait(0.5)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(10)
    assert not refused, f"ingest refused batches: {refused[:3]}"


def test_generated_rules_pass_promtool(stack: Stack) -> None:
    out = subprocess.run([PROMTOOL, "check", "rules", str(stack.rules_file)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout + out.stderr
    groups = yaml.safe_load(stack.rules_file.read_text())["groups"]
    alerts = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    assert set(alerts) == {"availability-2m", "latency-2m", "unpriced"}
    # Prometheus loaded the same file
    loaded = httpx.get(stack.prometheus + "/api/v1/rules", timeout=5).json()["data"]["groups"]
    assert {r["name"] for g in loaded for r in g["rules"] if r["type"] == "alerting"} == set(alerts)


def test_errors_fire_the_burn_rate_alert_through_alertmanager(stack: Stack) -> None:
    # normal traffic first: Prometheus sees the counters and the ratio stays at 0
    with _traffic(stack):
        wait_for(lambda: _prom_query(stack, f'tokentrail_spans_total{{project="{PROJECT}",status="ok"}}'), 30, 0.2)
        time.sleep(2)
        assert not _firing(stack, "availability-2m")
        # the latency SLO reads the histogram bucket at its threshold (le="1.0"): every call took 0.8 s
        # (NaN until the counters have grown between two scrapes: 0 / 0)
        latency = wait_for(lambda: [r for r in _prom_query(stack, "tokentrail:latency:bad_ratio:rate30s")
                                    if r["value"][1] != "NaN"], 20, 0.2)
        assert float(latency[0]["value"][1]) == 0.0
        # then half the calls fail: the 30 s and 2 m bad ratios pass 2 x the 1% budget
        with _traffic(stack, failed=True):
            got = _wait_for_post(stack, "availability-2m")
    body, alert = got[0]
    assert body["version"] == "4" and body["status"] == "firing" and body["receiver"] == "hook"
    assert alert["status"] == "firing"
    labels = alert["labels"]
    assert labels["alertname"] == "availability-2m" and labels["severity"] == "page"
    assert labels["project"] == PROJECT and labels["tokentrail_rule"] == "availability"
    assert "burning" in alert["annotations"]["summary"]
    assert alert["annotations"]["description"] == "checkout calls failing"
    # what Prometheus computed from tokentrail's counters: well over the 2% limit
    ratio = _prom_query(stack, "tokentrail:availability:bad_ratio:rate30s")
    assert ratio and float(ratio[0]["value"][1]) > 0.02


def test_an_unpriced_model_fires_through_alertmanager(stack: Stack) -> None:
    with _traffic(stack, model="house-model-x"):
        got = _wait_for_post(stack, "unpriced")
    body, alert = got[0]
    assert body["version"] == "4" and body["status"] == "firing"
    assert alert["labels"]["model"] == "house-model-x" and alert["labels"]["severity"] == "ticket"
    assert alert["labels"]["project"] == PROJECT and alert["labels"]["tokentrail_rule"] == "unpriced"
