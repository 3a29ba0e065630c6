"""Loading one chunk of a file (or chunks of several small files at once) into the store,
then recording it in the manifest.

The same function runs in ``tokentrail ingest`` (store opened locally) and in the server
(``POST /api/ingest/files/chunk``). Flat events take the engine's fast path
(``flat.py``); the lines it leaves are decoded in Python (``formats.py``) and go through
the OTLP normalization of live ingest. Every row of one chunk carries the chunk's
version as ``ingested_at``: that is how its rows, cost and touched minutes are found, also
when several chunks share one insert. Rows first, manifest second, so a crash between the
two loads the chunk again (the rows dedupe) and never skips it.
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

from tokentrail.batch import flat, formats, screen
from tokentrail.batch.manifest import EPOCH, FileState, read_states_of, write_states
from tokentrail.errors import TokentrailError
from tokentrail.ingest import wire
from tokentrail.ingest.normalize import INSERT_SETTINGS
from tokentrail.ingest.normalize import insert_sql as otlp_insert_sql
from tokentrail.ingest.scores import link, write_scores
from tokentrail.privacy import encryption
from tokentrail.privacy.ingest import scrubber, settings_for
from tokentrail.privacy.walk import Scrubber
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


def lines_table(data: bytes, line_from: int, src: int = 1) -> pa.Table:
    """(line_no, line, src) of every line of ``data`` (split on newlines, without a Python loop)."""
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
                     "line": lines, "src": pa.array(np.full(len(ends), src, dtype=np.uint32))})


def lines_arrow(parts: list[tuple[bytes, int]]) -> pa.Table:
    """(line_no, line, src) of the ``(data, line_from)`` chunks ``parts`` (``src`` numbers them from 1)."""
    return pa.concat_tables([lines_table(data, line_from, i) for i, (data, line_from) in enumerate(parts, start=1)])


# The embedded engine reads the lines from this process's memory (chDB's ``Python()`` table function
# finds the table by this variable name in the calling frames): nothing of a chunk, redacted or not,
# is written to a temporary file.
PY_LINES = ("(SELECT assumeNotNull(line_no) AS line_no, assumeNotNull(line) AS line, assumeNotNull(src) AS src "
            "FROM Python(tt_batch_lines))")


@contextmanager
def staged_lines(store: Store, tt_batch_lines: pa.Table) -> Iterator[str]:
    """A table expression (line_no, line, src) over ``tt_batch_lines`` that the engine can read.

    Embedded chDB reads the Arrow table in place (``PY_LINES``: the caller holds it in a variable
    of that name); a ClickHouse server gets the lines into a Memory table first."""
    if hasattr(store, "path"):
        yield PY_LINES
        return
    table = f"batch_lines_{uuid.uuid4().hex}"
    store.command(f"CREATE TABLE {store.database}.{table} (line_no UInt64, line String, src UInt32) ENGINE = Memory")
    try:
        store.insert_arrow(table, tt_batch_lines)
        yield f"{store.database}.{table}"
    finally:
        store.command(f"DROP TABLE IF EXISTS {store.database}.{table}")


def _batch_totals(store: Store, project: str, versions: list[datetime]) -> dict[str, dict]:
    """Rows, cost and unpriced calls of each load stamped with one of ``versions``."""
    stamps = ", ".join(_literal(v) for v in versions)
    rows = store.query(f"""
        SELECT toString(ingested_at) AS version, count() AS rows, sum(coalesce(total_cost, 0)) AS cost,
               countIf(total_cost IS NULL AND status = 'ok' AND kind IN ('llm', 'embedding')) AS unpriced
        FROM {store.database}.spans
        WHERE ingested_at IN ({stamps}) AND project = {{p:String}} AND source = 'batch'
        GROUP BY ingested_at""", {"p": project})
    return {r["version"]: r for r in rows}


def _stamp(version: datetime) -> str:
    return version.isoformat(sep=" ", timespec="milliseconds")


def _insert_requests(store: Store, requests: list[bytes], project: str, price_version: str,
                     version: datetime) -> None:
    """OTLP requests (decoded in Python) through live ingest's normalization, in one insert."""
    fd, name = tempfile.mkstemp(dir=_tmp_dir(store), suffix=".pb")
    now = int(version.replace(tzinfo=UTC).timestamp() * 1e9)
    try:
        with os.fdopen(fd, "wb") as f:
            for r in requests:
                f.write(wire.frame(wire.envelope(r, project, "batch", now)))
        sql = encryption.bind(otlp_insert_sql(store.database, price_version), version).replace(
            "{batch_version}", _literal(version))
        store.insert_select_protobuf(sql, [Path(name)], wire.STRUCTURE, wire.SCHEMA, wire.MESSAGE, INSERT_SETTINGS)
    finally:
        os.unlink(name)


PY_LEFT = "(SELECT assumeNotNull(src), assumeNotNull(line_no) FROM Python(tt_batch_left))"


def _insert_flat(store: Store, price_version: str, loads: list[tuple[Chunk, bytes, datetime, ChunkResult]],
                 tt_batch_lines: pa.Table, clear: str) -> tuple[list[tuple[int, int]], dict[str, dict]]:
    """The fast, ``clear`` lines of ``tt_batch_lines`` (``src`` numbering ``loads``) in one insert; returns
    (src, line_no) of the lines it left and the loads' totals (``_batch_totals``).

    One pass lists the lines left (it checks every line), then the insert maps all the others
    without checking them again: checking is most of the engine's work, so a chunk with a bad
    line costs no more than one without."""
    project = loads[0][0].project
    files = [c.source for c, *_ in loads]
    mtimes = [c.base_time_us for c, *_ in loads]
    stamps = [_literal(v) for _, _, v, _ in loads]
    with staged_lines(store, tt_batch_lines) as lines:
        left = [(r["src"], r["line_no"]) for r in store.query(flat.others_sql(clear).replace("{lines}", lines))]
        tt_batch_left = pa.table({"src": pa.array([s for s, _ in left], pa.uint32()),  # noqa: F841 (PY_LEFT)
                                  "line_no": pa.array([n for _, n in left], pa.uint64())})
        if not left:
            skip = "(SELECT toUInt32(0), toUInt64(0) WHERE 0)"
        elif hasattr(store, "path"):
            skip = PY_LEFT
        else:
            skip = "(" + ", ".join(f"({s}, {n})" for s, n in left) + ")"
        sql = flat.bind(flat.insert_sql(store.database, price_version, flat.ALL_BUT_LEFT), files, mtimes, stamps)
        # one nonce prefix per insert: the newest chunk's version (rows number across the whole insert)
        sql = encryption.bind(sql, max(v for _, _, v, _ in loads))
        store.command(sql.replace("{left}", skip).replace("{lines}", lines), {"project": project})
    totals = _batch_totals(store, project, [v for _, _, v, _ in loads])
    for _, _, v, result in loads:
        result.fast_rows = totals.get(_stamp(v), {}).get("rows", 0)
    return left, totals


def _load_spans(store: Store, price_version: str, loads: list[tuple[Chunk, bytes, datetime, ChunkResult]],
                scrub: Scrubber) -> None:
    """The span chunks ``loads`` (one project) in one insert, each stamped with its version.

    The lines the engine clears (``screen.clear_sql``: nothing in them for the privacy step) load
    as read; the others are scrubbed in Python and loaded in a second, small insert; what is still
    left (OTLP requests, coerced shapes, bad lines) is decoded in Python (``formats.py``)."""
    project = loads[0][0].project
    left, totals = _insert_flat(store, price_version, loads,
                                lines_arrow([(d, c.line_from) for c, d, _, _ in loads]), screen.clear_sql(scrub))
    if left:
        scrubbed: list[tuple[int, int, bytes]] = []
        split: dict[int, list[bytes]] = {}
        for src, line_no in left:
            c, data, _, _ = loads[src - 1]
            if src not in split:
                split[src] = data.split(b"\n")
            lines_of = split[src]
            raw = lines_of[line_no - c.line_from]
            scrubbed.append((src, line_no, scrub._line(raw) if raw.strip() else raw))
        table = pa.table({"line_no": pa.array([n for _, n, _ in scrubbed], pa.uint64()),
                          "line": pa.array([x for _, _, x in scrubbed], pa.binary()),
                          "src": pa.array([s for s, _, _ in scrubbed], pa.uint32())})
        left, totals = _insert_flat(store, price_version, loads, table, screen.CLEAR_ALL)
        text = {(s, n): x for s, n, x in scrubbed}
        by_src: dict[int, list[int]] = {}
        for src, line_no in left:
            by_src.setdefault(src, []).append(line_no)
        for src, numbers in by_src.items():
            c, _, v, result = loads[src - 1]
            decoded = formats.decode_span_lines([(n, text[(src, n)]) for n in numbers], c.source, c.base_time_us)
            if decoded.requests:
                _insert_requests(store, decoded.requests, project, price_version, v)
            result.rejects = decoded.rejects
        if left:
            totals = _batch_totals(store, project, [v for _, _, v, _ in loads])
    for _, _, v, result in loads:
        t = totals.get(_stamp(v), {})
        result.rows, result.cost, result.unpriced = t.get("rows", 0), t.get("cost") or 0.0, t.get("unpriced", 0)


def _load_scores(store: Store, chunk: Chunk, data: bytes, result: ChunkResult) -> None:
    lines = list(enumerate(data.split(b"\n"), start=chunk.line_from))[:chunk.lines]
    good, result.rejects = formats.decode_score_lines(lines, chunk.source)
    link(store, chunk.project, good)  # request ids -> their span's trace, where it is stored
    write_scores(store, chunk.project, good)
    result.rows = len(good)


def _record_rejects(store: Store, project: str, rejects: list[formats.Reject]) -> None:
    if not rejects:
        return
    store.insert_arrow("ingest_events", pa.table({
        "time": pa.array([datetime.now(UTC)], pa.timestamp("ms", tz="UTC")), "project": [project],
        "kind": ["rejected_line"], "count": pa.array([len(rejects)], pa.uint64()),
        "reason": [rejects[0].error[:300]]}))


def _check(chunk: Chunk, stored: FileState | None) -> ManifestConflict | None:
    """Does this chunk continue the file's manifest row (a restart needs none)?"""
    at = stored.offset if stored else 0
    if not chunk.restart and at != chunk.offset_from:
        return ManifestConflict(f"{chunk.source}: the manifest is at byte {at}, this chunk starts at "
                                f"{chunk.offset_from}; is another `tokentrail ingest` loading it?")
    return None


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
    keep = (lambda _chunk, result: before_commit(result)) if before_commit else None
    (result,) = load_chunks(store, price_version, [(chunk, data)], keep, mark_rollups)
    if isinstance(result, ManifestConflict):
        raise result
    return result


def load_chunks(store: Store, price_version: str, items: list[tuple[Chunk, bytes]],
                before_commit: Callable[[Chunk, ChunkResult], None] | None = None,
                mark_rollups: bool = False) -> list[ChunkResult | ManifestConflict]:
    """``load_chunk`` for chunks of different files of one project at once: one insert for
    all their span lines (each chunk keeps its own version, totals and manifest row), so
    many small files cost about what one file of their size does. A chunk that does not
    continue its file's manifest is not loaded; its conflict is returned in its place."""
    if not items:
        return []
    project = items[0][0].project
    scrub = scrubber(store, settings_for(store), project, "batch")  # applied in _load_spans / _load_scores
    sources = [c.source for c, _ in items]
    if any(c.project != project for c, _ in items) or len(set(sources)) != len(sources):
        raise ValueError("chunks loaded together are of one project and of different files")
    states = read_states_of(store, project, sources)
    out: list[ChunkResult | ManifestConflict] = []
    todo: list[tuple[Chunk, bytes, FileState | None, ChunkResult]] = []
    for chunk, data in items:
        stored = states.get(chunk.source)
        conflict = _check(chunk, stored)
        if conflict:
            out.append(conflict)
            continue
        result = ChunkResult(version=next_version(), state={})
        out.append(result)
        todo.append((chunk, data, stored, result))
    spans = [(c, d, r.version, r) for c, d, _, r in todo if c.kind == "spans" and d and not d.isspace()]
    if spans:
        _load_spans(store, price_version, spans, scrub)
    for chunk, data, _, result in todo:
        if chunk.kind == "scores" and data and not data.isspace():
            _load_scores(store, chunk, scrub.lines(data), result)
        result.rejected = len(result.rejects)
        _record_rejects(store, chunk.project, result.rejects)
    if before_commit:
        for chunk, _, _, result in todo:
            before_commit(chunk, result)
    new_states = []
    for chunk, _, stored, result in todo:
        before = None if chunk.restart else stored
        version = result.version if mark_rollups and result.rows and chunk.kind == "spans" else None
        state = FileState(
            project=chunk.project, source=chunk.source, kind=chunk.kind, size=chunk.size, mtime=chunk.mtime,
            head_hash=chunk.head_hash, head_len=chunk.head_len, base_time_us=chunk.base_time_us,
            offset=chunk.offset_to, lines=chunk.line_from + chunk.lines, crc32=chunk.crc32,
            rows=(before.rows if before else 0) + result.rows,
            rejected=(before.rejected if before else 0) + result.rejected,
            cost=(before.cost if before else 0.0) + result.cost, status="done" if chunk.final else "partial",
            rollups_from=_rollups_from(stored, version))
        new_states.append(state)
        result.state = state.to_dict()
    write_states(store, new_states)
    return out
