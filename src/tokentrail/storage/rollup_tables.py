"""Rollups: per-minute aggregates kept forever while raw spans expire.

Rows are (re)computed from deduplicated spans (``FINAL``) for the minutes each insert
touched, and replace older versions of the same key, so a re-sent span never counts
twice here either. Latency, TTFT, TPOT and output length keep DDSketch quantile
states, merged at query time for any range; latency and TTFT also keep Prometheus-style
bucket counts.
"""

from __future__ import annotations

from tokentrail.storage.schema import Column, Table

QUANTILES = "0.5, 0.95, 0.99"
# DDSketch with 1% relative accuracy: its states merge ~2.5x faster than t-digest's, which is
# what long ranges spend their time on. ``SKETCH(ARGS)`` is used for raw spans too, so both agree.
SKETCH = "quantilesDD"
SKETCH_ARGS = f"0.01, {QUANTILES}"
_Q = f"AggregateFunction({SKETCH}({SKETCH_ARGS}), Float64)"

# Upper bounds (ms) of the latency / TTFT histogram buckets (Prometheus "le").
LATENCY_BUCKETS_MS = (100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
# Upper bounds of the output-length histogram buckets (tokens of successful LLM calls).
OUTPUT_BUCKETS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)

# ``tags``: a call's tag set (a row per set, so a call counts once whatever its tags and a tag filter is
# ``has(tags, ...)`` on the rollups as on the spans; tags are for low-cardinality labels)
ROLLUP_DIMENSIONS = ("project", "minute", "kind", "route", "provider", "model", "environment", "release",
                     "status", "http_status", "error_type", "tags")
# The coarse rollups ("totals") keep only these dimensions: a few rows per hour or day, so the
# default views (no route, model or release filter) merge a few hundred quantile states, not tens
# of thousands.
TOTALS_DIMENSIONS = ("kind", "provider", "environment", "status", "http_status", "error_type")


def _c(name: str, type_: str, comment: str = "") -> Column:
    return Column(name, type_, comment)


ROLLUP_MINUTE = Table(
    name="rollup_minute",
    columns=(
        _c("project", "LowCardinality(String)"),
        _c("minute", "DateTime('UTC')"),
        _c("kind", "LowCardinality(String)"),
        _c("route", "LowCardinality(String)"),
        _c("provider", "LowCardinality(String)"),
        _c("model", "LowCardinality(String)", "response model, else requested model"),
        _c("environment", "LowCardinality(String)"),
        _c("release", "LowCardinality(String)"),
        _c("status", "LowCardinality(String)"),
        _c("http_status", "UInt16"),
        _c("error_type", "LowCardinality(String)"),
        _c("tags", "Array(LowCardinality(String))", "the calls' tags (one row per tag set)"),
        _c("requests", "UInt64"),
        _c("streamed", "UInt64"),
        _c("cache_hits", "UInt64"),
        _c("schema_checked", "UInt64"),
        _c("schema_valid", "UInt64"),
        _c("input_tokens", "UInt64"),
        _c("output_tokens", "UInt64"),
        _c("cached_input_tokens", "UInt64"),
        _c("reasoning_tokens", "UInt64"),
        _c("cost", "Float64", "USD of priced calls"),
        _c("unpriced", "UInt64", "successful LLM calls with no price"),
        _c("duration_sum_ms", "Float64"),
        _c("duration_q", _Q),
        _c("ttft_q", _Q),
        _c("tpot_q", _Q, "ms per output token after the first, streams"),
        _c("output_tokens_q", _Q),
        _c("latency_buckets", "Array(UInt64)", "cumulative counts per LATENCY_BUCKETS_MS, then +Inf"),
        _c("ttft_buckets", "Array(UInt64)"),
        _c("output_buckets", "Array(UInt64)", "successful LLM calls with 0 output tokens, then per OUTPUT_BUCKETS "
                                               "range (non-cumulative), then over the last"),
        _c("finish_counts", "Array(UInt64)", "LLM calls per canonical finish reason (ingest/finish.py CANONICAL), "
                                              "then with none recorded"),
        _c("version", "DateTime64(3, 'UTC')"),
    ),
    engine="ReplacingMergeTree(version)",
    partition_by="toYYYYMM(minute)",
    order_by="(" + ", ".join(ROLLUP_DIMENSIONS) + ")",
    ttl_column="minute",  # none by default: kept forever (setting retention_rollups_days)
)

# The same per hour, merged from the minutes: ranges of days to months read ~60x fewer rows.
ROLLUP_HOUR = Table(
    name="rollup_hour",
    columns=tuple(_c("hour", "DateTime('UTC')") if c.name == "minute" else c for c in ROLLUP_MINUTE.columns),
    engine="ReplacingMergeTree(version)",
    partition_by="toYYYYMM(hour)",
    order_by="(" + ", ".join("hour" if d == "minute" else d for d in ROLLUP_DIMENSIONS) + ")",
    ttl_column="hour",
)

# And per day, merged from the hours: ranges of weeks and months.
ROLLUP_DAY = Table(
    name="rollup_day",
    columns=tuple(_c("day", "DateTime('UTC')") if c.name == "minute" else c for c in ROLLUP_MINUTE.columns),
    engine="ReplacingMergeTree(version)",
    partition_by="toYYYYMM(day)",
    order_by="(" + ", ".join("day" if d == "minute" else d for d in ROLLUP_DIMENSIONS) + ")",
    ttl_column="day",
)


def _totals(name: str, time_col: str, source: Table) -> Table:
    dims = ("project", time_col, *TOTALS_DIMENSIONS)
    return Table(
        name=name,
        columns=tuple(c for c in source.columns if c.name not in set(ROLLUP_DIMENSIONS) - set(dims)),
        engine="ReplacingMergeTree(version)",
        partition_by=f"toYYYYMM({time_col})",
        order_by="(" + ", ".join(dims) + ")",
        ttl_column=time_col,
    )


ROLLUP_HOUR_TOTALS = _totals("rollup_hour_totals", "hour", ROLLUP_HOUR)
ROLLUP_DAY_TOTALS = _totals("rollup_day_totals", "day", ROLLUP_DAY)

# Per user and customer, per day: who uses and who costs most over long ranges. It holds user ids (often
# e-mail addresses), so unlike the rollups above it expires (setting retention_user_rollups_days).
ROLLUP_DAY_USER = Table(
    name="rollup_day_user",
    columns=(
        _c("project", "LowCardinality(String)"),
        _c("day", "Date"),
        _c("user_id", "String"),
        _c("customer", "String"),
        _c("environment", "LowCardinality(String)"),
        _c("requests", "UInt64"),
        _c("errors", "UInt64"),
        _c("input_tokens", "UInt64"),
        _c("output_tokens", "UInt64"),
        _c("cost", "Float64"),
        _c("unpriced", "UInt64", "successful LLM calls with no price (a cost per call counts the priced ones)"),
        _c("sessions", "AggregateFunction(uniq, String)"),
        _c("last_seen", "DateTime64(6, 'UTC')"),
        _c("version", "DateTime64(3, 'UTC')"),
    ),
    engine="ReplacingMergeTree(version)",
    partition_by="toYYYYMM(day)",
    order_by="(project, day, user_id, customer, environment)",
    ttl_column="day",
)

# Per session, per day: a session's totals over any range without reading its spans (expires like the
# per-user rollup).
ROLLUP_DAY_SESSION = Table(
    name="rollup_day_session",
    columns=(
        _c("project", "LowCardinality(String)"),
        _c("session_id", "String"),
        _c("day", "Date"),
        _c("user_id", "String", "a user id seen in the session that day"),
        _c("turns", "AggregateFunction(uniq, String)", "distinct traces"),
        _c("first_seen", "DateTime64(6, 'UTC')"),
        _c("last_seen", "DateTime64(6, 'UTC')", "latest span end"),
        _c("last_start", "DateTime64(6, 'UTC')", "latest span start (recency order)"),
        _c("llm_calls", "UInt64"),
        _c("tokens", "UInt64"),
        _c("cost", "Float64"),
        _c("unpriced", "UInt64", "successful LLM calls with no price (their cost is unknown, not 0)"),
        _c("errors", "UInt64"),
        _c("routes", "Array(String)"),
        _c("version", "DateTime64(3, 'UTC')"),
    ),
    engine="ReplacingMergeTree(version)",
    partition_by="toYYYYMM(day)",
    order_by="(project, session_id, day)",
    ttl_column="day",
)

# Spans again, narrow and sorted by who made them: every LLM / embedding call, and every other span that
# names a user, customer or session, with the columns the dashboards' raw-span queries read (same names).
# A filter on a user, customer or session reads a few granules of it instead of every span of the range,
# and a user or customer breakdown under any other filter reads only these narrow columns. Made like the
# rollups, from deduplicated spans, for the minutes each insert touched (query/rollups.py
# ``_refresh_people``): the rows a refresh no longer makes (a span whose user, customer or session was
# filled in later, a purged span) are replaced by deleted ones (``deleted``), so FINAL reads are exact.
# It holds user ids: it expires with the spans (setting retention_spans_days).
_Z = "ZSTD(1)"  # ids and numbers in caller order compress 2-4x better than with the default LZ4


def _z(name: str, type_: str, comment: str = "", codec: str = _Z) -> Column:
    return Column(name, type_, comment, codec)


USER_KEY = "if(user_id = '', 0, cityHash64(user_id))"
# -1: a successful call without a price (unpriced): one column gives a top-users list its costs and unpriced counts
COST_PICO = ("if(total_cost IS NULL, if(status = 'ok' AND kind IN ('llm', 'embedding'), -1, 0), "
             "toInt64(round(assumeNotNull(total_cost) * 1e12)))")
# the user keys of each granule (a few dozen users: rows are sorted by user), exact where a bloom filter
# asked for a hundred users at once would pass 2 granules in 3: the top users' rows are 1 granule in 9
USER_KEY_INDEX = "INDEX idx_user_key user_key TYPE set(256) GRANULARITY 1"
SPANS_BY_USER = Table(
    name="spans_by_user",
    columns=(
        _c("project", "LowCardinality(String)"),
        # a customer breakdown groups its dictionary indexes (hundreds or thousands of customers: 403 -> 220 ms
        # over a month of 10M calls); user ids stay strings (a consumer app has millions): user_key below
        _z("customer", "LowCardinality(String)"),
        _z("user_id", "String"),
        _z("session_id", "String"),
        _z("start_time", "DateTime64(6, 'UTC')", codec="Delta, ZSTD(1)"),
        _z("trace_id", "String"),
        _z("span_id", "String"),
        _z("end_time", "DateTime64(6, 'UTC')", codec="Delta, ZSTD(1)"),
        *(_z(name, "LowCardinality(String)") for name in ("kind", "route", "provider", "request_model",
                                                           "response_model", "environment", "release", "status")),
        _z("http_status", "UInt16"),
        _z("error_type", "LowCardinality(String)"),
        _z("finish", "LowCardinality(String)", "canonical finish reason"),
        _z("source", "LowCardinality(String)"),
        _z("tags", "Array(LowCardinality(String))"),
        _z("duration_ms", "Float64"),
        _z("ttft_ms", "Nullable(Float64)"),
        *(_z(name, "UInt32") for name in ("input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens")),
        _z("total_cost", "Nullable(Float64)"),
        _z("streamed", "Bool"),
        _z("cache_hit", "Bool"),
        _z("schema_valid", "Nullable(Bool)"),
        # a top-users list over every call of a month (a route, model ... filter) groups these, not the user id
        # strings and nullable costs, and reads the strings of its top users only (m024)
        Column("user_key", "UInt64", "the user id hashed (0: none)", _Z, materialized=USER_KEY),
        Column("cost_pico", "Int64", "total_cost in 1e-12 USD; -1: a successful call without a price", "T64, ZSTD(1)",
               materialized=COST_PICO),
        _z("version", "DateTime64(6, 'UTC')"),
        _z("deleted", "UInt8", "1: no such span any more (FINAL drops it)"),
    ),
    engine="ReplacingMergeTree(version, deleted)",
    # a week a partition: a 30-day filter opens ~5 parts, not 30 (every part a query opens costs ~0.5 ms
    # however few granules it reads), and a person's month lies in ~5 runs of granules. Expired rows are
    # deleted by TTL merges (not whole parts: a part of the week would keep a week-old user id too long).
    partition_by="toMonday(start_time)",
    order_by="(project, customer, user_id, session_id, start_time, trace_id, span_id)",
    ttl_column="toDateTime(start_time)",
    indexes=("INDEX idx_user user_id TYPE bloom_filter(0.01) GRANULARITY 1",
             "INDEX idx_session session_id TYPE bloom_filter(0.01) GRANULARITY 1", USER_KEY_INDEX),
    settings={"index_granularity": "2048"},
)

ROLLUP_TABLES = (ROLLUP_MINUTE, ROLLUP_HOUR, ROLLUP_DAY, ROLLUP_HOUR_TOTALS, ROLLUP_DAY_TOTALS, ROLLUP_DAY_USER,
                 ROLLUP_DAY_SESSION, SPANS_BY_USER)
