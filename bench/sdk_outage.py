"""The app's calls while the tokentrail server is down, and what reaches it after. Prints one JSON line.

    python bench/sdk_outage.py [--outage 60] [--before 10] [--after 15] [--rate 100] [--modes memory,spool]

A real ``tokentrail serve`` (its own process) and the fake provider (its own process). The app
makes sequential ``chat.completions.create`` calls at ``--rate`` calls/s, alternating one by one
between a client instrumented by the SDK and an uninstrumented one. The server runs for
``--before`` s, is killed (SIGKILL) for ``--outage`` s, restarted on the same port and data,
then the app goes on for ``--after`` s. Per mode (``memory``: unsent batches kept in memory;
``spool``: with ``spool_dir``):

- ``*_added_p50_ms`` / ``*_added_p99_ms``: during the outage, p50 (p99) of the instrumented calls
  minus that of the uninstrumented ones (target: p99 under 1 ms); ``*_added_p99_ms_10s_windows``:
  the median over 10 s windows of that p99 difference (one p99 over a noisy minute is jumpy);
- ``*_up_added_p50_ms`` / ``*_up_added_p99_ms``: the same while the server is up (before the kill),
  ``*_after_added_p99_ms`` after the restart (while the backlog is sent);
- ``*_exceptions``: exceptions the app saw (target: 0);
- ``*_recorded`` / ``*_delivered``: instrumented calls made / LLM spans the server has after
  recovery; ``*_dropped`` from the SDK's counters; ``*_recovery_s``: restart -> all delivered.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import openai

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import tokentrail  # noqa: E402
from tests.support import ServerProcess, free_port, start_fake_llm_process, wait_for  # noqa: E402

MESSAGES = [{"role": "user", "content": "Say something short about observability."}]



def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else 0.0


class App:
    """Paced sequential calls, alternating instrumented / plain; records each call's wall time."""

    def __init__(self, base_url: str, rate: float) -> None:
        self.plain = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
        self.watched = openai.OpenAI(base_url=base_url, api_key="sk-bench", max_retries=0)
        tokentrail.instrument_openai(self.watched)
        self.interval = 1.0 / rate
        self.exceptions = 0
        self.recorded = 0

    def run(self, seconds: float) -> dict[str, list[float]]:
        times: dict[str, list[float]] = {"watched": [], "plain": [], "at": []}
        deadline = time.monotonic() + seconds
        i = 0
        next_at = time.monotonic()
        while time.monotonic() < deadline:
            name = "watched" if i % 2 else "plain"
            client = self.watched if name == "watched" else self.plain
            t0 = time.perf_counter()
            try:
                with tokentrail.context(route="outage-bench", user_id=f"u-{i % 7}"):
                    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            except Exception:
                self.exceptions += 1
            times[name].append((time.perf_counter() - t0) * 1000)
            if name == "watched":
                times["at"].append(time.monotonic())
            self.recorded += name == "watched"
            i += 1
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        return times


def windowed_p99(times: dict[str, list[float]], seconds: float = 10.0) -> float:
    """Median over ``seconds``-long windows of p99(instrumented) - p99(plain): steadier than one p99."""
    at = times["at"]
    if not at:
        return 0.0
    diffs = []
    start = at[0]
    n = len(times["watched"])
    while start < at[-1]:
        idx = [i for i in range(n) if start <= at[i] < start + seconds]
        if len(idx) >= 100:
            w = [times["watched"][i] for i in idx]
            p = [times["plain"][i] for i in idx if i < len(times["plain"])]
            diffs.append(pct(w, 0.99) - pct(p, 0.99))
        start += seconds
    return statistics.median(diffs) if diffs else 0.0


def delivered(url: str, project: str) -> int:
    httpx.post(url + "/api/admin/flush", timeout=120)
    r = httpx.get(url + "/api/stats/routes", params={"project": project, "hours": 2}, timeout=120)
    return int(r.json()["totals"]["requests"])


def run_mode(mode: str, fake_url: str, args: argparse.Namespace) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix=f"tt-bench-outage-{mode}-"))
    (tmp / "data").mkdir()
    server = ServerProcess(tmp / "data", port=free_port()).start()
    project = f"outage-{mode}"
    settings: dict[str, Any] = {"endpoint": server.url, "project": project, "instrument": []}
    if mode == "spool":
        settings["spool_dir"] = str(tmp / "spool")
    tokentrail.init(**settings)
    app = App(fake_url, args.rate)
    out: dict[str, Any] = {}
    try:
        before = app.run(args.before)
        server.kill()
        during = app.run(args.outage)
        out["spans_in_memory_at_restart"] = tokentrail.stats()["spans_in_memory"]
        out["spans_spooled_at_restart"] = tokentrail.stats()["spans_spooled"]
        server.start()
        restarted = time.monotonic()
        after = app.run(args.after)
        tokentrail.flush(120)
        expected = app.recorded
        wait_for(lambda: delivered(server.url, project) >= expected, 180, 1.0)
        recovery = time.monotonic() - restarted
        stats = tokentrail.stats()
        out.update({
            "added_p50_ms": round(statistics.median(during["watched"]) - statistics.median(during["plain"]), 3),
            "added_p99_ms": round(pct(during["watched"], 0.99) - pct(during["plain"], 0.99), 3),
            "added_p99_ms_10s_windows": round(windowed_p99(during), 3),
            "plain_p99_ms": round(pct(during["plain"], 0.99), 3),
            "up_added_p50_ms": round(statistics.median(before["watched"]) - statistics.median(before["plain"]), 3),
            "up_added_p99_ms": round(pct(before["watched"], 0.99) - pct(before["plain"], 0.99), 3),
            "after_added_p99_ms": round(pct(after["watched"], 0.99) - pct(after["plain"], 0.99), 3),
            "calls_during_outage": len(during["watched"]) + len(during["plain"]),
            "exceptions": app.exceptions,
            "recorded": expected,
            "delivered": delivered(server.url, project),
            "dropped": stats["spans_dropped_queue_full"] + stats["spans_dropped_memory"]
            + stats["spans_dropped_spool"],
            "export_failures": stats["export_failures"],
            "recovery_s": round(recovery - args.after, 1),  # from the end of the app's run after restart
        })
    finally:
        tokentrail.shutdown()
        server.stop()
    return {f"{mode}_{k}": v for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outage", type=float, default=60.0)
    ap.add_argument("--before", type=float, default=10.0)
    ap.add_argument("--after", type=float, default=15.0)
    ap.add_argument("--rate", type=float, default=100.0, help="app calls per second (half instrumented)")
    ap.add_argument("--modes", default="memory,spool")
    args = ap.parse_args()
    fake_port = free_port()
    fake = start_fake_llm_process(fake_port, 100)
    out: dict[str, Any] = {"outage_s": args.outage, "rate_per_s": args.rate}
    try:
        for mode in args.modes.split(","):
            out.update(run_mode(mode.strip(), f"http://127.0.0.1:{fake_port}/v1", args))
    finally:
        fake.terminate()
        fake.wait(10)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
