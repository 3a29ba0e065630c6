"""JSON / Server-Sent-Events plumbing with the timing and failure scenarios applied."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from .scenarios import Scenario

SEQ = web.RequestKey("fake_llm_seq", int)  # sequence number of the recorded request
BODY = web.RequestKey("fake_llm_body", dict)  # its parsed JSON body (a dict for POST routes)

try:
    import orjson

    def dumps(value: Any) -> bytes:
        return orjson.dumps(value)

except ImportError:  # pragma: no cover - orjson is optional

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(value: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=dumps(value), status=status, headers=headers, content_type="application/json")


def sse_bytes(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, bytes) else dumps(data)
    prefix = b"event: " + event.encode() + b"\n" if event else b""
    return prefix + b"data: " + payload + b"\n\n"


async def sleep_ms(milliseconds: int) -> None:
    if milliseconds > 0:
        await asyncio.sleep(milliseconds / 1000)


async def reply_json(
    request: web.Request, scenario: Scenario, value: Any, headers: dict[str, str]
) -> web.Response:
    """Non-streaming answer: waits ``delay`` + ``slow-first-token``; ``abort-after`` drops the connection."""
    await sleep_ms(scenario.delay_ms + scenario.slow_first_token_ms)
    if scenario.abort_after is not None:
        if request.transport is not None:
            request.transport.close()
        raise StreamStopped(web.Response(status=599))
    return json_response(value, headers=headers)


class StreamStopped(Exception):
    """Unwinds a handler whose stream ended early (dropped on purpose, errored, or client gone)."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__("stream stopped")
        self.response = response


class SSEWriter:
    """Writes one SSE stream and applies the stream scenarios.

    * ``delay`` before the response headers, ``slow-first-token`` before the first event of the body,
      ``chunk-delay`` between content events;
    * ``abort-after:<n>``: the connection is closed (no terminating chunk) instead of the (n+1)-th content
      event, or at the end of the content if there are only n content events or fewer;
    * ``stream-error-after:<n>``: same place, but the provider's in-stream error event is sent and the
      stream is closed cleanly. ``error_event`` builds that event.

    "Content events" are the deltas carrying text or tool arguments (``send(..., content=True)``).
    """

    def __init__(
        self,
        request: web.Request,
        scenario: Scenario,
        headers: dict[str, str],
        error_event: Callable[[], bytes],
        *,
        sequence_numbers: bool = False,
    ) -> None:
        self.request = request
        self.scenario = scenario
        self.response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
                **headers,
            }
        )
        self.error_event = error_event
        self.sequence_numbers = sequence_numbers
        self.sequence = 0
        self.content_sent = 0
        self._first = True

    async def start(self) -> None:
        await sleep_ms(self.scenario.delay_ms)
        await self.response.prepare(self.request)

    def next_sequence(self) -> int:
        self.sequence += 1
        return self.sequence - 1

    async def send(self, data: dict[str, Any], event: str | None = None, *, content: bool = False) -> None:
        if content:
            await self._check_stop(at_end=False)
            if self.content_sent:
                await sleep_ms(self.scenario.chunk_delay_ms)
            self.content_sent += 1
        if self.sequence_numbers:
            data["sequence_number"] = self.next_sequence()
        await self.write(sse_bytes(data, event))

    async def end_of_content(self) -> None:
        await self._check_stop(at_end=True)

    async def write(self, payload: bytes) -> None:
        if self._first:
            self._first = False
            await sleep_ms(self.scenario.slow_first_token_ms)
        try:
            await self.response.write(payload)
        except ConnectionError as exc:  # the client went away
            raise StreamStopped(self.response) from exc

    async def finish(self) -> web.StreamResponse:
        try:
            await self.response.write_eof()
        except ConnectionError:
            pass
        return self.response

    async def _check_stop(self, *, at_end: bool) -> None:
        scenario, sent = self.scenario, self.content_sent
        if scenario.abort_after is not None and (at_end or sent >= scenario.abort_after):
            transport = self.request.transport
            if transport is not None:
                transport.close()
            raise StreamStopped(self.response)
        if scenario.stream_error_after is not None and (at_end or sent >= scenario.stream_error_after):
            await self.write(self.error_event())
            await self.finish()
            raise StreamStopped(self.response)
