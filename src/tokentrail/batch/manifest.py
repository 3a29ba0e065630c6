"""The manifest: which files were loaded, how far, and what they added (table ``batch_files``).

One row per (project, file), rewritten after every chunk; the newest version wins. A
chunk's rows are inserted before its row here, so after a crash a load resumes at the
last recorded offset and at most one chunk is loaded twice, which dedupes in spans.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from tokentrail.storage.backend import Store

TABLE = "batch_files"
EPOCH = datetime(1970, 1, 1)


@dataclass
class FileState:
    project: str
    source: str
    kind: str
    size: int
    mtime: float
    head_hash: str
    head_len: int
    base_time_us: int
    offset: int = 0
    lines: int = 0
    crc32: int = 0
    rows: int = 0
    rejected: int = 0
    cost: float = 0.0
    status: str = "partial"  # or "done"
    rollups_from: datetime = EPOCH  # the first rows loaded without a rollup refresh since (local loads)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rollups_from"] = self.rollups_from.isoformat(sep=" ")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FileState:
        values = {f.name: d[f.name] for f in fields(cls)}
        values["rollups_from"] = datetime.fromisoformat(str(values["rollups_from"])).replace(tzinfo=None)
        return cls(**values)


_ARROW = {"size": pa.uint64(), "mtime": pa.float64(), "head_len": pa.uint32(), "base_time_us": pa.int64(),
          "offset": pa.uint64(), "lines": pa.uint64(), "crc32": pa.uint32(), "rows": pa.uint64(),
          "rejected": pa.uint64(), "cost": pa.float64(), "rollups_from": pa.timestamp("ms", tz="UTC")}
_versions = threading.Lock()
_last_version = datetime(1970, 1, 1)


def _next_version() -> datetime:
    """Strictly increasing in this process, so a file's newer row always wins."""
    global _last_version
    with _versions:
        now = datetime.now(UTC).replace(tzinfo=None)
        _last_version = max(now, _last_version + timedelta(microseconds=1))
        return _last_version


def read_states(store: Store, project: str, prefix: str = "") -> dict[str, FileState]:
    """The newest state of every file of ``project`` whose source starts with ``prefix``."""
    names = ", ".join(f.name for f in fields(FileState))
    rows = store.query(
        f"SELECT {names} FROM {store.database}.{TABLE} FINAL "
        "WHERE project = {project:String} AND startsWith(source, {prefix:String})",
        {"project": project, "prefix": prefix})
    return {r["source"]: FileState.from_dict(r) for r in rows}


def read_state(store: Store, project: str, source: str) -> FileState | None:
    return read_states(store, project, source).get(source)


def _quote(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def read_states_of(store: Store, project: str, sources: list[str]) -> dict[str, FileState]:
    """The newest state of each of these files of ``project`` (those that have one)."""
    names = ", ".join(f.name for f in fields(FileState))
    found: dict[str, FileState] = {}
    for i in range(0, len(sources), 1000):
        listed = ", ".join(_quote(s) for s in sources[i:i + 1000])
        rows = store.query(f"SELECT {names} FROM {store.database}.{TABLE} FINAL "
                           f"WHERE project = {{project:String}} AND source IN ({listed})", {"project": project})
        found.update((r["source"], FileState.from_dict(r)) for r in rows)
    return found


def waiting_for_rollups(store: Store, project: str) -> list[FileState]:
    """Files with rows loaded (by a local run) since the rollups were last refreshed."""
    names = ", ".join(f.name for f in fields(FileState))
    rows = store.query(f"SELECT {names} FROM {store.database}.{TABLE} FINAL "
                       "WHERE project = {project:String} AND rollups_from > 0", {"project": project})
    return [FileState.from_dict(r) for r in rows]


def write_state(store: Store, state: FileState) -> None:
    write_states(store, [state])


def write_states(store: Store, states: list[FileState]) -> None:
    """The new rows of these files, in one insert."""
    if not states:
        return
    rows = [asdict(s) | {"rollups_from": s.rollups_from.replace(tzinfo=UTC)} for s in states]
    table = pa.table({**{k: pa.array([r[k] for r in rows], _ARROW.get(k, pa.string())) for k in rows[0]},
                      "updated_at": pa.array([_next_version() for _ in rows], pa.timestamp("us", tz="UTC"))})
    store.insert_arrow(TABLE, table)
