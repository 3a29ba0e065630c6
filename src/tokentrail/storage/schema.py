"""The ONE schema definition: every table's columns, engine, keys and TTL.

DDL is generated from these definitions (``Table.create_sql``) for both backends
(embedded chDB and a ClickHouse server): same SQL everywhere. ``tests/storage``
snapshots the generated DDL so a schema change is always a visible diff.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tokentrail.ingest import finish
from tokentrail.privacy.redact import REDACTED_KEY

SPAN_KINDS = ("llm", "embedding", "tool", "retrieval", "agent", "chain", "other")
SOURCES = ("sdk", "otlp", "gateway", "batch")


# The codec of a stored column that names none. The engine's default (LZ4) barely compresses floats,
# costs and token counts; ZSTD(1) stores the spans in 9% fewer bytes and the contents, scores and hour
# rollups in 30-50% fewer (10M generated calls: 253.1 -> 231.1 B per call over all tables), at ~5% on
# the one page that reads a whole month of scores (docs/performance.md).
DEFAULT_CODEC = "ZSTD(1)"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    comment: str = ""
    codec: str = ""
    materialized: str = ""  # computed by the engine from other columns at insert (never inserted)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    engine: str
    order_by: str
    partition_by: str = ""
    ttl_column: str = ""  # a DateTime expression; retention days come from config
    indexes: tuple[str, ...] = ()
    projections: tuple[str, ...] = ()  # "name (SELECT ... ORDER BY ...)": a copy of the rows in another order
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def engine_columns(self) -> set[str]:
        """Columns named as engine parameters (``ReplacingMergeTree(version, deleted)``)."""
        args = self.engine.partition("(")[2].rstrip(")")
        return {a.strip() for a in args.split(",") if a.strip()}

    @property
    def stored(self) -> bool:
        """Its rows are kept (a Null table only feeds materialized views)."""
        return self.engine != "Null"

    @property
    def column_names(self) -> list[str]:
        """The columns an INSERT writes (computed ones excluded)."""
        return [c.name for c in self.columns if not c.materialized]

    def column_sql(self, c: Column) -> str:
        """``c`` as this table declares it (CREATE TABLE, ALTER ... ADD COLUMN): type, codec, comment."""
        line = f"{c.name} {c.type}"
        if c.materialized:
            line += f" MATERIALIZED {c.materialized}"
        codec = c.codec or (DEFAULT_CODEC if self.stored and c.name not in self.engine_columns else "")
        if codec:
            line += f" CODEC({codec})"
        if c.comment:
            line += " COMMENT '" + c.comment.replace("'", "\\'") + "'"
        return line

    def create_sql(self, database: str, ttl_days: int | None = None) -> str:
        cols = [f"    {self.column_sql(c)}" for c in self.columns]
        cols += [f"    {ix}" for ix in self.indexes]
        cols += [f"    PROJECTION {p}" for p in self.projections]
        sql = f"CREATE TABLE IF NOT EXISTS {database}.{self.name}\n(\n" + ",\n".join(cols) + "\n)\n"
        sql += f"ENGINE = {self.engine}\n"
        if self.partition_by:
            sql += f"PARTITION BY {self.partition_by}\n"
        if self.order_by:
            sql += f"ORDER BY {self.order_by}\n"
        if self.ttl_column and ttl_days:
            sql += f"TTL {self.ttl_expression(ttl_days)}\n"
        if self.settings:
            sql += "SETTINGS " + ", ".join(f"{k} = {v}" for k, v in self.settings.items()) + "\n"
        return sql

    def ttl_expression(self, ttl_days: int) -> str:
        return f"{self.ttl_column} + INTERVAL {int(ttl_days)} DAY"


def _c(name: str, type_: str, comment: str = "", codec: str = "", materialized: str = "") -> Column:
    return Column(name, type_, comment, codec, materialized)


# Dedupe: ReplacingMergeTree keyed on (project, day, trace, span) keeps the newest
# version of a re-sent span; queries read it with FINAL (see query/).
SPANS = Table(
    name="spans",
    columns=(
        # identity
        _c("project", "LowCardinality(String)"),
        _c("trace_id", "String", "32 hex chars", codec="ZSTD(1)"),
        _c("span_id", "String", "16 hex chars", codec="ZSTD(1)"),
        _c("parent_span_id", "String", "empty for a root span", codec="ZSTD(1)"),
        _c("name", "LowCardinality(String)"),
        _c("kind", "LowCardinality(String)", "llm, embedding, tool, retrieval, agent, chain, other"),
        # time
        _c("start_time", "DateTime64(6, 'UTC')", codec="DoubleDelta, ZSTD(1)"),
        _c("end_time", "DateTime64(6, 'UTC')", codec="DoubleDelta, ZSTD(1)"),
        _c("duration_ms", "Float64"),
        _c("ttft_ms", "Nullable(Float64)", "time to first token, streams"),
        # model
        _c("provider", "LowCardinality(String)"),
        _c("operation", "LowCardinality(String)", "chat, text_completion, embeddings, responses ..."),
        _c("request_model", "LowCardinality(String)"),
        _c("response_model", "LowCardinality(String)"),
        # usage and cost
        _c("input_tokens", "UInt32", "includes cached and cache-write input tokens"),
        _c("output_tokens", "UInt32", "includes reasoning tokens"),
        _c("cached_input_tokens", "UInt32"),
        _c("cache_write_tokens", "UInt32"),
        _c("reasoning_tokens", "UInt32"),
        _c("tokens_estimated", "Bool", "counted with a tokenizer, not reported by the provider"),
        _c("input_cost", "Nullable(Float64)", "USD; NULL when the model has no price"),
        _c("output_cost", "Nullable(Float64)", "USD"),
        _c("total_cost", "Nullable(Float64)", "USD"),
        _c("price_version", "LowCardinality(String)"),
        # outcome
        _c("status", "LowCardinality(String)", "ok, error, unset"),
        _c("error_type", "LowCardinality(String)"),
        _c("error_message", "String"),
        _c("http_status", "UInt16"),
        _c("finish_reason", "LowCardinality(String)", "as the provider or library sent it"),
        _c("finish", "LowCardinality(String)", "canonical: stop, length, tool_calls, content_filter, error, other",
           materialized=finish.sql()),
        _c("response_id", "String", "the provider's response id (gen_ai.response.id): one call seen by two "
           "instrumentations, even in two traces, shares it", materialized="attributes['gen_ai.response.id']"),
        _c("redacted", "String", "PII values redacted before storage, per type (EMAIL:2,CARD:1): the quality "
           "page reads this column, not every span's attributes", materialized=f"attributes['{REDACTED_KEY}']"),
        _c("streamed", "Bool"),
        _c("cache_hit", "Bool"),
        _c("schema_valid", "Nullable(Bool)"),
        # context
        _c("user_id", "String", codec="ZSTD(1)"),
        _c("session_id", "String", codec="ZSTD(1)"),
        _c("route", "LowCardinality(String)", "feature"),
        _c("customer", "String", codec="ZSTD(1)"),
        _c("environment", "LowCardinality(String)"),
        _c("release", "LowCardinality(String)"),
        _c("service", "LowCardinality(String)"),
        _c("tags", "Array(LowCardinality(String))"),
        _c("attributes", "Map(LowCardinality(String), String)", "every attribute not mapped to a column"),
        _c("source", "LowCardinality(String)", "sdk, otlp, gateway, batch"),
        _c("ingested_at", "DateTime64(3, 'UTC')", "version: the newest copy of a span wins; one value per insert"),
    ),
    engine="ReplacingMergeTree(ingested_at)",
    partition_by="toDate(start_time)",
    order_by="(project, toDate(start_time), trace_id, span_id)",
    ttl_column="toDateTime(start_time)",
    indexes=(
        "INDEX idx_session session_id TYPE bloom_filter(0.01) GRANULARITY 4",
        "INDEX idx_user user_id TYPE bloom_filter(0.01) GRANULARITY 4",
        "INDEX idx_trace trace_id TYPE bloom_filter(0.01) GRANULARITY 4",
        "INDEX idx_span span_id TYPE bloom_filter(0.01) GRANULARITY 4",
        "INDEX idx_response response_id TYPE bloom_filter(0.01) GRANULARITY 4",
        "INDEX idx_ingested ingested_at TYPE minmax GRANULARITY 1",
    ),
    settings={"ttl_only_drop_parts": "1", "index_granularity": "8192"},
)

# Prompt / response text, kept apart from spans, encrypted (privacy/encryption.py), with a blind index
# of its words for search (privacy/search_index.py).
CONTENTS = Table(
    name="contents",
    columns=(
        _c("project", "LowCardinality(String)"),
        _c("trace_id", "String"),
        _c("span_id", "String"),
        _c("start_time", "DateTime64(6, 'UTC')"),
        _c("key_id", "LowCardinality(String)", "content key of input and output; empty: plain text"),
        _c("input", "String", "nonce || AES-256-GCM ciphertext || tag (plain text when key_id is empty)",
           codec="LZ4"),
        _c("output", "String", "as input", codec="LZ4"),
        _c("search_tokens", "Array(UInt64)", "blind index: keyed hashes of the distinct words of input and output"),
        _c("captured_reason", "LowCardinality(String)", "always, sampled, error, flagged ..."),
        _c("ingested_at", "DateTime64(3, 'UTC')"),
    ),
    engine="ReplacingMergeTree(ingested_at)",
    partition_by="toDate(start_time)",
    order_by="(project, toDate(start_time), trace_id, span_id)",
    ttl_column="toDateTime(start_time)",
    settings={"ttl_only_drop_parts": "1"},
)

SCORES_BY_TIME = "by_time (SELECT * ORDER BY project, timestamp)"
SCORES = Table(
    name="scores",
    columns=(
        _c("project", "LowCardinality(String)"),
        _c("score_id", "String"),
        _c("trace_id", "String"),
        _c("span_id", "String", "empty: the score is about the whole trace"),
        _c("name", "LowCardinality(String)"),
        _c("value", "Nullable(Float64)", "numeric value"),
        _c("label", "String", "categorical value"),
        _c("source", "LowCardinality(String)", "feedback, sdk, eval, api"),
        _c("comment", "String"),
        _c("user_id", "String"),
        _c("timestamp", "DateTime64(3, 'UTC')"),
        _c("ingested_at", "DateTime64(3, 'UTC')"),
    ),
    engine="ReplacingMergeTree(ingested_at)",
    partition_by="toYYYYMM(timestamp)",
    order_by="(project, trace_id, score_id)",
    ttl_column="toDateTime(timestamp)",
    # the scores of a time range (the quality page, the traces list's score filter) are read from this copy
    # sorted by time, not from every part of the project: ~4 B per call (docs/performance.md). A merge that
    # replaces rows rebuilds it (the engine refuses a projection on a ReplacingMergeTree otherwise).
    projections=(SCORES_BY_TIME,),
    settings={"deduplicate_merge_projection_mode": "'rebuild'"},
)

# Price rows, rewritten from the price files on start and on change (pricing/).
PRICES = Table(
    name="prices",
    columns=(
        _c("model_key", "String"),
        _c("provider", "LowCardinality(String)"),
        _c("effective_from", "DateTime64(6, 'UTC')"),
        _c("input", "Float64", "USD per 1M input tokens"),
        _c("output", "Float64"),
        _c("cached_input", "Nullable(Float64)"),
        _c("cache_write", "Nullable(Float64)"),
        _c("source", "LowCardinality(String)"),
        _c("version", "LowCardinality(String)"),
    ),
    engine="MergeTree",
    order_by="(model_key, effective_from)",
)

# Durable ingest counters (rejections, drops) so nothing is lost silently.
INGEST_EVENTS = Table(
    name="ingest_events",
    columns=(
        _c("time", "DateTime64(3, 'UTC')"),
        _c("project", "LowCardinality(String)"),
        _c("kind", "LowCardinality(String)", "rejected_span, rejected_request, ..."),
        _c("count", "UInt64"),
        _c("reason", "String"),
    ),
    engine="MergeTree",
    partition_by="toYYYYMM(time)",
    order_by="(kind, time)",
    ttl_column="toDateTime(time)",
)

# Ingest lands in this Null table once; materialized views split each row into
# spans and contents, so one INSERT feeds both tables.
SPANS_IN = Table(
    name="spans_in",
    columns=tuple(c for c in SPANS.columns[:-1] if not c.materialized) + (
        _c("key_id", "LowCardinality(String)"),
        _c("input", "String"),
        _c("output", "String"),
        _c("search_tokens", "Array(UInt64)"),
        _c("captured_reason", "LowCardinality(String)"),
        SPANS.columns[-1],
    ),
    engine="Null",
    order_by="",
)


@dataclass(frozen=True)
class View:
    name: str
    target: str
    select: str

    def create_sql(self, database: str) -> str:
        sql = self.select.format(db=database)
        return f"CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{self.name} TO {database}.{self.target} AS {sql}"


VIEWS: tuple[View, ...] = (
    View("spans_in_to_spans", "spans",
         "SELECT " + ", ".join(SPANS.column_names) + " FROM {db}.spans_in"),
    View("spans_in_to_contents", "contents",
         "SELECT " + ", ".join(CONTENTS.column_names) + " FROM {db}.spans_in WHERE input != '' OR output != ''"),
)

MIGRATIONS = Table(
    name="schema_migrations",
    columns=(_c("name", "String"), _c("applied_at", "DateTime64(3, 'UTC')")),
    engine="ReplacingMergeTree(applied_at)",
    order_by="name",
)

# Batch loads (batch/): one row per file read, newest version wins. Exactly once: a load
# resumes at ``offset`` (always a line end), and re-loaded rows dedupe in spans.
BATCH_FILES = Table(
    name="batch_files",
    columns=(
        _c("project", "LowCardinality(String)"),
        _c("source", "String", "absolute path or URL of the file"),
        _c("kind", "LowCardinality(String)", "spans or scores"),
        _c("size", "UInt64", "bytes of the file when last read"),
        _c("mtime", "Float64", "its modification time then, epoch seconds"),
        _c("head_hash", "String", "sha256 of its first head_len bytes: the same file grown, or another one"),
        _c("head_len", "UInt32"),
        _c("base_time_us", "Int64", "dates events that have no timestamp: the file's time when first read"),
        _c("offset", "UInt64", "bytes of (decompressed) content loaded, always at a line end"),
        _c("lines", "UInt64", "lines loaded"),
        _c("crc32", "UInt32", "of those bytes"),
        _c("rows", "UInt64"),
        _c("rejected", "UInt64", "lines sent to the dead-letter file"),
        _c("cost", "Float64", "USD added"),
        _c("status", "LowCardinality(String)", "partial or done"),
        _c("rollups_from", "DateTime64(3, 'UTC')", "rows loaded since then wait for a rollup refresh (0: none)"),
        _c("updated_at", "DateTime64(6, 'UTC')", "version: the newest row of a file wins"),
    ),
    engine="ReplacingMergeTree(updated_at)",
    order_by="(project, source)",
)

# API keys (tokentrail.auth.keys): only a hash and a short prefix of each key; newest version of a key wins.
API_KEYS = Table(
    name="api_keys",
    columns=(
        _c("key_id", "String"),
        _c("prefix", "String", "tt_ and the first characters: names the key in listings and logs"),
        _c("hash", "String", "sha256 of the whole key (hex)"),
        _c("project", "LowCardinality(String)", "* = every project (a server-wide key)"),
        _c("scopes", "String", "comma separated: ingest, read, read-content, metrics, admin"),
        _c("name", "String"),
        _c("created_at", "DateTime64(3, 'UTC')"),
        _c("expires_at", "DateTime64(3, 'UTC')", "1970-01-01: never"),
        _c("revoked_at", "DateTime64(3, 'UTC')", "1970-01-01: not revoked"),
        _c("created_by", "String", "actor that made it (key:tt_..., user:..., local)"),
        _c("version", "DateTime64(6, 'UTC')", "the newest row of a key wins"),
    ),
    engine="ReplacingMergeTree(version)",
    order_by="key_id",
)

# Who read content, changed keys, accounts or policy, exported or purged: written by tokentrail.audit.
AUDIT_LOG = Table(
    name="audit_log",
    columns=(
        _c("time", "DateTime64(3, 'UTC')"),
        _c("actor", "String", "key:tt_9f3a1c, user:alice, local ..."),
        _c("action", "LowCardinality(String)", "content.read, key.create, policy.change, export, purge ..."),
        _c("project", "LowCardinality(String)"),
        _c("target", "String", "what was acted on: a trace or session id, a key prefix, an account"),
        _c("detail", "String"),
        _c("ip", "String", "client address as the server saw it"),
        _c("user_agent", "String"),
    ),
    engine="MergeTree",
    partition_by="toYYYYMM(time)",
    order_by="(time, action)",
    ttl_column="toDateTime(time)",
    indexes=("INDEX idx_actor actor TYPE bloom_filter(0.01) GRANULARITY 4",
             "INDEX idx_target target TYPE bloom_filter(0.01) GRANULARITY 4"),
)

# UI accounts (tokentrail.auth.accounts): made by an admin; the newest row of a name wins.
ACCOUNTS = Table(
    name="accounts",
    columns=(
        _c("name", "String"),
        _c("password_hash", "String", "scrypt$n$r$p$salt$hash (base64)"),
        _c("projects", "String", "comma separated, or * for every project"),
        _c("scopes", "String", "comma separated: read, read-content, ingest, admin"),
        _c("created_at", "DateTime64(3, 'UTC')"),
        _c("created_by", "String"),
        _c("disabled_at", "DateTime64(3, 'UTC')", "1970-01-01: active"),
        _c("version", "DateTime64(6, 'UTC')", "the newest row of an account wins"),
    ),
    engine="ReplacingMergeTree(version)",
    order_by="name",
)

# UI sign-in sessions (tokentrail.auth.sessions): only the SHA-256 of the cookie's random id is kept.
UI_SESSIONS = Table(
    name="ui_sessions",
    columns=(
        _c("id_hash", "String", "SHA-256 of the session id in the cookie"),
        _c("kind", "LowCardinality(String)", "account or key"),
        _c("subject", "String", "the account name, or the SHA-256 of the key signed in with"),
        _c("created_at", "DateTime64(3, 'UTC')"),
        _c("expires_at", "DateTime64(3, 'UTC')"),
        _c("ended_at", "DateTime64(3, 'UTC')", "signed out at; 1970-01-01: not signed out"),
        _c("ip", "String"),
        _c("user_agent", "String"),
        _c("version", "DateTime64(6, 'UTC')"),
    ),
    engine="ReplacingMergeTree(version)",
    order_by="id_hash",
    ttl_column="toDateTime(expires_at)",
)

# The content capture policy (tokentrail.privacy.policy): one row per scope, the newest wins; every
# server reloads it every 2 s. Marks (scope mark:...) expire.
CAPTURE_POLICY = Table(
    name="capture_policy",
    columns=(
        _c("scope", "String", "default, gateway, project:P, route:R, route:P/R, mark:trace:P/ID, mark:route:P/R"),
        _c("rule", "String", "JSON {rate, errors, flagged, redact}; a mark: its reason"),
        _c("expires_at", "DateTime64(3, 'UTC')", "marks only; 1970-01-01: never"),
        _c("deleted", "UInt8", "1: the scope's rule was removed"),
        _c("updated_by", "String", "who changed it (the audit log has the details)"),
        _c("updated_at", "DateTime64(3, 'UTC')"),
    ),
    engine="ReplacingMergeTree(updated_at)",
    order_by="scope",
)

# Saved views of the web UI (tokentrail.query.saved_views): a page and its filters under a name, shared by
# everyone who reads the project. Deleting one writes a newer row with deleted = 1.
SAVED_VIEWS = Table(
    name="saved_views",
    columns=(
        _c("project", "LowCardinality(String)"),
        _c("view_id", "String", "random id"),
        _c("name", "String"),
        _c("page", "LowCardinality(String)", "overview, cost, usage, quality, traces, sessions, users"),
        _c("query", "String", "the page's URL query string, without the project"),
        _c("created_by", "String", "key:tt_9f3a1c, user:alice, local ..."),
        _c("created_at", "DateTime64(3, 'UTC')"),
        _c("deleted", "UInt8", "1: deleted"),
        _c("version", "DateTime64(6, 'UTC')", "the newest row of a view wins"),
    ),
    engine="ReplacingMergeTree(version, deleted)",
    order_by="(project, view_id)",
)

TABLES: tuple[Table, ...] = (SPANS, CONTENTS, SCORES, PRICES, INGEST_EVENTS, SPANS_IN, MIGRATIONS, BATCH_FILES,
                             API_KEYS, AUDIT_LOG, ACCOUNTS, UI_SESSIONS, CAPTURE_POLICY, SAVED_VIEWS)
TABLES_BY_NAME = {t.name: t for t in TABLES}


def render_ddl(database: str = "tokentrail", retention: dict[str, int] | None = None) -> str:
    """Every CREATE statement, in order: the committed docs/schema.sql is this output."""
    from tokentrail.storage.alert_tables import ALERT_TABLES
    from tokentrail.storage.rollup_tables import ROLLUP_TABLES

    retention = retention or {}
    parts = [t.create_sql(database, retention.get(t.name)) for t in TABLES + ROLLUP_TABLES + ALERT_TABLES]
    parts += [v.create_sql(database) + "\n" for v in VIEWS]
    return ";\n\n".join(p.rstrip("\n") for p in parts) + ";\n"


if __name__ == "__main__":
    print(render_ddl(retention={"spans": 30, "spans_by_user": 30, "contents": 7, "scores": 365, "rollup_day_user": 365,
                                "rollup_day_session": 365, "audit_log": 365}), end="")
