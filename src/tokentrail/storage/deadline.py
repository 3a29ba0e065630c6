"""How long a read may wait for the store: a deadline set per HTTP read request.

The embedded engine runs one statement at a time (the backend's lock), so a read queued behind a
long statement would wait without bound. A GET request sets a deadline (``--query-timeout``); a read
that cannot start before it raises ``StoreBusy`` (HTTP 503 + Retry-After), and the ClickHouse-server
backend passes the time left as ``max_execution_time``. Background work (inserts, rollups) sets no
deadline and waits its turn.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any

_deadline: ContextVar[float | None] = ContextVar("tokentrail_query_deadline", default=None)


def left() -> float | None:
    """Seconds left before the current request's deadline (None: no deadline)."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


class ReadDeadline:
    """ASGI middleware: every GET request's reads get ``seconds`` to start."""

    def __init__(self, app: Any, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return
        token = _deadline.set(time.monotonic() + self.seconds)
        try:
            await self.app(scope, receive, send)
        finally:
            _deadline.reset(token)
