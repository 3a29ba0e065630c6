"""Sustained ingest over OTLP/HTTP protobuf: realistic 512-span batches, concurrent clients,
durability on (fsync before acknowledging). Prints one JSON line.

    python bench/ingest.py [--seconds 30] [--clients 8] [--no-fsync] [--quick]

Beside the rate it reports the server's peak RSS (VmHWM), the disk bytes per span stored, and the
floor under the result, measured in this process on the same requests (one core each): the
protobuf parse alone (upb), the server's per-request Python work (parse, checks, redaction screen,
re-encode), the engine decoding spooled requests, and the engine's whole normalizing INSERT.

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
from collections.abc import Callable
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


def disk_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def floor(bodies: list[bytes], spans_per_body: int) -> dict[str, int]:
    """Spans/s of each stage on one core, on ``bodies`` (see the module doc)."""
    import datetime

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from tokentrail.ingest import otlp, wire
    from tokentrail.ingest.normalize import INSERT_SETTINGS, insert_sql
    from tokentrail.ingest.timewindow import TimeWindow
    from tokentrail.pricing import PriceBook
    from tokentrail.pricing.store import sync_prices
    from tokentrail.privacy import content_keys, encryption, redact
    from tokentrail.privacy.policy import Policy
    from tokentrail.privacy.walk import Scrubber
    from tokentrail.storage.chdb_backend import ChdbStore
    from tokentrail.storage.migrations import migrate

    n = len(bodies) * spans_per_body

    def rate(f: Callable[[], object]) -> int:
        t0 = time.perf_counter()
        f()
        return round(n / (time.perf_counter() - t0))

    out = {"upb_parse": rate(lambda: [ExportTraceServiceRequest.FromString(b) for b in bodies])}
    redact.configure()
    window = TimeWindow.now()
    payloads: list[bytes] = []
    out["python_request_work"] = rate(lambda: payloads.extend(  # the server's defaults: redaction, policy
        otlp.decode_request(b, None, window, Scrubber(redact.default(), Policy())).payload for b in bodies))
    with tempfile.TemporaryDirectory() as tmp:
        store = ChdbStore(Path(tmp) / "db")
        try:
            migrate(store, {})
            sync_prices(store, PriceBook(None))
            encryption.configure(content_keys.load("", Path(tmp)))
            seg = Path(tmp) / "a.seg"
            seg.write_bytes(b"".join(wire.frame(wire.envelope(p, "default", "otlp", time.time_ns())) for p in payloads))
            source = f"file('{seg}', 'Protobuf', '{wire.STRUCTURE}')"
            schema = f"SETTINGS format_schema='{store._schema_file(wire.SCHEMA)}:{wire.MESSAGE}'"
            out["engine_decode"] = rate(lambda: store.query(
                f"SELECT count() FROM (SELECT arrayJoin(arrayJoin(resource_spans.scope_spans).spans) AS s "
                f"FROM {source}) {schema}"))
            sql = insert_sql(store.database, "v1").replace("{batch_version}", "now64(3)")
            out["engine_insert"] = rate(lambda: store.insert_select_protobuf(
                encryption.bind(sql, datetime.datetime.now()), [seg], wire.STRUCTURE, wire.SCHEMA, wire.MESSAGE,
                INSERT_SETTINGS))
        finally:
            store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--spans-per-request", type=int, default=512)
    ap.add_argument("--no-fsync", action="store_true")
    ap.add_argument("--quick", action="store_true", help="10 s of load")
    ap.add_argument("--no-floor", action="store_true", help="skip the per-stage floor")
    args = ap.parse_args()
    if args.quick:
        args.seconds = 10
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
        on_disk = disk_bytes(data / "db")
    spans = acked * spans_per_body
    print(json.dumps({
        "bench": "ingest", "clients": args.clients, "spans_per_request": spans_per_body,
        "bytes_per_span": round(sum(map(len, bodies)) / len(bodies) / spans_per_body),
        "fsync": not args.no_fsync, "seconds_sending": round(t_acked - t0, 2),
        "seconds_to_drain_after": round(t_done - t_acked, 2), "spans_acked": spans,
        "spans_per_s_acked": round(spans / (t_acked - t0)),
        "spans_per_s": round(spans / (t_done - t0)), "busy_503": busy,
        "insert_batches": status["inserts"]["batches"], "server_peak_rss_mb": round(rss, 1),
        "disk_bytes_per_span": round(on_disk / max(1, spans)),
        "floor_spans_per_s_one_core": {} if args.no_floor else floor(bodies[:40], spans_per_body),
    }))


if __name__ == "__main__":
    main()
