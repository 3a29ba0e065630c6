"""Streams: the stream object the app holds keeps its type; its inner iterator is replaced.

TTFT and usage come from the chunks the app reads. The export thread gets the first chunk
and the last ones (a bounded deque: no Python call per chunk), plus the count; all of them
(up to ``MAX_CHUNKS``) when the call's content will be captured (decided when the stream
starts) or the request offers tools (tool names come early). Holding every chunk until
export would cost the app more (memory and garbage-collector work).
"""

from __future__ import annotations

import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from tokentrail.sdk import _state
from tokentrail.sdk._guard import internal_error
from tokentrail.sdk.instrument._call import LLMCall, end

MAX_CHUNKS = 4096  # chunks kept (the first, and the last ones) when the content is captured or tools are used
TAIL = 8  # otherwise: the first chunk and the last 8 (model, usage, finish reason, the final Responses event)
_perf = time.perf_counter_ns


class _Guard:
    """Ends the call once: at the stream's end, on an error, on close, or when the stream is dropped unread
    (the generator's frame holds the only reference: freeing it runs ``__del__``)."""

    __slots__ = ("call", "chunks", "count", "ended")

    def __init__(self, call: LLMCall) -> None:
        self.call, self.chunks, self.count, self.ended = call, [], 0, False

    def close(self, first: Any, tail: deque[Any], count: int, error: BaseException | None,
              early: bool = False) -> None:
        """The stream ended: hand the first chunk and the kept tail to the call, then end it."""
        self.chunks = list(tail) if count <= len(tail) else [first, *tail]
        self.count = count
        self.finish(error, early)

    def finish(self, error: BaseException | None, early: bool = False) -> None:
        if self.ended:
            return
        self.ended = True
        try:
            self.call.chunks = self.chunks
            self.call.chunk_count = self.count
            self.call.early_close = early
            end(self.call, error)
        except Exception:
            internal_error("recording a stream", reraise=False)

    def __del__(self) -> None:
        if not self.ended:
            self.finish(None, early=True)


def _first_token(guard: _Guard, chunk: Any, is_token: Callable[[Any], bool]) -> bool:
    if is_token(chunk):
        guard.call.ttft_ns = _perf()
        return True
    return False


def _sync(it: Any, guard: _Guard, keep: int) -> Iterator[Any]:
    """Yield the chunks; keep the first one and the last ``keep`` (C-level deque: no Python call per chunk)."""
    tail: deque[Any] = deque(maxlen=keep)
    append, is_token, found, n, first = tail.append, guard.call.adapter.is_token, False, 0, None
    try:
        for chunk in it:
            n += 1
            append(chunk)
            if not found:
                if first is None:
                    first = chunk
                found = _first_token(guard, chunk, is_token)
            yield chunk
    except GeneratorExit:
        guard.close(first, tail, n, None, early=True)
        close = getattr(it, "close", None)
        if close is not None:
            close()
        raise
    except BaseException as exc:
        guard.close(first, tail, n, exc)
        raise
    guard.close(first, tail, n, None)


async def _async(it: Any, guard: _Guard, keep: int) -> AsyncIterator[Any]:
    tail: deque[Any] = deque(maxlen=keep)
    append, is_token, found, n, first = tail.append, guard.call.adapter.is_token, False, 0, None
    try:
        async for chunk in it:
            n += 1
            append(chunk)
            if not found:
                if first is None:
                    first = chunk
                found = _first_token(guard, chunk, is_token)
            yield chunk
    except GeneratorExit:
        guard.close(first, tail, n, None, early=True)
        aclose = getattr(it, "aclose", None)
        if aclose is not None:
            await aclose()
        raise
    except BaseException as exc:
        guard.close(first, tail, n, exc)
        raise
    guard.close(first, tail, n, None)


def wrap_stream(stream: Any, call: LLMCall) -> None:
    """Replace ``stream._iterator`` by a generator over it; ``stream.close()`` also ends the record.

    The new ``close`` reaches the stream through a weak reference: a dropped stream must stay
    free of reference cycles, so that it is closed (and its connection released) at once.
    """
    inner = stream._iterator
    original_close = type(stream).close
    ref = weakref.ref(stream)
    guard = _Guard(call)
    policy = _state.STATE.policy
    pre = call.pre_capture = policy.wants_content(call.ctx) if policy is not None else None
    body = call.body
    keep = MAX_CHUNKS if pre is not None or (type(body) is dict and body.get("tools")) else TAIL
    if hasattr(inner, "__anext__"):
        agen = _async(inner, guard, keep)
        stream._iterator = agen

        async def aclose() -> None:
            try:
                target = ref()
                if target is not None:
                    await original_close(target)
            finally:
                await agen.aclose()
                guard.finish(None, early=True)

        stream.close = aclose
    else:
        gen = _sync(inner, guard, keep)
        stream._iterator = gen

        def close() -> None:
            try:
                target = ref()
                if target is not None:
                    original_close(target)
            finally:
                gen.close()
                guard.finish(None, early=True)

        stream.close = close
