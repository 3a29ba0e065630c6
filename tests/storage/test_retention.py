"""Retention: every setting (0 = forever, or days) applies on a fresh and on an existing store, either
way, and the per-user / per-session rollups (they hold user ids) expire with their own setting."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.support import ServerProcess
from tokentrail.config import Settings
from tokentrail.storage.backend import Store, open_store
from tokentrail.storage.migrations import migrate

TABLES = ("spans", "contents", "scores", "rollup_day_user", "rollup_day_session")


def _ttl(store: Store, table: str) -> str:
    ddl = store.query(f"SHOW CREATE TABLE tokentrail.{table}")[0]["statement"]
    return ddl.split("TTL ", 1)[1].split("\n")[0].strip() if "\nTTL " in ddl else ""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = open_store(f"chdb://{tmp_path / 'db'}")
    try:
        yield s
    finally:
        s.close()


@pytest.mark.parametrize("days", [0, 1, 30])
def test_every_retention_value_applies_on_a_fresh_store(store: Store, days: int) -> None:
    migrate(store, dict.fromkeys(TABLES, days))
    for table in TABLES:
        ttl = _ttl(store, table)
        assert ttl.endswith(f"+ toIntervalDay({days})") if days else ttl == "", (table, ttl)


def test_retention_changes_both_ways_on_an_existing_store(store: Store) -> None:
    for days in (30, 0, 7, 0, 0, 365, 365):
        migrate(store, dict.fromkeys(TABLES, days))
        for table in TABLES:
            ttl = _ttl(store, table)
            assert ttl.endswith(f"+ toIntervalDay({days})") if days else ttl == "", (table, days, ttl)


def test_default_settings_expire_the_per_user_and_per_session_rollups() -> None:
    retention = Settings.load().retention
    assert retention["rollup_day_user"] == retention["rollup_day_session"] == 365


def test_per_user_rollup_rows_past_retention_are_deleted(store: Store) -> None:
    migrate(store, {"rollup_day_user": 10, "rollup_day_session": 10})
    old, recent = (datetime.now(UTC) - timedelta(days=d) for d in (11, 2))
    for day, user in ((old, "old@example.com"), (recent, "new@example.com")):
        store.command("INSERT INTO tokentrail.rollup_day_user (project, day, user_id, requests) "
                      "VALUES ('p', {d:Date}, {u:String}, 1)", {"d": day.date(), "u": user})
        store.command("INSERT INTO tokentrail.rollup_day_session (project, session_id, day, user_id, llm_calls) "
                      "VALUES ('p', {u:String}, {d:Date}, {u:String}, 1)", {"d": day.date(), "u": user})
    for table in ("rollup_day_user", "rollup_day_session"):
        store.command(f"OPTIMIZE TABLE tokentrail.{table} FINAL")
        users = {r["user_id"] for r in store.query(f"SELECT user_id FROM tokentrail.{table}")}
        assert users == {"new@example.com"}, table


def test_serve_keeps_spans_forever_on_a_fresh_data_dir_then_with_days_then_forever_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for days in ("0", "30", "0"):
        server = ServerProcess(data, extra=["--retention-spans-days", days, "--retention-contents-days", days,
                                            "--retention-scores-days", days, "--retention-user-rollups-days", days])
        server.start()
        try:
            assert httpx.get(server.url + "/readyz", timeout=10).status_code == 200
        finally:
            server.stop()
