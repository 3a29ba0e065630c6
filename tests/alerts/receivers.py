"""Local stand-ins for Slack, PagerDuty and webhook endpoints: real HTTP servers on loopback that
record every request and answer with a scripted status (to test retries and isolation)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Endpoint:
    url: str
    statuses: list[int] = field(default_factory=list)  # answered in order; then `default`
    default: int = 200
    delay: float = 0.0
    answer: bytes = b"ok"
    received: list[Received] = field(default_factory=list)
    attempts: int = 0

    def wait_for(self, n: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.received


@contextmanager
def endpoint(**kwargs: Any) -> Iterator[Endpoint]:
    ep = Endpoint(url="", **kwargs)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            ep.attempts += 1
            if ep.delay:
                time.sleep(ep.delay)
            status = ep.statuses.pop(0) if ep.statuses else ep.default
            if status < 300:
                ep.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if ep.answer.startswith(b"{") else "text/plain")
            self.send_header("Content-Length", str(len(ep.answer)))
            self.end_headers()
            self.wfile.write(ep.answer)

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ep.url = f"http://127.0.0.1:{srv.server_address[1]}/hook"
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield ep
    finally:
        srv.shutdown()
        srv.server_close()
