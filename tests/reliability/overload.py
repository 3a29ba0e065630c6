"""Scenario: overload. Measure the server's durable capacity (spans/s from the first request until
everything sent is queryable), then offer ``factor`` times that rate open-loop (requests on a
schedule, not waiting for answers) while pollers run dashboard queries and ``/healthz``, and the
server's memory is sampled. Expected: memory bounded, excess requests answered 503 with
Retry-After (not timeouts), the UI still answered."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.reliability.harness import PROTOBUF, UI_QUERIES, Poller, flush, proc_status, stop, traffic_request
from tests.support import ServerProcess
from tokentrail.demo.traffic import Traffic

PROJECT = "overload"


def bodies(count: int, traces: int, seed: int = 9) -> tuple[list[bytes], int]:
    """``count`` prepared requests (sent in turn: the senders spend no time encoding) and the
    number of spans in each (about)."""
    traffic = Traffic(seed=seed)
    made = [traffic_request(traffic, traces) for _ in range(count)]
    return [b for b, _ in made], sum(len(ids) for _, ids in made) // count


def _closed_loop(url: str, pool: list[bytes], seconds: float, clients: int) -> int:
    """Requests acknowledged by ``clients`` senders posting back to back for ``seconds``."""
    acked = Counter[int]()
    deadline = time.monotonic() + seconds

    def send(k: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as c:
            i = k
            while time.monotonic() < deadline:
                r = c.post("/v1/traces", content=pool[i % len(pool)],
                           headers={**PROTOBUF, "x-tokentrail-project": PROJECT})
                acked[k] += r.status_code == 200
                i += clients

    threads = [threading.Thread(target=send, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(acked.values())


def _open_loop(url: str, pool: list[bytes], rate: float, seconds: float, workers: int,
               timeout: float) -> dict[str, Any]:
    """Requests offered at ``rate``/s for ``seconds`` by ``workers`` threads, each on its own
    schedule; a worker that falls behind skips the missed slots (counted as ``not_offered``)."""
    statuses: Counter[str] = Counter()
    lock = threading.Lock()
    start = time.monotonic() + 0.2
    stop = start + seconds
    interval = workers / rate

    def worker(k: int) -> None:
        local: Counter[str] = Counter()
        with httpx.Client(base_url=url, timeout=timeout) as c:
            slot = start + k * interval / workers
            i = k
            while slot < stop:
                now = time.monotonic()
                if now < slot:
                    time.sleep(slot - now)  # pacing the offered load (the schedule), not waiting on a condition
                elif now - slot > interval:  # behind: skip the slots already missed
                    missed = int((now - slot) / interval)
                    local["not_offered"] += missed
                    slot += missed * interval
                try:
                    r = c.post("/v1/traces", content=pool[i % len(pool)],
                               headers={**PROTOBUF, "x-tokentrail-project": PROJECT})
                    local[str(r.status_code)] += 1
                    if r.status_code == 503 and "retry-after" not in r.headers:
                        local["503_without_retry_after"] += 1
                except httpx.TimeoutException:
                    local["timeout"] += 1
                except httpx.TransportError:
                    local["connection"] += 1
                slot += interval
                i += workers
        with lock:
            statuses.update(local)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return dict(statuses)


def run(root: Path, *, measure_seconds: float, overload_seconds: float, factor: float = 3.0,
        spool_max_mb: int = 1024, workers: int = 12, timeout: float = 10,
        traces_per_request: int = 100) -> dict[str, Any]:
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    pool, per_request = bodies(24, traces_per_request)
    server = ServerProcess(data, extra=["--spool-max-mb", str(spool_max_mb), "--no-spool-fsync"]).start()
    assert server.proc is not None
    pid = server.proc.pid
    figures: dict[str, Any] = {"scenario": "overload", "factor": factor, "spool_max_mb": spool_max_mb,
                               "spans_per_request": per_request, "rss_idle_mb": proc_status(pid, "VmRSS") // 1024}
    try:
        t0 = time.monotonic()
        acked = _closed_loop(server.url, pool, measure_seconds, clients=4)
        figures["capacity_flushed"] = flush(server, 300)
        capacity = acked * per_request / (time.monotonic() - t0)
        figures["capacity_spans_s"] = round(capacity)
        rate = factor * capacity / per_request
        figures["offered_requests_s"] = round(rate, 1)
        rss: list[int] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(0.5):
                rss.append(proc_status(pid, "VmRSS"))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        poller = Poller(server.url, ("/healthz", *UI_QUERIES), timeout=timeout, interval=0.5).start()
        try:
            figures["statuses"] = _open_loop(server.url, pool, rate, overload_seconds, workers, timeout)
        finally:
            poller.join()
            sampling.set()
            sampler.join()
        figures["polls"] = poller.figures()
        figures["poll_failures"] = poller.failures()
        figures["rss_max_mb"] = max(rss, default=0) // 1024
        figures["vm_hwm_mb"] = proc_status(pid, "VmHWM") // 1024
        sent = sum(v for k, v in figures["statuses"].items() if k[0].isdigit())
        figures["achieved_requests_s"] = round(sent / overload_seconds, 1)
        figures["drained"] = flush(server, 300)
    finally:
        stop(server)
    return figures
