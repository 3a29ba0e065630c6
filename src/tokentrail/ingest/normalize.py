"""Where an OTLP span becomes a row: the engine-side SQL that normalizes spooled OTLP.

The engine reads spool segments (``wire.py``), flattens resource -> scope -> span,
turns attribute values into strings, and fills each column from the first attribute
key that has a value (``conventions``), span attributes first, then the resource's,
then span events' (exceptions, content events); a convention's ``Expr`` entries (a span
event's time, a JSON field, a timestamp difference) are small SQL expressions tried before
(``override``) or after the keys. Cost comes from an ASOF join on the price table by model
key and start time. Nothing here loops in Python per span. After the insert, ``dedupe.py``
counts an LLM call that arrived as two spans once.

Every attribute value (span, resource, event), the span name and the status message are cut to
``max_value_bytes`` (setting ``ingest_max_value_bytes``) here, in the engine: a cut value ends with
``TRUNCATED_MARK`` and its span gets the attribute ``tokentrail.truncated`` (the keys cut, comma
separated), which ``/metrics`` and ``/api/ingest/status`` count.
"""

from __future__ import annotations

from functools import cache

from tokentrail.ingest.conventions import (
    candidates,
    content_key_patterns,
    expressions,
    kind_values,
    mapped_columns,
    mapped_keys,
)
from tokentrail.ingest.conventions.provider_sdks import HTTP_ERRORS, status_from_message
from tokentrail.pricing.models import model_key_sql
from tokentrail.pricing.store import COST_COLUMNS, priced_join
from tokentrail.privacy import encryption
from tokentrail.storage.schema import SPANS_IN

TRUNCATED_MARK = "…[truncated]"
TRUNCATED_KEY = "tokentrail.truncated"
_limits = {"max_value_bytes": 1 << 20}


def configure(max_value_bytes: int) -> None:
    """The longest value stored (``Settings.ingest_max_value_bytes``), for the inserts made from now."""
    _limits["max_value_bytes"] = max(1, int(max_value_bytes))


def _cut(v: str, limit: int) -> str:
    return f"if(length({v}) > {limit}, concat(toValidUTF8(left({v}, {limit})), '{TRUNCATED_MARK}'), {v})"


def _cut_map(m: str, limit: int) -> str:
    return f"mapApply((k, v) -> (k, {_cut('v', limit)}), {m})"


def _cut_keys(m: str, limit: int) -> str:
    return f"mapKeys(mapFilter((k, v) -> length(v) > {limit}, {m}))"


_SCALAR = ("coalesce({v}.string_value, toString({v}.int_value), toString({v}.double_value), "
           "if(isNull({v}.bool_value), NULL, if({v}.bool_value, 'true', 'false')))")


def _value(v: str) -> str:
    """SQL turning one AnyValue tuple into a string (arrays as JSON)."""
    scalar = _SCALAR.format(v=v)
    inner = _SCALAR.format(v="x")
    return (f"coalesce({scalar}, if(notEmpty({v}.array_value.values), "
            f"toJSONString(arrayMap(x -> coalesce({inner}, ''), {v}.array_value.values)), NULL), "
            f"if({v}.bytes_value != '', base64Encode({v}.bytes_value), NULL), '')")


def _attr_map(kvs: str) -> str:
    return f"mapFromArrays({kvs}.key, arrayMap(v -> {_value('v')}, {kvs}.value))"


# the attribute maps each column reads, in order (span attributes first); the rest read ("a", "r")
_MAPS = {"error_type": ("a",), "input": ("a", "ev"), "output": ("a", "ev")}
_MAP_ORDER = ("a", "r", "ev")


def _maps(column: str) -> tuple[str, ...]:
    return _MAPS.get(column, ("a", "r"))


def _column_id(column: str) -> int:
    return mapped_columns().index(column) + 1


def _candidates_sql() -> str:
    """SQL of ``cand``: every (column id, rank, value) an attribute with a mapped key gives, sorted.

    Every mapped key of every map is looked up in ONE pass: each attribute becomes (column id, rank,
    value) through constant tables, and the ones with a value are sorted by (column, rank); ``found``
    keeps the first of each column. Rank orders the maps as ``_maps`` lists them, then the keys as
    ``candidates`` does, so the winner is the key a coalesce over them all in that order would pick."""
    parts = []
    for m in _MAP_ORDER:
        keys, ids, ranks, scales = [], [], [], []
        for column in mapped_columns():
            maps = _maps(column)
            if m not in maps:
                continue
            for j, (key, scale) in enumerate(candidates(column)):
                keys.append("'" + key.replace("\\", "\\\\").replace("'", "\\'") + "'")
                ids.append(str(_column_id(column)))
                ranks.append(str(maps.index(m) * 1000 + j))
                scales.append(repr(float(scale)))
        if not keys:
            continue
        ka = "[" + ", ".join(keys) + "]"
        value = "v"
        if any(x != "1.0" for x in scales):
            scale = f"transform(k, {ka}, [{', '.join(scales)}], 1.0)"
            value = f"if({scale} = 1.0, v, ifNull(toString(toFloat64OrNull(v) * {scale}), ''))"
        parts.append(f"arrayMap((k, v) -> (transform(k, {ka}, [{', '.join(ids)}], 0), "
                     f"transform(k, {ka}, [{', '.join(ranks)}], 0), {value}), mapKeys({m}), mapValues({m}))")
    return f"arraySort(x -> (x.1, x.2), arrayFilter(x -> x.1 != 0 AND x.3 != '', arrayConcat({', '.join(parts)})))"


def _lookup(column: str) -> list[str]:
    """Nullable string expressions for every candidate of ``column``, in priority order: the
    overriding ``Expr`` entries, the first key with a value (``found``), then the fallback ``Expr`` entries."""
    out = [f"nullIf({e.sql}, '')" for e in expressions(column, override=True)]
    if candidates(column):
        out.append(f"nullIf(found[{_column_id(column)}], '')")
    return out + [f"nullIf({e.sql}, '')" for e in expressions(column)]


def _first(column: str, default: str = "''") -> str:
    exprs = _lookup(column)
    return f"coalesce({', '.join(exprs + [default])})" if exprs else default


def _tokens(column: str) -> str:
    return f"toUInt32(greatest(0, round(toFloat64OrZero({_first(column)}))))"


def _bool(column: str) -> str:
    return f"({_first(column)} IN ('true', '1', 'True'))"


USAGE_RULE_KEY = "tokentrail.usage_rule"


def _kind() -> str:
    branches = []
    for key, mapping in kind_values().items():
        src = ", ".join(f"'{k}'" for k in mapping)
        dst = ", ".join(f"'{v}'" for v in mapping.values())
        branches.append(f"nullIf(transform(a['{key}'], [{src}], [{dst}], ''), '')")
    fallback = "if(request_model != '' OR response_model != '' OR input_tokens > 0, 'llm', 'other')"
    return f"coalesce({', '.join(branches)}, {fallback})"


def _keys_literal() -> str:
    return "[" + ", ".join("'" + k + "'" for k in mapped_keys()) + "]"


def _content_key_regex() -> str:
    """SQL literal of one regular expression matching every content-carrying key."""
    return "'" + "|".join(content_key_patterns()).replace("\\", "\\\\").replace("'", "\\'") + "'"


# Columns computed in the last layer of the SELECT: they read other columns (computed a layer below).
# The engine's analyzer copies an alias's whole expression into every place that names it, so a value
# read many times (http_status by error_type, the attribute maps by every lookup) is a column of a
# layer below, never an alias of the same layer: with every alias inline, the analysis of this query
# cost ~200 ms of CPU per INSERT, whatever the number of spans (2,151 functions in its tree).
_DEPENDENT = ("kind", "provider", "status", "error_type", "streamed", "attributes", "model_key")


def _normalized_select(limit: int) -> str:
    """One row per span with every spans_in column except the cost columns (values cut at ``limit`` bytes)."""
    ev_keys = "arrayFlatten(arrayMap(e -> e.attributes.key, sp.events))"
    ev_vals = f"arrayFlatten(arrayMap(e -> arrayMap(v -> {_value('v')}, e.attributes.value), sp.events))"
    # error type: a key; else the exception event's type without its module ("openai.RateLimitError" ->
    # "RateLimitError", as tokentrail's SDK records it); else, when the message is an official OpenAI/Anthropic
    # client's ("Error code: 429 - ...", "429 ... (request_id: ...)"), the exception that client raises for the status (as the gateway
    # names it); else the HTTP status; else 'error'
    http_errors = ", ".join(f"http_status = {code}, '{name}'" for code, name in HTTP_ERRORS.items())
    error_type = (f"coalesce({', '.join(_lookup('error_type'))}, "
                  r"nullIf(replaceRegexpOne(ev['exception.type'], '^.*\\.', ''), ''), "
                  f"if(http_status >= 400 AND {status_from_message('sp.status.message')} IS NOT NULL, "
                  f"multiIf({http_errors}, http_status >= 500, 'InternalServerError', 'APIStatusError'), NULL), "
                  "if(http_status >= 400, toString(http_status), if(sp.status.code = 2, 'error', '')))")
    finish = _first("finish_reason")
    tags = _first("tags")
    schema = _first("schema_valid", default="NULL")
    # not kept: SDK bookkeeping, and OpenLLMetry's copy of the app's request headers (may hold credentials)
    hidden = ("['telemetry.sdk.name', 'telemetry.sdk.language', 'telemetry.sdk.version', 'tokentrail.source', "
              "'gen_ai.headers']")
    # how input_tokens came to include the cache, for calls that used it (an audit trail for cost):
    # input+cache_read+cache_write when the source reports input without the cache (Anthropic-style:
    # tokentrail added them), reported when the reported input already includes it (OpenAI, semconv)
    reported = "'reported'"
    usage_rule = f"if(cached_input_tokens + cache_write_tokens = 0, '', {_first('usage_rule', default=reported)})"
    return f"""
SELECT
    {', '.join(c for c in SPANS_IN.column_names if c not in COST_COLUMNS and c not in _DEPENDENT
               and c not in ('key_id', 'search_tokens'))},
    {_kind()} AS kind,
    lower({_first('provider')}) AS provider,
    if(sp.status.code = 2 OR http_status >= 400 OR error_type != '', 'error', 'ok') AS status,
    {error_type} AS error_type,
    (streamed_found OR ttft_ms IS NOT NULL) AS streamed,
    -- attributes: the unmapped ones, less flattened copies of the content; plus the instrumentation scope
    -- (which library sent the span; dedupe.py uses it), except tokentrail's own
    mapFilter((k, v) -> NOT has({_keys_literal()}, k) AND NOT has({hidden}, k) AND NOT match(k, {_content_key_regex()}),
              mapUpdate(mapUpdate(mapUpdate(r, a), mapFilter((k, v) -> v != '' AND NOT startsWith(v, 'tokentrail'), map('otel.scope.name', scope))),
                        mapFilter((k, v) -> v != '', map('{TRUNCATED_KEY}', truncated,
                                                         '{USAGE_RULE_KEY}', {usage_rule})))) AS attributes,
    {model_key_sql("if(response_model != '', response_model, request_model)")} AS model_key
FROM (
SELECT *,
    coalesce(nullIf(tt_project, ''), nullIf(a['tokentrail.project'], ''), nullIf(r['tokentrail.project'], ''),
             'default') AS project,
    lower(hex(sp.trace_id)) AS trace_id,
    lower(hex(sp.span_id)) AS span_id,
    if(sp.parent_span_id = '', '', lower(hex(sp.parent_span_id))) AS parent_span_id,
    {_cut('sp.name', limit)} AS name,
    toDateTime64(sp.start_time_unix_nano / 1e9, 6, 'UTC') AS start_time,
    toDateTime64(greatest(sp.end_time_unix_nano, sp.start_time_unix_nano) / 1e9, 6, 'UTC') AS end_time,
    greatest(toInt64(sp.end_time_unix_nano) - toInt64(sp.start_time_unix_nano), 0) / 1e6 AS duration_ms,
    toFloat64OrNull({_first('ttft_ms')}) AS ttft_ms,
    {_first('operation')} AS operation,
    {_first('request_model')} AS request_model,
    {_first('response_model')} AS response_model,
    {_tokens('input_tokens')} AS input_tokens,
    {_tokens('output_tokens')} AS output_tokens,
    {_tokens('cached_input_tokens')} AS cached_input_tokens,
    {_tokens('cache_write_tokens')} AS cache_write_tokens,
    {_tokens('reasoning_tokens')} AS reasoning_tokens,
    {_bool('tokens_estimated')} AS tokens_estimated,
    coalesce(nullIf({_cut('sp.status.message', limit)}, ''), nullIf(ev['exception.message'], ''), '') AS error_message,
    toUInt16OrZero({_first('http_status')}) AS http_status,
    multiIf(startsWith({finish}, '['), JSONExtractString({finish}, 1),
            startsWith({finish}, '"'), JSONExtractString({finish}), {finish}) AS finish_reason,
    {_bool('streamed')} AS streamed_found,
    {_bool('cache_hit')} AS cache_hit,
    if({schema} IS NULL, NULL, {schema} IN ('true', '1', 'True')) AS schema_valid,
    {_first('user_id')} AS user_id,
    {_first('session_id')} AS session_id,
    {_first('route')} AS route,
    {_first('customer')} AS customer,
    {_first('environment')} AS environment,
    {_first('release')} AS release,
    {_first('service')} AS service,
    if({tags} = '', [], if(startsWith({tags}, '['), JSONExtract({tags}, 'Array(String)'),
       splitByChar(',', {tags}))) AS tags,
    multiIf(tt_source IN ('gateway', 'batch'), tt_source, nullIf(r['tokentrail.source'], '') IS NOT NULL,
            r['tokentrail.source'], tt_source != '', tt_source, 'otlp') AS source,
    {_first('input')} AS input,
    {_first('output')} AS output,
    {_first('captured_reason')} AS captured_reason
FROM (
    SELECT *, mapFromArrays(arrayMap(x -> x.1, firsts), arrayMap(x -> x.3, firsts)) AS found
    FROM (
        SELECT *, arrayFilter((x, i) -> i = 1 OR x.1 != cand[i - 1].1, cand, arrayEnumerate(cand)) AS firsts
        FROM (
            SELECT *, {_candidates_sql()} AS cand
            FROM (
                SELECT tt_project, tt_source, sp, scope, {_cut_map('a_full', limit)} AS a,
                       {_cut_map('r_full', limit)} AS r, {_cut_map('ev_full', limit)} AS ev,
                       arrayStringConcat(arrayDistinct(arrayConcat({_cut_keys('a_full', limit)},
                                         {_cut_keys('r_full', limit)}, {_cut_keys('ev_full', limit)})), ',') AS truncated
                FROM (
                    SELECT tt_project, tt_source, sp, ss.scope.name AS scope,
                           {_attr_map('sp.attributes')} AS a_full,
                           {_attr_map('rs.resource.attributes')} AS r_full,
                           mapFromArrays({ev_keys}, {ev_vals}) AS ev_full
                    FROM {{source}}
                    ARRAY JOIN resource_spans AS rs
                    ARRAY JOIN rs.scope_spans AS ss
                    ARRAY JOIN ss.spans AS sp
                )
            )
        )
    )
)
)"""


def insert_sql(database: str, price_version: str) -> str:
    """INSERT ... SELECT reading ``{source}`` (spooled OTLP) into the spans_in table.

    ``{batch_version}`` is to be replaced by the batch's DateTime64(3) literal: every row
    of one insert shares it, so what an insert touched can be found afterwards.
    ``{tt_...}`` placeholders (content keys) are filled by ``privacy.encryption.bind``: the content
    columns are encrypted and indexed in this very INSERT when a content key is configured."""
    return _insert_sql(database, price_version, _limits["max_value_bytes"], encryption.keyring() is not None)


@cache
def _insert_sql(database: str, price_version: str, limit: int, encrypted: bool) -> str:
    plain = [c for c in SPANS_IN.column_names if c not in COST_COLUMNS]
    costs, join = priced_join(database, price_version, "n", ingested_at="{batch_version}")
    content = encryption.insert_columns("n")
    return f"""
INSERT INTO {database}.spans_in ({', '.join(plain + list(COST_COLUMNS))})
SELECT {', '.join(content.get(c, 'n.' + c) for c in plain)}, {', '.join(costs)}
FROM ({_normalized_select(limit)}) AS n
{join}"""


# join_use_nulls: a span whose model has no price gets NULL prices, hence NULL cost.
# Memory: a spooled request is one input row that becomes hundreds of spans, so the engine reads
# requests in blocks of at most 4 MB (by default a block holds every request of the batch: a 31 MB
# batch peaked at +600 MB) and writes parts of at most 128k rows / 32 MB (by default it gathers up to
# 256 MB before writing). Measured on a 31.5 MB batch of 66k spans: peak RSS 997 -> 585-623 MB, the
# same CPU time (2 MB blocks: the same peak, more parts to merge; 8 MB: the same).
INSERT_SETTINGS = {"join_use_nulls": "1", "input_format_max_block_size_bytes": str(4 << 20),
                   "min_insert_block_size_rows": "131072", "min_insert_block_size_bytes": str(32 << 20)}
