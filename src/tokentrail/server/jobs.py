"""The one runner for scheduled jobs (price reload now; alerts, evals, rollups later).

Each job runs on its own interval in a single background thread, which sleeps until the next
one is due; a failing job is logged and counted, and never stops the others.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("tokentrail.jobs")


@dataclass
class Job:
    name: str
    every_seconds: float
    fn: Callable[[], object]
    next_run: float = 0.0
    runs: int = 0
    failures: int = 0
    last_error: str = ""


class Scheduler:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tokentrail-jobs", daemon=True)

    def add(self, name: str, every_seconds: float, fn: Callable[[], object]) -> None:
        self.jobs[name] = Job(name, every_seconds, fn, next_run=time.monotonic() + every_seconds)

    def run_now(self, name: str) -> None:
        self._run(self.jobs[name])

    def _run(self, job: Job) -> None:
        try:
            job.fn()
            job.runs += 1
        except Exception as e:  # one job's failure must not stop the runner
            job.failures += 1
            job.last_error = str(e)
            log.exception("job %s failed", job.name)
        job.next_run = time.monotonic() + job.every_seconds

    def _loop(self) -> None:
        """Sleep until the next job is due (an idle server wakes about once a second, not five times)."""
        while not self._stop.wait(self._until_next()):
            now = time.monotonic()
            for job in list(self.jobs.values()):
                if job.next_run <= now:
                    self._run(job)

    def _until_next(self) -> float:
        """Seconds to the next due job, at most 1 (a job added meanwhile waits no longer than that)."""
        due = min((j.next_run for j in list(self.jobs.values())), default=time.monotonic() + 1.0)
        return min(1.0, max(0.0, due - time.monotonic()))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
