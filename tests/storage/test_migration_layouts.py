"""Migrations of a store made before them (its own module: one chDB data directory per process):
m018 (its columns end up as a new store's: codec, type and comment, rows intact, idempotent), m019 (each
user's unpriced calls), m020 (spans_by_user by week: the same rows, its TTL kept, a stopped start)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tokentrail.storage import schema
from tokentrail.storage.alert_tables import ALERT_TABLES
from tokentrail.storage.backend import open_store
from tokentrail.storage.migrations import m018_default_codec, migrate
from tokentrail.storage.rollup_tables import ROLLUP_TABLES

COLUMNS = ("SELECT table, name, type, comment, compression_codec FROM system.columns WHERE database = {d:String} "
           "ORDER BY table, position")


def test_m018_gives_an_old_store_the_codecs_of_a_new_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(f"chdb://{tmp_path / 'db'}")
    try:
        migrate(store)
        db = store.database
        fresh = store.query(COLUMNS, {"d": db})
        assert any(r["compression_codec"] == f"CODEC({schema.DEFAULT_CODEC})" for r in fresh if r["table"] == "spans")
        # the tables as a store made before m018 has them: no codec where the definition names none
        monkeypatch.setattr(schema, "DEFAULT_CODEC", "")
        tables = [t for t in (*schema.TABLES, *ROLLUP_TABLES, *ALERT_TABLES) if t.stored and t is not schema.MIGRATIONS]
        for table in tables:
            store.command(f"DROP TABLE {db}.{table.name}")
            store.command(table.create_sql(db))
        monkeypatch.undo()
        old = {(r["table"], r["name"]): r for r in store.query(COLUMNS, {"d": db})}
        assert old[("spans", "duration_ms")]["compression_codec"] == ""  # the engine's default
        assert old[("spans", "trace_id")]["compression_codec"] == "CODEC(ZSTD(1))"  # named in the definition
        store.command(f"INSERT INTO {db}.spans (project, trace_id, span_id, kind, start_time, end_time, duration_ms, "
                      "input_tokens, status) VALUES ('p', '{0}', '{1}', 'llm', now64(6), now64(6), 812.25, 41, 'ok')"
                      .format("a" * 32, "b" * 16))
        m018_default_codec(store)
        assert store.query(COLUMNS, {"d": db}) == fresh
        m018_default_codec(store)  # again: nothing left to change
        assert store.query(COLUMNS, {"d": db}) == fresh
        rows = store.query(f"SELECT trace_id, duration_ms, input_tokens FROM {db}.spans")
        assert rows == [{"trace_id": "a" * 32, "duration_ms": 812.25, "input_tokens": 41}]
    finally:
        store.close()


def test_m019_counts_each_users_unpriced_calls_on_a_store_made_before(tmp_path: Path) -> None:
    import dataclasses

    from tokentrail.storage.migrations import m019_user_days_unpriced
    from tokentrail.storage.rollup_tables import ROLLUP_DAY_USER

    store = open_store(f"chdb://{tmp_path / 'db'}")
    try:
        migrate(store)
        db = store.database
        fresh = [r for r in store.query(COLUMNS, {"d": db}) if r["table"] == "rollup_day_user"]
        store.command(f"DROP TABLE {db}.rollup_day_user")
        store.command(dataclasses.replace(ROLLUP_DAY_USER, columns=tuple(
            c for c in ROLLUP_DAY_USER.columns if c.name != "unpriced")).create_sql(db))
        calls = [("gpt-4o-mini", "0.002"), ("gpt-4o-mini", "0.003"), ("acme-local-7b", "NULL")]
        store.command(f"INSERT INTO {db}.spans (project, trace_id, span_id, kind, request_model, user_id, total_cost, "
                      "start_time, end_time, status) VALUES " + ", ".join(
                          f"('p', '{i:032x}', '{i:016x}', 'llm', '{model}', 'u-1', {cost}, now64(6) - {i}, "
                          "now64(6) - {i}, 'ok')".replace("{i}", str(i)) for i, (model, cost) in enumerate(calls)))
        m019_user_days_unpriced(store)
        assert [r for r in store.query(COLUMNS, {"d": db}) if r["table"] == "rollup_day_user"] == fresh
        rows = store.query(f"SELECT user_id, sum(requests) AS n, sum(unpriced) AS unpriced, round(sum(cost), 6) AS cost "
                           f"FROM {db}.rollup_day_user FINAL GROUP BY user_id")
        assert rows == [{"user_id": "u-1", "n": 3, "unpriced": 1, "cost": 0.005}]
    finally:
        store.close()


@pytest.mark.parametrize("stopped_after_swap", [False, True])
def test_m020_moves_spans_by_user_to_weekly_partitions(tmp_path: Path, stopped_after_swap: bool) -> None:
    import dataclasses

    from tokentrail.storage.migrations import _current_ttl, m020_spans_by_user_by_week
    from tokentrail.storage.rollup_tables import SPANS_BY_USER

    store = open_store(f"chdb://{tmp_path / 'db'}")
    try:
        migrate(store, {"spans_by_user": 30})
        db = store.database
        fresh = store.query("SELECT partition_key, engine_full FROM system.tables WHERE database = {d:String} "
                            "AND name = 'spans_by_user'", {"d": db})
        fresh_columns = [r for r in store.query(COLUMNS, {"d": db}) if r["table"] == "spans_by_user"]
        # the table as m014 made it: a day a partition, whole parts dropped on expiry, customer a String
        store.command(f"DROP TABLE {db}.spans_by_user")
        columns = tuple(dataclasses.replace(c, type="String") if c.name == "customer" else c
                        for c in SPANS_BY_USER.columns)
        store.command(dataclasses.replace(SPANS_BY_USER, columns=columns, partition_by="toDate(start_time)", settings={
            "ttl_only_drop_parts": "1", "index_granularity": "2048"}).create_sql(db, 30))
        rows = [(f"u-{i % 3}", f"c-{i % 2}", i * 7919 % 86400 * 3) for i in range(40)]  # 40 calls over ~3 days
        store.command(f"INSERT INTO {db}.spans_by_user (project, customer, user_id, trace_id, span_id, start_time, "
                      "end_time, kind, total_cost, version) VALUES " + ", ".join(
                          f"('p', '{c}', '{u}', '{i:032x}', '{i:016x}', now64(6) - {s}, now64(6) - {s}, 'llm', "
                          f"{i / 100}, now64(3))" for i, (u, c, s) in enumerate(rows)))
        read = (f"SELECT user_id, customer, count() AS n, round(sum(total_cost), 6) AS cost FROM {db}.spans_by_user "
                "FINAL GROUP BY user_id, customer ORDER BY user_id, customer")
        before = store.query(read)
        assert sum(r["n"] for r in before) == 40
        if stopped_after_swap:  # an earlier start swapped the tables and stopped before dropping the old one
            m020_spans_by_user_by_week(store)
            store.command(f"CREATE TABLE {db}.spans_by_user_by_day (x UInt8) ENGINE = Memory")
        m020_spans_by_user_by_week(store)
        tables = store.query("SELECT name, partition_key, engine_full FROM system.tables WHERE database = {d:String} "
                             "AND name LIKE 'spans_by_user%'", {"d": db})
        assert [t["name"] for t in tables] == ["spans_by_user"]  # the old one is gone
        assert tables[0]["partition_key"] == fresh[0]["partition_key"] == "toMonday(start_time)"
        assert _current_ttl(store, "spans_by_user") == "toIntervalDay(30)"  # kept: nothing to rewrite at start
        assert "ttl_only_drop_parts" not in tables[0]["engine_full"]
        assert [r for r in store.query(COLUMNS, {"d": db}) if r["table"] == "spans_by_user"] == fresh_columns
        assert store.query(read) == before
        m020_spans_by_user_by_week(store)  # again: nothing to do
        assert store.query(read) == before
    finally:
        store.close()


def test_m021_gives_the_scores_a_copy_sorted_by_time(tmp_path: Path) -> None:
    """A store made before m021: its scores get the ``by_time`` projection (rows stored before included),
    a merge that replaces a score's older version keeps it right, and a range read uses it."""
    import dataclasses

    from tokentrail.storage.migrations import m021_scores_by_time

    store = open_store(f"chdb://{tmp_path / 'db'}")
    try:
        migrate(store)
        db = store.database
        store.command(f"DROP TABLE {db}.scores")
        store.command(dataclasses.replace(schema.SCORES, projections=(), settings={}).create_sql(db))
        values = ", ".join(
            f"('p', 's{i}', '{i:032x}', '', 'helpfulness', {i % 5 / 4}, '', 'eval', '', '', "
            f"toDateTime64('2026-11-01 00:00:00', 3) + INTERVAL {i} MINUTE, toDateTime64('2026-12-01 00:00:00', 3))"
            for i in range(3000))
        store.command(f"INSERT INTO {db}.scores VALUES {values}")
        m021_scores_by_time(store)
        m021_scores_by_time(store)  # a start stopped after it: again, harmlessly
        assert store.query("SELECT name FROM system.projections WHERE database = {d:String} AND table = 'scores'",
                           {"d": db}) == [{"name": "by_time"}]
        # a newer version of score s7 (value 0.75 -> 0), then a merge that replaces the old one
        store.command(f"INSERT INTO {db}.scores VALUES ('p', 's7', '{7:032x}', '', 'helpfulness', 0, '', 'eval', '', "
                      "'', toDateTime64('2026-11-01 00:07:00', 3), toDateTime64('2026-12-02 00:00:00', 3))")
        store.command(f"OPTIMIZE TABLE {db}.scores FINAL")
        window = (f"FROM {db}.scores WHERE project = 'p' AND timestamp >= '2026-11-01 00:05:00' "
                  "AND timestamp < '2026-11-01 00:10:00'")
        plan = "\n".join(str(next(iter(r.values())))
                         for r in store.query(f"EXPLAIN projections = 1 SELECT score_id, value {window}"))
        assert "by_time" in plan
        rows = store.query(f"SELECT score_id, value {window} ORDER BY timestamp")
        assert rows == [{"score_id": f"s{i}", "value": 0.0 if i == 7 else i % 5 / 4} for i in range(5, 10)]
    finally:
        store.close()


def test_m022_reads_redaction_counts_from_a_column_old_rows_included(tmp_path: Path) -> None:
    """A store made before m022: the spans get ``redacted`` (the ``tokentrail.redacted`` attribute); rows
    stored before read the same counts, before and after the engine writes the column for their parts."""
    import dataclasses

    from tokentrail.storage.migrations import m022_redacted_column

    store = open_store(f"chdb://{tmp_path / 'db'}")
    try:
        migrate(store)
        db = store.database
        old_spans = dataclasses.replace(schema.SPANS, columns=tuple(c for c in schema.SPANS.columns
                                                                       if c.name != "redacted"))
        store.command(f"DROP TABLE {db}.spans")
        store.command(old_spans.create_sql(db))
        store.command(f"INSERT INTO {db}.spans (project, trace_id, span_id, kind, start_time, end_time, attributes) "
                      "VALUES ('p', '{0}', '{1}', 'llm', now64(6), now64(6), map('tokentrail.redacted', 'EMAIL:2')), "
                      "('p', '{0}', '{2}', 'llm', now64(6), now64(6), map('other', 'x'))"
                      .format("a" * 32, "b" * 16, "c" * 16))
        m022_redacted_column(store)
        m022_redacted_column(store)  # a start stopped after it: again, harmlessly
        query = f"SELECT span_id, redacted FROM {db}.spans ORDER BY span_id"
        expected = [{"span_id": "b" * 16, "redacted": "EMAIL:2"}, {"span_id": "c" * 16, "redacted": ""}]
        assert store.query(query) == expected
        store.command(f"ALTER TABLE {db}.spans MATERIALIZE COLUMN redacted SETTINGS mutations_sync = 2")
        assert store.query(query) == expected
        store.command(f"INSERT INTO {db}.spans (project, trace_id, span_id, kind, start_time, end_time, attributes) "
                      "VALUES ('p', '{0}', '{1}', 'llm', now64(6), now64(6), map('tokentrail.redacted', 'CARD:1'))"
                      .format("a" * 32, "d" * 16))
        assert store.query(f"SELECT redacted FROM {db}.spans WHERE span_id = '{'d' * 16}'") == [{"redacted": "CARD:1"}]
    finally:
        store.close()


def test_m024_gives_spans_by_user_its_user_keys_and_integer_costs(tmp_path: Path) -> None:
    """A store made before m024: its rows get user_key (the user id hashed, 0 for none) and cost_pico (the
    cost in 1e-12 USD, -1 for a successful LLM call without a price), and the user-key index; idempotent."""
    import dataclasses

    from tokentrail.storage.migrations import m024_people_keys
    from tokentrail.storage.rollup_tables import SPANS_BY_USER, USER_KEY_INDEX

    store = open_store(f"chdb://{tmp_path / 'db'}")
    try:
        migrate(store)
        db = store.database
        fresh_columns = [r for r in store.query(COLUMNS, {"d": db}) if r["table"] == "spans_by_user"]
        store.command(f"DROP TABLE {db}.spans_by_user")
        store.command(dataclasses.replace(
            SPANS_BY_USER, columns=tuple(c for c in SPANS_BY_USER.columns if c.name not in ("user_key", "cost_pico")),
            indexes=tuple(i for i in SPANS_BY_USER.indexes if i != USER_KEY_INDEX)).create_sql(db))
        calls = [("u-1", "ok", "0.00123"), ("u-1", "ok", "NULL"), ("u-2", "error", "NULL"), ("", "ok", "0.5"),
                 ("u-3", "ok", "0")]
        store.command(f"INSERT INTO {db}.spans_by_user (project, customer, user_id, trace_id, span_id, start_time, "
                      "end_time, kind, status, total_cost, version) VALUES " + ", ".join(
                          f"('p', 'c', '{u}', '{i:032x}', '{i:016x}', now64(6), now64(6), 'llm', '{s}', {c}, now64(3))"
                          for i, (u, s, c) in enumerate(calls)))
        m024_people_keys(store)
        m024_people_keys(store)  # again: nothing to add
        assert [r for r in store.query(COLUMNS, {"d": db}) if r["table"] == "spans_by_user"] == fresh_columns
        indexes = store.query("SELECT name, type_full FROM system.data_skipping_indices WHERE database = {d:String} "
                              "AND table = 'spans_by_user' ORDER BY name", {"d": db})
        assert {"name": "idx_user_key", "type_full": "set(256)"} in indexes
        rows = store.query(f"SELECT user_id, user_key = if(user_id = '', 0, cityHash64(user_id)) AS hashed, "
                           f"cost_pico FROM {db}.spans_by_user ORDER BY span_id")
        assert [(r["user_id"], r["hashed"], r["cost_pico"]) for r in rows] == [
            ("u-1", 1, 1_230_000_000), ("u-1", 1, -1), ("u-2", 1, 0), ("", 1, 500_000_000_000), ("u-3", 1, 0)]
        assert store.query(f"SELECT count() AS n FROM {db}.spans_by_user WHERE user_key = 0")[0]["n"] == 1
    finally:
        store.close()
