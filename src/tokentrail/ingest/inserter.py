"""The bulk inserter: spooled segments -> one large INSERT each round.

Batches by size (``max_batch_bytes``) and time: the spool closes a segment when it is full or when its
first record has waited the spool's adaptive deadline (spool.py: it grows while traffic is light, up
to ``batch_seconds``), since every INSERT costs a large fixed amount however few rows it holds.

When the store refuses a batch for a reason that is not transient, the batch is narrowed down by
halves until the refused request stands alone: everything else loads, and only that request goes to
the spool's quarantine (kept on disk with its reason, counted, replayable).
One client's bad request never costs another client its acknowledged data.

A loaded batch's segments are deleted right after its INSERT; the work that follows (the
double-count check, the rollups' touched minutes, the Prometheus aggregates) is recorded first in
``post-insert.pending`` and redone on start after a crash, so a crash replays neither the insert
nor unbounded work.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tokentrail.errors import Overloaded, StorageError
from tokentrail.ingest import dedupe, wire
from tokentrail.ingest.batch_summary import BatchSummary, summarize
from tokentrail.ingest.normalize import INSERT_SETTINGS, insert_sql
from tokentrail.ingest.spool import Spool, segment_number
from tokentrail.ingest.wire import envelope_fields, records
from tokentrail.privacy import encryption
from tokentrail.storage.backend import Store

log = logging.getLogger("tokentrail.ingest")
CANDIDATES_MAX_BYTES = 1 << 20  # spooled bytes (~1,000 spans) up to which a batch checks for pair candidates


@dataclass
class InserterStats:
    batches: int = 0
    segments: int = 0
    bytes: int = 0
    failures: int = 0
    quarantined: int = 0  # requests the store refused, kept in the spool's quarantine
    splits: int = 0  # inserts of a narrowed-down part of a refused batch
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
        # called with each batch's version and its summary (None if reading it failed)
        self.on_loaded: list[Callable[[datetime, BatchSummary | None], None]] = []
        self._summaries: dict[datetime, BatchSummary] = {}  # of inserts whose double-count check is due
        self.on_quarantined: list[Callable[[str, str], None]] = []  # called with (project, reason)
        self._pending = spool.dir / "post-insert.pending"
        self._in_flight = False  # a batch taken from the spool is being loaded (or its after-work done)
        self._in_flight_first = -1  # the lowest segment number of that batch
        self._split_versions: list[datetime] = []  # inserts of a narrowed-down batch, checked after the gate
        self.gate: Callable[[], AbstractContextManager[object]] = nullcontext  # exclusive side of a ViewGate
        self.failing = False  # the last insert failed for a transient reason (store unreachable, disk full)

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

    def _insert(self, paths: list) -> datetime:
        """The INSERT of the spooled files ``paths``; returns its version."""
        version = self._next_version()
        sql = insert_sql(self.store.database, self._price_version()).replace(
            "{batch_version}", f"toDateTime64('{version.isoformat(sep=' ', timespec='milliseconds')}', 3, 'UTC')")
        try:  # the content key is in this SQL (encryption.py): an error quoting it is scrubbed
            self.store.insert_select_protobuf(encryption.bind(sql, version), paths, wire.STRUCTURE, wire.SCHEMA,
                                              wire.MESSAGE, INSERT_SETTINGS)
        except StorageError as e:
            e.message = encryption.scrub(e.message)
            e.args = (e.message,)
            raise e from None  # not chained to the engine's error, which quotes the query
        return version

    def _after(self, version: datetime) -> None:
        """The work after an insert: the followers (rollups, metrics), so the touched minutes are pending;
        then count one call once (dedupe.py): it looks for pairs outside the view gate (dashboard reads go
        on, however large the insert) and holds it only to re-insert and queue what that touched."""
        self._follow(version)
        self._count_once(version)

    def _count_once(self, version: datetime) -> None:
        summary = self._summaries.pop(version, None)
        try:  # one LLM call seen as two spans (a library's and the provider SDK's) counts once: dedupe.py
            if summary is None:  # the summary failed: the check reads the window itself
                dedupe.count_once(self.store, version, self._next_version(), self.gate, self._follow_reinsert)
            elif summary.dedupe_window is not None:  # skipped when no LLM span of the insert can pair
                dedupe.count_once_in(self.store, summary.dedupe_window, self._next_version(), self.gate,
                                     self._follow_reinsert)
        except Exception:  # the spans are stored; only the double-count check failed
            log.exception("double-count check failed")

    def _follow_reinsert(self, version: datetime) -> None:
        """The followers of the double-count check's re-insert (itself never checked again)."""
        self._follow(version, checked=False)

    def _follow(self, version: datetime, checked: bool = True, size: int = 0) -> None:
        """The followers of the insert ``version`` (rollups, metrics), given its summary: one query for
        them and the double-count check (batch_summary.py), which follows when ``checked``. A batch of
        more than CANDIDATES_MAX_BYTES skips the check for candidates: one that large nearly always
        holds a pair (an agent's two calls), so the check's own queries run anyway."""
        candidates = checked and size <= CANDIDATES_MAX_BYTES
        try:
            summary: BatchSummary | None = summarize(self.store, version, candidates=candidates)
        except Exception:
            log.exception("reading what an insert added failed")
            summary = None
        if summary is not None and checked:
            self._summaries[version] = summary
        for hook in self.on_loaded:
            try:
                hook(version, summary)
            except Exception:  # a follower (rollups, metrics) must not fail the insert
                log.exception("after-insert hook failed")

    def _mark_pending(self, version: datetime) -> None:
        with open(self._pending, "a") as f:
            f.write(version.isoformat() + "\n")
            if self.spool.fsync:
                f.flush()
                os.fsync(f.fileno())

    def recover(self) -> int:
        """Redo the after-insert work of inserts a crash interrupted (their rows are stored)."""
        if not self._pending.exists():
            return 0
        versions = [datetime.fromisoformat(line) for line in self._pending.read_text().split() if line]
        for v in versions:
            self._after(v)
        self._pending.unlink(missing_ok=True)
        return len(versions)

    def _loaded(self, version: datetime, segments: list[tuple]) -> None:
        """``segments`` are in the store as ``version`` (the view gate is held): delete them and queue the
        rollups' work; the double-count check follows once the gate is released (``_load``)."""
        self._mark_pending(version)
        self.spool.done(segments)
        self._follow(version, size=sum(size for _, size in segments))
        self.stats.batches += 1
        self.stats.segments += len(segments)
        self.stats.bytes += sum(s for _, s in segments)

    def run_once(self, wait: float = 1.0) -> int:
        """Load what is ready; return the number of segments loaded."""
        segments = self.spool.take(self.max_batch_bytes, wait)
        if not segments:
            return 0
        self._in_flight_first = min(segment_number(p) for p, _ in segments)
        self._in_flight = True
        try:
            return self._load(segments)
        except BaseException:  # e.g. the disk is full (a split file, the pending mark): retried, never lost
            self.spool.put_back(segments)
            raise
        finally:
            self._in_flight = False

    def _load(self, segments: list[tuple]) -> int:
        """Insert ``segments``; on a refusal narrow them down; on a transient failure put them back and
        pause (outside the gate, so reads go on). Returns the segments loaded."""
        t0 = time.perf_counter()
        version: datetime | None = None
        self._split_versions: list[datetime] = []
        with self.gate():  # readers see the insert and its pending minutes together
            try:
                version = self._insert([p for p, _ in segments])
            except StorageError as e:
                self.stats.failures += 1
                self.stats.last_error = e.message
                if _is_transient(e):
                    self.failing = True
                    log.warning("insert of %d segments failed, will retry: %s", len(segments), e.message)
                    self.spool.put_back(segments)
                    loaded = 0
                else:
                    log.warning("store refused a batch of %d segments, narrowing it down: %s", len(segments),
                                e.message)
                    loaded = self._isolate(segments)  # 0: the store went away meanwhile (put back)
            else:
                self.stats.last_insert_seconds = time.perf_counter() - t0
                self.failing = False
                self._loaded(version, segments)
                loaded = len(segments)
        for v in ([version] if version is not None else []) + self._split_versions:
            self._count_once(v)  # outside the gate: it takes the gate only for its re-inserts
        if loaded:
            self._pending.unlink(missing_ok=True)
        if not loaded:
            time.sleep(1.0)
        return loaded

    def _isolate(self, segments: list[tuple]) -> int:
        """Load every request of ``segments`` but the ones the store refuses (quarantined one by one)."""
        try:
            for seg in segments:
                self._load_records(records(seg[0].read_bytes()))
        except (StorageError, OSError) as e:  # transient (store gone, disk full): all of it again later
            self.spool.put_back(segments)
            self.stats.last_error = e.message if isinstance(e, StorageError) else str(e)
            self.failing = True
            return 0
        self.spool.done(segments)
        self.stats.segments += len(segments)
        return len(segments)

    def _load_records(self, recs: list[bytes]) -> None:
        """Insert ``recs``; when refused, halves of them, down to the single refused request."""
        if not recs:
            return
        path = self.spool.split_file(recs)
        try:
            version = self._insert([path])
        except StorageError as e:
            if _is_transient(e):
                raise
            if len(recs) == 1:
                self._quarantine(recs[0], e.message)
                return
            mid = len(recs) // 2
            self._load_records(recs[:mid])
            self._load_records(recs[mid:])
            return
        finally:
            path.unlink(missing_ok=True)
        self.stats.splits += 1
        self._mark_pending(version)
        self._follow(version)  # the gate is held (by _load): the double-count check follows after it
        self._split_versions.append(version)

    def _quarantine(self, record: bytes, reason: str) -> None:
        path = self.spool.quarantine(record, reason)
        self.stats.quarantined += 1
        project = str(envelope_fields(record).get("project", ""))
        log.error("request of project %r refused by the store, quarantined at %s: %s", project, path, reason)
        for hook in self.on_quarantined:
            try:
                hook(project, reason)
            except Exception:
                log.exception("quarantine hook failed")

    def _run(self) -> None:
        try:
            self.recover()
        except Exception:
            log.exception("redoing the work after interrupted inserts failed")
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
        """Wait until everything spooled so far is in the store (and its after-work done). The current
        segment is closed now: a flush never waits for the batching deadline."""
        deadline = time.monotonic() + timeout
        try:
            upto = self.spool.cut()
        except Overloaded:  # the spool cannot sync its segment (disk trouble): it is not all in
            return False

        def done() -> bool:
            return self.spool.loaded_upto(upto) and not (self._in_flight and self._in_flight_first <= upto)

        while time.monotonic() < deadline:
            if done():
                return True
            if not self._thread.is_alive():
                self.run_once(wait=0.05)
            else:
                time.sleep(0.02)
        return done()

    def stop(self, drain: bool = True) -> None:
        if drain:
            self.flush()
        self._stop.set()
        self.spool.wake()
        if self._thread.is_alive():
            self._thread.join(timeout=10)


def _is_transient(e: StorageError) -> bool:
    text = e.message.lower()
    return any(w in text for w in ("timeout", "connection", "memory limit", "too many parts", "network",
                                   "no space left", "not enough space", "cannot reserve", "errno: 28",
                                   "read-only file system", "cannot write to file"))
