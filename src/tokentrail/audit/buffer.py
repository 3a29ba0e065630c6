"""Buffered, bounded, never-raising audit writes (one buffer per store, one flusher thread)."""

from __future__ import annotations

import logging
import threading
import weakref
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

log = logging.getLogger("tokentrail.audit")

FLUSH_ROWS = 500  # a buffer this full is written at once
FLUSH_SECONDS = 1.0  # otherwise rows wait at most about this long
MAX_ROWS = 50_000  # bound on buffered rows per store; past it new rows are dropped (and counted)
FIELDS = ("actor", "action", "project", "target", "detail", "ip", "user_agent")
MAX_FIELD = 2000  # characters kept of one field (a detail is a summary, not a payload)


class _Buffer:
    def __init__(self, store: Any) -> None:
        self.store = weakref.ref(store)
        self.rows: list[tuple[datetime, tuple[str, ...]]] = []
        self.dropped = 0  # rows lost since the last audit.dropped row was written
        self.dropped_total = 0
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()  # one insert at a time per store (flusher and a reader's flush)

    def add(self, values: tuple[str, ...]) -> bool:
        with self.lock:
            if len(self.rows) >= MAX_ROWS:
                self.dropped += 1
                self.dropped_total += 1
                return False
            self.rows.append((datetime.now(UTC), values))
            return len(self.rows) >= FLUSH_ROWS

    def write(self) -> None:
        """Insert the buffered rows; on failure they go back in front (up to the bound, the rest counted)."""
        with self.write_lock:
            with self.lock:
                rows, self.rows = self.rows, []
                lost, self.dropped = self.dropped, 0
            if lost:
                rows.append((datetime.now(UTC), ("tokentrail", "audit.dropped", "", "", f"{lost} audit rows were "
                                                 "dropped (buffer full or store failing)", "", "")))
            if not rows:
                return
            store = self.store()
            if store is None:
                return
            try:
                store.insert_arrow("audit_log", _table(rows))
            except Exception as e:  # the store is closed, busy or failing: keep the rows for the next try
                log.warning("audit rows not written yet (%d kept): %s", len(rows), e)
                with self.lock:
                    if lost:
                        rows.pop()
                        self.dropped += lost
                    merged = rows + self.rows  # oldest first; past the bound the newest go, as in ``add``
                    self.rows = merged[:MAX_ROWS]
                    self.dropped += len(merged) - len(self.rows)
                    self.dropped_total += len(merged) - len(self.rows)


def _table(rows: list[tuple[datetime, tuple[str, ...]]]) -> pa.Table:
    columns: dict[str, Any] = {"time": pa.array([t for t, _ in rows], pa.timestamp("ms", tz="UTC"))}
    for i, name in enumerate(FIELDS):
        columns[name] = [v[i] for _, v in rows]
    return pa.table(columns)


_buffers: weakref.WeakKeyDictionary[Any, _Buffer] = weakref.WeakKeyDictionary()
_buffers_lock = threading.Lock()
_wake = threading.Event()
_thread: threading.Thread | None = None


def _buffer(store: Any) -> _Buffer:
    global _thread
    with _buffers_lock:
        buf = _buffers.get(store)
        if buf is None:
            buf = _buffers[store] = _Buffer(store)
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_flusher, name="tokentrail-audit", daemon=True)
            _thread.start()
        return buf


def _flusher() -> None:
    while True:
        _wake.wait(FLUSH_SECONDS)
        _wake.clear()
        with _buffers_lock:
            buffers = list(_buffers.values())
        for buf in buffers:
            buf.write()  # never raises (failures are kept for the next run)


def _text(value: object) -> str:
    s = value if isinstance(value, str) else str(value)
    return s if len(s) <= MAX_FIELD else s[:MAX_FIELD - 1] + "…"


def record(store: Any, *, actor: str, action: str, project: str = "", target: str = "", detail: str = "",
           ip: str = "", user_agent: str = "") -> None:
    """Append one audit row (written within about a second). Cheap; never raises."""
    try:
        values = tuple(_text(v) for v in (actor, action, project, target, detail, ip, user_agent))
        if _buffer(store).add(values):
            _wake.set()
    except Exception:  # the caller's work matters more than its audit row; the loss is still counted
        log.exception("audit row not recorded")
        try:
            buf = _buffers.get(store)
            if buf is not None:
                with buf.lock:
                    buf.dropped += 1
                    buf.dropped_total += 1
        except Exception:
            pass


def record_request(request: Any, *, actor: str, action: str, project: str = "", target: str = "",
                   detail: str = "") -> None:
    """``record`` for an HTTP request: its runtime's store, client address and user agent."""
    try:
        store = request.app.state.runtime.store
        ip = request.client.host if request.client else ""
        agent = request.headers.get("user-agent", "")
    except Exception:
        log.exception("audit row not recorded: no store or client on this request")
        return
    record(store, actor=actor, action=action, project=project, target=target, detail=detail, ip=ip,
           user_agent=agent)


def flush(store: Any) -> None:
    """Write ``store``'s buffered rows now (before a read of the log, and before the store closes)."""
    buf = _buffers.get(store)
    if buf is not None:
        buf.write()


def close(store: Any) -> None:
    """Write ``store``'s buffered rows and stop buffering for it (the store is about to close)."""
    flush(store)
    with _buffers_lock:
        buf = _buffers.pop(store, None)
    if buf is not None and (buf.rows or buf.dropped):
        log.error("%d audit rows could not be written before the store closed", len(buf.rows) + buf.dropped)


def dropped(store: Any) -> int:
    """Audit rows of ``store`` dropped since start (each also recorded as an ``audit.dropped`` row)."""
    buf = _buffers.get(store)
    return buf.dropped_total if buf is not None else 0
