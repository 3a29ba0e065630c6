"""``ViewGate``: an insert and the bookkeeping right after it look like one step to dashboard reads.

Between an INSERT and the moment its touched minutes are queued for the rollups (and a double-counted
span re-kinded), a read of raw spans and a read of the rollups would disagree. The inserter holds the
gate exclusively for that short stretch; dashboard reads hold it shared (many at once), so no read ever
sees the spans of an insert without its pending minutes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tokentrail.errors import StoreBusy
from tokentrail.storage import deadline


class ViewGate:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        """Shared side; waits at most as long as the request's read deadline allows (then StoreBusy: 503)."""
        left = deadline.left()
        end = None if left is None else time.monotonic() + max(left, 0.0)
        with self._cond:
            while self._writer or self._writers_waiting:  # a waiting insert goes first: reads cannot starve it
                wait = None if end is None else end - time.monotonic()
                if wait is not None and wait <= 0:
                    raise StoreBusy("the store is busy loading data: the query could not start within the query "
                                    "timeout; retry later", retry_after=2)
                self._cond.wait(wait)
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
