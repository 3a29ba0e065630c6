"""Sustained ingest over OTLP/HTTP protobuf: realistic 512-span batches, concurrent clients,
durability on (fsync before acknowledging). Prints one JSON line.

    python bench/ingest.py [--seconds 30] [--clients 8] [--no-fsync]

spans_per_s counts a span once it is acknowledged AND inserted: the clock stops when the
server reports its spool drained after the last acknowledgement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import ServerProcess  # noqa: E402
from tokentrail.demo.traffic import Traffic  # noqa: E402


def make_bodies(n_requests: int, spans_per_request: int) -> tuple[list[bytes], int]:
    traffic = Traffic(seed=1, users=5000)
    bodies: list[bytes] = []
    spans = 0
    # live traffic: spans that ended within the last few minutes, as an exporter sends them
    for body in traffic.requests(n_requests * spans_per_request // 3, per_request=spans_per_request,
                                 span_seconds=300):
        bodies.append(body)
        if len(bodies) == n_requests:
            break
    spans = traffic.spans_made
    return bodies, spans // max(1, len(bodies))


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def drive(url: str, bodies: list[bytes], clients: int, seconds: float,
                extra_headers: dict[str, str] | None = None) -> tuple[int, int, int]:
    acked = busy = 0
    sent_bodies = 0
    deadline = time.monotonic() + seconds
    headers = {"content-type": "application/x-protobuf", **(extra_headers or {})}

    async def client(i: int) -> None:
        nonlocal acked, busy, sent_bodies
        async with aiohttp.ClientSession() as s:
            k = i
            while time.monotonic() < deadline:
                body = bodies[k % len(bodies)]
                k += clients
                async with s.post(url + "/v1/traces", data=body, headers=headers) as r:
                    await r.read()
                    if r.status == 200:
                        acked += 1
                    elif r.status == 503:
                        busy += 1
                        await asyncio.sleep(float(r.headers.get("retry-after", "1")))
                    else:
                        raise RuntimeError(f"HTTP {r.status}")

    await asyncio.gather(*(client(i) for i in range(clients)))
    return acked, busy, sent_bodies


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--spans-per-request", type=int, default=512)
    ap.add_argument("--no-fsync", action="store_true")
    args = ap.parse_args()
    bodies, spans_per_body = make_bodies(120, args.spans_per_request)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        extra = ["--no-spool-fsync"] if args.no_fsync else []
        server = ServerProcess(data, extra=extra).start()
        try:
            t0 = time.monotonic()
            acked, busy, _ = asyncio.run(drive(server.url, bodies, args.clients, args.seconds))
            t_acked = time.monotonic()
            httpx.post(server.url + "/api/admin/flush", params={"timeout": 300}, timeout=400).raise_for_status()
            t_done = time.monotonic()
            status = httpx.get(server.url + "/api/ingest/status").json()
            rss = peak_rss_mb(server.proc.pid)  # type: ignore[union-attr]
        finally:
            server.stop()
    spans = acked * spans_per_body
    print(json.dumps({
        "bench": "ingest", "clients": args.clients, "spans_per_request": spans_per_body,
        "bytes_per_span": round(sum(map(len, bodies)) / len(bodies) / spans_per_body),
        "fsync": not args.no_fsync, "seconds_sending": round(t_acked - t0, 2),
        "seconds_to_drain_after": round(t_done - t_acked, 2), "spans_acked": spans,
        "spans_per_s_acked": round(spans / (t_acked - t0)),
        "spans_per_s": round(spans / (t_done - t0)), "busy_503": busy,
        "insert_batches": status["inserts"]["batches"], "server_peak_rss_mb": round(rss, 1),
    }))


if __name__ == "__main__":
    main()
