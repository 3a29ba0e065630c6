"""Reads see what was acknowledged: an ASGI middleware that has the spooled calls inserted before a read.

While nobody reads, a trickle of calls batches for up to ``batch_seconds_unwatched`` (ingest/spool.py:
every INSERT costs the engine ~0.3 s of CPU however few rows it holds). Every read — a GET under
``/api/`` (the UI's data calls, Grafana, the CLI through the server), a ``/metrics`` scrape, an alert
rule's preview or test — first calls ``Runtime.fresh``: the batching goes back to ``batch_seconds`` for
the next few minutes, and calls acknowledged more than ``batch_seconds`` ago are inserted before the
read runs. So ``batch_seconds`` stays the promise a reader sees. A read costs one spool lock when there
is nothing to wait for; a flood of reads forces at most one insert per ``batch_seconds``, as steady
traffic does.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool

READ_POSTS = frozenset({"/api/alerts/preview", "/api/alerts/test"})  # POSTs that only read


def is_read(method: str, path: str) -> bool:
    if method == "GET":
        return path.startswith("/api/") or path == "/metrics"
    return method == "POST" and path in READ_POSTS


class FreshReads:
    def __init__(self, app: Any, runtime: Any) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and is_read(scope.get("method", ""), scope.get("path", "")):
            await run_in_threadpool(self.runtime.fresh)
        await self.app(scope, receive, send)
