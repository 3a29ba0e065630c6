"""Send demo traffic to a server over OTLP/HTTP, like any OTel exporter would."""

from __future__ import annotations

import time

import httpx
from rich.progress import Progress

from tokentrail.auth.client import auth_headers
from tokentrail.demo.traffic import Traffic

HEADERS = {"content-type": "application/x-protobuf"}


def _post(client: httpx.Client, body: bytes, project: str | None) -> None:
    headers = dict(HEADERS, **({"x-tokentrail-project": project} if project else {}))
    for _attempt in range(20):
        r = client.post("/v1/traces", content=body, headers=headers)
        if r.status_code == 503:  # backpressure: wait as told
            time.sleep(float(r.headers.get("retry-after", "1")))
            continue
        r.raise_for_status()
        return
    raise RuntimeError("server stayed overloaded")


def send_backfill(url: str, traces: int, days: float, project: str | None = None, progress: bool = False,
                  seed: int = 7, end_ns: int | None = None, environment: str | None = None) -> int:
    """Send ``traces`` traces spread over the ``days`` days before ``end_ns`` (default now); return the
    number of spans. The same seed and end time give the same spans and ids: sending again replaces."""
    traffic = Traffic(seed=seed)
    with httpx.Client(base_url=url, timeout=60, headers=auth_headers()) as client, Progress(disable=not progress) as bar:
        task = bar.add_task("sending demo traces", total=traces)
        per_request = 400
        for body in traffic.requests(traces, per_request=per_request, span_seconds=days * 86400, start_ns=end_ns,
                                     environment=environment):
            before = traffic.traces_made
            _post(client, body, project)
            bar.update(task, completed=traffic.traces_made if traffic.traces_made != before else before)
        headers = {"x-tokentrail-project": project} if project else {}
        for i in range(0, len(traffic.feedback), 500):
            client.post("/api/scores", json=traffic.feedback[i:i + 500], headers=headers).raise_for_status()
    return traffic.spans_made


def send_live(url: str, per_second: float, project: str | None = None, stop_after: float | None = None,
              environment: str | None = None) -> None:
    """A steady trickle of fresh traces, so the dashboards move."""
    traffic = Traffic(seed=int(time.time()))
    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=30, headers=auth_headers()) as client:
        while stop_after is None or time.monotonic() - started < stop_after:
            for body in traffic.requests(1, per_request=64, span_seconds=1.0, environment=environment):
                try:
                    _post(client, body, project)
                except (httpx.HTTPError, RuntimeError):
                    time.sleep(5)
            time.sleep(1.0 / per_second)
