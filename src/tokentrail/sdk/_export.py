"""The export thread: bounded queue in, batches out, never blocking the app.

The app's thread appends a record to a ``deque(maxlen=queue_size)``: when the export
thread falls behind the oldest records are dropped, and counted (appended - taken -
waiting). The export thread turns records into spans, hands batches to a sink (the
server over OTLP/HTTP, or log files) and retries with backoff there.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from typing import Any

from opentelemetry import context as otel_context

from tokentrail.sdk._guard import ERRORS, internal_error
from tokentrail.sdk._records import SUPPRESS_KEY, Recorded

YIELD_EVERY = 8  # records converted between two hand-overs of the GIL (a record takes ~20-60 us)


def yield_gil() -> None:
    """Let the app's threads run: a real sleep hands the GIL over; ``sleep(0)`` often would not."""
    time.sleep(0.00005)


class Counters:
    """What the sinks count (each counter has one writer: the export thread)."""

    def __init__(self) -> None:
        self.spans_exported = 0
        self.spans_rejected = 0  # refused by the server (bad data): not retried
        self.spans_failed = 0  # given up after repeated server errors
        self.spans_dropped_memory = 0  # unsent batches over memory_mb while the server was down
        self.spans_unconvertible = 0  # internal error while building the span
        self.export_requests = 0
        self.export_failures = 0
        self.scores_sent = 0
        self.scores_dropped = 0
        self.files_written = 0
        self.last_export_error = ""


class Exporter:
    def __init__(self, config: Any, sink: Any, policy: Any) -> None:
        self.config, self.sink, self.policy = config, sink, policy
        self.queue: deque[Recorded] = deque(maxlen=config.queue_size)
        self.scores: deque[dict[str, Any]] = deque(maxlen=10_000)
        self._appended = itertools.count()
        self.appended = self._appended.__next__  # count one appended record (atomic)
        self._scores_appended = itertools.count()
        self.taken = 0
        self.scores_taken = 0
        self.wake_at = config.batch_size
        self.wake = threading.Event()
        self.stopping = False
        self.force = False
        self.waiters: list[threading.Event] = []
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    # -- the app's side

    def submit(self, record: Recorded) -> None:
        q = self.queue
        q.append(record)
        next(self._appended)
        if len(q) >= self.wake_at:
            self.nudge()

    def submit_score(self, score: dict[str, Any]) -> None:
        self.scores.append(score)
        next(self._scores_appended)
        self.nudge()

    def nudge(self) -> None:
        self.wake.set()
        thread = self.thread
        if thread is not None and not thread.is_alive() and not self.stopping:
            self.start()  # the thread died (it should not): start another, the queue is kept

    def start(self) -> None:
        with self.lock:
            if self.thread is not None and self.thread.is_alive():
                return
            self.thread = threading.Thread(target=self._run, name="tokentrail-export", daemon=True)
            self.thread.start()

    def flush(self, timeout: float = 5.0) -> bool:
        """Export what is queued now; True when it all went out before ``timeout``."""
        done = threading.Event()
        with self.lock:
            self.waiters.append(done)
            self.force = True
        self.nudge()
        if self.thread is None or not self.thread.is_alive():
            self.start()
        return done.wait(timeout)

    def shutdown(self, timeout: float = 5.0) -> bool:
        if getattr(self.sink, "failures", 0):
            timeout = min(timeout, 0.5)  # the server is down: do not hold the app's exit (the spool keeps data)
        flushed = self.flush(timeout)
        self.stopping = True
        self.wake.set()
        thread = self.thread
        if thread is not None and thread.is_alive():
            if thread is not threading.current_thread():
                thread.join(timeout)  # the thread closes the sink on its way out
        else:
            self._close_sink()
        return flushed

    def _close_sink(self) -> None:
        try:
            self.sink.close()
        except Exception:
            internal_error("closing the exporter", reraise=False)

    # -- the export thread

    def _run(self) -> None:
        otel_context.attach(otel_context.set_value(SUPPRESS_KEY, True))  # our own HTTP calls are not traced
        while not self.stopping:
            self.wake.wait(self.sink.wait_seconds(self.config.flush_seconds))
            self.wake.clear()
            try:
                self.cycle()
            except Exception:
                internal_error("the export thread", reraise=False)
        self._close_sink()

    def cycle(self) -> None:
        with self.lock:
            force, self.force = self.force, False
            waiters, self.waiters = self.waiters, []
        for _ in range(16):  # then send, and come back at once for the rest
            if not self.queue:
                break
            self._export_batch()
        if self.queue:
            self.wake.set()
        if self.scores:
            scores = []
            while self.scores:
                scores.append(self.scores.popleft())
                self.scores_taken += 1
            self.sink.add_scores(scores)
        self.sink.pump(force)
        if waiters:
            if not self.queue and self.sink.idle():
                for w in waiters:
                    w.set()
            else:
                with self.lock:
                    self.waiters[:0] = waiters  # not done yet: keep waiting (flush has its own timeout)

    def _export_batch(self) -> None:
        """Turn up to batch_size records into encoded spans, handing the GIL back to the app as it goes."""
        batch: dict[tuple[int, int], bytes] = {}
        q = self.queue
        encode = self.sink.encode
        for i in range(self.config.batch_size):
            try:
                record = q.popleft()
            except IndexError:
                break
            self.taken += 1
            try:
                span = record.span(self.policy)
                batch[(span.trace_id, span.span_id)] = encode(span)  # a re-sent record (validate) replaces
            except Exception:
                self.sink.counters.spans_unconvertible += 1
                internal_error("building a span", reraise=False)
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                yield_gil()
        if batch:
            self.sink.add(list(batch.values()))
        yield_gil()


    # -- numbers

    def stats(self) -> dict[str, Any]:
        appended = int(repr(self._appended)[6:-1])
        scores_appended = int(repr(self._scores_appended)[6:-1])
        c = self.sink.counters
        out = {
            "spans_queued": appended,
            "spans_waiting": len(self.queue),
            "spans_dropped_queue_full": max(0, appended - self.taken - len(self.queue)),
            "scores_dropped_queue_full": max(0, scores_appended - self.scores_taken - len(self.scores)),
            "exporter_alive": bool(self.thread and self.thread.is_alive()),
            "internal_errors": ERRORS.count,
            "last_internal_error": ERRORS.last,
        }
        out.update(vars(c))
        out.update(self.sink.state())
        return out
