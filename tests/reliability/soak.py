"""Scenario: soak. Four OTLP clients at a steady rate for a while, dashboard queries and /healthz
polled meanwhile, the server's RSS sampled every second; then acknowledged span ids vs stored."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from tests.reliability.harness import (
    UI_QUERIES,
    Poller,
    Sender,
    flush,
    loss_figures,
    proc_status,
    stop,
    stored_ids,
)
from tests.support import ServerProcess

PROJECT = "soak"


def slope_mb_per_min(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, KiB) samples, in MiB per minute."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    cov = sum((t - mt) * (v - mv) for t, v in samples)
    return round(cov / var * 60 / 1024, 2) if var else 0.0


def run(root: Path, *, seconds: float, clients: int = 4, rate: float = 10, traces_per_request: int = 40,
        ) -> dict[str, Any]:
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    server = ServerProcess(data, extra=["--no-spool-fsync"]).start()
    assert server.proc is not None
    pid = server.proc.pid
    rss: list[tuple[float, int]] = []
    done = threading.Event()
    t0 = time.monotonic()

    def sample() -> None:
        while not done.wait(1.0):
            rss.append((time.monotonic() - t0, proc_status(pid, "VmRSS")))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    senders = [Sender(server.url, PROJECT, 300 + i, traces_per_request, rate=rate).start() for i in range(clients)]
    poller = Poller(server.url, ("/healthz", *UI_QUERIES), timeout=10, interval=1.0).start()
    figures: dict[str, Any] = {"scenario": "soak", "seconds": seconds, "clients": clients,
                               "requests_s_per_client": rate}
    try:
        try:
            done.wait(seconds)  # the soak's length (a duration, not a condition)
        finally:
            for s in senders:
                s.join()
            poller.join()
            done.set()
            sampler.join()
        figures["flushed"] = flush(server, 300)
        figures["vm_hwm_mb"] = proc_status(pid, "VmHWM") // 1024
    finally:
        stop(server)
    stored, _ = stored_ids(data, PROJECT)
    acked = [i for s in senders for i in s.acked]
    figures.update(loss_figures(acked, stored))
    figures["acked_spans_s"] = round(len(acked) / seconds)
    figures["statuses"] = dict(sum((s.statuses for s in senders), start=type(senders[0].statuses)()))
    figures["polls"] = poller.figures()
    figures["poll_failures"] = poller.failures()
    half = [s for s in rss if s[0] >= seconds / 2]
    figures["rss_start_mb"] = rss[0][1] // 1024 if rss else None
    figures["rss_end_mb"] = rss[-1][1] // 1024 if rss else None
    figures["rss_slope_mb_per_min"] = slope_mb_per_min(rss)
    figures["rss_slope_second_half_mb_per_min"] = slope_mb_per_min(half)
    return figures
