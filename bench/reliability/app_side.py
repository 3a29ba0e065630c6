"""App side: the observed app while the tokentrail server is down, slow or failing. Prints one JSON line.

    python bench/reliability/app_side.py [--outage 60] [--broken 30] [--slow-seconds 5] [--rate 100]

- ``down``: bench/sdk_outage.py as it is (server SIGKILLed for ``--outage`` s, memory and spool
  modes); its figures under ``down``. Its short version is tests/sdk/test_outage.py.
- ``slow`` / ``http500``: the SDK exports through a relay in front of a real server; for
  ``--broken`` s the relay holds every export ``--slow-seconds`` before forwarding it (``slow``) or
  answers 500 without forwarding (``http500``), then passes everything. The app (sdk_outage's
  ``App``: sequential calls to the fake provider, alternating instrumented / plain) runs all along.
  Figures per mode: ``added_p50_ms`` / ``added_p99_ms`` while broken (target p99 <= 1 ms),
  ``exceptions`` (target 0), ``recorded`` / ``delivered`` LLM spans after recovery (target equal),
  ``recovery_s`` (relay mended -> all delivered).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from _common import ROOT, emit, scratch

sys.path.insert(0, str(ROOT / "bench"))

from sdk_outage import App, delivered, pct  # noqa: E402

import tokentrail  # noqa: E402
from tests.support import ServerProcess, free_port, start_fake_llm_process, wait_for  # noqa: E402


class _Relay(BaseHTTPRequestHandler):
    """Forwards exports to ``target``; ``mode`` 'slow' holds them first, '500' refuses them."""

    target = ""
    mode = "pass"
    slow_seconds = 5.0

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.mode == "500":
            self._answer(500, b'{"error":"relay says 500"}', "application/json")
            return
        if self.mode == "slow":
            time.sleep(self.slow_seconds)  # the misbehaviour under test: a server that takes 5 s to answer
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        try:
            r = httpx.post(self.target + self.path, content=body, headers=headers, timeout=60)
        except httpx.HTTPError:
            self._answer(502, b"", "text/plain")
            return
        self._answer(r.status_code, r.content, r.headers.get("content-type", "application/octet-stream"))

    def _answer(self, status: int, body: bytes, media: str) -> None:
        self.send_response(status)
        self.send_header("content-type", media)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def broken(mode: str, fake_url: str, args: argparse.Namespace) -> dict[str, Any]:
    root = scratch(f"app-{mode}")
    (root / "data").mkdir()
    server = ServerProcess(root / "data").start()
    _Relay.target, _Relay.mode, _Relay.slow_seconds = server.url, "pass", args.slow_seconds
    relay = ThreadingHTTPServer(("127.0.0.1", free_port()), _Relay)
    threading.Thread(target=relay.serve_forever, daemon=True).start()
    project = f"app-{mode}"
    tokentrail.init(endpoint=f"http://127.0.0.1:{relay.server_port}", project=project, instrument=[])
    app = App(fake_url, args.rate)
    try:
        app.run(args.before)
        _Relay.mode = "slow" if mode == "slow" else "500"
        during = app.run(args.broken)
        _Relay.mode = "pass"
        mended = time.monotonic()
        app.run(args.after)
        tokentrail.flush(120)
        try:
            wait_for(lambda: delivered(server.url, project) >= app.recorded, args.deliver_timeout, 1.0)
            recovery: float | None = round(time.monotonic() - mended - args.after, 1)
        except TimeoutError:
            recovery = None  # not everything arrived within --deliver-timeout
        stats = tokentrail.stats()
        return {
            "added_p50_ms": round(statistics.median(during["watched"]) - statistics.median(during["plain"]), 3),
            "added_p99_ms": round(pct(during["watched"], 0.99) - pct(during["plain"], 0.99), 3),
            "exceptions": app.exceptions, "recorded": app.recorded, "delivered": delivered(server.url, project),
            "recovery_s": recovery, "sdk_stats": {k: v for k, v in stats.items() if isinstance(v, int | float)},
        }
    finally:
        tokentrail.shutdown()
        relay.shutdown()
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outage", type=float, default=60.0, help="server down (bench/sdk_outage.py)")
    ap.add_argument("--broken", type=float, default=30.0, help="seconds the relay is slow / answers 500")
    ap.add_argument("--slow-seconds", type=float, default=5.0)
    ap.add_argument("--before", type=float, default=5.0)
    ap.add_argument("--after", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--modes", default="down,slow,http500")
    ap.add_argument("--deliver-timeout", type=float, default=180.0)
    args = ap.parse_args()
    modes = args.modes.split(",")
    out: dict[str, Any] = {"scenario": "app_side"}
    if "down" in modes:
        r = subprocess.run([sys.executable, str(ROOT / "bench" / "sdk_outage.py"), "--outage", str(args.outage),
                            "--rate", str(args.rate)], capture_output=True, text=True, cwd=ROOT)
        lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
        out["down"] = json.loads(lines[-1]) if lines else {"error": r.stderr[-2000:]}
    fake_port = free_port()
    fake = start_fake_llm_process(fake_port, 100)
    try:
        for mode in (m for m in modes if m in ("slow", "http500")):
            out[mode] = broken(mode, f"http://127.0.0.1:{fake_port}/v1", args)
    finally:
        fake.terminate()
        fake.wait(10)
    emit(out)


if __name__ == "__main__":
    main()
