"""The one generic LLM instrumentor: wraps a client's ``request`` method, asks a provider adapter the rest.

On the app's thread a call costs: one dict lookup of the endpoint, a read of the OTel
current span and of our context, two clock reads, one id draw and one append to a
bounded deque. Everything else (reading the request body and the response, tokens,
content, OTLP encoding) happens in the export thread, from the references kept here.
Streams are wrapped by replacing the stream object's inner iterator (the object the
app holds keeps its type): TTFT and usage come from the chunks the app reads.

Patching is idempotent (a marker on the wrapper) and undone by ``uninstrument``.
"""

from __future__ import annotations

import inspect
import json
import time
import types
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from tokentrail.sdk import _state
from tokentrail.sdk._context import CURRENT
from tokentrail.sdk._guard import internal_error
from tokentrail.sdk._records import (
    LAST_CALL,
    SPAN_KIND_CLIENT,
    STATUS_ERROR,
    STATUS_OK,
    Recorded,
    SpanOut,
    getrandbits,
    parent_context,
)
from tokentrail.sdk.instrument._adapter import Adapter, get

MARKER = "__tokentrail_original__"
MAX_CHUNKS = 4096  # chunks kept per stream; past it the first MAX-4 and the last 4 are kept
_perf = time.perf_counter_ns


class LLMCall(Recorded):
    __slots__ = ("adapter", "operation", "kind", "body", "result", "streamed", "chunks", "ttft_ns", "early_close")

    def span(self, policy: Any) -> SpanOut:
        adapter: Adapter = self.adapter
        body = self.body if isinstance(self.body, dict) else {}
        operation = adapter.operation_names.get(self.operation, self.operation)
        a: dict[str, Any] = {"tokentrail.kind": self.kind, "gen_ai.operation.name": operation,
                             "gen_ai.provider.name": adapter.provider}
        a.update(adapter.request_attributes(self.operation, body))
        status, message = STATUS_OK, ""
        output: Any = None
        if self.streamed:
            a["tokentrail.streamed"] = True
            if self.ttft_ns:
                a["tokentrail.ttft_ms"] = round((self.ttft_ns - self.t0) / 1e6, 3)
            if self.early_close:
                a["tokentrail.stream_closed_early"] = True
            a.update(adapter.stream_attributes(self.operation, self.chunks or [], body))
            output = adapter.stream_output(self.operation, self.chunks or []) if self.capture else None
        elif self.error is None:
            result = _plain_result(self.result)
            if result is not None:
                a.update(adapter.response_attributes(self.operation, result))
                output = adapter.output(self.operation, result) if self.capture else None
        if self.error is not None:
            status = STATUS_ERROR
            a.update(error_attributes(self.error))
            message = _message(self.error)
        elif "http.response.status_code" not in a:
            a["http.response.status_code"] = 200
        if self.ctx is not None:
            a.update(self.ctx.attributes())
        if self.capture:
            a["tokentrail.capture_reason"] = self.capture
            a["tokentrail.input"] = policy.text(adapter.input(self.operation, body))
            if output is not None:
                a["tokentrail.output"] = policy.text(output)
        if self.schema is not None:
            a.update(self.schema)
        model = a.get("gen_ai.request.model") or a.get("gen_ai.response.model") or ""
        end = self.start_ns + (self.t1 - self.t0)
        return SpanOut(self.trace_id, self.span_id, self.parent_id, f"{operation} {model}".strip(),
                       SPAN_KIND_CLIENT, self.start_ns, end, status, message, {k: v for k, v in a.items()
                                                                               if v is not None})


def _plain_result(result: Any) -> Any:
    """The parsed response, or the JSON of a raw response (``with_raw_response``) that was already read."""
    raw = getattr(result, "http_response", None)
    if raw is None:
        return result
    if getattr(raw, "_content", None) is None:  # never read the body from this thread
        return None
    try:
        return json.loads(raw._content)
    except ValueError:
        return None


def _message(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return str(text)[:1000]


def error_attributes(exc: BaseException) -> dict[str, Any]:
    a: dict[str, Any] = {"error.type": type(exc).__name__}
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        a["http.response.status_code"] = status
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is not None:
        try:
            retry_after = headers.get("retry-after")
            if retry_after:
                a["http.response.header.retry-after"] = [str(retry_after)]
            request_id = headers.get("x-request-id") or headers.get("request-id")
            if request_id:
                a["gen_ai.response.provider_request_id"] = str(request_id)
        except Exception:  # headers of an odd type: the error itself is what matters
            pass
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error") if isinstance(body.get("error"), dict) else body
        if err.get("code"):
            a["tokentrail.error_code"] = str(err["code"])
        elif err.get("type"):
            a["tokentrail.error_code"] = str(err["type"])
    return a


# -- the app's thread


def begin(adapter: Adapter, options: Any, stream: bool) -> LLMCall | None:
    exporter = _state.STATE.exporter
    if exporter is None:
        return None
    url = options.url
    route = adapter.routes.get(url)
    if route is None:
        if "?" not in url:
            return None
        route = adapter.routes.get(url.partition("?")[0])
        if route is None:
            return None
    parent = parent_context()
    if parent is None:
        return None
    call = LLMCall()
    call.trace_id = parent[0] or getrandbits(128)
    call.parent_id = parent[1]
    call.span_id = getrandbits(64)
    call.adapter = adapter
    call.operation, call.kind = route
    call.body = options.json_data
    call.streamed = stream
    call.ctx = CURRENT.get()
    call.result = call.error = call.chunks = call.schema = None
    call.ttft_ns = 0
    call.early_close = False
    call.start_ns = time.time_ns()
    call.t0 = _perf()
    return call


def end(call: LLMCall, error: BaseException | None) -> None:
    """Finish a call (non-streamed, or a stream at its end) and queue it."""
    call.t1 = _perf()
    call.error = error
    state = _state.STATE
    call.capture = state.policy.decide(error is not None, call.ctx) if state.policy is not None else None
    exporter = state.exporter
    if exporter is not None:
        exporter.submit(call)


def finish(call: LLMCall, result: Any) -> Any:
    """Record a returned result; return it (a stream with its iterator wrapped)."""
    try:
        LAST_CALL.set(call)
        if call.streamed and hasattr(result, "_iterator"):
            wrap_stream(result, call)
        else:
            call.streamed = False
            call.result = result
            end(call, None)
    except Exception:
        internal_error("recording an LLM call")
    return result


def fail(call: LLMCall, exc: BaseException) -> None:
    try:
        LAST_CALL.set(call)
        call.streamed = False
        end(call, exc)
    except Exception:
        internal_error("recording a failed LLM call")


# -- streams


class _Chunks:
    """Shared by the sync and async stream iterators: keeps chunks, finds the first token, ends once."""

    __slots__ = ("call", "chunks", "ended", "is_token")

    def __init__(self, call: LLMCall) -> None:
        self.call, self.chunks, self.ended = call, [], False
        self.is_token: Callable[[Any], bool] | None = call.adapter.is_token

    def add(self, chunk: Any) -> None:
        chunks = self.chunks
        chunks.append(chunk)
        if len(chunks) > MAX_CHUNKS:
            del chunks[MAX_CHUNKS - 4]
        if self.is_token is not None and self.is_token(chunk):
            self.call.ttft_ns = _perf()
            self.is_token = None

    def finish(self, error: BaseException | None, early: bool = False) -> None:
        if self.ended:
            return
        self.ended = True
        try:
            self.call.chunks = self.chunks
            self.call.early_close = early
            end(self.call, error)
        except Exception:
            internal_error("recording a stream", reraise=False)


class SyncStreamIterator(_Chunks):
    __slots__ = ("_it",)

    def __init__(self, it: Any, call: LLMCall) -> None:
        super().__init__(call)
        self._it = it

    def __iter__(self) -> SyncStreamIterator:
        return self

    def __next__(self) -> Any:
        try:
            chunk = self._it.__next__()
        except StopIteration:
            self.finish(None)
            raise
        except BaseException as exc:
            self.finish(exc)
            raise
        self.add(chunk)
        return chunk

    def close(self) -> None:
        try:
            close = getattr(self._it, "close", None)
            if close is not None:
                close()
        finally:
            self.finish(None, early=True)

    def __del__(self) -> None:
        if not self.ended:
            self.finish(None, early=True)


class AsyncStreamIterator(_Chunks):
    __slots__ = ("_it",)

    def __init__(self, it: Any, call: LLMCall) -> None:
        super().__init__(call)
        self._it = it

    def __aiter__(self) -> AsyncStreamIterator:
        return self

    async def __anext__(self) -> Any:
        try:
            chunk = await self._it.__anext__()
        except StopAsyncIteration:
            self.finish(None)
            raise
        except BaseException as exc:
            self.finish(exc)
            raise
        self.add(chunk)
        return chunk

    async def aclose(self) -> None:
        try:
            aclose = getattr(self._it, "aclose", None)
            if aclose is not None:
                await aclose()
        finally:
            self.finish(None, early=True)

    def __del__(self) -> None:
        if not self.ended:
            self.finish(None, early=True)


def wrap_stream(stream: Any, call: LLMCall) -> None:
    inner = stream._iterator
    original_close = stream.close
    if inspect.isasyncgen(inner) or hasattr(inner, "__anext__"):
        wrapped_async = AsyncStreamIterator(inner, call)
        stream._iterator = wrapped_async

        async def aclose() -> None:
            try:
                await original_close()
            finally:
                await wrapped_async.aclose()

        stream.close = aclose
    else:
        wrapped = SyncStreamIterator(inner, call)
        stream._iterator = wrapped

        def close() -> None:
            try:
                original_close()
            finally:
                wrapped.close()

        stream.close = close


# -- patching


def _sync_wrapper(original: Callable[..., Any], adapter: Adapter) -> Callable[..., Any]:
    def request(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
        call = None
        try:
            call = begin(adapter, options, bool(kwargs.get("stream")))
        except Exception:
            internal_error("starting an LLM call record")
        if call is None:
            return original(self, cast_to, options, *args, **kwargs)
        try:
            result = original(self, cast_to, options, *args, **kwargs)
        except BaseException as exc:
            fail(call, exc)
            raise
        return finish(call, result)

    setattr(request, MARKER, original)
    return request


def _async_wrapper(original: Callable[..., Any], adapter: Adapter) -> Callable[..., Any]:
    async def request(self: Any, cast_to: Any, options: Any, *args: Any, **kwargs: Any) -> Any:
        call = None
        try:
            call = begin(adapter, options, bool(kwargs.get("stream")))
        except Exception:
            internal_error("starting an LLM call record")
        if call is None:
            return await original(self, cast_to, options, *args, **kwargs)
        try:
            result = await original(self, cast_to, options, *args, **kwargs)
        except BaseException as exc:
            fail(call, exc)
            raise
        return finish(call, result)

    setattr(request, MARKER, original)
    return request


def is_instrumented(target: Any) -> bool:
    return hasattr(getattr(target, "request", None), MARKER)


def instrument(target: Any, provider: str) -> bool:
    """Wrap ``target.request`` (a client class, or one client instance). False if it already was."""
    if is_instrumented(target):
        return False
    adapter = get(provider)
    if isinstance(target, type):
        original = target.request
        make = _async_wrapper if inspect.iscoroutinefunction(original) else _sync_wrapper
        wrapper = make(original, adapter)
        wrapper.__tokentrail_owned__ = "request" in target.__dict__  # type: ignore[attr-defined]
        target.request = wrapper
    else:
        original = type(target).request
        make = _async_wrapper if inspect.iscoroutinefunction(original) else _sync_wrapper
        target.request = types.MethodType(make(original, adapter), target)
    return True


def uninstrument(target: Any) -> None:
    current = getattr(target, "request", None)
    if not hasattr(current, MARKER):
        return
    if isinstance(target, type):
        if getattr(current, "__tokentrail_owned__", False):
            target.request = getattr(current, MARKER)
        else:
            del target.request
    else:
        del target.request


@contextmanager
def instrumented(targets: list[Any], provider: str) -> Any:
    """Instrument ``targets`` for the duration of a ``with`` block (tests, scripts)."""
    done = [t for t in targets if instrument(t, provider)]
    try:
        yield
    finally:
        for t in done:
            uninstrument(t)
