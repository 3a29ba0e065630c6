"""What the gateway adds to a call: the official ``openai`` client through ``tokentrail serve``'s
gateway vs directly to the same fake upstream (zero latency, its own process), in one run.
Prints one JSON line.

    python bench/gateway.py [--rounds 9] [--calls 200] [--seconds 4]

- added_p50_ms / added_p99_ms: non-streaming ``chat.completions.create``, sequential calls, per round
  p50 (p99) through the gateway minus p50 (p99) direct; the median over rounds. Rounds alternate
  direct/gateway so the noise of this shared machine falls on both sides.
- added_ttft_p50_ms: the same for the time to the first chunk of a 20-chunk stream.
- rps_*_32: requests/s with 32 concurrent ``AsyncOpenAI`` callers for ``--seconds`` (median of rounds).
  The client, the gateway and the fake upstream share this machine's cores, so these are lower bounds.
- server_cpu_ms_per_call: CPU time of the whole server process per non-streaming call during the
  latency rounds: forwarding, recording, spooling, and the store inserting the spans.
- event_loop_cpu_ms_per_call: the same for the event-loop thread alone (the request path).
The server runs with its defaults (spool fsync on, content capture ``errors``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import ServerProcess, free_port, start_fake_llm_process, wait_for  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say something short about observability."}]
HEADERS = {"X-Tokentrail-Project": "bench", "X-Tokentrail-Route": "bench", "X-Tokentrail-User": "u-1"}



def cpu_seconds(pid: int, thread: int | None = None) -> float:
    """CPU time of a process (or of one of its threads)."""
    path = f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat"
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def time_calls(client: openai.OpenAI, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def time_first_chunks(client: openai.OpenAI, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        stream = client.chat.completions.create(model="gpt-4o-mini+chunks:20", messages=MESSAGES, stream=True,
                                                stream_options={"include_usage": True})
        first = None
        for _chunk in stream:
            if first is None:
                first = (time.perf_counter() - t0) * 1000
        out.append(first or 0.0)
    return out


async def throughput(base_url: str, seconds: float, clients: int = 32) -> float:
    client = openai.AsyncOpenAI(base_url=base_url, api_key="sk-bench", max_retries=0, default_headers=HEADERS)
    done = 0
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done
        while time.monotonic() < deadline:
            await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            done += 1

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(clients)))
    elapsed = time.monotonic() - t0
    await client.close()
    return done / elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args()

    fake_port = free_port()
    fake = start_fake_llm_process(fake_port, 1000)
    tmp = Path(tempfile.mkdtemp(prefix="tt-bench-gw-"))
    cfg = tmp / "gateway.toml"
    cfg.write_text(f'[upstreams.openai]\nbase_url = "http://127.0.0.1:{fake_port}/v1"\n')
    server = ServerProcess(tmp / "data", extra=["--gateway-config", str(cfg)]).start()
    try:
        direct = openai.OpenAI(base_url=f"http://127.0.0.1:{fake_port}/v1", api_key="sk-bench", max_retries=0,
                               default_headers=HEADERS)
        gateway = openai.OpenAI(base_url=f"{server.url}/gateway/openai/v1", api_key="sk-bench", max_retries=0,
                                default_headers=HEADERS)
        for c in (direct, gateway):  # warm up: connections, imports, first inserts
            time_calls(c, 200)
            time_first_chunks(c, 50)
        added_p50, added_p99, d50, g50, ttft_added, d_ttft, g_ttft = [], [], [], [], [], [], []
        cpu = loop_cpu = calls = 0.0
        pid = server.proc.pid
        for _ in range(args.rounds):
            d = time_calls(direct, args.calls)
            c0, l0 = cpu_seconds(pid), cpu_seconds(pid, pid)
            g = time_calls(gateway, args.calls)
            cpu += cpu_seconds(pid) - c0
            loop_cpu += cpu_seconds(pid, pid) - l0
            calls += args.calls
            added_p50.append(pct(g, 0.5) - pct(d, 0.5))
            added_p99.append(pct(g, 0.99) - pct(d, 0.99))
            d50.append(pct(d, 0.5))
            g50.append(pct(g, 0.5))
            ds = time_first_chunks(direct, args.calls // 4)
            gs = time_first_chunks(gateway, args.calls // 4)
            ttft_added.append(pct(gs, 0.5) - pct(ds, 0.5))
            d_ttft.append(pct(ds, 0.5))
            g_ttft.append(pct(gs, 0.5))
        rps_d, rps_g = [], []
        for _ in range(3):
            rps_d.append(asyncio.run(throughput(f"http://127.0.0.1:{fake_port}/v1", args.seconds)))
            rps_g.append(asyncio.run(throughput(f"{server.url}/gateway/openai/v1", args.seconds)))
        def all_recorded() -> dict | None:
            s = httpx.get(f"{server.url}/gateway/").json()
            return s if s["recorded"] + s["dropped"] >= s["requests"] else None

        stats = wait_for(all_recorded, 30, 0.1)
        med = statistics.median
        print(json.dumps({
            "bench": "gateway", "rounds": args.rounds, "calls_per_round": args.calls,
            "added_p50_ms": round(med(added_p50), 3), "added_p99_ms": round(med(added_p99), 3),
            "direct_p50_ms": round(med(d50), 3), "gateway_p50_ms": round(med(g50), 3),
            "added_ttft_p50_ms": round(med(ttft_added), 3), "direct_ttft_p50_ms": round(med(d_ttft), 3),
            "gateway_ttft_p50_ms": round(med(g_ttft), 3),
            "rps_direct_32": round(med(rps_d), 1), "rps_gateway_32": round(med(rps_g), 1),
            "server_cpu_ms_per_call": round(cpu / calls * 1000, 3),
            "event_loop_cpu_ms_per_call": round(loop_cpu / calls * 1000, 3),
            "gateway_requests": stats["requests"], "recorded": stats["recorded"], "dropped": stats["dropped"],
        }))
    finally:
        server.stop()
        fake.terminate()
        fake.wait(10)


if __name__ == "__main__":
    main()
