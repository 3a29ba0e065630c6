"""Loading one chunk of a file into the store, then recording it in the manifest.

The same function runs in ``tokentrail ingest`` (store opened locally) and in the server
(``POST /api/ingest/files/chunk``). Flat events take the engine's fast path
(``flat.py``); the lines it leaves are decoded in Python (``formats.py``) and go through
the OTLP normalization of live ingest. Every row of one chunk carries the chunk's
version as ``ingested_at``: that is how its rows, cost and touched minutes are found.
Rows first, manifest second, so a crash between the two loads the chunk again (the
rows dedupe) and never skips it.
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

import pyarrow as pa
from pydantic import BaseModel

from tokentrail.batch import flat, formats
from tokentrail.batch.manifest import EPOCH, FileState, read_state, write_state
from tokentrail.errors import TokentrailError
from tokentrail.ingest import wire
from tokentrail.ingest.normalize import INSERT_SETTINGS
from tokentrail.ingest.normalize import insert_sql as otlp_insert_sql
from tokentrail.ingest.scores import write_scores
from tokentrail.storage.backend import Store


class ManifestConflict(TokentrailError):
    """The file's manifest moved since the client read it: another loader is on it."""

    status = 409


class Chunk(BaseModel):
    """Which part of which file a chunk of lines is, and the file's identity."""

    project: str
    source: str
    kind: Literal["spans", "scores"] = "spans"
    size: int
    mtime: float
    head_hash: str
    head_len: int
    base_time_us: int
    offset_from: int
    offset_to: int
    line_from: int
    lines: int
    crc32: int
    final: bool
    restart: bool = False  # the file is new or was replaced: load it from the start


class ChunkResult(BaseModel):
    rows: int = 0
    fast_rows: int = 0
    rejected: int = 0
    cost: float = 0.0
    unpriced: int = 0
    rejects: list[formats.Reject] = []
    version: datetime
    state: dict


_version_lock = threading.Lock()
_last_version = datetime(1970, 1, 1)


def next_version() -> datetime:
    """A DateTime64(3) stamp for one chunk's rows, increasing in this process."""
    global _last_version
    with _version_lock:
        now = datetime.now(UTC).replace(tzinfo=None)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        _last_version = max(now, _last_version + timedelta(milliseconds=1))
        return _last_version


def _literal(version: datetime) -> str:
    return f"toDateTime64('{version.isoformat(sep=' ', timespec='milliseconds')}', 3, 'UTC')"


def _tmp_dir(store: Store) -> Path:
    path = getattr(store, "path", None)
    return Path(path) / "tmp" if path else Path(tempfile.gettempdir())


def _quote(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def lines_table(data: bytes, line_from: int) -> pa.Table:
    """(line_no, line) of every line of ``data`` (split on newlines, without a Python loop)."""
    import numpy as np

    buf = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(buf == 10)
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    body = np.delete(buf, ends[ends < len(data)])
    offsets = np.empty(len(ends) + 1, dtype=np.int32)
    offsets[0] = 0
    offsets[1:] = ends - np.arange(len(ends))
    lines = pa.Array.from_buffers(pa.binary(), len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(body)])
    return pa.table({"line_no": pa.array(np.arange(line_from, line_from + len(ends), dtype=np.uint64)),
                     "line": lines})


@contextmanager
def staged_lines(store: Store, data: bytes, line_from: int) -> Iterator[str]:
    """A table expression (line_no, line) over ``data`` that the engine can read.

    Embedded chDB reads a file this process writes (parsed in parallel); a ClickHouse
    server gets the lines into a Memory table first."""
    if hasattr(store, "path"):
        fd, name = tempfile.mkstemp(dir=_tmp_dir(store), suffix=".jsonl")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            yield f"(SELECT _row_number + {int(line_from)} AS line_no, line FROM file({_quote(name)}, 'LineAsString'))"
        finally:
            os.unlink(name)
        return
    table = f"batch_lines_{uuid.uuid4().hex}"
    store.command(f"CREATE TABLE {store.database}.{table} (line_no UInt64, line String) ENGINE = Memory")
    try:
        store.insert_arrow(table, lines_table(data, line_from))
        yield f"{store.database}.{table}"
    finally:
        store.command(f"DROP TABLE IF EXISTS {store.database}.{table}")


def _batch_totals(store: Store, project: str, version: datetime) -> dict:
    return store.query(f"""
        SELECT count() AS rows, sum(coalesce(total_cost, 0)) AS cost,
               countIf(total_cost IS NULL AND status = 'ok' AND kind IN ('llm', 'embedding')) AS unpriced
        FROM {store.database}.spans
        WHERE ingested_at = {{v:DateTime64(3)}} AND project = {{p:String}} AND source = 'batch'""",
                       {"v": version.isoformat(sep=" ", timespec="milliseconds"), "p": project})[0]


def _insert_requests(store: Store, requests: list[bytes], project: str, price_version: str,
                     version: datetime) -> None:
    """OTLP requests (decoded in Python) through live ingest's normalization, in one insert."""
    fd, name = tempfile.mkstemp(dir=_tmp_dir(store), suffix=".pb")
    now = int(version.replace(tzinfo=UTC).timestamp() * 1e9)
    try:
        with os.fdopen(fd, "wb") as f:
            for r in requests:
                f.write(wire.frame(wire.envelope(r, project, "batch", now)))
        sql = otlp_insert_sql(store.database, price_version).replace("{batch_version}", _literal(version))
        store.insert_select_protobuf(sql, [Path(name)], wire.STRUCTURE, wire.SCHEMA, wire.MESSAGE, INSERT_SETTINGS)
    finally:
        os.unlink(name)


def _load_spans(store: Store, price_version: str, chunk: Chunk, data: bytes, version: datetime,
                result: ChunkResult) -> None:
    params = {"project": chunk.project, "file": chunk.source, "mtime_us": chunk.base_time_us}
    # every line but empty ones (a whitespace-only line merely costs the query for the others)
    expected = chunk.lines - data.count(b"\n\n") - data.startswith(b"\n")
    with staged_lines(store, data, chunk.line_from) as lines:
        store.command(flat.insert_sql(store.database, price_version).replace("{lines}", lines)
                      .replace("{batch_version}", _literal(version)), params)
        totals = _batch_totals(store, chunk.project, version)
        result.fast_rows = totals["rows"]
        others = [] if result.fast_rows >= expected else store.query(flat.others_sql().replace("{lines}", lines))
    if others:
        lines_of = data.split(b"\n")
        picked = [(r["line_no"], lines_of[r["line_no"] - chunk.line_from]) for r in others]
        decoded = formats.decode_span_lines(picked, chunk.source, chunk.base_time_us)
        if decoded.requests:
            _insert_requests(store, decoded.requests, chunk.project, price_version, version)
        result.rejects = decoded.rejects
        totals = _batch_totals(store, chunk.project, version)
    result.rows, result.cost, result.unpriced = totals["rows"], totals["cost"] or 0.0, totals["unpriced"]


def _load_scores(store: Store, chunk: Chunk, data: bytes, result: ChunkResult) -> None:
    lines = list(enumerate(data.split(b"\n"), start=chunk.line_from))[:chunk.lines]
    good, result.rejects = formats.decode_score_lines(lines, chunk.source)
    write_scores(store, chunk.project, good)
    result.rows = len(good)


def _record_rejects(store: Store, project: str, rejects: list[formats.Reject]) -> None:
    if not rejects:
        return
    store.insert_arrow("ingest_events", pa.table({
        "time": pa.array([datetime.now(UTC)], pa.timestamp("ms", tz="UTC")), "project": [project],
        "kind": ["rejected_line"], "count": pa.array([len(rejects)], pa.uint64()),
        "reason": [rejects[0].error[:300]]}))


def _check(store: Store, chunk: Chunk) -> FileState | None:
    """The file's manifest row, if this chunk continues it (a restart needs none)."""
    state = read_state(store, chunk.project, chunk.source)
    at = state.offset if state else 0
    if not chunk.restart and at != chunk.offset_from:
        raise ManifestConflict(f"{chunk.source}: the manifest is at byte {at}, this chunk starts at "
                               f"{chunk.offset_from}; is another `tokentrail ingest` loading it?")
    return state


def _rollups_from(stored: FileState | None, version: datetime | None) -> datetime:
    """The earliest load still waiting for a rollup refresh."""
    waiting = [t for t in (stored.rollups_from if stored else EPOCH, version) if t and t > EPOCH]
    return min(waiting) if waiting else EPOCH


def load_chunk(store: Store, price_version: str, chunk: Chunk, data: bytes,
               before_commit: Callable[[ChunkResult], None] | None = None, mark_rollups: bool = False) -> ChunkResult:
    """Load ``data`` (whole lines of ``chunk.source`` from ``chunk.offset_from``), then record it.

    ``before_commit`` runs after the rows are in, before the manifest moves past them (e.g.
    keep the rejected lines): if it does not finish, the chunk is loaded again. With
    ``mark_rollups`` the manifest remembers that rollups wait for a refresh (``rollups_from``)."""
    stored = _check(store, chunk)
    before = None if chunk.restart else stored
    version = next_version()
    result = ChunkResult(version=version, state={})
    if data and not data.isspace():
        if chunk.kind == "scores":
            _load_scores(store, chunk, data, result)
        else:
            _load_spans(store, price_version, chunk, data, version, result)
    result.rejected = len(result.rejects)
    _record_rejects(store, chunk.project, result.rejects)
    if before_commit:
        before_commit(result)
    state = FileState(
        project=chunk.project, source=chunk.source, kind=chunk.kind, size=chunk.size, mtime=chunk.mtime,
        head_hash=chunk.head_hash, head_len=chunk.head_len, base_time_us=chunk.base_time_us,
        offset=chunk.offset_to, lines=chunk.line_from + chunk.lines, crc32=chunk.crc32,
        rows=(before.rows if before else 0) + result.rows,
        rejected=(before.rejected if before else 0) + result.rejected,
        cost=(before.cost if before else 0.0) + result.cost, status="done" if chunk.final else "partial",
        rollups_from=_rollups_from(stored, version if mark_rollups and result.rows and chunk.kind == "spans" else None))
    write_state(store, state)
    result.state = state.to_dict()
    return result
