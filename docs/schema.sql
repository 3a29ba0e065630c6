CREATE TABLE IF NOT EXISTS tokentrail.spans
(
    project LowCardinality(String) CODEC(ZSTD(1)),
    trace_id String CODEC(ZSTD(1)) COMMENT '32 hex chars',
    span_id String CODEC(ZSTD(1)) COMMENT '16 hex chars',
    parent_span_id String CODEC(ZSTD(1)) COMMENT 'empty for a root span',
    name LowCardinality(String) CODEC(ZSTD(1)),
    kind LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'llm, embedding, tool, retrieval, agent, chain, other',
    start_time DateTime64(6, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    end_time DateTime64(6, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    duration_ms Float64 CODEC(ZSTD(1)),
    ttft_ms Nullable(Float64) CODEC(ZSTD(1)) COMMENT 'time to first token, streams',
    provider LowCardinality(String) CODEC(ZSTD(1)),
    operation LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'chat, text_completion, embeddings, responses ...',
    request_model LowCardinality(String) CODEC(ZSTD(1)),
    response_model LowCardinality(String) CODEC(ZSTD(1)),
    input_tokens UInt32 CODEC(ZSTD(1)) COMMENT 'includes cached and cache-write input tokens',
    output_tokens UInt32 CODEC(ZSTD(1)) COMMENT 'includes reasoning tokens',
    cached_input_tokens UInt32 CODEC(ZSTD(1)),
    cache_write_tokens UInt32 CODEC(ZSTD(1)),
    reasoning_tokens UInt32 CODEC(ZSTD(1)),
    tokens_estimated Bool CODEC(ZSTD(1)) COMMENT 'counted with a tokenizer, not reported by the provider',
    input_cost Nullable(Float64) CODEC(ZSTD(1)) COMMENT 'USD; NULL when the model has no price',
    output_cost Nullable(Float64) CODEC(ZSTD(1)) COMMENT 'USD',
    total_cost Nullable(Float64) CODEC(ZSTD(1)) COMMENT 'USD',
    price_version LowCardinality(String) CODEC(ZSTD(1)),
    status LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'ok, error, unset',
    error_type LowCardinality(String) CODEC(ZSTD(1)),
    error_message String CODEC(ZSTD(1)),
    http_status UInt16 CODEC(ZSTD(1)),
    finish_reason LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'as the provider or library sent it',
    finish LowCardinality(String) MATERIALIZED if(trimBoth(finish_reason) = '', if(status = 'error', 'error', ''), transform(lower(trimBoth(finish_reason)), ['stop', 'end_turn', 'stop_sequence', 'end', 'eos', 'eos_token', 'complete', 'completed', 'finish', 'finished', 'pause_turn', 'length', 'max_tokens', 'max_output_tokens', 'max_tokens_reached', 'token_limit', 'model_context_window_exceeded', 'model_length', 'incomplete', 'tool_calls', 'tool_call', 'tool_use', 'function_call', 'tools', 'malformed_function_call', 'content_filter', 'content_filtered', 'refusal', 'safety', 'recitation', 'blocklist', 'prohibited_content', 'spii', 'guardrail_intervened', 'error'], ['stop', 'stop', 'stop', 'stop', 'stop', 'stop', 'stop', 'stop', 'stop', 'stop', 'stop', 'length', 'length', 'length', 'length', 'length', 'length', 'length', 'length', 'tool_calls', 'tool_calls', 'tool_calls', 'tool_calls', 'tool_calls', 'tool_calls', 'content_filter', 'content_filter', 'content_filter', 'content_filter', 'content_filter', 'content_filter', 'content_filter', 'content_filter', 'content_filter', 'error'], 'other')) CODEC(ZSTD(1)) COMMENT 'canonical: stop, length, tool_calls, content_filter, error, other',
    response_id String MATERIALIZED attributes['gen_ai.response.id'] CODEC(ZSTD(1)) COMMENT 'the provider\'s response id (gen_ai.response.id): one call seen by two instrumentations, even in two traces, shares it',
    redacted String MATERIALIZED attributes['tokentrail.redacted'] CODEC(ZSTD(1)) COMMENT 'PII values redacted before storage, per type (EMAIL:2,CARD:1): the quality page reads this column, not every span\'s attributes',
    streamed Bool CODEC(ZSTD(1)),
    cache_hit Bool CODEC(ZSTD(1)),
    schema_valid Nullable(Bool) CODEC(ZSTD(1)),
    user_id String CODEC(ZSTD(1)),
    session_id String CODEC(ZSTD(1)),
    route LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'feature',
    customer String CODEC(ZSTD(1)),
    environment LowCardinality(String) CODEC(ZSTD(1)),
    release LowCardinality(String) CODEC(ZSTD(1)),
    service LowCardinality(String) CODEC(ZSTD(1)),
    tags Array(LowCardinality(String)) CODEC(ZSTD(1)),
    attributes Map(LowCardinality(String), String) CODEC(ZSTD(1)) COMMENT 'every attribute not mapped to a column',
    source LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'sdk, otlp, gateway, batch',
    ingested_at DateTime64(3, 'UTC') COMMENT 'version: the newest copy of a span wins; one value per insert',
    INDEX idx_session session_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_user user_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_trace trace_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_span span_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_response response_id TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_ingested ingested_at TYPE minmax GRANULARITY 1
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toDate(start_time)
ORDER BY (project, toDate(start_time), trace_id, span_id)
TTL toDateTime(start_time) + INTERVAL 30 DAY
SETTINGS ttl_only_drop_parts = 1, index_granularity = 8192;

CREATE TABLE IF NOT EXISTS tokentrail.contents
(
    project LowCardinality(String) CODEC(ZSTD(1)),
    trace_id String CODEC(ZSTD(1)),
    span_id String CODEC(ZSTD(1)),
    start_time DateTime64(6, 'UTC') CODEC(ZSTD(1)),
    key_id LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'content key of input and output; empty: plain text',
    input String CODEC(LZ4) COMMENT 'nonce || AES-256-GCM ciphertext || tag (plain text when key_id is empty)',
    output String CODEC(LZ4) COMMENT 'as input',
    search_tokens Array(UInt64) CODEC(ZSTD(1)) COMMENT 'blind index: keyed hashes of the distinct words of input and output',
    captured_reason LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'always, sampled, error, flagged ...',
    ingested_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toDate(start_time)
ORDER BY (project, toDate(start_time), trace_id, span_id)
TTL toDateTime(start_time) + INTERVAL 7 DAY
SETTINGS ttl_only_drop_parts = 1;

CREATE TABLE IF NOT EXISTS tokentrail.scores
(
    project LowCardinality(String) CODEC(ZSTD(1)),
    score_id String CODEC(ZSTD(1)),
    trace_id String CODEC(ZSTD(1)),
    span_id String CODEC(ZSTD(1)) COMMENT 'empty: the score is about the whole trace',
    name LowCardinality(String) CODEC(ZSTD(1)),
    value Nullable(Float64) CODEC(ZSTD(1)) COMMENT 'numeric value',
    label String CODEC(ZSTD(1)) COMMENT 'categorical value',
    source LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'feedback, sdk, eval, api',
    comment String CODEC(ZSTD(1)),
    user_id String CODEC(ZSTD(1)),
    timestamp DateTime64(3, 'UTC') CODEC(ZSTD(1)),
    ingested_at DateTime64(3, 'UTC'),
    PROJECTION by_time (SELECT * ORDER BY project, timestamp)
)
ENGINE = ReplacingMergeTree(ingested_at)
PARTITION BY toYYYYMM(timestamp)
ORDER BY (project, trace_id, score_id)
TTL toDateTime(timestamp) + INTERVAL 365 DAY
SETTINGS deduplicate_merge_projection_mode = 'rebuild';

CREATE TABLE IF NOT EXISTS tokentrail.prices
(
    model_key String CODEC(ZSTD(1)),
    provider LowCardinality(String) CODEC(ZSTD(1)),
    effective_from DateTime64(6, 'UTC') CODEC(ZSTD(1)),
    input Float64 CODEC(ZSTD(1)) COMMENT 'USD per 1M input tokens',
    output Float64 CODEC(ZSTD(1)),
    cached_input Nullable(Float64) CODEC(ZSTD(1)),
    cache_write Nullable(Float64) CODEC(ZSTD(1)),
    source LowCardinality(String) CODEC(ZSTD(1)),
    version LowCardinality(String) CODEC(ZSTD(1))
)
ENGINE = MergeTree
ORDER BY (model_key, effective_from);

CREATE TABLE IF NOT EXISTS tokentrail.ingest_events
(
    time DateTime64(3, 'UTC') CODEC(ZSTD(1)),
    project LowCardinality(String) CODEC(ZSTD(1)),
    kind LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'rejected_span, rejected_request, ...',
    count UInt64 CODEC(ZSTD(1)),
    reason String CODEC(ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (kind, time);

CREATE TABLE IF NOT EXISTS tokentrail.spans_in
(
    project LowCardinality(String),
    trace_id String CODEC(ZSTD(1)) COMMENT '32 hex chars',
    span_id String CODEC(ZSTD(1)) COMMENT '16 hex chars',
    parent_span_id String CODEC(ZSTD(1)) COMMENT 'empty for a root span',
    name LowCardinality(String),
    kind LowCardinality(String) COMMENT 'llm, embedding, tool, retrieval, agent, chain, other',
    start_time DateTime64(6, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    end_time DateTime64(6, 'UTC') CODEC(DoubleDelta, ZSTD(1)),
    duration_ms Float64,
    ttft_ms Nullable(Float64) COMMENT 'time to first token, streams',
    provider LowCardinality(String),
    operation LowCardinality(String) COMMENT 'chat, text_completion, embeddings, responses ...',
    request_model LowCardinality(String),
    response_model LowCardinality(String),
    input_tokens UInt32 COMMENT 'includes cached and cache-write input tokens',
    output_tokens UInt32 COMMENT 'includes reasoning tokens',
    cached_input_tokens UInt32,
    cache_write_tokens UInt32,
    reasoning_tokens UInt32,
    tokens_estimated Bool COMMENT 'counted with a tokenizer, not reported by the provider',
    input_cost Nullable(Float64) COMMENT 'USD; NULL when the model has no price',
    output_cost Nullable(Float64) COMMENT 'USD',
    total_cost Nullable(Float64) COMMENT 'USD',
    price_version LowCardinality(String),
    status LowCardinality(String) COMMENT 'ok, error, unset',
    error_type LowCardinality(String),
    error_message String,
    http_status UInt16,
    finish_reason LowCardinality(String) COMMENT 'as the provider or library sent it',
    streamed Bool,
    cache_hit Bool,
    schema_valid Nullable(Bool),
    user_id String CODEC(ZSTD(1)),
    session_id String CODEC(ZSTD(1)),
    route LowCardinality(String) COMMENT 'feature',
    customer String CODEC(ZSTD(1)),
    environment LowCardinality(String),
    release LowCardinality(String),
    service LowCardinality(String),
    tags Array(LowCardinality(String)),
    attributes Map(LowCardinality(String), String) COMMENT 'every attribute not mapped to a column',
    source LowCardinality(String) COMMENT 'sdk, otlp, gateway, batch',
    key_id LowCardinality(String),
    input String,
    output String,
    search_tokens Array(UInt64),
    captured_reason LowCardinality(String),
    ingested_at DateTime64(3, 'UTC') COMMENT 'version: the newest copy of a span wins; one value per insert'
)
ENGINE = Null;

CREATE TABLE IF NOT EXISTS tokentrail.schema_migrations
(
    name String CODEC(ZSTD(1)),
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY name;

CREATE TABLE IF NOT EXISTS tokentrail.batch_files
(
    project LowCardinality(String) CODEC(ZSTD(1)),
    source String CODEC(ZSTD(1)) COMMENT 'absolute path or URL of the file',
    kind LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'spans or scores',
    size UInt64 CODEC(ZSTD(1)) COMMENT 'bytes of the file when last read',
    mtime Float64 CODEC(ZSTD(1)) COMMENT 'its modification time then, epoch seconds',
    head_hash String CODEC(ZSTD(1)) COMMENT 'sha256 of its first head_len bytes: the same file grown, or another one',
    head_len UInt32 CODEC(ZSTD(1)),
    base_time_us Int64 CODEC(ZSTD(1)) COMMENT 'dates events that have no timestamp: the file\'s time when first read',
    offset UInt64 CODEC(ZSTD(1)) COMMENT 'bytes of (decompressed) content loaded, always at a line end',
    lines UInt64 CODEC(ZSTD(1)) COMMENT 'lines loaded',
    crc32 UInt32 CODEC(ZSTD(1)) COMMENT 'of those bytes',
    rows UInt64 CODEC(ZSTD(1)),
    rejected UInt64 CODEC(ZSTD(1)) COMMENT 'lines sent to the dead-letter file',
    cost Float64 CODEC(ZSTD(1)) COMMENT 'USD added',
    status LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'partial or done',
    rollups_from DateTime64(3, 'UTC') CODEC(ZSTD(1)) COMMENT 'rows loaded since then wait for a rollup refresh (0: none)',
    updated_at DateTime64(6, 'UTC') COMMENT 'version: the newest row of a file wins'
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (project, source);

CREATE TABLE IF NOT EXISTS tokentrail.api_keys
(
    key_id String CODEC(ZSTD(1)),
    prefix String CODEC(ZSTD(1)) COMMENT 'tt_ and the first characters: names the key in listings and logs',
    hash String CODEC(ZSTD(1)) COMMENT 'sha256 of the whole key (hex)',
    project LowCardinality(String) CODEC(ZSTD(1)) COMMENT '* = every project (a server-wide key)',
    scopes String CODEC(ZSTD(1)) COMMENT 'comma separated: ingest, read, read-content, metrics, admin',
    name String CODEC(ZSTD(1)),
    created_at DateTime64(3, 'UTC') CODEC(ZSTD(1)),
    expires_at DateTime64(3, 'UTC') CODEC(ZSTD(1)) COMMENT '1970-01-01: never',
    revoked_at DateTime64(3, 'UTC') CODEC(ZSTD(1)) COMMENT '1970-01-01: not revoked',
    created_by String CODEC(ZSTD(1)) COMMENT 'actor that made it (key:tt_..., user:..., local)',
    version DateTime64(6, 'UTC') COMMENT 'the newest row of a key wins'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY key_id;

CREATE TABLE IF NOT EXISTS tokentrail.audit_log
(
    time DateTime64(3, 'UTC') CODEC(ZSTD(1)),
    actor String CODEC(ZSTD(1)) COMMENT 'key:tt_9f3a1c, user:alice, local ...',
    action LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'content.read, key.create, policy.change, export, purge ...',
    project LowCardinality(String) CODEC(ZSTD(1)),
    target String CODEC(ZSTD(1)) COMMENT 'what was acted on: a trace or session id, a key prefix, an account',
    detail String CODEC(ZSTD(1)),
    ip String CODEC(ZSTD(1)) COMMENT 'client address as the server saw it',
    user_agent String CODEC(ZSTD(1)),
    INDEX idx_actor actor TYPE bloom_filter(0.01) GRANULARITY 4,
    INDEX idx_target target TYPE bloom_filter(0.01) GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (time, action)
TTL toDateTime(time) + INTERVAL 365 DAY;

CREATE TABLE IF NOT EXISTS tokentrail.accounts
(
    name String CODEC(ZSTD(1)),
    password_hash String CODEC(ZSTD(1)) COMMENT 'scrypt$n$r$p$salt$hash (base64)',
    projects String CODEC(ZSTD(1)) COMMENT 'comma separated, or * for every project',
    scopes String CODEC(ZSTD(1)) COMMENT 'comma separated: read, read-content, ingest, admin',
    created_at DateTime64(3, 'UTC') CODEC(ZSTD(1)),
    created_by String CODEC(ZSTD(1)),
    disabled_at DateTime64(3, 'UTC') CODEC(ZSTD(1)) COMMENT '1970-01-01: active',
    version DateTime64(6, 'UTC') COMMENT 'the newest row of an account wins'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY name;

CREATE TABLE IF NOT EXISTS tokentrail.ui_sessions
(
    id_hash String CODEC(ZSTD(1)) COMMENT 'SHA-256 of the session id in the cookie',
    kind LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'account or key',
    subject String CODEC(ZSTD(1)) COMMENT 'the account name, or the SHA-256 of the key signed in with',
    created_at DateTime64(3, 'UTC') CODEC(ZSTD(1)),
    expires_at DateTime64(3, 'UTC') CODEC(ZSTD(1)),
    ended_at DateTime64(3, 'UTC') CODEC(ZSTD(1)) COMMENT 'signed out at; 1970-01-01: not signed out',
    ip String CODEC(ZSTD(1)),
    user_agent String CODEC(ZSTD(1)),
    version DateTime64(6, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id_hash;

CREATE TABLE IF NOT EXISTS tokentrail.capture_policy
(
    scope String CODEC(ZSTD(1)) COMMENT 'default, gateway, project:P, route:R, route:P/R, mark:trace:P/ID, mark:route:P/R',
    rule String CODEC(ZSTD(1)) COMMENT 'JSON {rate, errors, flagged, redact}; a mark: its reason',
    expires_at DateTime64(3, 'UTC') CODEC(ZSTD(1)) COMMENT 'marks only; 1970-01-01: never',
    deleted UInt8 CODEC(ZSTD(1)) COMMENT '1: the scope\'s rule was removed',
    updated_by String CODEC(ZSTD(1)) COMMENT 'who changed it (the audit log has the details)',
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY scope;

CREATE TABLE IF NOT EXISTS tokentrail.saved_views
(
    project LowCardinality(String) CODEC(ZSTD(1)),
    view_id String CODEC(ZSTD(1)) COMMENT 'random id',
    name String CODEC(ZSTD(1)),
    page LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'overview, cost, usage, quality, traces, sessions, users',
    query String CODEC(ZSTD(1)) COMMENT 'the page\'s URL query string, without the project',
    created_by String CODEC(ZSTD(1)) COMMENT 'key:tt_9f3a1c, user:alice, local ...',
    created_at DateTime64(3, 'UTC') CODEC(ZSTD(1)),
    deleted UInt8 COMMENT '1: deleted',
    version DateTime64(6, 'UTC') COMMENT 'the newest row of a view wins'
)
ENGINE = ReplacingMergeTree(version, deleted)
ORDER BY (project, view_id);

CREATE TABLE IF NOT EXISTS tokentrail.rollup_minute
(
    project LowCardinality(String) CODEC(ZSTD(1)),
    minute DateTime('UTC') CODEC(ZSTD(1)),
    kind LowCardinality(String) CODEC(ZSTD(1)),
    route LowCardinality(String) CODEC(ZSTD(1)),
    provider LowCardinality(String) CODEC(ZSTD(1)),
    model LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'response model, else requested model',
    environment LowCardinality(String) CODEC(ZSTD(1)),
    release LowCardinality(String) CODEC(ZSTD(1)),
    status LowCardinality(String) CODEC(ZSTD(1)),
    http_status UInt16 CODEC(ZSTD(1)),
    error_type LowCardinality(String) CODEC(ZSTD(1)),
    tags Array(LowCardinality(String)) CODEC(ZSTD(1)) COMMENT 'the calls\' tags (one row per tag set)',
    requests UInt64 CODEC(ZSTD(1)),
    streamed UInt64 CODEC(ZSTD(1)),
    cache_hits UInt64 CODEC(ZSTD(1)),
    schema_checked UInt64 CODEC(ZSTD(1)),
    schema_valid UInt64 CODEC(ZSTD(1)),
    input_tokens UInt64 CODEC(ZSTD(1)),
    output_tokens UInt64 CODEC(ZSTD(1)),
    cached_input_tokens UInt64 CODEC(ZSTD(1)),
    reasoning_tokens UInt64 CODEC(ZSTD(1)),
    cost Float64 CODEC(ZSTD(1)) COMMENT 'USD of priced calls',
    unpriced UInt64 CODEC(ZSTD(1)) COMMENT 'successful LLM calls with no price',
    duration_sum_ms Float64 CODEC(ZSTD(1)),
    duration_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)),
    ttft_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)),
    tpot_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)) COMMENT 'ms per output token after the first, streams',
    output_tokens_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)),
    latency_buckets Array(UInt64) CODEC(ZSTD(1)) COMMENT 'cumulative counts per LATENCY_BUCKETS_MS, then +Inf',
    ttft_buckets Array(UInt64) CODEC(ZSTD(1)),
    output_buckets Array(UInt64) CODEC(ZSTD(1)) COMMENT 'successful LLM calls with 0 output tokens, then per OUTPUT_BUCKETS range (non-cumulative), then over the last',
    finish_counts Array(UInt64) CODEC(ZSTD(1)) COMMENT 'LLM calls per canonical finish reason (ingest/finish.py CANONICAL), then with none recorded',
    version DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(minute)
ORDER BY (project, minute, kind, route, provider, model, environment, release, status, http_status, error_type, tags);

CREATE TABLE IF NOT EXISTS tokentrail.rollup_hour
(
    project LowCardinality(String) CODEC(ZSTD(1)),
    hour DateTime('UTC') CODEC(ZSTD(1)),
    kind LowCardinality(String) CODEC(ZSTD(1)),
    route LowCardinality(String) CODEC(ZSTD(1)),
    provider LowCardinality(String) CODEC(ZSTD(1)),
    model LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'response model, else requested model',
    environment LowCardinality(String) CODEC(ZSTD(1)),
    release LowCardinality(String) CODEC(ZSTD(1)),
    status LowCardinality(String) CODEC(ZSTD(1)),
    http_status UInt16 CODEC(ZSTD(1)),
    error_type LowCardinality(String) CODEC(ZSTD(1)),
    tags Array(LowCardinality(String)) CODEC(ZSTD(1)) COMMENT 'the calls\' tags (one row per tag set)',
    requests UInt64 CODEC(ZSTD(1)),
    streamed UInt64 CODEC(ZSTD(1)),
    cache_hits UInt64 CODEC(ZSTD(1)),
    schema_checked UInt64 CODEC(ZSTD(1)),
    schema_valid UInt64 CODEC(ZSTD(1)),
    input_tokens UInt64 CODEC(ZSTD(1)),
    output_tokens UInt64 CODEC(ZSTD(1)),
    cached_input_tokens UInt64 CODEC(ZSTD(1)),
    reasoning_tokens UInt64 CODEC(ZSTD(1)),
    cost Float64 CODEC(ZSTD(1)) COMMENT 'USD of priced calls',
    unpriced UInt64 CODEC(ZSTD(1)) COMMENT 'successful LLM calls with no price',
    duration_sum_ms Float64 CODEC(ZSTD(1)),
    duration_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)),
    ttft_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)),
    tpot_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)) COMMENT 'ms per output token after the first, streams',
    output_tokens_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)),
    latency_buckets Array(UInt64) CODEC(ZSTD(1)) COMMENT 'cumulative counts per LATENCY_BUCKETS_MS, then +Inf',
    ttft_buckets Array(UInt64) CODEC(ZSTD(1)),
    output_buckets Array(UInt64) CODEC(ZSTD(1)) COMMENT 'successful LLM calls with 0 output tokens, then per OUTPUT_BUCKETS range (non-cumulative), then over the last',
    finish_counts Array(UInt64) CODEC(ZSTD(1)) COMMENT 'LLM calls per canonical finish reason (ingest/finish.py CANONICAL), then with none recorded',
    version DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (project, hour, kind, route, provider, model, environment, release, status, http_status, error_type, tags);

CREATE TABLE IF NOT EXISTS tokentrail.rollup_day
(
    project LowCardinality(String) CODEC(ZSTD(1)),
    day DateTime('UTC') CODEC(ZSTD(1)),
    kind LowCardinality(String) CODEC(ZSTD(1)),
    route LowCardinality(String) CODEC(ZSTD(1)),
    provider LowCardinality(String) CODEC(ZSTD(1)),
    model LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'response model, else requested model',
    environment LowCardinality(String) CODEC(ZSTD(1)),
    release LowCardinality(String) CODEC(ZSTD(1)),
    status LowCardinality(String) CODEC(ZSTD(1)),
    http_status UInt16 CODEC(ZSTD(1)),
    error_type LowCardinality(String) CODEC(ZSTD(1)),
    tags Array(LowCardinality(String)) CODEC(ZSTD(1)) COMMENT 'the calls\' tags (one row per tag set)',
    requests UInt64 CODEC(ZSTD(1)),
    streamed UInt64 CODEC(ZSTD(1)),
    cache_hits UInt64 CODEC(ZSTD(1)),
    schema_checked UInt64 CODEC(ZSTD(1)),
    schema_valid UInt64 CODEC(ZSTD(1)),
    input_tokens UInt64 CODEC(ZSTD(1)),
    output_tokens UInt64 CODEC(ZSTD(1)),
    cached_input_tokens UInt64 CODEC(ZSTD(1)),
    reasoning_tokens UInt64 CODEC(ZSTD(1)),
    cost Float64 CODEC(ZSTD(1)) COMMENT 'USD of priced calls',
    unpriced UInt64 CODEC(ZSTD(1)) COMMENT 'successful LLM calls with no price',
    duration_sum_ms Float64 CODEC(ZSTD(1)),
    duration_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)),
    ttft_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)),
    tpot_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)) COMMENT 'ms per output token after the first, streams',
    output_tokens_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)),
    latency_buckets Array(UInt64) CODEC(ZSTD(1)) COMMENT 'cumulative counts per LATENCY_BUCKETS_MS, then +Inf',
    ttft_buckets Array(UInt64) CODEC(ZSTD(1)),
    output_buckets Array(UInt64) CODEC(ZSTD(1)) COMMENT 'successful LLM calls with 0 output tokens, then per OUTPUT_BUCKETS range (non-cumulative), then over the last',
    finish_counts Array(UInt64) CODEC(ZSTD(1)) COMMENT 'LLM calls per canonical finish reason (ingest/finish.py CANONICAL), then with none recorded',
    version DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (project, day, kind, route, provider, model, environment, release, status, http_status, error_type, tags);

CREATE TABLE IF NOT EXISTS tokentrail.rollup_hour_totals
(
    project LowCardinality(String) CODEC(ZSTD(1)),
    hour DateTime('UTC') CODEC(ZSTD(1)),
    kind LowCardinality(String) CODEC(ZSTD(1)),
    provider LowCardinality(String) CODEC(ZSTD(1)),
    environment LowCardinality(String) CODEC(ZSTD(1)),
    status LowCardinality(String) CODEC(ZSTD(1)),
    http_status UInt16 CODEC(ZSTD(1)),
    error_type LowCardinality(String) CODEC(ZSTD(1)),
    requests UInt64 CODEC(ZSTD(1)),
    streamed UInt64 CODEC(ZSTD(1)),
    cache_hits UInt64 CODEC(ZSTD(1)),
    schema_checked UInt64 CODEC(ZSTD(1)),
    schema_valid UInt64 CODEC(ZSTD(1)),
    input_tokens UInt64 CODEC(ZSTD(1)),
    output_tokens UInt64 CODEC(ZSTD(1)),
    cached_input_tokens UInt64 CODEC(ZSTD(1)),
    reasoning_tokens UInt64 CODEC(ZSTD(1)),
    cost Float64 CODEC(ZSTD(1)) COMMENT 'USD of priced calls',
    unpriced UInt64 CODEC(ZSTD(1)) COMMENT 'successful LLM calls with no price',
    duration_sum_ms Float64 CODEC(ZSTD(1)),
    duration_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)),
    ttft_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)),
    tpot_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)) COMMENT 'ms per output token after the first, streams',
    output_tokens_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)),
    latency_buckets Array(UInt64) CODEC(ZSTD(1)) COMMENT 'cumulative counts per LATENCY_BUCKETS_MS, then +Inf',
    ttft_buckets Array(UInt64) CODEC(ZSTD(1)),
    output_buckets Array(UInt64) CODEC(ZSTD(1)) COMMENT 'successful LLM calls with 0 output tokens, then per OUTPUT_BUCKETS range (non-cumulative), then over the last',
    finish_counts Array(UInt64) CODEC(ZSTD(1)) COMMENT 'LLM calls per canonical finish reason (ingest/finish.py CANONICAL), then with none recorded',
    version DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(hour)
ORDER BY (project, hour, kind, provider, environment, status, http_status, error_type);

CREATE TABLE IF NOT EXISTS tokentrail.rollup_day_totals
(
    project LowCardinality(String) CODEC(ZSTD(1)),
    day DateTime('UTC') CODEC(ZSTD(1)),
    kind LowCardinality(String) CODEC(ZSTD(1)),
    provider LowCardinality(String) CODEC(ZSTD(1)),
    environment LowCardinality(String) CODEC(ZSTD(1)),
    status LowCardinality(String) CODEC(ZSTD(1)),
    http_status UInt16 CODEC(ZSTD(1)),
    error_type LowCardinality(String) CODEC(ZSTD(1)),
    requests UInt64 CODEC(ZSTD(1)),
    streamed UInt64 CODEC(ZSTD(1)),
    cache_hits UInt64 CODEC(ZSTD(1)),
    schema_checked UInt64 CODEC(ZSTD(1)),
    schema_valid UInt64 CODEC(ZSTD(1)),
    input_tokens UInt64 CODEC(ZSTD(1)),
    output_tokens UInt64 CODEC(ZSTD(1)),
    cached_input_tokens UInt64 CODEC(ZSTD(1)),
    reasoning_tokens UInt64 CODEC(ZSTD(1)),
    cost Float64 CODEC(ZSTD(1)) COMMENT 'USD of priced calls',
    unpriced UInt64 CODEC(ZSTD(1)) COMMENT 'successful LLM calls with no price',
    duration_sum_ms Float64 CODEC(ZSTD(1)),
    duration_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)),
    ttft_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)),
    tpot_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)) COMMENT 'ms per output token after the first, streams',
    output_tokens_q AggregateFunction(quantilesDD(0.01, 0.5, 0.95, 0.99), Float64) CODEC(ZSTD(1)),
    latency_buckets Array(UInt64) CODEC(ZSTD(1)) COMMENT 'cumulative counts per LATENCY_BUCKETS_MS, then +Inf',
    ttft_buckets Array(UInt64) CODEC(ZSTD(1)),
    output_buckets Array(UInt64) CODEC(ZSTD(1)) COMMENT 'successful LLM calls with 0 output tokens, then per OUTPUT_BUCKETS range (non-cumulative), then over the last',
    finish_counts Array(UInt64) CODEC(ZSTD(1)) COMMENT 'LLM calls per canonical finish reason (ingest/finish.py CANONICAL), then with none recorded',
    version DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (project, day, kind, provider, environment, status, http_status, error_type);

CREATE TABLE IF NOT EXISTS tokentrail.rollup_day_user
(
    project LowCardinality(String) CODEC(ZSTD(1)),
    day Date CODEC(ZSTD(1)),
    user_id String CODEC(ZSTD(1)),
    customer String CODEC(ZSTD(1)),
    environment LowCardinality(String) CODEC(ZSTD(1)),
    requests UInt64 CODEC(ZSTD(1)),
    errors UInt64 CODEC(ZSTD(1)),
    input_tokens UInt64 CODEC(ZSTD(1)),
    output_tokens UInt64 CODEC(ZSTD(1)),
    cost Float64 CODEC(ZSTD(1)),
    unpriced UInt64 CODEC(ZSTD(1)) COMMENT 'successful LLM calls with no price (a cost per call counts the priced ones)',
    sessions AggregateFunction(uniq, String) CODEC(ZSTD(1)),
    last_seen DateTime64(6, 'UTC') CODEC(ZSTD(1)),
    version DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (project, day, user_id, customer, environment)
TTL day + INTERVAL 365 DAY;

CREATE TABLE IF NOT EXISTS tokentrail.rollup_day_session
(
    project LowCardinality(String) CODEC(ZSTD(1)),
    session_id String CODEC(ZSTD(1)),
    day Date CODEC(ZSTD(1)),
    user_id String CODEC(ZSTD(1)) COMMENT 'a user id seen in the session that day',
    turns AggregateFunction(uniq, String) CODEC(ZSTD(1)) COMMENT 'distinct traces',
    first_seen DateTime64(6, 'UTC') CODEC(ZSTD(1)),
    last_seen DateTime64(6, 'UTC') CODEC(ZSTD(1)) COMMENT 'latest span end',
    last_start DateTime64(6, 'UTC') CODEC(ZSTD(1)) COMMENT 'latest span start (recency order)',
    llm_calls UInt64 CODEC(ZSTD(1)),
    tokens UInt64 CODEC(ZSTD(1)),
    cost Float64 CODEC(ZSTD(1)),
    unpriced UInt64 CODEC(ZSTD(1)) COMMENT 'successful LLM calls with no price (their cost is unknown, not 0)',
    errors UInt64 CODEC(ZSTD(1)),
    routes Array(String) CODEC(ZSTD(1)),
    version DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(day)
ORDER BY (project, session_id, day)
TTL day + INTERVAL 365 DAY;

CREATE TABLE IF NOT EXISTS tokentrail.spans_by_user
(
    project LowCardinality(String) CODEC(ZSTD(1)),
    customer LowCardinality(String) CODEC(ZSTD(1)),
    user_id String CODEC(ZSTD(1)),
    session_id String CODEC(ZSTD(1)),
    start_time DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    trace_id String CODEC(ZSTD(1)),
    span_id String CODEC(ZSTD(1)),
    end_time DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    kind LowCardinality(String) CODEC(ZSTD(1)),
    route LowCardinality(String) CODEC(ZSTD(1)),
    provider LowCardinality(String) CODEC(ZSTD(1)),
    request_model LowCardinality(String) CODEC(ZSTD(1)),
    response_model LowCardinality(String) CODEC(ZSTD(1)),
    environment LowCardinality(String) CODEC(ZSTD(1)),
    release LowCardinality(String) CODEC(ZSTD(1)),
    status LowCardinality(String) CODEC(ZSTD(1)),
    http_status UInt16 CODEC(ZSTD(1)),
    error_type LowCardinality(String) CODEC(ZSTD(1)),
    finish LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'canonical finish reason',
    source LowCardinality(String) CODEC(ZSTD(1)),
    tags Array(LowCardinality(String)) CODEC(ZSTD(1)),
    duration_ms Float64 CODEC(ZSTD(1)),
    ttft_ms Nullable(Float64) CODEC(ZSTD(1)),
    input_tokens UInt32 CODEC(ZSTD(1)),
    output_tokens UInt32 CODEC(ZSTD(1)),
    cached_input_tokens UInt32 CODEC(ZSTD(1)),
    reasoning_tokens UInt32 CODEC(ZSTD(1)),
    total_cost Nullable(Float64) CODEC(ZSTD(1)),
    streamed Bool CODEC(ZSTD(1)),
    cache_hit Bool CODEC(ZSTD(1)),
    schema_valid Nullable(Bool) CODEC(ZSTD(1)),
    user_key UInt64 MATERIALIZED if(user_id = '', 0, cityHash64(user_id)) CODEC(ZSTD(1)) COMMENT 'the user id hashed (0: none)',
    cost_pico Int64 MATERIALIZED if(total_cost IS NULL, if(status = 'ok' AND kind IN ('llm', 'embedding'), -1, 0), toInt64(round(assumeNotNull(total_cost) * 1e12))) CODEC(T64, ZSTD(1)) COMMENT 'total_cost in 1e-12 USD; -1: a successful call without a price',
    version DateTime64(6, 'UTC') CODEC(ZSTD(1)),
    deleted UInt8 CODEC(ZSTD(1)) COMMENT '1: no such span any more (FINAL drops it)',
    INDEX idx_user user_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_session session_id TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_user_key user_key TYPE set(256) GRANULARITY 1
)
ENGINE = ReplacingMergeTree(version, deleted)
PARTITION BY toMonday(start_time)
ORDER BY (project, customer, user_id, session_id, start_time, trace_id, span_id)
TTL toDateTime(start_time) + INTERVAL 30 DAY
SETTINGS index_granularity = 2048;

CREATE TABLE IF NOT EXISTS tokentrail.alert_rules
(
    name String CODEC(ZSTD(1)),
    project LowCardinality(String) CODEC(ZSTD(1)),
    spec String CODEC(ZSTD(1)) COMMENT 'the rule as JSON (alerts/rules.py)',
    deleted Bool CODEC(ZSTD(1)),
    updated_by String CODEC(ZSTD(1)),
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY name;

CREATE TABLE IF NOT EXISTS tokentrail.alert_state
(
    rule String CODEC(ZSTD(1)),
    key String CODEC(ZSTD(1)) COMMENT 'group of the alert: \'\' (whole scope) or \'route=checkout\' ...; \'__group__\' holds the rule\'s notification state',
    project LowCardinality(String) CODEC(ZSTD(1)),
    state LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'pending, firing, resolved, inactive',
    severity LowCardinality(String) CODEC(ZSTD(1)),
    labels Map(String, String) CODEC(ZSTD(1)),
    value Nullable(Float64) CODEC(ZSTD(1)),
    threshold Nullable(Float64) CODEC(ZSTD(1)),
    summary String CODEC(ZSTD(1)),
    explain String CODEC(ZSTD(1)) COMMENT 'JSON: metric, window and baseline window for the explainer',
    since DateTime64(3, 'UTC') CODEC(ZSTD(1)) COMMENT 'when the condition started to hold',
    fired_at Nullable(DateTime64(3, 'UTC')) CODEC(ZSTD(1)),
    resolved_at Nullable(DateTime64(3, 'UTC')) CODEC(ZSTD(1)),
    last_notified Nullable(DateTime64(3, 'UTC')) CODEC(ZSTD(1)),
    notified_keys Array(String) CODEC(ZSTD(1)) COMMENT '__group__ row: the keys the last notification named',
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY (rule, key);

CREATE TABLE IF NOT EXISTS tokentrail.alert_events
(
    time DateTime64(3, 'UTC') CODEC(ZSTD(1)),
    rule String CODEC(ZSTD(1)),
    key String CODEC(ZSTD(1)),
    project LowCardinality(String) CODEC(ZSTD(1)),
    state LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'pending, firing, resolved, notified, silenced, error',
    severity LowCardinality(String) CODEC(ZSTD(1)),
    labels Map(String, String) CODEC(ZSTD(1)),
    value Nullable(Float64) CODEC(ZSTD(1)),
    threshold Nullable(Float64) CODEC(ZSTD(1)),
    summary String CODEC(ZSTD(1)),
    explain String CODEC(ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (project, rule, time);

CREATE TABLE IF NOT EXISTS tokentrail.alert_silences
(
    id String CODEC(ZSTD(1)),
    project LowCardinality(String) CODEC(ZSTD(1)),
    rule String CODEC(ZSTD(1)) COMMENT '\'\' = any rule',
    matchers Map(String, String) CODEC(ZSTD(1)) COMMENT 'labels that must all match (\'\' map = any)',
    comment String CODEC(ZSTD(1)),
    created_by String CODEC(ZSTD(1)),
    starts_at DateTime64(3, 'UTC') CODEC(ZSTD(1)),
    ends_at DateTime64(3, 'UTC') CODEC(ZSTD(1)),
    deleted Bool CODEC(ZSTD(1)),
    updated_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(updated_at)
ORDER BY id;

CREATE TABLE IF NOT EXISTS tokentrail.alert_deliveries
(
    time DateTime64(3, 'UTC') CODEC(ZSTD(1)),
    rule String CODEC(ZSTD(1)),
    project LowCardinality(String) CODEC(ZSTD(1)),
    receiver String CODEC(ZSTD(1)),
    status LowCardinality(String) CODEC(ZSTD(1)) COMMENT 'firing or resolved',
    ok Bool CODEC(ZSTD(1)),
    attempts UInt16 CODEC(ZSTD(1)),
    error String CODEC(ZSTD(1))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (project, time);

CREATE TABLE IF NOT EXISTS tokentrail.alert_lease
(
    term UInt64 CODEC(ZSTD(1)) COMMENT 'lease term number: floor(unix time / term seconds)',
    holder String CODEC(ZSTD(1)) COMMENT 'server instance id',
    claimed_at DateTime64(6, 'UTC') CODEC(ZSTD(1))
)
ENGINE = MergeTree
ORDER BY (term, claimed_at, holder);

CREATE MATERIALIZED VIEW IF NOT EXISTS tokentrail.spans_in_to_spans TO tokentrail.spans AS SELECT project, trace_id, span_id, parent_span_id, name, kind, start_time, end_time, duration_ms, ttft_ms, provider, operation, request_model, response_model, input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, tokens_estimated, input_cost, output_cost, total_cost, price_version, status, error_type, error_message, http_status, finish_reason, streamed, cache_hit, schema_valid, user_id, session_id, route, customer, environment, release, service, tags, attributes, source, ingested_at FROM tokentrail.spans_in;

CREATE MATERIALIZED VIEW IF NOT EXISTS tokentrail.spans_in_to_contents TO tokentrail.contents AS SELECT project, trace_id, span_id, start_time, key_id, input, output, search_tokens, captured_reason, ingested_at FROM tokentrail.spans_in WHERE input != '' OR output != '';
