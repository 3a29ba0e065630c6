"""The small interface both storage backends implement, and the factory choosing one.

``chdb://PATH`` (default) runs the ClickHouse engine in-process on a data directory;
``http(s)://user:pass@host:8123/db`` talks to a ClickHouse server. Both run the same SQL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from tokentrail.errors import StorageError

Params = dict[str, Any] | None
# Session settings of both backends: reads that hold minutes not yet rolled up carry their list in the
# SQL (query/rollups.py), which a backfill over days makes longer than the engine's 256 KB default.
SESSION_SETTINGS = {"max_query_size": str(16 << 20)}


class Store(Protocol):
    database: str

    busy_since: float | None  # monotonic start of a statement that holds the store now (None: idle)

    def command(self, sql: str, params: Params = None) -> None: ...

    def query(self, sql: str, params: Params = None) -> list[dict[str, Any]]: ...

    def insert_arrow(self, table: str, data: pa.Table) -> None: ...

    def insert_select_protobuf(self, sql_template: str, paths: list[Path], structure: str, schema: str,
                               message: str, settings: dict[str, str]) -> None:
        """Run ``sql_template`` with ``{source}`` replaced by a table reading the files
        ``paths`` (length-delimited protobuf messages of type ``message``, ``schema`` text),
        all in ONE insert."""
        ...

    def close(self) -> None: ...


def write_generation(store: Any, table: str) -> object | None:
    """A value that changes whenever ``table`` may have been written, or None when the store cannot tell
    (a ClickHouse server other processes write too). Caches that reload a small table every few seconds
    ask this first and skip the reload while it is unchanged: an idle server then queries nothing."""
    fn = getattr(store, "write_generation", None)
    return fn(table) if fn is not None else None


def rows_from_json_compact(raw: bytes) -> list[dict[str, Any]]:
    if not raw:
        return []
    doc = json.loads(raw)
    names = [m["name"] for m in doc["meta"]]
    return [dict(zip(names, row, strict=True)) for row in doc["data"]]


def open_store(url: str) -> Store:
    """Open the store named by ``url`` (see module docstring)."""
    if url.startswith("chdb://"):
        from tokentrail.storage.chdb_backend import ChdbStore

        return ChdbStore(Path(url[len("chdb://"):]).expanduser())
    if url.startswith(("http://", "https://", "clickhouse://")):
        from tokentrail.storage.server_backend import ServerStore

        return ServerStore(url)
    raise StorageError(f"unsupported storage URL {url!r}: use chdb://PATH or http(s)://host:8123/db")
