"""The one generic LLM instrumentor: wraps a client's ``request`` method, asks a provider adapter the rest.

``_call`` records the call (cheap, on the app's thread; the span is built in the export
thread), ``_streams`` wraps a returned stream. Patching is idempotent (a marker on the
wrapper) and undone by ``uninstrument``.
"""

from __future__ import annotations

import inspect
import time
import types
from collections.abc import Callable
from contextlib import contextmanager
from random import random
from typing import Any

from tokentrail.sdk import _state
from tokentrail.sdk._guard import internal_error
from tokentrail.sdk._records import LAST_CALL
from tokentrail.sdk.instrument._adapter import Adapter, get
from tokentrail.sdk.instrument._call import LLMCall, begin, end
from tokentrail.sdk.instrument._streams import wrap_stream

MARKER = "__tokentrail_original__"
_perf = time.perf_counter_ns


def finish(call: LLMCall, result: Any) -> Any:
    """Record a returned result; return it (a stream with its iterator wrapped)."""
    try:
        LAST_CALL.set(call)
        if call.streamed and hasattr(result, "_iterator"):
            wrap_stream(result, call)
            return result
        call.t1 = _perf()  # end(call, None) inlined, with the capture policy's and the queue's common paths
        call.streamed = False
        call.result = result
        state = _state.STATE
        policy = state.policy
        if policy is not None:
            if call.ctx is None and policy.mode == "sampled":
                if policy.rate and random() < policy.rate:
                    call.capture = "sampled"
            else:
                call.capture = policy.decide(False, call.ctx)
        exporter = state.exporter
        if exporter is not None:
            queue = exporter.queue
            queue.append(call)
            exporter.appended()
            if len(queue) >= exporter.wake_at:
                exporter.nudge()
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
