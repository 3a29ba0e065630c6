"""What recording costs the server at a given call rate: server CPU per recorded call at 1, 10, 100
and 1,000 calls/s through the gateway (streaming and not) and over OTLP, the idle server's CPU, and
its VmHWM. A real ``tokentrail serve`` process (defaults: fsync on, rollups, alerts) with the fake
provider (tests/fake_llm) in its own process. Prints one JSON line.

    python bench/recording.py [--seconds 60] [--warm 10] [--idle-seconds 30] [--rates 1,10,100,1000] [--quick]
                              [--modes gateway_stream,gateway,otlp] [--src DIR]

- Each (mode, rate): calls start on an open-loop schedule (``rate`` a second, at most ``--concurrency``
  in flight) for ``--warm`` seconds (the batching reaches its steady state), then ``--seconds`` measured:
  server CPU time from ``/proc/<pid>/stat`` over that part, divided by the calls made in it
  (``cpu_ms_per_call``; ``net_cpu_ms_per_call`` takes the idle server's CPU for that time out). Work the
  steady traffic defers past the window (the last batch, a rollup refresh) is left out there, and the
  work deferred from before it is in: ``with_flush_cpu_ms_per_call`` adds the ``/api/admin/flush`` that
  follows (it forces an insert and a rollup refresh of every level): an upper bound.
- gateway: raw aiohttp requests in the OpenAI format to ``/gateway/openai/v1/chat/completions``;
  ``gateway_stream`` asks for a 20-chunk stream with usage and reads it to the end. The client, the
  fake provider and the server share the machine: past what it can do, ``achieved_rate`` says so.
- otlp: one LLM call = one span of a demo trace; sent like an SDK exporter does, once a second (or
  every 512 spans), OTLP/HTTP protobuf.
- idle: CPU of the server doing nothing for ``--idle-seconds`` (after the warm-up's work settled), as
  a percentage of one core.
- ``--src DIR``: run the server from another checkout's ``src`` (e.g. the previous build, to compare in
  one session: ``git archive HEAD~3 | tar -x -C /tmp/base`` then ``--src /tmp/base/src``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import ServerProcess, free_port, start_fake_llm_process  # noqa: E402
from tokentrail.demo.traffic import Traffic  # noqa: E402

HEADERS = {"Authorization": "Bearer sk-bench", "X-Tokentrail-Project": "bench", "X-Tokentrail-Route": "bench",
           "X-Tokentrail-User": "u-1", "content-type": "application/json"}
MESSAGES = [{"role": "user", "content": "Say something short about observability."}]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def paced(rate: float, seconds: float, concurrency: int, call) -> tuple[int, int, float]:
    """Start ``call()`` ``rate`` times a second for ``seconds`` (at most ``concurrency`` at once);
    returns (succeeded, failed, seconds taken)."""
    n = max(1, round(rate * seconds))
    sem = asyncio.Semaphore(concurrency)
    ok = failed = 0

    async def one() -> None:
        nonlocal ok, failed
        try:
            await call()
            ok += 1
        except Exception:
            failed += 1
        finally:
            sem.release()

    tasks = []
    t0 = time.monotonic()
    for i in range(n):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await sem.acquire()
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return ok, failed, time.monotonic() - t0


async def drive_gateway(url: str, rate: float, seconds: float, concurrency: int, stream: bool) -> tuple[int, int, float]:
    body = json.dumps({"model": "gpt-4o-mini+chunks:20" if stream else "gpt-4o-mini", "messages": MESSAGES,
                       **({"stream": True, "stream_options": {"include_usage": True}} if stream else {})}).encode()
    conn = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=conn) as s:
        async def call() -> None:
            async with s.post(url + "/gateway/openai/v1/chat/completions", data=body, headers=HEADERS) as r:
                if r.status != 200:
                    raise RuntimeError(f"HTTP {r.status}")
                async for _ in r.content.iter_any():
                    pass

        return await paced(rate, seconds, concurrency, call)


def otlp_bodies(rate: float, seconds: float) -> list[bytes]:
    """The requests an exporter sends in ``seconds`` at ``rate`` LLM calls a second: each second's calls in
    requests of at most 512 spans (one call = one LLM span of the demo traffic, a trace of its own)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    traffic = Traffic(seed=5, users=500)
    per_second = max(1, round(rate))

    def calls(n: int):
        out = []
        while len(out) < n:
            for span in traffic.trace_spans(time.time_ns() - int(traffic.rnd.uniform(0, 5) * 1e9)):
                if span.parent_span_id and not any(a.key == "tokentrail.kind" for a in span.attributes):
                    span.parent_span_id = b""
                    out.append(span)
        return out[:n]

    bodies: list[bytes] = []
    for _ in range(max(1, round(seconds * rate / per_second))):
        left = per_second
        while left > 0:
            n = min(512, left)
            req = ExportTraceServiceRequest()
            rs = req.resource_spans.add()
            kv = rs.resource.attributes.add()
            kv.key, kv.value.string_value = "service.name", "bench-app"
            ss = rs.scope_spans.add()
            ss.scope.name = "bench"
            ss.spans.extend(calls(n))
            bodies.append(req.SerializeToString())
            left -= n
    return bodies


async def drive_otlp(url: str, rate: float, seconds: float) -> tuple[int, int, float]:
    """One request per exporter flush: each second's calls (in requests of at most 512 traces)."""
    bodies = otlp_bodies(rate, seconds)
    per_second = max(1, round(rate))
    requests_per_second = -(-per_second // 512)
    ok = failed = 0
    async with aiohttp.ClientSession() as s:
        async def post(body: bytes) -> None:
            nonlocal ok, failed
            async with s.post(url + "/v1/traces", data=body,
                              headers={"content-type": "application/x-protobuf"}) as r:
                await r.read()
                if r.status == 200:
                    ok += 1
                else:
                    failed += 1

        t0 = time.monotonic()
        for i in range(0, len(bodies), requests_per_second):
            delay = t0 + i // requests_per_second - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await asyncio.gather(*(post(b) for b in bodies[i:i + requests_per_second]))
        elapsed = time.monotonic() - t0
    calls_per_request = per_second / requests_per_second
    return round(ok * calls_per_request), round(failed * calls_per_request), max(elapsed, len(bodies) // requests_per_second)


def flush(url: str) -> None:
    httpx.post(url + "/api/admin/flush", params={"timeout": 300}, timeout=400).raise_for_status()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60, help="measured seconds per rate")
    ap.add_argument("--warm", type=float, default=10, help="seconds of calls at the rate before measuring")
    ap.add_argument("--idle-seconds", type=float, default=30)
    ap.add_argument("--rates", default="1,10,100,1000")
    ap.add_argument("--modes", default="gateway_stream,gateway,otlp")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--quick", action="store_true", help="short windows (15 s after 5 s, idle 15 s) for the runner")
    ap.add_argument("--src", help="run the server from this src directory (another build)")
    ap.add_argument("--serve-arg", action="append", default=[], help="extra argument for tokentrail serve")
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.warm, args.idle_seconds = 15.0, 5.0, 15.0
    if args.src:
        os.environ["PYTHONPATH"] = str(Path(args.src).resolve()) + os.pathsep + os.environ.get("PYTHONPATH", "")
    rates = [float(r) for r in args.rates.split(",")]
    modes = args.modes.split(",")

    fake_port = free_port()
    fake = start_fake_llm_process(fake_port, 100)
    tmp = Path(tempfile.mkdtemp(prefix="tt-bench-rec-"))
    cfg = tmp / "gateway.toml"
    cfg.write_text(f'[upstreams.openai]\nbase_url = "http://127.0.0.1:{fake_port}/v1"\n')
    (tmp / "data").mkdir()
    server = ServerProcess(tmp / "data", extra=["--gateway-config", str(cfg), *args.serve_arg]).start()
    out: dict[str, object] = {"bench": "recording", "seconds_per_rate": args.seconds, "warm_seconds": args.warm,
                              "serve_args": args.serve_arg,
                              "build": args.src or "this checkout"}
    try:
        pid = server.proc.pid  # type: ignore[union-attr]
        for mode in modes:  # warm up: connections, imports, first inserts, the rollups' first refresh
            asyncio.run(window(server.url, mode, 10, 2.0, args.concurrency))
        flush(server.url)
        time.sleep(3)
        c0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(args.idle_seconds)
        idle_core = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
        out["idle_cpu_pct"] = round(idle_core * 100, 2)
        for mode in modes:
            rows = {}
            for rate in rates:
                rows[str(int(rate))] = measure(server.url, pid, mode, rate, args, idle_core)
                print(mode, int(rate), rows[str(int(rate))], file=sys.stderr, flush=True)
                time.sleep(1)
            out[mode] = rows
        out["server_vmhwm_mb"] = round(vm_hwm_mb(pid), 1)
        out["batches"] = httpx.get(server.url + "/api/ingest/status").json()["inserts"]["batches"]
    finally:
        server.stop()
        fake.terminate()
        fake.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(out))


def measure(url: str, pid: int, mode: str, rate: float, args: argparse.Namespace, idle_core: float) -> dict:
    """Calls at ``rate`` for ``--warm`` seconds (not measured: the batching reaches its steady state), then
    ``--seconds`` measured; then a flush (measured apart: it forces an insert and a rollup refresh that
    steady traffic spreads over more calls)."""
    marks: dict[str, tuple[float, float]] = {}

    async def run() -> tuple[int, int, float]:
        async def mark_after(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            marks[name] = (cpu_seconds(pid), time.monotonic())

        marker = asyncio.create_task(mark_after("start", args.warm))
        done = await window(url, mode, rate, args.warm + args.seconds, args.concurrency)
        await marker
        marks["end"] = (cpu_seconds(pid), time.monotonic())
        return done

    ok, failed, _ = asyncio.run(run())
    flush(url)
    c_flushed = cpu_seconds(pid)
    (c0, t0), (c1, t1) = marks["start"], marks["end"]
    calls = ok * (t1 - t0) / (args.warm + args.seconds)  # the calls made in the measured part
    return {
        "calls": ok, "failed": failed, "achieved_rate": round(ok / (args.warm + args.seconds), 1),
        "cpu_ms_per_call": round((c1 - c0) * 1000 / max(calls, 1), 3),
        "net_cpu_ms_per_call": round(((c1 - c0) - idle_core * (t1 - t0)) * 1000 / max(calls, 1), 3),
        "with_flush_cpu_ms_per_call": round((c_flushed - c0) * 1000 / max(calls, 1), 3),
    }


async def window(url: str, mode: str, rate: float, seconds: float, concurrency: int) -> tuple[int, int, float]:
    if mode == "otlp":
        return await drive_otlp(url, rate, seconds)
    return await drive_gateway(url, rate, seconds, concurrency, stream=mode == "gateway_stream")


if __name__ == "__main__":
    main()
