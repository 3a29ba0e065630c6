"""The write-ahead spool: an acknowledged request is on disk before the client hears OK.

Records (length-delimited protobuf) are appended to numbered segment files. ``append``
returns once the record is written and, with ``fsync`` on, flushed to the device;
concurrent appends share one fsync (group commit). The inserter takes closed segments,
loads them into the store in one INSERT and deletes them.

When a segment closes (the batching policy): at ``segment_bytes`` (a burst is inserted at once), or
when its first record has waited the current deadline. The deadline starts at ``min_age``, doubles
each time a segment closes by time (light traffic: fewer, larger inserts, since every INSERT has a
large fixed cost), and drops back to ``min_age`` when a segment fills by size. Its cap is
``segment_age`` (the setting ``batch_seconds``: how stale stored data may be for a reader) while
someone reads (``watch``: the API, the UI, Grafana, a /metrics scrape), and ``unwatched_age``
(``batch_seconds_unwatched``) while nobody does: then a trickle of calls costs one insert every few
minutes, and the first reader has what is acknowledged inserted before it is answered (the server's
``Runtime.fresh``). ``cut`` closes the current segment now (a flush), so waiting for it never costs the
deadline.

After a crash every remaining segment is loaded again on start (rows dedupe in the store), so an
acknowledged record is never lost. When the backlog passes ``max_backlog_bytes`` new
records are refused with ``Overloaded`` (HTTP 503 + Retry-After) instead of growing.

A record the store still refuses (the inserter narrows a failed segment down to it) is moved to
``quarantine/`` with its reason beside it: counted, listed and replayable (``tokentrail quarantine``),
and deleted after the retention period, since it holds prompts. Everything else in its segment loads.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tokentrail.errors import Overloaded
from tokentrail.ingest.wire import envelope_fields, frame, records, scan

_PREFIX, _SUFFIX = "seg-", ".pb"


def _segment_no(path: Path) -> int:
    return int(path.name[len(_PREFIX):-len(_SUFFIX)])


def segment_number(path: Path) -> int:
    """The number of a spool segment (-1 for another file, e.g. a split file)."""
    name = path.name
    digits = name[len(_PREFIX):-len(_SUFFIX)] if name.startswith(_PREFIX) and name.endswith(_SUFFIX) else ""
    return int(digits) if digits.isdigit() else -1


def valid_length(data: bytes) -> int:
    """Length of the longest prefix of ``data`` made of whole framed records."""
    return scan(data)[1]


@dataclass
class QuarantinedRecord:
    path: Path
    project: str
    reason: str
    bytes: int
    quarantined_unix: float

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)
        self.path.with_suffix(".json").unlink(missing_ok=True)


class Spool:
    def __init__(self, directory: Path, *, segment_bytes: int = 16 << 20, segment_age: float = 0.5,
                 max_backlog_bytes: int = 1 << 30, fsync: bool = True, min_age: float = 0.05,
                 unwatched_age: float | None = None) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.segment_bytes = segment_bytes
        self.segment_age = segment_age  # the cap of the deadline while someone reads
        self.unwatched_age = max(segment_age, unwatched_age or 0.0)  # its cap while nobody does
        self._watched_until = 0.0  # monotonic time until which a reader is assumed (``watch``)
        self.min_age = min(min_age, segment_age)
        self.deadline = self.min_age  # seconds the current segment's first record may wait (adaptive)
        self.max_backlog_bytes = max_backlog_bytes
        self.fsync = fsync
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._closed_segments: list[tuple[Path, int]] = []
        self._unloaded: set[int] = set()  # numbers of closed segments not yet loaded (done)
        self._interrupted = False  # wake(): a waiting take returns
        self._backlog = 0
        self._written = 0  # bytes ever appended (a global position)
        self._synced = 0
        self.records = 0
        self.write_error = ""  # the last write or sync failure ('' once a write succeeds): readiness shows it
        self._recover()
        self._open_next()

    # -- recovery -------------------------------------------------------------
    def _recover(self) -> None:
        self._next_no = 0
        for path in sorted(self.dir.glob(f"{_PREFIX}*{_SUFFIX}"), key=_segment_no):
            data = path.read_bytes()
            keep = valid_length(data)
            if keep != len(data):  # a record torn by a crash was never acknowledged
                with open(path, "r+b") as f:
                    f.truncate(keep)
            self._next_no = _segment_no(path) + 1
            if keep:
                self._closed_segments.append((path, keep))
                self._unloaded.add(_segment_no(path))
                self._backlog += keep
            else:
                path.unlink()

    def _open_next(self) -> None:
        self._path = self.dir / f"{_PREFIX}{self._next_no:012d}{_SUFFIX}"
        self._next_no += 1
        self._fd = os.open(self._path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._size = 0
        self._first_at = 0.0  # monotonic time of the current segment's first record

    def _rotate_locked(self, by_size: bool = False) -> None:
        if self.fsync:
            try:
                os.fsync(self._fd)
            except OSError as e:  # the segment stays open; this record is not acknowledged
                self.write_error = e.strerror or str(e)
                raise Overloaded(f"cannot sync the ingest spool ({self.write_error}); retry later",
                                 retry_after=5) from e
        os.close(self._fd)
        self._synced = max(self._synced, self._written)
        self._closed_segments.append((self._path, self._size))
        self._unloaded.add(_segment_no(self._path))
        self._open_next()
        self._ready.notify_all()
        if by_size:  # a burst: the next segment goes in as soon as it can again
            self.deadline = self.min_age

    # -- writing --------------------------------------------------------------
    def append(self, record: bytes) -> None:
        """Write one record durably; raise ``Overloaded`` (503 + Retry-After) when the backlog is full or
        the disk refuses the write (full, read-only): then nothing of the record stays in the segment, so
        the segment stays loadable and the client, not acknowledged, sends it again."""
        data = frame(record)
        with self._lock:
            if self._backlog + len(data) > self.max_backlog_bytes:
                raise Overloaded("ingest backlog is full; retry later", retry_after=2)
            try:
                written = os.write(self._fd, data)
                if written != len(data):
                    raise OSError(28, "short write (no space left on device)")
            except OSError as e:
                os.ftruncate(self._fd, self._size)  # a torn record would make the whole segment unreadable
                self.write_error = e.strerror or str(e)
                raise Overloaded(f"cannot write the ingest spool ({self.write_error}); retry later",
                                 retry_after=5) from e
            self.write_error = ""
            if not self._size:  # the first record of this segment starts its deadline
                self._first_at = time.monotonic()
                self._ready.notify_all()
            self._size += len(data)
            self._backlog += len(data)
            self._written += len(data)
            self.records += 1
            position = self._written
            if self._size >= self.segment_bytes:
                self._rotate_locked(by_size=True)
        if self.fsync:
            self._sync_to(position)

    def _sync_to(self, position: int) -> None:
        with self._sync_lock:  # whoever holds it syncs for everyone queued behind
            if self._synced >= position:
                return
            with self._lock:
                fd, upto = self._fd, self._written
                if self._synced >= position:
                    return
                fd = os.dup(fd)
            try:
                os.fsync(fd)
            except OSError as e:  # not durable: not acknowledged (a retry of it dedupes in the store)
                self.write_error = e.strerror or str(e)
                raise Overloaded(f"cannot sync the ingest spool ({self.write_error}); retry later",
                                 retry_after=5) from e
            finally:
                os.close(fd)
            with self._lock:
                self._synced = max(self._synced, upto)

    # -- readers -----------------------------------------------------------------
    def _cap(self, now: float) -> float:
        return self.segment_age if now < self._watched_until else self.unwatched_age

    def _open_age(self, now: float) -> float:
        """Seconds the oldest record of the open segment has waited at ``now`` (0.0: it is empty); lock held."""
        return now - self._first_at if self._size else 0.0

    def watch(self, seconds: float) -> float:
        """A reader came: for ``seconds`` the deadline is capped at ``segment_age`` again (a segment that
        has waited that long closes now). Returns how long the oldest record not yet closed into a
        segment has waited (0.0: none), so the reader can tell whether to wait for it (``cut``)."""
        with self._lock:
            now = time.monotonic()
            self._watched_until = max(self._watched_until, now + seconds)
            if self.deadline > self.segment_age:
                self.deadline = self.segment_age
                self._ready.notify_all()  # a waiting take re-reads the deadline
            return self._open_age(now)

    def oldest_open(self) -> float:
        """Seconds the oldest record of the open segment has waited (0.0: it is empty); ``watch`` without
        watching (an alert round reads, but is no reason to insert more often)."""
        with self._lock:
            return self._open_age(time.monotonic())

    # -- reading (the inserter) -------------------------------------------------
    def take(self, max_bytes: int, wait: float) -> list[tuple[Path, int]]:
        """Closed segments (up to ``max_bytes``, at least one), closing the current one once its first
        record has waited ``deadline``. Waits up to ``wait`` seconds for something to become ready."""
        end = time.monotonic() + wait
        with self._lock:
            while True:
                now = time.monotonic()
                cap = self._cap(now)
                if self._size and now - self._first_at >= min(self.deadline, cap):
                    self._rotate_locked()
                    self.deadline = min(cap, self.deadline * 2)  # light traffic: wait longer
                if self._closed_segments:
                    out, total = [], 0
                    while self._closed_segments and (not out or total + self._closed_segments[0][1] <= max_bytes):
                        seg = self._closed_segments.pop(0)
                        out.append(seg)
                        total += seg[1]
                    return out
                left = end - now
                if left <= 0 or self._interrupted:
                    self._interrupted = False
                    return []
                if self._size:  # wake at the current segment's deadline
                    left = min(left, max(self._first_at + min(self.deadline, cap) - now, 0.001))
                self._ready.wait(left)

    def cut(self) -> int:
        """Close the current segment now (a flush: what is acknowledged goes in without waiting for the
        deadline); returns the number of the last closed segment, for ``loaded_upto``."""
        with self._lock:
            if self._size:
                self._rotate_locked()
            return self._next_no - 2

    def loaded_upto(self, number: int) -> bool:
        """Every segment up to ``number`` (``cut``) is loaded (or quarantined)."""
        with self._lock:
            return not any(n <= number for n in self._unloaded)

    def wake(self) -> None:
        """End a ``take`` that is waiting (the inserter stopping): it returns what is ready, or nothing."""
        with self._lock:
            self._interrupted = True
            self._ready.notify_all()

    def done(self, segments: list[tuple[Path, int]]) -> None:
        for path, size in segments:
            path.unlink(missing_ok=True)
            with self._lock:
                self._backlog -= size
                self._unloaded.discard(segment_number(path))

    def put_back(self, segments: list[tuple[Path, int]]) -> None:
        """Return segments that could not be loaded yet (they are retried first)."""
        with self._lock:
            self._closed_segments[:0] = [s for s in segments if s[0].exists()]
            self._unloaded -= {segment_number(p) for p, _ in segments if not p.exists()}

    # -- quarantine: one refused record, never its neighbours ----------------------
    @property
    def quarantine_dir(self) -> Path:
        return self.dir / "quarantine"

    def quarantine(self, record: bytes, reason: str) -> Path:
        """Keep a record the store refuses aside (framed, like a segment) with its reason."""
        self.quarantine_dir.mkdir(exist_ok=True)
        stem = f"q-{time.time_ns()}-{os.getpid()}-{threading.get_ident() % 10000}"
        path = self.quarantine_dir / f"{stem}{_SUFFIX}"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(frame(record))
        meta = {**envelope_fields(record), "reason": reason, "bytes": len(record),
                "quarantined_unix": time.time()}
        path.with_suffix(".json").write_text(json.dumps(meta))
        if self.fsync:
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        tmp.replace(path)
        return path

    def quarantined(self) -> list[QuarantinedRecord]:
        out = []
        for path in sorted(self.quarantine_dir.glob(f"q-*{_SUFFIX}")):
            try:
                meta = json.loads(path.with_suffix(".json").read_text())
            except (OSError, ValueError):
                meta = {}
            out.append(QuarantinedRecord(path, str(meta.get("project", "")), str(meta.get("reason", "")),
                                         int(meta.get("bytes", path.stat().st_size)),
                                         float(meta.get("quarantined_unix", path.stat().st_mtime))))
        return out

    def replay_quarantined(self, names: list[str] | None = None) -> int:
        """Spool quarantined records again (all, or those named); they load, or come back here."""
        n = 0
        for q in self.quarantined():
            if names and q.path.name not in names and q.path.stem not in names:
                continue
            for record in records(q.path.read_bytes()):
                self.append(record)
                n += 1
            q.delete()
        return n

    def expire(self, max_age_seconds: float) -> int:
        """Delete quarantined records and leftovers (``failed/`` from older releases, split files) older
        than ``max_age_seconds``; returns how many files went."""
        cutoff, n = time.time() - max_age_seconds, 0
        for sub in ("quarantine", "failed", "split"):
            for path in (self.dir / sub).glob("*") if (self.dir / sub).is_dir() else []:
                try:
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        n += 1
                except FileNotFoundError:
                    pass
        return n

    def split_file(self, records_: list[bytes]) -> Path:
        """A temporary segment holding ``records_`` (the inserter narrowing down a refused segment)."""
        d = self.dir / "split"
        d.mkdir(exist_ok=True)
        path = d / f"split-{time.time_ns()}{_SUFFIX}"
        path.write_bytes(b"".join(frame(r) for r in records_))
        return path

    @property
    def backlog_bytes(self) -> int:
        return self._backlog

    def close(self) -> None:
        with self._lock:
            if self.fsync:
                os.fsync(self._fd)
            os.close(self._fd)
            if self._size == 0:
                self._path.unlink(missing_ok=True)
