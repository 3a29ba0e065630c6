"""The bulk inserter: spooled segments -> one large INSERT each round.

Batches by size (``max_batch_bytes``) and time (the spool closes a segment after
``segment_age``). A failing batch is retried segment by segment; a segment the engine
refuses on its own is quarantined (kept on disk, counted), never silently dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tokentrail.errors import StorageError
from tokentrail.ingest import dedupe, wire
from tokentrail.ingest.normalize import INSERT_SETTINGS, insert_sql
from tokentrail.ingest.spool import Spool
from tokentrail.storage.backend import Store

log = logging.getLogger("tokentrail.ingest")


@dataclass
class InserterStats:
    batches: int = 0
    segments: int = 0
    bytes: int = 0
    failures: int = 0
    quarantined: int = 0
    last_error: str = ""
    last_insert_seconds: float = 0.0


class Inserter:
    def __init__(self, store: Store, spool: Spool, *, price_version: Callable[[], str],
                 max_batch_bytes: int = 64 << 20) -> None:
        self.store = store
        self.spool = spool
        self.max_batch_bytes = max_batch_bytes
        self.stats = InserterStats()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tokentrail-inserter", daemon=True)
        self._price_version = price_version
        self._last_version: datetime | None = None
        self.on_loaded: list[Callable[[datetime], None]] = []  # called with each batch's version

    def start(self) -> None:
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _next_version(self) -> datetime:
        """A DateTime64(3) unique to this batch and increasing (the rows' ``ingested_at``)."""
        now = datetime.now(UTC).replace(tzinfo=None)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if self._last_version is not None and now <= self._last_version:
            now = self._last_version + timedelta(milliseconds=1)
        self._last_version = now
        return now

    def _load(self, segments: list[tuple]) -> None:
        t0 = time.perf_counter()
        version = self._next_version()
        sql = insert_sql(self.store.database, self._price_version()).replace(
            "{batch_version}", f"toDateTime64('{version.isoformat(sep=' ', timespec='milliseconds')}', 3, 'UTC')")
        self.store.insert_select_protobuf(sql, [p for p, _ in segments], wire.STRUCTURE, wire.SCHEMA,
                                          wire.MESSAGE, INSERT_SETTINGS)
        versions = [version]
        try:  # one LLM call seen as two spans (a library's and the provider SDK's) counts once: dedupe.py
            later = self._next_version()
            if dedupe.count_once(self.store, version, later):
                versions.append(later)
        except Exception:  # the spans are stored; only the double-count check failed
            log.exception("double-count check failed")
        self.stats.last_insert_seconds = time.perf_counter() - t0
        for v in versions:
            for hook in self.on_loaded:
                try:
                    hook(v)
                except Exception:  # a follower (rollups, metrics) must not fail the insert
                    log.exception("after-insert hook failed")
        self.stats.batches += 1
        self.stats.segments += len(segments)
        self.stats.bytes += sum(s for _, s in segments)

    def run_once(self, wait: float = 0.2) -> int:
        """Load what is ready; return the number of segments loaded."""
        segments = self.spool.take(self.max_batch_bytes, wait)
        if not segments:
            return 0
        try:
            self._load(segments)
        except StorageError as e:
            self.stats.failures += 1
            self.stats.last_error = e.message
            log.warning("insert of %d segments failed: %s", len(segments), e.message)
            return self._load_one_by_one(segments)
        self.spool.done(segments)
        return len(segments)

    def _load_one_by_one(self, segments: list[tuple]) -> int:
        loaded = 0
        for i, seg in enumerate(segments):
            try:
                self._load([seg])
            except StorageError as e:
                if _is_transient(e):
                    self.spool.put_back(segments[i:])
                    time.sleep(1.0)
                    return loaded
                self.stats.quarantined += 1
                path = self.spool.quarantine(seg, e.message)
                log.error("segment %s refused by the store, kept at %s: %s", seg[0].name, path, e.message)
                continue
            self.spool.done([seg])
            loaded += 1
        return loaded

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                n = self.run_once()
            except Exception:  # the loop must survive anything; the segment stays spooled
                log.exception("inserter round failed")
                time.sleep(1.0)
                continue
            if n == 0:
                self._idle.set()
            else:
                self._idle.clear()

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything spooled so far is in the store."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.spool.backlog_bytes == 0:
                return True
            if not self._thread.is_alive():
                self.run_once(wait=0.05)
            else:
                time.sleep(0.02)
        return self.spool.backlog_bytes == 0

    def stop(self, drain: bool = True) -> None:
        if drain:
            self.flush()
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)


def _is_transient(e: StorageError) -> bool:
    text = e.message.lower()
    return any(w in text for w in ("timeout", "connection", "memory limit", "too many parts", "network"))
