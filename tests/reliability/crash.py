"""Scenario: SIGKILL ``tokentrail serve`` at random moments under concurrent OTLP clients (and,
with ``poison``, one more client sending corrupt-but-parseable protobuf bodies); then count the
acknowledged span ids against the stored ones."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from tests.reliability.harness import (
    PoisonSender,
    Sender,
    dashboard_requests,
    flush,
    loss_figures,
    quarantined_files,
    restart,
    stop,
    stored_calls,
    stored_ids,
    wait_acked,
)
from tests.support import ServerProcess

PROJECT = "crash"


def run(root: Path, *, kills: int, clients: int = 4, poison: bool = False, seed: int = 1,
        traces_per_request: int = 20, max_acked_between_kills: int = 4000) -> dict[str, Any]:
    """Between two kills the clients get a random number (1 .. ``max_acked_between_kills``) of
    spans acknowledged: the kill lands wherever the server is at that moment (receiving, spooling,
    inserting, replaying the spool of the previous run)."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(seed)
    t0 = time.monotonic()
    server = ServerProcess(data, extra=["--batch-seconds", "0.5", "--no-spool-fsync"]).start()
    senders = [Sender(server.url, PROJECT, seed * 100 + i, traces_per_request).start() for i in range(clients)]
    bad = PoisonSender(server.url, "poison", seed, rate=3).start() if poison else None
    restarts: list[float] = []
    try:
        try:
            for _ in range(kills):
                acked_now = sum(len(s.acked) for s in senders)
                wait_acked(senders, acked_now + rnd.randint(1, max_acked_between_kills), timeout=120)
                server.kill()
                server.log.close()
                t = time.monotonic()
                server = restart(server)
                restarts.append(time.monotonic() - t)
            wait_acked(senders, sum(len(s.acked) for s in senders) + 1, timeout=120)  # the last run takes data too
        finally:
            for s in senders:
                s.join()
            if bad:
                bad.join()
        flushed = flush(server)
        counted = dashboard_requests(server, PROJECT)
    finally:
        stop(server)
    stored, raw_rows = stored_ids(data, PROJECT)
    acked = [i for s in senders for i in s.acked]
    figures: dict[str, Any] = {
        "scenario": "poison" if poison else "crash", "kills": kills, "clients": clients,
        **loss_figures(acked, stored), "raw_rows": raw_rows, "flushed": flushed,
        "dashboard_requests": counted, "stored_calls": stored_calls(data, PROJECT),
        "restart_max_s": round(max(restarts, default=0.0), 2),
        "statuses": dict(sum((s.statuses for s in senders), start=type(senders[0].statuses)())),
        "unexpected_answers": [u for s in senders for u in s.unexpected][:5],
        "quarantined_files": quarantined_files(data), "seconds": round(time.monotonic() - t0, 1),
    }
    if bad:
        figures["poison_statuses"] = dict(bad.statuses)
    return figures
