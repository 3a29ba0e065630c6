"""Each receiver gets its own bounded queue and worker thread: a receiver that is down or slow is
retried with exponential backoff and never delays the others or the evaluator (``submit`` never
blocks). Status per receiver (sent, failed, last error, backlog) is kept for the alerts page and
``/metrics``."""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tokentrail.alerts.notify.base import Delivery, Notification, Receiver, ReceiverError

log = logging.getLogger("tokentrail.alerts")


@dataclass
class ReceiverStatus:
    name: str
    kind: str
    sent: int = 0
    failed: int = 0          # notifications given up on
    retries: int = 0
    dropped: int = 0         # queue full: oldest dropped
    backlog: int = 0
    last_ok: float = 0.0
    last_error: str = ""
    last_error_at: float = 0.0
    recent: collections.deque = field(default_factory=lambda: collections.deque(maxlen=50))

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "sent": self.sent, "failed": self.failed,
                "retries": self.retries, "dropped": self.dropped, "backlog": self.backlog,
                "last_ok": self.last_ok or None, "last_error": self.last_error,
                "last_error_at": self.last_error_at or None,
                "healthy": not self.last_error_at or self.last_ok > self.last_error_at}


class _Worker:
    def __init__(self, receiver: Receiver, *, max_attempts: int, base_delay: float, max_delay: float,
                 max_queue: int, on_delivery: Callable[[Notification, Delivery], None] | None) -> None:
        self.receiver = receiver
        self.status = ReceiverStatus(receiver.name, receiver.kind)
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.max_queue = max_queue
        self.on_delivery = on_delivery
        self._queue: collections.deque[Notification] = collections.deque()
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"tokentrail-notify-{receiver.name}", daemon=True)
        self._thread.start()

    def submit(self, n: Notification) -> None:
        with self._cv:
            if len(self._queue) >= self.max_queue:
                self._queue.popleft()
                self.status.dropped += 1
            self._queue.append(n)
            self.status.backlog = len(self._queue)
            self._cv.notify()

    def _wait(self, seconds: float) -> bool:
        """Sleep unless stopped; True when stopping."""
        with self._cv:
            return self._cv.wait_for(lambda: self._stop, timeout=seconds)

    def _run(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._stop or bool(self._queue))
                if self._stop and not self._queue:
                    return
                n = self._queue[0]
            delivery = self._deliver(n)
            with self._cv:
                if self._queue and self._queue[0] is n:
                    self._queue.popleft()
                self.status.backlog = len(self._queue)
            if self.on_delivery is not None:
                try:
                    self.on_delivery(n, delivery)
                except Exception:  # noqa: BLE001 - bookkeeping must never kill the worker
                    log.exception("alert delivery callback failed")

    def _deliver(self, n: Notification) -> Delivery:
        delay = self.base_delay
        error = ""
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.receiver.send(n)
            except ReceiverError as e:
                error = str(e)
                self.status.last_error, self.status.last_error_at = error, time.time()
                log.warning("alert receiver %s failed (attempt %d): %s", self.receiver.name, attempt, error)
                if not e.retry or attempt == self.max_attempts or self._wait(delay):
                    break
                self.status.retries += 1
                delay = min(delay * 2, self.max_delay)
                continue
            except Exception as e:  # noqa: BLE001 - a receiver bug must not stop the worker
                error = f"{type(e).__name__}: {e}"[:300]
                self.status.last_error, self.status.last_error_at = error, time.time()
                log.exception("alert receiver %s crashed", self.receiver.name)
                break
            self.status.sent += 1
            self.status.last_ok = time.time()
            d = Delivery(self.receiver.name, True, attempt)
            self.status.recent.append({"rule": n.rule, "status": n.status, "ok": True, "attempts": attempt,
                                       "at": self.status.last_ok})
            return d
        self.status.failed += 1
        self.status.recent.append({"rule": n.rule, "status": n.status, "ok": False, "error": error,
                                   "at": time.time()})
        return Delivery(self.receiver.name, False, attempt, error)

    def stop(self, timeout: float) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._thread.join(timeout)


class Dispatcher:
    """Fan a notification out to the named receivers, each on its own worker."""

    def __init__(self, receivers: list[Receiver], *, max_attempts: int = 8, base_delay: float = 1.0,
                 max_delay: float = 300.0, max_queue: int = 1000,
                 on_delivery: Callable[[Notification, Delivery], None] | None = None) -> None:
        self._workers = {r.name: _Worker(r, max_attempts=max_attempts, base_delay=base_delay,
                                         max_delay=max_delay, max_queue=max_queue, on_delivery=on_delivery)
                         for r in receivers}

    @property
    def names(self) -> list[str]:
        return list(self._workers)

    def submit(self, n: Notification, receivers: list[str] | None = None) -> list[str]:
        """Queue ``n`` for the named receivers (all when None); returns the unknown names."""
        unknown = []
        for name in (self.names if receivers is None else receivers):
            w = self._workers.get(name)
            if w is None:
                unknown.append(name)
            else:
                w.submit(n)
        return unknown

    def status(self) -> list[dict]:
        return [w.status.as_dict() for w in self._workers.values()]

    def idle(self) -> bool:
        return all(w.status.backlog == 0 for w in self._workers.values())

    def stop(self, timeout: float = 5.0) -> None:
        for w in self._workers.values():
            w.stop(timeout)
