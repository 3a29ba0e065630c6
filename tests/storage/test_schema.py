"""One schema definition: DDL generated from it is snapshot-tested and migrations apply once."""

from __future__ import annotations

from pathlib import Path

from tokentrail.storage.backend import open_store
from tokentrail.storage.migrations import MIGRATION_LIST, migrate
from tokentrail.storage.schema import SPANS, render_ddl

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schema_matches_the_definition() -> None:
    expected = (ROOT / "docs" / "schema.sql").read_text()
    retention = {"spans": 30, "spans_by_user": 30, "contents": 7, "scores": 365, "rollup_day_user": 365, "rollup_day_session": 365,
                 "audit_log": 365}
    assert render_ddl(retention=retention) == expected, (
        "schema changed: run `python -m tokentrail.storage.schema > docs/schema.sql` and review the diff")


def test_spans_has_the_columns_the_product_promises() -> None:
    needed = {"trace_id", "span_id", "parent_span_id", "project", "name", "kind", "start_time", "end_time",
              "duration_ms", "ttft_ms", "provider", "request_model", "response_model", "input_tokens",
              "output_tokens", "cached_input_tokens", "reasoning_tokens", "input_cost", "output_cost", "total_cost",
              "price_version", "status", "error_type", "error_message", "http_status", "finish_reason", "streamed",
              "user_id", "session_id", "route", "customer", "environment", "release", "tags", "attributes", "source"}
    assert needed <= set(SPANS.column_names)


def test_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    store = open_store(f"chdb://{tmp_path / 'db'}")
    try:
        assert migrate(store) == [name for name, _ in MIGRATION_LIST]
        assert migrate(store) == []
        tables = {r["name"] for r in store.query("SELECT name FROM system.tables WHERE database = 'tokentrail'")}
        assert {"spans", "contents", "scores", "prices", "spans_in", "spans_in_to_spans"} <= tables
        migrate(store, {"spans": 3})
        ddl = store.query("SHOW CREATE TABLE tokentrail.spans")[0]["statement"]
        assert "toIntervalDay(3)" in ddl
        migrate(store, {"spans": 0})
        assert "TTL" not in store.query("SHOW CREATE TABLE tokentrail.spans")[0]["statement"]
    finally:
        store.close()


def test_an_unreachable_clickhouse_server_is_a_503_with_retry_after_not_a_500() -> None:
    from tokentrail.errors import StoreBusy
    from tokentrail.storage.server_backend import _failure

    down = _failure(ConnectionError("HTTPConnectionPool(host='ch', port=8123): Max retries exceeded "
                                    "(Caused by NewConnectionError: [Errno 111] Connection refused)"))
    assert isinstance(down, StoreBusy) and down.status == 503 and down.retry_after >= 1
    assert type(_failure(RuntimeError("Code: 62. DB::Exception: Syntax error"))).__name__ == "StorageError"
