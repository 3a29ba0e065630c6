"""``@tokentrail.observe(kind=...)``: spans for the app's own steps (agent, tool, retrieval, chain).

An observed step becomes the current OTel span while it runs (a non-recording span
with our ids, attached to the OTel context), so LLM calls inside it and the app's own
OpenTelemetry spans become its children, and it sits inside the app's trace when one
is active. No OTel SDK span is built on the app's thread; the span is made in the
export thread. Arguments and return values are captured only under the content policy.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import time
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from tokentrail.privacy.redact import REDACTED_KEY, format_counts
from tokentrail.sdk import _state
from tokentrail.sdk._context import CURRENT
from tokentrail.sdk._guard import internal_error
from tokentrail.sdk._records import (
    SPAN_KIND_INTERNAL,
    STATUS_ERROR,
    STATUS_OK,
    Recorded,
    SpanOut,
    getrandbits,
)
from tokentrail.sdk.instrument._call import error_attributes

KINDS = ("agent", "tool", "retrieval", "chain", "llm", "embedding", "other")
_OPERATIONS = {"agent": ("invoke_agent", "gen_ai.agent.name"), "tool": ("execute_tool", "gen_ai.tool.name")}
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


class ObservedSpan(Recorded):
    """The handle ``with tokentrail.observe(...) as span`` gives: set attributes, input and output."""

    __slots__ = ("kind", "name", "attributes", "input", "output", "owner", "prev", "token", "has_input",
                 "has_output", "otel_ctx")

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_attributes(self, attributes: dict[str, Any]) -> None:
        self.attributes.update(attributes)

    def set_input(self, value: Any) -> None:
        """Recorded only if the content policy captures this span."""
        self.input, self.has_input = value, True

    def set_output(self, value: Any) -> None:
        self.output, self.has_output = value, True

    def span(self, policy: Any) -> SpanOut:
        a: dict[str, Any] = {"tokentrail.kind": self.kind}
        operation = _OPERATIONS.get(self.kind)
        if operation:
            a["gen_ai.operation.name"] = operation[0]
            a[operation[1]] = self.name
        status, message = STATUS_OK, ""
        if self.error is not None:
            status = STATUS_ERROR
            a.update(error_attributes(self.error))
            message = str(self.error)[:1000] or type(self.error).__name__
        if self.ctx is not None:
            a.update(self.ctx.attributes())
        for k, v in self.attributes.items():
            a[k] = v if isinstance(v, str | bool | int | float | list | tuple) else str(v)
        if self.capture:
            a["tokentrail.capture_reason"] = self.capture
            found: dict[str, int] = {}
            if self.has_input:
                a["tokentrail.input"] = policy.text(self.input, found)
            if self.has_output:
                a["tokentrail.output"] = policy.text(self.output, found)
            if found:
                a[REDACTED_KEY] = format_counts(found)
        if self.schema is not None:
            a.update(self.schema)
        end = self.start_ns + (self.t1 - self.t0)
        return SpanOut(self.trace_id, self.span_id, self.parent_id, self.name, SPAN_KIND_INTERNAL, self.start_ns,
                       end, status, message, a)


_OBSERVED: contextvars.ContextVar[ObservedSpan | None] = contextvars.ContextVar("tokentrail_observed", default=None)


def _start(owner: Any, kind: str, name: str, attributes: dict[str, Any] | None) -> ObservedSpan:
    s = ObservedSpan()
    current = otel_trace.get_current_span().get_span_context()
    if current.is_valid:
        s.trace_id, s.parent_id, flags = current.trace_id, current.span_id, current.trace_flags
    else:
        s.trace_id, s.parent_id, flags = getrandbits(128), 0, _SAMPLED
    s.span_id = getrandbits(64)
    s.kind, s.name, s.owner = kind, name, owner
    s.attributes = dict(attributes or {})
    s.ctx = CURRENT.get()
    s.error = s.capture = s.schema = s.input = s.output = None
    s.has_input = s.has_output = False
    ours = NonRecordingSpan(SpanContext(s.trace_id, s.span_id, is_remote=False, trace_flags=flags))
    s.otel_ctx = otel_trace.set_span_in_context(ours)
    s.token = otel_context.attach(s.otel_ctx)
    s.prev = _OBSERVED.get()
    _OBSERVED.set(s)
    s.start_ns = time.time_ns()
    s.t0 = time.perf_counter_ns()
    return s


def _end(s: ObservedSpan, error: BaseException | None) -> None:
    s.t1 = time.perf_counter_ns()
    s.error = error
    try:
        otel_context.detach(s.token)
    finally:
        _OBSERVED.set(s.prev)
    state = _state.STATE
    if state.exporter is None:
        return
    s.capture = state.policy.decide(error is not None, s.ctx) if state.policy is not None else None
    state.exporter.submit(s)


def _suspend(s: ObservedSpan) -> None:
    """A generator step yielded: the caller's code runs outside the step's span until the next one."""
    otel_context.detach(s.token)
    _OBSERVED.set(s.prev)


def _resume(s: ObservedSpan) -> None:
    s.token = otel_context.attach(s.otel_ctx)
    s.prev = _OBSERVED.get()
    _OBSERVED.set(s)


_MAX_ITEMS = 1000  # items of an observed generator kept as its output (when captured)


def _items_output(items: list[Any]) -> Any:
    """What an observed generator produced: its text chunks joined, else the items."""
    return "".join(items) if items and all(isinstance(i, str) for i in items) else items


class observe:  # noqa: N801 - used like a function
    """A span for one step of the app: decorator (sync and async functions and generators) or
    context manager.

    ``kind``: agent, tool, retrieval, chain (or other). ``name`` defaults to the function's
    name. Exceptions are recorded (status error, error.type) and propagate unchanged. An
    observed generator's span lasts from its first item to its end (exhausted, closed early or
    failed); its body runs inside the span, the consumer's code between items does not; its
    output is the items (text chunks joined).
    """

    def __init__(self, kind: str = "chain", name: str | None = None, *,
                 attributes: dict[str, Any] | None = None, capture_args: bool = True) -> None:
        self.kind = kind if kind in KINDS else "other"
        self.name = name
        self.attributes = attributes
        self.capture_args = capture_args

    # -- context manager

    def __enter__(self) -> ObservedSpan | None:
        if _state.STATE.exporter is None:
            return _detached(self.kind, self.name or self.kind)
        try:
            return _start(self, self.kind, self.name or self.kind, self.attributes)
        except Exception:
            internal_error("starting an observed span")
            return _detached(self.kind, self.name or self.kind)

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        s = _OBSERVED.get()
        if s is None or s.owner is not self:
            return
        try:
            _end(s, exc)
        except Exception:
            internal_error("ending an observed span")

    # -- decorator

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        name = self.name or getattr(fn, "__qualname__", None) or getattr(fn, "__name__", "step")
        if inspect.isgeneratorfunction(fn):
            return self._generator(fn, name)
        if inspect.isasyncgenfunction(fn):
            return self._async_generator(fn, name)
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                s = self._begin(name, args, kwargs)
                if s is None:
                    return await fn(*args, **kwargs)
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    self._finish(s, exc)
                    raise
                self._finish(s, None, result)
                return result
            return run_async

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            s = self._begin(name, args, kwargs)
            if s is None:
                return fn(*args, **kwargs)
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                self._finish(s, exc)
                raise
            self._finish(s, None, result)
            return result
        return run

    def _generator(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def run_gen(*args: Any, **kwargs: Any) -> Any:
            s = self._begin(name, args, kwargs)
            if s is None:
                return (yield from fn(*args, **kwargs))
            items: list[Any] = []
            gen = None
            sent: Any = None
            thrown: BaseException | None = None
            while True:  # each step runs inside the span; between steps the span is not current
                try:
                    if gen is None:
                        gen = fn(*args, **kwargs)
                    item = gen.throw(thrown) if thrown is not None else gen.send(sent)
                except StopIteration as stop:
                    self._finish(s, None, _items_output(items))
                    return stop.value
                except BaseException as exc:
                    self._finish(s, exc)
                    raise
                if self.capture_args and len(items) < _MAX_ITEMS:
                    items.append(item)
                self._step(s, _suspend)
                sent, thrown = None, None
                try:
                    sent = yield item
                except GeneratorExit:  # the consumer stopped early: not an error
                    self._step(s, _resume)
                    try:
                        gen.close()
                    finally:
                        self._finish(s, None, _items_output(items))
                    raise
                except BaseException as exc:  # thrown in by the consumer: passed to the generator
                    thrown = exc
                self._step(s, _resume)
        return run_gen

    def _async_generator(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        async def run_agen(*args: Any, **kwargs: Any) -> Any:
            s = self._begin(name, args, kwargs)
            if s is None:
                async for item in fn(*args, **kwargs):
                    yield item
                return
            items: list[Any] = []
            agen = None
            sent: Any = None
            thrown: BaseException | None = None
            while True:
                try:
                    if agen is None:
                        agen = fn(*args, **kwargs)
                    item = await (agen.athrow(thrown) if thrown is not None else agen.asend(sent))
                except StopAsyncIteration:
                    self._finish(s, None, _items_output(items))
                    return
                except BaseException as exc:
                    self._finish(s, exc)
                    raise
                if self.capture_args and len(items) < _MAX_ITEMS:
                    items.append(item)
                self._step(s, _suspend)
                sent, thrown = None, None
                try:
                    sent = yield item
                except GeneratorExit:
                    self._step(s, _resume)
                    try:
                        await agen.aclose()
                    finally:
                        self._finish(s, None, _items_output(items))
                    raise
                except BaseException as exc:
                    thrown = exc
                self._step(s, _resume)
        return run_agen

    @staticmethod
    def _step(s: ObservedSpan, move: Callable[[ObservedSpan], None]) -> None:
        try:
            move(s)
        except Exception:
            internal_error("switching an observed generator's span")

    def _begin(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ObservedSpan | None:
        if _state.STATE.exporter is None:
            return None
        try:
            s = _start(self, self.kind, name, self.attributes)
            if self.capture_args:
                s.input, s.has_input = {"args": args, "kwargs": kwargs} if kwargs else list(args), True
            return s
        except Exception:
            internal_error("starting an observed span")
            return None

    def _finish(self, s: ObservedSpan, error: BaseException | None, result: Any = None) -> None:
        try:
            if error is None and self.capture_args:
                s.output, s.has_output = result, True
            _end(s, error)
        except Exception:
            internal_error("ending an observed span")


def _detached(kind: str, name: str) -> ObservedSpan:
    """A span handle that records nothing (the SDK is not initialized)."""
    s = ObservedSpan()
    s.kind, s.name, s.attributes, s.owner = kind, name, {}, None
    s.trace_id = s.span_id = s.parent_id = 0
    s.has_input = s.has_output = False
    return s


def current_observed() -> ObservedSpan | None:
    return _OBSERVED.get()
