"""What the app's thread hands to the export thread, and the span the export thread makes of it.

The app's thread only fills a few slots (ids, times, references to the request body
and the response); ``span()`` runs in the export thread and returns a ``SpanOut``, the
one in-process shape both encoders (OTLP protobuf, JSON lines) read.
"""

from __future__ import annotations

import contextvars
import os
import random
from dataclasses import dataclass, field
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry.trace.propagation import _SPAN_KEY

SPAN_KEY = _SPAN_KEY  # where OTel keeps the current span in its context (stable since opentelemetry-api 1.0)
SUPPRESS_KEY = getattr(otel_context, "_SUPPRESS_INSTRUMENTATION_KEY", "suppress_instrumentation")

SPAN_KIND_INTERNAL, SPAN_KIND_CLIENT = 1, 3
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2

_ids = random.Random(int.from_bytes(os.urandom(16), "big"))
getrandbits = _ids.getrandbits
draw = _ids.random


def reseed_ids() -> None:
    """After fork: the child must not repeat the parent's ids."""
    _ids.seed(int.from_bytes(os.urandom(16), "big"))


@dataclass
class SpanOut:
    trace_id: int
    span_id: int
    parent_id: int
    name: str
    kind: int
    start_ns: int
    end_ns: int
    status: int
    message: str
    attrs: dict[str, Any] = field(default_factory=dict)


class Recorded:
    """Base of what goes through the queue: it knows its ids and how to become a span.

    Set on the app's thread: parent_id (and trace_id when joining a trace), ctx, start_ns (wall clock),
    t0 and t1 (perf counter at start and end); the class-level defaults save stores there.
    """

    error: BaseException | None = None
    capture: str | None = None  # the capture reason, or None
    schema: dict[str, Any] | None = None  # validate()'s attributes

    # Ids are drawn when first read (by the export thread, or by last_call() on the app's thread):
    # dict.setdefault is atomic, so both threads see the same id. A joined trace sets trace_id.
    @property
    def trace_id(self) -> int:
        d = self.__dict__
        value = d.get("_trace_id")
        return value if value is not None else d.setdefault("_trace_id", getrandbits(128))

    @trace_id.setter
    def trace_id(self, value: int) -> None:
        self.__dict__["_trace_id"] = value

    @property
    def span_id(self) -> int:
        d = self.__dict__
        value = d.get("_span_id")
        return value if value is not None else d.setdefault("_span_id", getrandbits(64))

    @span_id.setter
    def span_id(self, value: int) -> None:
        self.__dict__["_span_id"] = value

    def span(self, policy: Any) -> SpanOut:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def trace_hex(self) -> str:
        return format(self.trace_id, "032x")

    @property
    def span_hex(self) -> str:
        return format(self.span_id, "016x")


class CallRef:
    """The ids of a finished call, as returned by ``tokentrail.last_call()``."""

    __slots__ = ("trace_id", "span_id", "_record")

    def __init__(self, record: Recorded) -> None:
        self.trace_id, self.span_id, self._record = record.trace_hex, record.span_hex, record

    @property
    def request_id(self) -> str:
        return self.span_id

    def __repr__(self) -> str:
        return f"CallRef(trace_id={self.trace_id!r}, span_id={self.span_id!r})"


LAST_CALL: contextvars.ContextVar[Recorded | None] = contextvars.ContextVar("tokentrail_last_call", default=None)
