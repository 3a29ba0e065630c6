"""Embedded backend: chDB (the ClickHouse engine in-process) on a data directory.

One process owns a data directory (chDB locks it); other processes reach the data
through the running server.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc as ipc

from tokentrail.errors import BadRequest, DataDirLocked, StorageError, StoreBusy
from tokentrail.storage import deadline
from tokentrail.storage.backend import SESSION_SETTINGS, Params, rows_from_json_compact

DATABASE = "tokentrail"
# The embedded engine's own settings. Its memory worker reads the process's RSS every 50 ms by default:
# 2 ms of CPU a second, a third of an idle server's; once a second is enough for an embedded store.
ENGINE_SETTINGS = {"memory_worker_period_ms": "1000"}

# a statement that writes a table, and which one (write_generation); anything else that is not a read
# counts as a write of every table
_WRITES = re.compile(r"^\s*(?:INSERT\s+INTO|ALTER\s+TABLE|TRUNCATE\s+(?:TABLE\s+)?|DELETE\s+FROM|OPTIMIZE\s+TABLE|"
                     r"DROP\s+TABLE|CREATE\s+(?:OR\s+REPLACE\s+)?TABLE|RENAME\s+TABLE|EXCHANGE\s+TABLES)\s+"
                     r"(?:IF\s+(?:NOT\s+)?EXISTS\s+)?`?\w+`?\.`?(\w+)`?", re.I)
_READS = re.compile(r"^\s*(?:SELECT|WITH|EXPLAIN|SHOW|DESCRIBE|DESC|EXISTS|CREATE\s+DATABASE)\b", re.I)


def _quote(s: str) -> str:
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _escaped(params: dict[str, Any]) -> dict[str, Any]:
    """chDB reads a query parameter's text in the Escaped format (a backslash starts an escape): a value
    holding a backslash, tab or newline is written so that it reads back as itself."""
    return {k: v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
            if isinstance(v, str) else v for k, v in params.items()}


def _locked_by_another_process(path: Path) -> bool:
    """The engine holds an exclusive flock on ``status`` while a process owns the directory."""
    status = path / "status"
    if not status.exists():
        return False
    with open(status, "rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def _check_unicode(sql: str, params: Params) -> None:
    """A client's value with a lone surrogate (JSON allows the escape ``\\ud800``) cannot reach the engine:
    a clear 400 for the request that sent it, not an engine error."""
    for text in (sql, *(v for v in (params or {}).values() if isinstance(v, str))):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            raise BadRequest("a value is not valid Unicode (a lone surrogate such as \\ud800); "
                             "send UTF-8 text") from e


class ChdbStore:
    database = DATABASE

    def __init__(self, path: Path) -> None:
        from chdb import session

        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._tmp = path / "tmp"
        self._tmp.mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self.busy_since: float | None = None  # monotonic start of the statement running now (health reads it)
        self._writes: dict[str, int] = {}  # statements that wrote each table (write_generation)
        self._other_writes = 0
        if _locked_by_another_process(path):
            raise DataDirLocked(path)
        try:
            settings = {**SESSION_SETTINGS, **ENGINE_SETTINGS}
            self._sess = session.Session(str(path) + "?" + "&".join(f"{k}={v}" for k, v in settings.items()))
        except Exception as e:  # chDB raises a plain RuntimeError for a locked directory
            if "lock" in str(e).lower() or "another server" in str(e).lower():
                raise DataDirLocked(path) from e
            raise StorageError(f"cannot open chDB data directory {path}: {e}") from e
        self.command(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")

    def _run(self, sql: str, fmt: str, params: Params) -> bytes:
        _check_unicode(sql, params)
        left = deadline.left()
        if not self._lock.acquire(timeout=-1 if left is None else max(left, 0.0)):
            raise StoreBusy("the store is busy: the query could not start within the query timeout; retry later",
                            retry_after=2)
        try:
            self.busy_since = time.monotonic()
            res = self._sess.query(sql, fmt, params=_escaped(params) if params else None)
        except Exception as e:
            raise StorageError(str(e).strip().splitlines()[0][:2000]) from e
        finally:
            self.busy_since = None
            self._lock.release()
            self._note_write(sql)  # after the statement: a reload that saw the old count runs again
        return res.bytes() if res is not None else b""

    def _note_write(self, sql: str) -> None:
        m = _WRITES.match(sql)
        if m:
            self._writes[m.group(1)] = self._writes.get(m.group(1), 0) + 1
        elif not _READS.match(sql):
            self._other_writes += 1

    def write_generation(self, table: str) -> tuple[int, int]:
        """Changes whenever ``table`` may have been written: only this process writes the data directory."""
        return self._other_writes, self._writes.get(table, 0)

    def command(self, sql: str, params: Params = None) -> None:
        self._run(sql, "TSV", params)

    def query(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        return rows_from_json_compact(self._run(sql, "JSONCompact", params))

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        if data.num_rows == 0:
            return
        with tempfile.NamedTemporaryFile(dir=self._tmp, suffix=".arrow", delete=True) as f:
            with ipc.new_file(f, data.schema) as w:
                w.write_table(data)
            f.flush()
            cols = ", ".join(data.column_names)
            self.command(f"INSERT INTO {DATABASE}.{table} ({cols}) SELECT {cols} FROM file({_quote(f.name)}, 'Arrow')")

    def insert_select_protobuf(self, sql_template: str, paths: list[Path], structure: str, schema: str,
                               message: str, settings: dict[str, str]) -> None:
        if len({p.parent for p in paths}) != 1:
            raise StorageError("segments of one insert must share a directory")
        names = ",".join(p.name for p in paths)
        pattern = str(paths[0].parent / (f"{{{names}}}" if len(paths) > 1 else names))
        source = f"file({_quote(pattern)}, 'Protobuf', {_quote(structure)})"
        sql = sql_template.replace("{source}", source)
        sql += f" SETTINGS format_schema={_quote(str(self._schema_file(schema)) + ':' + message)}"
        sql += "".join(f", {k} = {v}" for k, v in settings.items())
        self.command(sql)

    def _schema_file(self, schema: str) -> Path:
        """The schema as a file in the data directory (a schema given as a string would be
        cached by the engine in a ``__cache__`` folder of the current directory)."""
        digest = hashlib.sha256(schema.encode()).hexdigest()[:16]
        path = self.path / "formats" / f"schema-{digest}.proto"
        if not path.exists():
            path.parent.mkdir(exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(schema)
            tmp.replace(path)
        return path

    def close(self) -> None:
        with self._lock:
            try:
                self._sess.close()
            except Exception:  # closing twice or after a failed open is harmless
                pass
