"""Generate N realistic LLM calls over D days straight into a store (in the engine, fast).

Used by the query benchmarks: routes, models, users, sessions, customers, environments,
streaming with TTFT, errors and 429s, costs from the price table, like the demo traffic; captured
content (searchable) for one call in ten and scores for one trace in twenty.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tokentrail.pricing import PriceBook
from tokentrail.pricing.store import sync_prices
from tokentrail.storage.backend import Store, open_store
from tokentrail.storage.migrations import migrate
from tokentrail.storage.rollup_tables import ROLLUP_TABLES

ROUTES = ["support-chat", "classify-intent", "summarize-ticket", "code-review", "search-embed",
          "legacy-batch", "onboarding", "sql-assistant"]
MODELS = ["gpt-4o-mini", "gpt-4o", "claude-sonnet-4", "claude-3-5-haiku", "gpt-4.1-nano", "o4-mini",
          "text-embedding-3-small", "mystery-model-v0"]


def generate(store: Store, calls: int, days: int, project: str = "default", chunk: int = 2_000_000) -> None:
    migrate(store, {"spans": days + 5})
    book = PriceBook(None)
    sync_prices(store, book)
    db = store.database
    routes = "[" + ",".join(f"'{r}'" for r in ROUTES) + "]"
    models = "[" + ",".join(f"'{m}'" for m in MODELS) + "]"
    for offset in range(0, calls, chunk):
        n = min(chunk, calls - offset)
        store.command(f"""
        INSERT INTO {db}.spans
        SELECT '{project}' AS project,
            lower(hex(MD5(toString(number)))) AS trace_id,
            substring(lower(hex(MD5(concat('s', toString(number))))), 1, 16) AS span_id,
            '' AS parent_span_id, 'chat' AS name,
            if(r = 4, 'embedding', 'llm') AS kind,
            now64(6) - toIntervalMicrosecond(toUInt64(rand64(1) % ({days} * 86400000000))) AS start_time,
            start_time + toIntervalMicrosecond(toUInt64(duration_ms * 1000)) AS end_time,
            if(r = 4, 20 + rand(2) % 80, 200 + exp(randNormal(7.2, 0.6))) AS duration_ms,
            if(rand(3) % 2 = 0 AND r != 4, 100 + exp(randNormal(5.5, 0.5)), NULL) AS ttft_ms,
            if(m IN (2, 3), 'anthropic', 'openai') AS provider, 'chat' AS operation,
            {models}[m + 1] AS request_model, {models}[m + 1] AS response_model,
            toUInt32(100 + rand(4) % 4000) AS input_tokens,
            toUInt32(if(r = 4, 0, 5 + rand(5) % 800)) AS output_tokens,
            toUInt32(if(rand(6) % 5 = 0, input_tokens / 2, 0)) AS cached_input_tokens,
            0 AS cache_write_tokens, 0 AS reasoning_tokens, false AS tokens_estimated,
            NULL AS input_cost, NULL AS output_cost, NULL AS total_cost, '' AS price_version,
            if(e < 3, 'error', 'ok') AS status,
            multiIf(e < 2, 'RateLimitError', e < 3, 'InternalServerError', '') AS error_type,
            '' AS error_message, toUInt16(multiIf(e < 2, 429, e < 3, 500, 200)) AS http_status,
            if(e < 3, '', 'stop') AS finish_reason, ttft_ms IS NOT NULL AS streamed,
            rand(7) % 10 = 0 AS cache_hit, if(rand(8) % 3 = 0, rand(9) % 20 != 0, NULL) AS schema_valid,
            concat('user-', toString(u)) AS user_id,
            concat('sess-', toString(u), '-', toString(rand(11) % 10)) AS session_id,
            {routes}[r + 1] AS route, concat('cust-', toString(u % 300)) AS customer,
            if(rand(13) % 10 < 8, 'production', 'staging') AS environment,
            ['2026.11.3', '2026.11.4'][rand(14) % 2 + 1] AS release, 'demo-app' AS service,
            ['demo'] AS tags, map('app.experiment', toString(rand(15) % 3)) AS attributes,
            'sdk' AS source, now64(3) AS ingested_at
        FROM (SELECT number + {offset} AS number, rand(20) % 8 AS r, rand(21) % 8 AS m, rand(22) % 100 AS e,
                     rand(10) % 20000 AS u
              FROM numbers({n}))""")
    # price them with the real price table, through the same path as a price change
    from datetime import UTC, datetime, timedelta

    from tokentrail.pricing.store import recompute_costs

    recompute_costs(store, book, project, datetime.now(UTC) - timedelta(days=days + 1),
                    datetime.now(UTC) + timedelta(hours=1))
    store.command(f"OPTIMIZE TABLE {db}.spans FINAL")
    build_rollups(store, project)
    generate_content_and_scores(store, project)


TOPICS = ["refund", "shipping delay", "password reset", "invoice copy", "plan upgrade", "cancel subscription",
          "api rate limit", "data export"]


def generate_content_and_scores(store: Store, project: str = "default") -> None:
    """Captured content for one call in ten (a prompt naming its order id and one of eight topics, indexed
    for search as ingest indexes it) and scores for one trace in twenty (an eval's helpfulness 0-1, and a
    user's thumbs up or down), from the calls themselves so times and ids agree."""
    from tokentrail.privacy import search_index
    from tokentrail.privacy.encryption import PLAIN_INDEX_KEY

    db = store.database
    topics = "[" + ",".join(f"'{t}'" for t in TOPICS) + "]"
    index = search_index.sql_expr("concat(input, ' ', output)", f"unhex('{PLAIN_INDEX_KEY.hex()}')")
    store.command(f"""
        INSERT INTO {db}.contents (project, trace_id, span_id, start_time, key_id, input, output, search_tokens,
                                   captured_reason, ingested_at)
        SELECT project, trace_id, span_id, start_time, '' AS key_id,
               concat('Customer ', user_id, ' asks about ', {topics}[cityHash64(trace_id) % 8 + 1], ' for order ord-',
                      toString(cityHash64(span_id) % 100000000), '. Please help, it has been a week.') AS input,
               concat('I can help with the ', {topics}[cityHash64(trace_id) % 8 + 1], '. ', route, ' answered.')
                   AS output,
               {index} AS search_tokens, 'sampled' AS captured_reason, now64(3) AS ingested_at
        FROM {db}.spans WHERE project = {{p:String}} AND cityHash64(trace_id) % 10 = 0""", {"p": project})
    store.command(f"""
        INSERT INTO {db}.scores (project, score_id, trace_id, span_id, name, value, label, source, comment, user_id,
                                 timestamp, ingested_at)
        SELECT project, concat(n, '-', trace_id) AS score_id, trace_id, '' AS span_id, n AS name,
               if(n = 'helpfulness', (cityHash64(trace_id) % 5) / 4, toFloat64(cityHash64(span_id) % 7 != 0)) AS value,
               if(n = 'helpfulness', '', if(value = 1, 'thumbs-up', 'thumbs-down')) AS label,
               if(n = 'helpfulness', 'eval', 'feedback') AS source, '' AS comment, user_id,
               end_time + toIntervalSecond(30) AS timestamp, now64(3) AS ingested_at
        FROM {db}.spans ARRAY JOIN ['helpfulness', 'user-feedback'] AS n
        WHERE project = {{p:String}} AND cityHash64(trace_id) % 20 = 1""", {"p": project})
    for table in ("contents", "scores"):
        store.command(f"OPTIMIZE TABLE {db}.{table} FINAL")


def build_rollups(store: Store, project: str = "default") -> None:
    """Rollups of every minute holding data, as the server builds them after inserts."""
    from tokentrail.query import rollups

    minutes = store.query(f"SELECT DISTINCT toStartOfMinute(start_time) AS m FROM {store.database}.spans "
                          "WHERE project = {p:String}", {"p": project})
    from datetime import datetime

    days = rollups.refresh(store, {(project, datetime.fromisoformat(r["m"])) for r in minutes})
    rollups.refresh_user_days(store, days)
    for table in ROLLUP_TABLES:
        store.command(f"OPTIMIZE TABLE {store.database}.{table.name} FINAL")


def open_generated(data: Path | None, calls: int, days: int) -> Store:
    """A store holding exactly ``calls`` generated calls and their rollups (reused when ``data``
    already holds them, so repeated runs skip the generation)."""
    store = open_store(f"chdb://{data or Path(tempfile.mkdtemp()) / 'db'}")
    if migrate(store, {"spans": days + 5}):  # a store generated by an older checkout: rollups rebuilt
        # merged, as a running server's background merges leave them (the spans too: a codec change
        # applies to the parts written after it)
        for table in ("spans", *(t.name for t in ROLLUP_TABLES)):
            store.command(f"OPTIMIZE TABLE {store.database}.{table} FINAL")
    n = store.query(f"SELECT count() AS n FROM {store.database}.spans")[0]["n"]
    if n != calls:
        if n:
            store.command(f"TRUNCATE TABLE {store.database}.spans")
        generate(store, calls, days)
    elif any(not store.query(f"SELECT count() AS n FROM {store.database}.{t.name}")[0]["n"] for t in ROLLUP_TABLES):
        build_rollups(store)
    if not store.query(f"SELECT count() AS n FROM {store.database}.contents")[0]["n"]:
        generate_content_and_scores(store)
    return store


def timed(fn: Callable[[], object], runs: int) -> dict[str, float]:
    """p50 and p95 milliseconds of ``runs`` calls of ``fn`` after one warm-up call."""
    fn()
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    return {"p50_ms": round(statistics.median(ms), 1), "p95_ms": round(ms[max(0, int(len(ms) * 0.95) - 1)], 1)}
