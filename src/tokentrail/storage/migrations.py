"""Versioned, idempotent migrations: named functions applied once, their names stored.

Add a migration by appending a function decorated with ``@migration``; never edit one
that has shipped. ``migrate`` is safe to run at every start and from several processes
(each statement is itself idempotent).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import UTC, datetime

from tokentrail.storage.backend import Store
from tokentrail.storage.schema import BATCH_FILES, MIGRATIONS, TABLES, TABLES_BY_NAME, VIEWS, Table

Migration = Callable[[Store], None]
MIGRATION_LIST: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    MIGRATION_LIST.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(store: Store) -> None:
    for table in TABLES:
        if table is not MIGRATIONS:
            store.command(table.create_sql(store.database))
    for view in VIEWS:
        store.command(view.create_sql(store.database))



@migration
def m002_batch_manifest(store: Store) -> None:
    store.command(BATCH_FILES.create_sql(store.database))


@migration
def m002b_batch_rollups_from(store: Store) -> None:
    """batch_files as first committed had no rollups_from (a store made since gets it in m001)."""
    column = next(c for c in BATCH_FILES.columns if c.name == "rollups_from")
    store.command(f"ALTER TABLE {store.database}.batch_files ADD COLUMN IF NOT EXISTS rollups_from {column.type} "
                  f"COMMENT '{column.comment}' AFTER status")


def _add_column(store: Store, table: Table, name: str, after: str) -> None:
    """Add ``table``'s column ``name`` as its definition declares it (type, codec, comment) to a store made
    before it (a store made since has it: nothing happens)."""
    column = next(c for c in table.columns if c.name == name)
    store.command(f"ALTER TABLE {store.database}.{table.name} ADD COLUMN IF NOT EXISTS {table.column_sql(column)} "
                  f"AFTER {after}")


def applied(store: Store) -> set[str]:
    rows = store.query(f"SELECT name FROM {store.database}.schema_migrations FINAL")
    return {r["name"] for r in rows}


def migrate(store: Store, retention_days: dict[str, int] | None = None) -> list[str]:
    """Apply pending migrations and the configured retention; return the names applied."""
    store.command(MIGRATIONS.create_sql(store.database))
    done = applied(store)
    ran = []
    for name, fn in MIGRATION_LIST:
        if name in done:
            continue
        fn(store)
        store.command(
            f"INSERT INTO {store.database}.schema_migrations VALUES ({{n:String}}, {{t:DateTime64(3)}})",
            {"n": name, "t": datetime.now(UTC).replace(tzinfo=None)},
        )
        ran.append(name)
    apply_retention(store, retention_days or {})
    return ran


def apply_retention(store: Store, retention_days: dict[str, int]) -> None:
    """Set (or remove, with 0) the TTL of each table named in ``retention_days``, on a fresh or an
    existing store, either way. A table already at the wanted TTL is left alone: ``MODIFY TTL``
    rewrites its parts, and this runs at every start."""
    from tokentrail.storage.alert_tables import ALERT_TABLES
    from tokentrail.storage.rollup_tables import ROLLUP_TABLES

    tables = {**TABLES_BY_NAME, **{t.name: t for t in ROLLUP_TABLES + ALERT_TABLES}}
    for name, days in retention_days.items():
        table = tables[name]
        if not table.ttl_column:
            continue
        current = _current_ttl(store, name)
        if days > 0 and current != f"toIntervalDay({int(days)})":
            store.command(f"ALTER TABLE {store.database}.{name} MODIFY TTL {table.ttl_expression(days)}")
        elif days <= 0 and current is not None:  # REMOVE TTL fails on a table that has none
            store.command(f"ALTER TABLE {store.database}.{name} REMOVE TTL")


def _current_ttl(store: Store, name: str) -> str | None:
    """The interval of a table's TTL as the engine shows it (``toIntervalDay(30)``), None without one."""
    rows = store.query("SELECT engine_full FROM system.tables WHERE database = {d:String} AND name = {n:String}",
                       {"d": store.database, "n": name})
    found = re.search(r"\bTTL .*?(toIntervalDay\(\d+\))", rows[0]["engine_full"]) if rows else None
    if found:
        return found.group(1)
    return "other" if rows and " TTL " in rows[0]["engine_full"] else None


@migration
def m003_rollups(store: Store) -> None:
    from tokentrail.storage.rollup_tables import ROLLUP_TABLES

    for table in ROLLUP_TABLES:
        store.command(table.create_sql(store.database))


@migration
def m004_rollup_totals_sessions_output(store: Store) -> None:
    """Output-length buckets in the rollups, the coarse "totals" rollups and the per-session
    rollup (a store made since gets them in m003); rebuilt from the spans still kept."""
    from tokentrail.query import rollups
    from tokentrail.storage.rollup_tables import ROLLUP_DAY, ROLLUP_HOUR, ROLLUP_MINUTE, ROLLUP_TABLES

    column = next(c for c in ROLLUP_MINUTE.columns if c.name == "output_buckets")
    for table in (ROLLUP_MINUTE, ROLLUP_HOUR, ROLLUP_DAY):
        store.command(f"ALTER TABLE {store.database}.{table.name} ADD COLUMN IF NOT EXISTS output_buckets "
                      f"{column.type} AFTER ttft_buckets")
    for table in ROLLUP_TABLES:
        store.command(table.create_sql(store.database))
    rollups.rebuild_all(store)


@migration
def m005_canonical_finish_reason(store: Store) -> None:
    """``spans.finish``: the canonical finish reason, computed by the engine (old rows read it computed)."""
    from tokentrail.storage.schema import SPANS

    column = next(c for c in SPANS.columns if c.name == "finish")
    store.command(f"ALTER TABLE {store.database}.spans ADD COLUMN IF NOT EXISTS finish {column.type} "
                  f"MATERIALIZED {column.materialized} AFTER finish_reason")


@migration
def m006_rollup_finish_counts(store: Store) -> None:
    """Canonical finish reasons in the rollups (a store made since gets them in m003); rebuilt from the
    spans still kept."""
    from tokentrail.query import rollups
    from tokentrail.storage.rollup_tables import ROLLUP_TABLES

    for table in ROLLUP_TABLES:
        if "finish_counts" in table.column_names:
            store.command(f"ALTER TABLE {store.database}.{table.name} ADD COLUMN IF NOT EXISTS finish_counts "
                          "Array(UInt64) AFTER output_buckets")
    rollups.rebuild_all(store)


@migration
def m007_span_id_index(store: Store) -> None:
    """Find a span by its id alone (a request id: feedback on a gateway call); built for old parts too."""
    store.command(f"ALTER TABLE {store.database}.spans ADD INDEX IF NOT EXISTS idx_span span_id "
                  "TYPE bloom_filter(0.01) GRANULARITY 4")
    store.command(f"ALTER TABLE {store.database}.spans MATERIALIZE INDEX idx_span")


@migration
def m008_response_id(store: Store) -> None:
    """``spans.response_id`` (computed from gen_ai.response.id) with a bloom filter: the double-count check
    pairs one call's two spans on it across traces."""
    from tokentrail.storage.schema import SPANS

    column = next(c for c in SPANS.columns if c.name == "response_id")
    store.command(f"ALTER TABLE {store.database}.spans ADD COLUMN IF NOT EXISTS response_id {column.type} "
                  f"MATERIALIZED {column.materialized} AFTER finish")
    store.command(f"ALTER TABLE {store.database}.spans ADD INDEX IF NOT EXISTS idx_response response_id "
                  "TYPE bloom_filter(0.01) GRANULARITY 4")
    store.command(f"ALTER TABLE {store.database}.spans MATERIALIZE INDEX idx_response")


@migration
def m009_api_keys(store: Store) -> None:
    """API keys (tokentrail.auth.keys): hashed, with project and scopes (a store made since gets it in m001)."""
    from tokentrail.storage.schema import API_KEYS

    store.command(API_KEYS.create_sql(store.database))


@migration
def m010_audit_log(store: Store) -> None:
    """The audit log (tokentrail.audit): content reads, key, account and policy changes, exports, purges."""
    from tokentrail.storage.schema import AUDIT_LOG

    store.command(AUDIT_LOG.create_sql(store.database))


@migration
def m012_encrypted_contents(store: Store) -> None:
    """Encrypted content: ``contents.key_id`` (empty: a plain-text row, as every row before this) and the
    blind index ``search_tokens``, also on ``spans_in``; the view copying spans_in to contents is made
    again with them. Existing plain-text rows are encrypted at the next start that has a key
    (``privacy.rotation.encrypt_plain_rows``) or by ``tokentrail keys rotate-content``."""
    from tokentrail.storage.schema import CONTENTS, SPANS_IN

    db = store.database
    for table in (CONTENTS, SPANS_IN):
        cols = {c.name: c for c in table.columns}
        for name, after in (("key_id", "start_time" if table is CONTENTS else "source"),
                            ("search_tokens", "output")):
            c = cols[name]
            comment = f" COMMENT '{c.comment}'" if c.comment and table is CONTENTS else ""
            store.command(f"ALTER TABLE {db}.{table.name} ADD COLUMN IF NOT EXISTS {name} {c.type}{comment} "
                          f"AFTER {after}")
    for c in CONTENTS.columns:  # ciphertext does not compress: LZ4 is cheaper than ZSTD(3)
        if c.name in ("input", "output"):
            store.command(f"ALTER TABLE {db}.contents MODIFY COLUMN {c.name} {c.type} CODEC({c.codec}) "
                          f"COMMENT '{c.comment}'")
    view = next(v for v in VIEWS if v.name == "spans_in_to_contents")
    store.command(f"DROP VIEW IF EXISTS {db}.{view.name}")
    store.command(view.create_sql(db))


@migration
def m013_alerts(store: Store) -> None:
    """Alert rules, states, history, silences, deliveries and the evaluator lease (storage/alert_tables.py)."""
    from tokentrail.storage.alert_tables import ALERT_TABLES

    for table in ALERT_TABLES:
        store.command(table.create_sql(store.database))


@migration
def m010b_accounts_sessions(store: Store) -> None:
    """UI accounts and sign-in sessions (tokentrail.auth.accounts, tokentrail.auth.sessions)."""
    from tokentrail.storage.schema import ACCOUNTS, UI_SESSIONS

    store.command(ACCOUNTS.create_sql(store.database))
    store.command(UI_SESSIONS.create_sql(store.database))


@migration
def m011_capture_policy(store: Store) -> None:
    """The server's content capture policy (tokentrail.privacy.policy), changed at run time."""
    from tokentrail.storage.schema import CAPTURE_POLICY

    store.command(CAPTURE_POLICY.create_sql(store.database))


@migration
def m014_spans_by_user(store: Store) -> None:
    """``spans_by_user``: the spans the dashboards read, sorted by customer, user and session, so a filter
    on one of them reads a few granules (storage/rollup_tables.py); filled from the spans kept, a day at
    a time (a store made since gets the table in m003). And the spans' ids compressed with ZSTD (LZ4
    cannot shrink hex ids): new parts, and old ones as they merge."""
    from tokentrail.query.rollups import PEOPLE_COLUMNS, PEOPLE_ROWS
    from tokentrail.storage.rollup_tables import SPANS_BY_USER
    from tokentrail.storage.schema import SPANS

    db = store.database
    for c in SPANS.columns:
        if c.codec == "ZSTD(1)":
            comment = " COMMENT '" + c.comment.replace("'", "\\'") + "'" if c.comment else ""
            store.command(f"ALTER TABLE {db}.spans MODIFY COLUMN {c.name} {c.type} CODEC({c.codec}){comment}")
    store.command(SPANS_BY_USER.create_sql(db))
    days = store.query(f"SELECT DISTINCT toDate(start_time) AS d FROM {db}.spans ORDER BY d")
    for row in days:
        store.command(f"""
            INSERT INTO {db}.spans_by_user
            SELECT {', '.join(PEOPLE_COLUMNS)}, now64(6) AS version, 0 AS deleted FROM {db}.spans FINAL
            WHERE toDate(start_time) = {{d:Date}} AND {PEOPLE_ROWS}""", {"d": row["d"]})


@migration
def m015_saved_views(store: Store) -> None:
    """Saved views of the web UI (tokentrail.query.saved_views; a store made since gets it in m001)."""
    from tokentrail.storage.schema import SAVED_VIEWS

    store.command(SAVED_VIEWS.create_sql(store.database))


@migration
def m016_day_rollups_count_calls(store: Store) -> None:
    """A session's ``errors`` count its failed LLM / embedding calls (they counted every failed span: one
    failed call inside a chain counted twice) and a user's ``sessions`` no longer count "no session" as
    one; the per-session and per-user daily rollups are rebuilt from the spans kept."""
    from tokentrail.query.rollups import rebuild_day_rollups

    rebuild_day_rollups(store)


@migration
def m017_rollups_by_tag_set(store: Store) -> None:
    """The minute, hour and day rollups keep each call's tag set as a dimension, so a tag filter over a long
    range reads them instead of every span (a store made since gets the column in m003). The rows of every
    period that still has spans are deleted and computed again with their tags; older periods (their spans
    expired) keep their totals under an empty tag set. The delete is not tied to adding the column: a start
    stopped after the ALTER runs it again (rows left without their tags would count twice beside the new)."""
    from tokentrail.query import rollups
    from tokentrail.storage.rollup_tables import ROLLUP_DIMENSIONS

    db = store.database
    for table, time_col, trunc in (("rollup_minute", "minute", "toStartOfMinute"), ("rollup_hour", "hour", "toStartOfHour"),
                                   ("rollup_day", "day", "toStartOfDay")):
        has = store.query("SELECT count() AS n FROM system.columns WHERE database = {d:String} AND table = {t:String} "
                          "AND name = 'tags'", {"d": db, "t": table})[0]["n"]
        if not has:
            key = ", ".join(time_col if d == "minute" else d for d in ROLLUP_DIMENSIONS)
            store.command(f"ALTER TABLE {db}.{table} ADD COLUMN tags Array(LowCardinality(String)) AFTER error_type, "
                          f"MODIFY ORDER BY ({key})")
        store.command(f"ALTER TABLE {db}.{table} DELETE WHERE (project, {time_col}) IN "
                      f"(SELECT DISTINCT project, {trunc}(start_time) FROM {db}.spans) SETTINGS mutations_sync = 2")
    rollups.rebuild_all(store)


@migration
def m018_default_codec(store: Store) -> None:
    """Stored columns that named no codec move from the engine's default (LZ4) to ``DEFAULT_CODEC`` (a store
    made since has it in its CREATE statements). Only the table definitions change: parts written from now
    on, and the parts merges rewrite, use it; nothing is rewritten at start."""
    from tokentrail.storage.alert_tables import ALERT_TABLES
    from tokentrail.storage.rollup_tables import ROLLUP_TABLES
    from tokentrail.storage.schema import DEFAULT_CODEC

    db = store.database
    tables = {t.name: t for t in (*TABLES, *ROLLUP_TABLES, *ALERT_TABLES) if t.stored}
    rows = store.query("SELECT table, name, type FROM system.columns WHERE database = {d:String} "
                       "AND compression_codec = '' AND default_kind != 'ALIAS'", {"d": db})
    by_table: dict[str, list[str]] = {}
    for r in rows:
        table = tables.get(r["table"])
        # the engine's own columns (a ReplacingMergeTree's version and is_deleted) cannot be altered
        if table is not None and r["name"] not in table.engine_columns:
            by_table.setdefault(r["table"], []).append(f"MODIFY COLUMN {r['name']} CODEC({DEFAULT_CODEC})")
    for table, changes in sorted(by_table.items()):
        store.command(f"ALTER TABLE {db}.{table} " + ", ".join(changes))


@migration
def m019_user_days_unpriced(store: Store) -> None:
    """The per-user daily rollup counts each user's calls without a price, so the users page divides cost by
    priced calls only (a store made since has the column); its rows are recomputed from the spans kept
    (days whose spans expired keep 0: their calls count as priced)."""
    from tokentrail.query.rollups import rebuild_day_rollups
    from tokentrail.storage.rollup_tables import ROLLUP_DAY_USER

    _add_column(store, ROLLUP_DAY_USER, "unpriced", after="cost")
    rebuild_day_rollups(store)


@migration
def m020_spans_by_user_by_week(store: Store) -> None:
    """``spans_by_user`` partitioned by week instead of by day (a long-range person filter opens ~5 parts,
    not 30), its expired rows deleted by TTL merges, its customer a LowCardinality column (a customer
    breakdown groups dictionary indexes): the table is made again beside the old one, filled
    from it, swapped in and the old one dropped. A start stopped on the way does it again, or only drops
    the old table if the swap was done. It keeps the old table's TTL (the retention settings then find it
    set: nothing is rewritten at start)."""
    from tokentrail.storage.rollup_tables import SPANS_BY_USER

    db, old = store.database, "spans_by_user_by_day"
    key = store.query("SELECT partition_key FROM system.tables WHERE database = {d:String} AND name = 'spans_by_user'",
                      {"d": db})
    if key and "toMonday" in key[0]["partition_key"]:  # swapped by an earlier start
        store.command(f"DROP TABLE IF EXISTS {db}.{old}")
        return
    ttl = _current_ttl(store, "spans_by_user")
    days = int(ttl[len("toIntervalDay("):-1]) if ttl and ttl.startswith("toIntervalDay(") else None
    store.command(f"DROP TABLE IF EXISTS {db}.{old}")
    store.command(dataclasses.replace(SPANS_BY_USER, name=old).create_sql(db, days))
    columns = ", ".join(c.name for c in SPANS_BY_USER.columns if not c.materialized)  # (later ones: m024)
    store.command(f"INSERT INTO {db}.{old} ({columns}) SELECT {columns} FROM {db}.spans_by_user")
    store.command(f"EXCHANGE TABLES {db}.spans_by_user AND {db}.{old}")
    store.command(f"DROP TABLE {db}.{old}")


@migration
def m021_scores_by_time(store: Store) -> None:
    """The scores table keeps a copy of its rows sorted by time (the ``by_time`` projection: a store made since
    has it in its CREATE statement), so a range of scores is read without scanning every score of the project;
    the rows already stored get it now (one pass over the table, ~1.5 s per million scores)."""
    from tokentrail.storage.schema import SCORES, SCORES_BY_TIME

    db = store.database
    settings = ", ".join(f"{k} = {v}" for k, v in SCORES.settings.items())
    store.command(f"ALTER TABLE {db}.scores MODIFY SETTING {settings}")
    store.command(f"ALTER TABLE {db}.scores ADD PROJECTION IF NOT EXISTS {SCORES_BY_TIME}")
    name = SCORES_BY_TIME.split(" ", 1)[0]
    store.command(f"ALTER TABLE {db}.scores MATERIALIZE PROJECTION {name} SETTINGS mutations_sync = 2")


@migration
def m022_redacted_column(store: Store) -> None:
    """``spans.redacted`` (the ``tokentrail.redacted`` attribute: PII values redacted per type) as a column of
    its own, so the quality page's redaction counts read it instead of every span's attributes map. Rows
    stored before read it computed from their attributes until the engine has written it for their parts
    (a background mutation started here: the start does not wait for it)."""
    from tokentrail.storage.schema import SPANS

    _add_column(store, SPANS, "redacted", after="response_id")
    store.command(f"ALTER TABLE {store.database}.spans MATERIALIZE COLUMN redacted")


@migration
def m023_session_days_unpriced(store: Store) -> None:
    """The per-session daily rollup counts each session's calls without a price, so the sessions list shows
    "no price" instead of $0 for them (a store made since has the column); the per-user and per-session daily
    rollups are recomputed from the spans kept (days whose spans expired keep 0), then merged."""
    from tokentrail.query.rollups import rebuild_day_rollups
    from tokentrail.storage.rollup_tables import ROLLUP_DAY_SESSION

    _add_column(store, ROLLUP_DAY_SESSION, "unpriced", after="cost")
    rebuild_day_rollups(store)
    # the rebuild wrote a second version of every row: merged now, or the users and sessions pages read both
    # through FINAL until background merges catch up (10M calls: the users page 181 ms -> ~1 s; 9 s to merge)
    for table in ("rollup_day_user", "rollup_day_session"):
        store.command(f"OPTIMIZE TABLE {store.database}.{table} FINAL")


@migration
def m024_people_keys(store: Store) -> None:
    """``spans_by_user.user_key`` (the user id hashed) and ``cost_pico`` (the cost as an integer): a top-users
    list under a route, model ... filter groups every call of the range by them instead of by strings and
    nullable floats (a month of 10M calls: 347 -> 172 ms for that pass), then reads the top users' names and
    sessions from their granules only (``idx_user_key``). Computed by the engine at insert; rows stored before
    compute them on read until the background mutation started here has written them (10M calls: 2 s)."""
    from tokentrail.storage.rollup_tables import SPANS_BY_USER, USER_KEY_INDEX

    db = store.database
    _add_column(store, SPANS_BY_USER, "user_key", after="schema_valid")
    _add_column(store, SPANS_BY_USER, "cost_pico", after="user_key")
    store.command(f"ALTER TABLE {db}.spans_by_user ADD INDEX IF NOT EXISTS {USER_KEY_INDEX.removeprefix('INDEX ')}")
    for what in ("COLUMN user_key", "COLUMN cost_pico", "INDEX idx_user_key"):
        store.command(f"ALTER TABLE {db}.spans_by_user MATERIALIZE {what}")
