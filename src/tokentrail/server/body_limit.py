"""Bounded memory per request: every request body is counted while it streams in.

A declared ``Content-Length`` over the limit is answered 413 before a byte is read; a chunked
upload (no length) is cut off with 413 as soon as it passes the limit, so no route ever holds
more than the limit in memory, whichever way it reads its body (``request.body()``, a pydantic
model, a stream). The gateway reads its own bodies with the same limit (``gateway/forward.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tokentrail.errors import PayloadTooLarge


class BodyLimit:
    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            return await _too_large(send, limit)
        seen = 0
        over = False
        started = False

        async def counted_receive() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    raise PayloadTooLarge(f"body is over {limit} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if over:  # whatever the route made of the error (a 400 from a body parser ...), it is a 413
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await _too_large(send, limit)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except PayloadTooLarge:
            if not started:
                await _too_large(send, limit)


async def _too_large(send: Send, limit: int) -> None:
    body = orjson.dumps({"error": f"body is over {limit} bytes"})
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def limit_for(path: str) -> int:
    """Batch file chunks may be large (``tokentrail ingest``); every other body is at most 64 MiB."""
    from tokentrail.ingest.otlp import MAX_BODY_BYTES
    from tokentrail.server.routes.batch import MAX_CHUNK_BYTES

    return MAX_CHUNK_BYTES if path.startswith("/api/ingest/files/") else MAX_BODY_BYTES
