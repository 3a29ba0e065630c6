"""ClickHouse server backend (clickhouse-connect over HTTP). Same SQL as chDB."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pyarrow as pa

from tokentrail.errors import StorageError, StoreBusy
from tokentrail.storage import deadline
from tokentrail.storage.backend import SESSION_SETTINGS, Params

_UNREACHABLE = ("connection refused", "max retries exceeded", "failed to establish", "timed out",
                "connection reset", "name or service not known", "connection aborted", "remote end closed")


def _failure(e: Exception) -> StorageError:
    """The error to raise for a failed call: an unreachable server is 503 + Retry-After (it comes back;
    the inserter retries what it holds), anything else the server's own message."""
    text = str(e)
    if any(w in text.lower() for w in _UNREACHABLE):
        return StoreBusy(f"the ClickHouse server cannot be reached ({text[:300]}); retry later", retry_after=5)
    return StorageError(text[:2000])


class ServerStore:
    def __init__(self, url: str) -> None:
        import clickhouse_connect

        u = urlparse(url.replace("clickhouse://", "http://", 1))
        self.database = (u.path or "/").strip("/") or "tokentrail"
        try:
            admin = clickhouse_connect.get_client(
                host=u.hostname or "localhost", port=u.port or 8123, username=u.username or "default",
                password=u.password or "", secure=u.scheme == "https")
            admin.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
            admin.close()
            self._client = clickhouse_connect.get_client(
                host=u.hostname or "localhost", port=u.port or 8123, username=u.username or "default",
                password=u.password or "", database=self.database, secure=u.scheme == "https",
                autogenerate_session_id=False, settings=dict(SESSION_SETTINGS))
        except Exception as e:
            raise StorageError(f"cannot connect to ClickHouse at {u.hostname}:{u.port}: {e}") from e

    def command(self, sql: str, params: Params = None) -> None:
        try:
            self._client.command(sql, parameters=params)
        except Exception as e:
            raise _failure(e) from e

    busy_since: float | None = None  # the server runs statements side by side: never busy for health

    def query(self, sql: str, params: Params = None) -> list[dict[str, Any]]:
        left = deadline.left()
        if left is not None and left <= 0:
            raise StoreBusy("the query timeout passed before the query could start; retry later", retry_after=2)
        settings = {"max_execution_time": max(1, int(left))} if left is not None else None
        try:
            res = self._client.query(sql, parameters=params, settings=settings)
        except Exception as e:
            if "TIMEOUT_EXCEEDED" in str(e):
                raise StoreBusy("the query ran past the query timeout; retry later or narrow it", retry_after=2) from e
            raise _failure(e) from e
        return list(res.named_results())

    def insert_arrow(self, table: str, data: pa.Table) -> None:
        if data.num_rows:
            try:
                self._client.insert_arrow(table, data, database=self.database)
            except Exception as e:
                raise _failure(e) from e

    def insert_select_protobuf(self, sql_template: str, paths: list[Path], structure: str, schema: str,
                               message: str, settings: dict[str, str]) -> None:
        sql = sql_template.replace("{source}", f"input('{structure}')") + " FORMAT Protobuf"
        settings = {"format_schema_source": "string", "format_schema": schema,
                    "format_schema_message_name": message, **settings}
        try:
            self._client.command(sql, data=b"".join(p.read_bytes() for p in paths), settings=settings)
        except Exception as e:
            raise _failure(e) from e

    def close(self) -> None:
        self._client.close()
