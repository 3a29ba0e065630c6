"""``tokentrail.context(...)``: who and what a call is for, set once and inherited.

The context is one immutable ``Ctx`` in a ``ContextVar``, so it follows the app's
control flow: nested ``with``/decorated calls merge into it (tags are added, metadata
keys are added or replaced, the other fields are replaced), asyncio tasks inherit it
(they copy the context when created), and so do threads when ``propagate_threads`` is
on (``threading.Thread.start`` and ``ThreadPoolExecutor.submit`` then run the target in
a copy of the starting thread's context, which also carries the OTel current span).
Without it, use ``contextvars.copy_context().run(fn)``; ``asyncio.to_thread`` copies
the context by itself, ``loop.run_in_executor`` does only with propagation on.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tokentrail.sdk._records import LAST_CALL

_FIELDS = ("user_id", "session_id", "route", "customer")


class Ctx:
    """One frame of context; ``prev`` is the frame it was merged onto (restored on exit)."""

    __slots__ = ("user_id", "session_id", "route", "customer", "tags", "metadata", "capture", "prev", "_attrs")

    def __init__(self, user_id: str | None = None, session_id: str | None = None, route: str | None = None,
                 customer: str | None = None, tags: tuple[str, ...] = (), metadata: Mapping[str, Any] | None = None,
                 capture: str | None = None, prev: Ctx | None = None) -> None:
        self.user_id, self.session_id, self.route, self.customer = user_id, session_id, route, customer
        self.tags = tags
        self.metadata = dict(metadata or {})
        self.capture = capture
        self.prev = prev
        self._attrs: dict[str, Any] | None = None

    def attributes(self) -> dict[str, Any]:
        """Span attributes of this context (computed once, in the export thread)."""
        if self._attrs is None:
            a: dict[str, Any] = {}
            for name, key in (("user_id", "user.id"), ("session_id", "session.id"), ("route", "tokentrail.route"),
                              ("customer", "tokentrail.customer")):
                value = getattr(self, name)
                if value:
                    a[key] = str(value)
            if self.tags:
                a["tokentrail.tags"] = list(self.tags)
            for k, v in self.metadata.items():
                a[f"tokentrail.metadata.{k}"] = v if isinstance(v, str | int | float | bool) else str(v)
            self._attrs = a
        return self._attrs


CURRENT: contextvars.ContextVar[Ctx | None] = contextvars.ContextVar("tokentrail_context", default=None)


def _merge(prev: Ctx | None, values: dict[str, Any]) -> Ctx:
    base = prev or Ctx()
    tags = base.tags + tuple(t for t in values.get("tags", ()) if t not in base.tags)
    metadata = {**base.metadata, **(values.get("metadata") or {})}
    kw = {f: values[f] if values.get(f) is not None else getattr(base, f) for f in _FIELDS}
    capture = values.get("capture") or base.capture
    return Ctx(**kw, tags=tags, metadata=metadata, capture=capture, prev=prev)


class context:  # noqa: N801 - used like a function: ``with tokentrail.context(...)`` / ``@tokentrail.context(...)``
    """Set user, session, route (feature), customer, tags and metadata for every span inside.

    A context manager and a decorator (sync and async functions). ``capture="always"``
    flags the calls inside for content capture (``"off"`` excludes them).
    """

    def __init__(self, *, user_id: str | None = None, session_id: str | None = None, route: str | None = None,
                 customer: str | None = None, tags: Iterable[str] | None = None,
                 metadata: Mapping[str, Any] | None = None, capture: str | None = None) -> None:
        self._values: dict[str, Any] = {"user_id": user_id, "session_id": session_id, "route": route,
                                        "customer": customer, "tags": tuple(str(t) for t in tags or ()),
                                        "metadata": dict(metadata or {}), "capture": capture}

    def __enter__(self) -> context:
        CURRENT.set(_merge(CURRENT.get(), self._values))
        LAST_CALL.set(None)  # feedback()/validate() inside link to calls made inside (or later), not before
        return self

    def __exit__(self, *exc: object) -> None:
        current = CURRENT.get()
        CURRENT.set(current.prev if current is not None else None)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with self:
                    return await fn(*args, **kwargs)
            return run_async

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            with self:
                return fn(*args, **kwargs)
        return run


def current() -> Ctx | None:
    return CURRENT.get()


# -- threads: run targets in a copy of the starting thread's context

_ORIGINAL: dict[str, Any] = {}


def _start(self: threading.Thread) -> None:
    ctx = contextvars.copy_context()
    run = self.run
    self.run = functools.partial(ctx.run, run)  # type: ignore[method-assign]
    _ORIGINAL["start"](self)


def _submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    return _ORIGINAL["submit"](self, contextvars.copy_context().run, fn, *args, **kwargs)


def propagate_to_threads() -> None:
    """Patch Thread.start and ThreadPoolExecutor.submit (idempotent)."""
    if "start" in _ORIGINAL:
        return
    _ORIGINAL["start"], _ORIGINAL["submit"] = threading.Thread.start, ThreadPoolExecutor.submit
    threading.Thread.start = _start  # type: ignore[method-assign]
    ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign]


def stop_propagating_to_threads() -> None:
    if "start" in _ORIGINAL:
        threading.Thread.start = _ORIGINAL.pop("start")  # type: ignore[method-assign]
        ThreadPoolExecutor.submit = _ORIGINAL.pop("submit")  # type: ignore[method-assign]
