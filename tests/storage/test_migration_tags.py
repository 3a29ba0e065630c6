"""m017: a store whose rollups were made before they kept tag sets gets them, every period that still has
spans recomputed, without counting a call twice (its own module: one chDB data directory per process)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.query.test_tag_rollups import P, _calls, expected
from tokentrail.query import metrics, rollups
from tokentrail.query.filters import Filters
from tokentrail.storage.backend import open_store
from tokentrail.storage.migrations import m017_rollups_by_tag_set, migrate
from tokentrail.storage.rollup_tables import ROLLUP_DAY, ROLLUP_DIMENSIONS, ROLLUP_HOUR, ROLLUP_MINUTE


def _old_table_sql(table, database: str) -> str:
    """``table``'s DDL as it was before m017: no tags column, not in the key."""
    old = dataclasses.replace(table, columns=tuple(c for c in table.columns if c.name != "tags"),
                              order_by=table.order_by.replace(", tags)", ")"))
    return old.create_sql(database)


@pytest.mark.parametrize("stopped_after_alter", [False, True])
def test_m017_gives_an_old_store_its_tags_without_counting_twice(tmp_path: Path, stopped_after_alter: bool) -> None:
    """``stopped_after_alter``: an earlier start added the columns and stopped before deleting the old rows."""
    store = open_store(f"chdb://{tmp_path / 'db'}")
    try:
        migrate(store)
        db = store.database
        start = (datetime.now(UTC) - timedelta(days=3)).replace(hour=9, minute=0, second=0, microsecond=0)
        rows = [(c["start_time"], c["input_tokens"], c["tags"]) for c in _calls(start)]
        store.command(f"INSERT INTO {db}.spans (project, trace_id, span_id, kind, request_model, input_tokens, tags, "
                      "start_time, end_time, status) VALUES " + ", ".join(
                          f"('{P}', '{i:032x}', '{i:016x}', 'llm', 'gpt-4o-mini', {t}, {tags!r}, "
                          f"parseDateTime64BestEffort('{at}', 6), parseDateTime64BestEffort('{at}', 6), 'ok')"
                          for i, (at, t, tags) in enumerate(rows)))
        # the rollups as m003 made them before tags, filled as the refresh then did
        for table in (ROLLUP_MINUTE, ROLLUP_HOUR, ROLLUP_DAY):
            store.command(f"DROP TABLE {db}.{table.name}")
            store.command(_old_table_sql(table, db))
        minutes = {(P, datetime.fromisoformat(r["m"])) for r in store.query(
            f"SELECT DISTINCT toStartOfMinute(start_time) AS m FROM {db}.spans")}
        store.command(f"INSERT INTO {db}.rollup_minute SELECT * EXCEPT (tags) FROM ("
                      + rollups._minute_select(f"{db}.spans FINAL", f"'{P}'", sorted(m for _, m in minutes)) + ")")
        for target, src, src_t, t, trunc in (("rollup_hour", "rollup_minute", "minute", "hour", "toStartOfHour"),
                                             ("rollup_day", "rollup_hour", "hour", "day", "toStartOfDay")):
            periods = sorted({m.replace(minute=0) if t == "hour" else m.replace(hour=0, minute=0) for _, m in minutes})
            dims = rollups._DIMS.replace(", tags", "")
            store.command(f"INSERT INTO {db}.{target} " + rollups._coarser_select(
                f"{db}.{src} FINAL", src_t, f"'{P}'", periods, t, trunc, dims))
        if stopped_after_alter:
            for table, time_col in (("rollup_minute", "minute"), ("rollup_hour", "hour"), ("rollup_day", "day")):
                key = ", ".join(time_col if d == "minute" else d for d in ROLLUP_DIMENSIONS)
                store.command(f"ALTER TABLE {db}.{table} ADD COLUMN tags Array(LowCardinality(String)) "
                              f"AFTER error_type, MODIFY ORDER BY ({key})")
        m017_rollups_by_tag_set(store)
        for days in (7, 30):
            for tag in (None, "canary", "eu"):
                f = Filters(project=P, since=datetime.now(UTC) - timedelta(days=days),
                            equals={"tag": tag} if tag else {})
                s = metrics.summary(store, f, ["requests", "input_tokens"])
                assert s["source"] == "rollup"
                assert (s["requests"], s["input_tokens"]) == expected(tag), (days, tag)
        m017_rollups_by_tag_set(store)  # again: nothing changes
        s = metrics.summary(store, Filters(project=P, since=datetime.now(UTC) - timedelta(days=30)), ["requests"])
        assert s["requests"] == expected(None)[0]
    finally:
        store.close()
