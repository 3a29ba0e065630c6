"""Flat JSON events (the native batch format) turned into span rows by the engine itself.

The format is ``NativeSpan`` (``ingest/native.py``). Its JSON keys, aliases, types and
bounds are read from the model (``FIELDS``), so the loader follows it; a test fails when
the model gains a field that ``_columns`` does not map.

A line takes the fast path when every field has the plain shape the model accepts:
strings are JSON strings, counts are non-negative JSON integers, times are ISO 8601
strings or epoch numbers, flags are true/false, ... The engine checks and maps such a
line with the SQL below, no Python per line. Every other line (shapes the model
coerces, such as "5" or "yes"; OTLP requests; broken lines) is handed back to Python
(``formats.py``), which runs the HTTP batch's own code on it, so what is accepted or
refused, and why, is exactly what ``POST /api/ingest/batch`` does. The test
``tests/batch/test_flat_equivalence.py`` checks that the fast path gives the very rows
the HTTP batch gives.

Two deliberate differences from the HTTP batch, so that a reload dedupes: an event with
no ``request_id`` and no ids gets ids derived from (file, line number, line), and one
with no timestamp is dated by the file's modification time instead of the load time.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Literal, Union, get_args, get_origin

from annotated_types import Ge, Le

from tokentrail.ingest.native import STATUS_WORDS, NativeSpan
from tokentrail.ingest.normalize import USAGE_RULE_KEY
from tokentrail.pricing.models import model_key_sql
from tokentrail.pricing.store import COST_COLUMNS, priced_join
from tokentrail.privacy import encryption
from tokentrail.storage.schema import SPANS_IN

DIGIT_STRINGS = {"http_status"}  # the model's validator also takes a string of digits here
USER_ID_EXTRA = "user_id_hash"  # an extra key the model reads (the seeds' user id)
OTLP_KEYS = ("resourceSpans", "resource_spans")  # a line with one of these is an OTLP request

_ISO = r'^"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}:[0-9]{2})?"$'
_NUMBER = r"^[0-9]+(\.[0-9]+)?(e-?[0-9]+)?$"  # non-negative, as the engine re-prints raw numbers
_COUNT = r"^[0-9]{1,9}$"
_DIGITS = r'^"?[0-9]{1,9}"?$'  # a count, or a string of digits (``DIGIT_STRINGS``)  # a JSON integer that surely fits the UInt32 columns
_MAX_US = 9_000_000_000_000_000  # year ~2255: nanoseconds still fit the wire format
BLANK = r"^\s*$"
# a status word (``downstream_status: "timeout"``, native.py ``_status_word``): a failed call with that
# error type; the fast path takes the plain ones (ASCII, no surrounding blanks, at most 64 characters)
_WORD = r'^"[A-Za-z]([A-Za-z0-9_ -]{0,62}[A-Za-z0-9_-])?"$'


@dataclass(frozen=True)
class FlatField:
    name: str
    keys: tuple[str, ...]  # JSON keys, the alias first (the model reads it first)
    shape: str  # str, hex, int, float, bool, time, choice, tags, object
    nullable: bool
    default: object = None
    ge: float | None = None
    le: float | None = None
    pattern: str = ""
    choices: tuple[str, ...] = ()

    @property
    def raw(self) -> str:
        return f"r_{self.name}"


def _shape(name: str, base: object, pattern: str) -> tuple[str, tuple[str, ...]]:
    if get_origin(base) is Literal:
        return "choice", tuple(str(a) for a in get_args(base))
    shapes: dict[object, str] = {str: "hex" if pattern else "str", int: "int", float: "float", bool: "bool",
                                 datetime: "time"}
    if base in shapes:
        return shapes[base], ()
    if get_origin(base) is list and get_args(base) == (str,):
        return "tags", ()
    if get_origin(base) is dict:
        return "object", ()
    raise TypeError(f"NativeSpan.{name}: the batch loader has no mapping for {base!r}")


def _field(name: str) -> FlatField:
    info = NativeSpan.model_fields[name]
    ann = info.annotation
    args = get_args(ann) if get_origin(ann) in (Union, types.UnionType) else ()
    base = next((a for a in args if a is not type(None)), ann)
    pattern = next((m.pattern for m in info.metadata if getattr(m, "pattern", None)), "")
    shape, choices = _shape(name, base, pattern)
    alias = info.validation_alias if isinstance(info.validation_alias, str) else None
    return FlatField(
        name=name, keys=(alias, name) if alias and alias != name else (name,), shape=shape,
        nullable=type(None) in args, default=info.default,
        ge=next((m.ge for m in info.metadata if isinstance(m, Ge)), None),
        le=next((m.le for m in info.metadata if isinstance(m, Le)), None),
        pattern=pattern, choices=choices)


FIELDS: tuple[FlatField, ...] = tuple(_field(n) for n in NativeSpan.model_fields)
F = {f.name: f for f in FIELDS}
KNOWN_KEYS = tuple(sorted({k for f in FIELDS for k in f.keys}))


def _lit(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _array(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(_lit(x) for x in items) + "]"


def _key_no(key: str) -> int:
    return KNOWN_KEYS.index(key) + 1


def _raw(f: FlatField) -> str:
    """The field's raw JSON text ('' when absent); the alias first, as the model reads it."""
    first, *rest = (f"kv.2[indexOf(ki, {_key_no(k)})]" for k in f.keys)
    return f"if({first} != '', {first}, {rest[0]})" if rest else first


def _t(f: FlatField) -> str:
    return f"t_{f.name}"


def _micros(r: str) -> str:
    """Int64 microseconds of a raw time, as the model reads it (epoch numbers: s, ms or ns)."""
    v = f"toFloat64OrZero({r})"
    secs = f"multiIf({v} > 1e14, {v} / 1e9, {v} > 1e11, {v} / 1e3, {v})"
    from_number = f"(toInt64(floor({secs})) * 1000000 + toInt64(roundBankers(({secs} - floor({secs})) * 1e6)))"
    from_text = f"toUnixTimestamp64Micro(parseDateTime64BestEffortOrNull(JSONExtractString({r}), 6, 'UTC'))"
    return f"if(startsWith({r}, '\"'), {from_text}, {from_number})"


def _plain(f: FlatField) -> str:
    """SQL: the raw value has a shape the fast path maps exactly as the model does."""
    r = f.raw
    number = f"toFloat64OrZero(replaceAll({r}, '\"', ''))"
    bounds = "".join(f" AND {number} {op} {v}" for op, v in ((">=", f.ge), ("<=", f.le)) if v is not None)
    if f.shape == "str":
        shape = f"startsWith({r}, '\"')"
    elif f.shape == "hex":
        shape = f"match({r}, {_lit(chr(34).join(['^', f.pattern[1:-1], '$']))})"
    elif f.shape == "int" and f.name in DIGIT_STRINGS:
        shape = f"((match({r}, {_lit(_DIGITS)}){bounds}) OR match({r}, {_lit(_WORD)}))"
    elif f.shape == "int":
        shape = f"match({r}, {_lit(_COUNT)}){bounds}"
    elif f.shape == "float":
        shape = f"match({r}, {_lit(_NUMBER)}){bounds}"
    elif f.shape == "bool":
        shape = f"{r} IN ('true', 'false')"
    elif f.shape == "time":
        shape = (f"(match({r}, {_lit(_ISO)}) OR match({r}, {_lit(_NUMBER)})) "
                 f"AND ifNull({_t(f)} BETWEEN 0 AND {_MAX_US}, false)")
    elif f.shape == "choice":
        shape = f"{r} IN ({', '.join(_lit(chr(34) + c + chr(34)) for c in f.choices)})"
    elif f.shape == "tags":
        shape = f"startsWith({r}, '[') AND arrayAll(x -> startsWith(x, '\"'), JSONExtractArrayRaw({r}))"
    else:
        shape = f"startsWith({r}, '{{')"
    null = f" OR {r} = 'null'" if f.nullable else ""
    return f"({r} = ''{null} OR {shape})"


def _simple_check(f: FlatField) -> str | None:
    """The check of a field as a lambda body over ``r``, when fields of its kind share one."""
    null = " OR r = 'null'" if f.nullable else ""
    if f.shape == "str":
        return f"r = ''{null} OR startsWith(r, '\"')"
    if f.shape == "int" and f.name not in DIGIT_STRINGS and (f.ge or 0) == 0 and f.le is None:
        return f"r = ''{null} OR match(r, {_lit(_COUNT)})"
    if f.shape == "float" and (f.ge or 0) == 0 and f.le is None:
        return f"r = ''{null} OR match(r, {_lit(_NUMBER)})"
    if f.shape == "bool":
        return f"r = ''{null} OR r IN ('true', 'false')"
    return None


def _checks() -> str:
    """Every field's check: alike ones share one arrayAll (a short query to plan)."""
    groups: dict[str, list[str]] = {}
    single = []
    for f in FIELDS:
        body = _simple_check(f)
        if body is None:
            single.append(_plain(f))
        else:
            groups.setdefault(body, []).append(f.raw)
    shared = [f"arrayAll(r -> {body}, [{', '.join(raws)}])" for body, raws in groups.items()]
    return " AND\n        ".join(shared + single)


def _text(r: str) -> str:
    """A raw JSON string's text ('' for anything else); unescaped by the engine only when needed."""
    return (f"if(startsWith({r}, '\"'), if(position({r}, '\\\\') = 0, substring({r}, 2, length({r}) - 2), "
            f"JSONExtractString({r})), '')")


TEXT_FIELDS = tuple(f.name for f in FIELDS if f.shape in ("str", "hex", "choice"))


def _s(name: str) -> str:
    """A string field's value ('' when absent or null: the model treats both alike)."""
    return f"texts[{TEXT_FIELDS.index(name) + 1}]"


_SCALAR = (f"multiIf(startsWith(x.2, '\"'), {_text('x.2')}, x.2 IN ('true', 'false'), x.2, "
           "match(x.2, '^-?[0-9]+$'), x.2, toString(toFloat64OrZero(x.2)))")


def _attributes() -> str:
    """Unmapped values, as the model files them: request id, metadata and scalar extras; and, for a call
    that used the cache, the usage rule (native input tokens already include it: normalize.py)."""
    cache = f"toUInt32OrZero({F['cached_input_tokens'].raw}) + toUInt32OrZero({F['cache_write_tokens'].raw}) > 0"
    return (f"mapFromArrays("
            f"arrayConcat(if(v_rid != '', ['tokentrail.request_id'], []), "
            f"arrayMap(x -> concat('tokentrail.metadata.', x.1), scalars), if({cache}, ['{USAGE_RULE_KEY}'], [])), "
            f"arrayConcat(if(v_rid != '', [v_rid], []), arrayMap(x -> {_SCALAR}, scalars), "
            f"if({cache}, ['reported'], [])))")


def _lines_select() -> str:
    """Per line of ``{lines}`` (line_no, line, src): its class (fast / blank) and its fields' raw texts.

    One layer per step, so each step reads the previous one's columns (short SQL to plan)."""
    raws = ", ".join(f"{_raw(f)} AS {f.raw}" for f in FIELDS)
    times = ", ".join(f"{_micros(f.raw)} AS {_t(f)}" for f in FIELDS if f.shape == "time")
    doubled = " AND ".join(f"NOT (has(ki, {_key_no(f.keys[0])}) AND has(ki, {_key_no(f.keys[1])}))"
                           for f in FIELDS if len(f.keys) > 1)
    checks = _checks()
    numbers = "[" + ", ".join(str(i + 1) for i in range(len(KNOWN_KEYS))) + "]"
    meta = F["metadata"].raw
    user = _lit(USER_ID_EXTRA)
    return f"""
    SELECT *, match(line, {_lit(BLANK)}) AS blank,
        notEmpty(kv) AND isValidUTF8(line) AND length(arrayDistinct(kv.1)) = length(kv)
        AND NOT hasAny(kv.1, {_array(OTLP_KEYS)}) AND NOT has(kv.1, 'attributes') AND {doubled}
        AND (x_user IN ('', 'null') OR startsWith(x_user, '"'))
        AND NOT ({F['kind'].raw} IN ('', 'null', '"llm"', '"embedding"') AND {F['model'].raw} IN ('', 'null', '""')
                 AND {F['response_model'].raw} IN ('', 'null', '""'))
        AND NOT arrayExists(x -> match(x.2, '^-?[0-9]{{19,}}$'), scalars) AND
        {checks} AS fast
    FROM (
        SELECT *, {times},
            arrayFilter(x -> NOT (startsWith(x.2, '[') OR startsWith(x.2, '{{') OR x.2 IN ('null', '""')),
                        arrayConcat(extras, arrayFilter(x -> NOT has(extras.1, x.1),
                                                        if({meta} = '', [], JSONExtractKeysAndValuesRaw({meta}))))
            ) AS scalars
        FROM (
            SELECT line_no, line, src, kv, ki, {raws},
                arrayFilter((x, i) -> i = 0 AND x.1 != {user}, kv, ki) AS extras,
                arrayFirst((x, i) -> i = 0 AND x.1 = {user}, kv, ki).2 AS x_user
            FROM (
                SELECT line_no, line, src, kv,
                    arrayMap(k -> transform(k, {_array(KNOWN_KEYS)}, {numbers}, 0), kv.1) AS ki
                FROM (SELECT line_no, line, src, JSONExtractKeysAndValuesRaw(line) AS kv FROM {{lines}})
            )
        )
    )"""


def _columns() -> dict[str, str]:
    """spans_in column -> SQL over a fast line, as NativeSpan -> OTLP -> normalize.py makes it."""
    failed = "(v_status = 'error' OR v_error_type != '' OR http_status >= 400)"
    given = f"({F['trace_id'].raw} NOT IN ('', 'null'))"
    has_span = f"({F['span_id'].raw} NOT IN ('', 'null'))"
    by_rid, by_line = "SHA256(v_rid)", "SHA256(concat({src_files}[src], '\\n', toString(line_no), '\\n', line))"
    return {
        "project": "{project:String}",
        "trace_id": (f"lower(multiIf({given}, {_s('trace_id')}, v_rid != '', hex(substring({by_rid}, 1, 16)), "
                     f"hex(substring({by_line}, 1, 16))))"),
        "span_id": (f"lower(multiIf({given} AND {has_span}, {_s('span_id')}, v_rid != '', "
                    f"hex(substring({by_rid}, 17, 8)), {has_span}, {_s('span_id')}, hex(substring({by_line}, 17, 8))))"),
        "parent_span_id": f"lower({_s('parent_span_id')})",
        "name": f"multiIf({_s('name')} != '', {_s('name')}, v_model != '', concat(v_kind, ' ', v_model), v_kind)",
        "kind": "v_kind",
        "start_time": "toDateTime64(start_ns / 1e9, 6, 'UTC')",
        "end_time": "toDateTime64(greatest(end_ns, start_ns) / 1e9, 6, 'UTC')",
        "duration_ms": "greatest(toInt64(end_ns) - toInt64(start_ns), 0) / 1e6",
        "ttft_ms": f"toFloat64OrNull({F['ttft_ms'].raw})",
        "provider": f"lower({_s('provider')})",
        "operation": "''",
        "request_model": "v_model",
        "response_model": _s("response_model"),
        **{c: f"toUInt32OrZero({F[c].raw})" for c in ("input_tokens", "output_tokens", "cached_input_tokens",
                                                       "cache_write_tokens", "reasoning_tokens")},
        "tokens_estimated": "false",
        "status": f"if({failed}, 'error', 'ok')",
        "error_type": ("multiIf(v_error_type != '', v_error_type, http_status >= 400, toString(http_status), "
                       "v_status = 'error', 'error', '')"),
        "error_message": _s("error_message"),
        "http_status": f"toUInt16(toUInt32OrZero(replaceAll({F['http_status'].raw}, '\"', '')))",
        "finish_reason": _s("finish_reason"),
        "streamed": f"({F['stream'].raw} = 'true' OR ttft_ms IS NOT NULL)",
        "cache_hit": f"({F['cached'].raw} = 'true')",
        "schema_valid": f"if({F['schema_validated'].raw} IN ('true', 'false'), {F['schema_validated'].raw} = 'true', NULL)",
        "user_id": f"if({_s('user_id')} != '', {_s('user_id')}, {_text('x_user')})",
        **{c: _s(c) for c in ("session_id", "route", "customer", "environment", "release", "service")},
        "tags": f"if({F['tags'].raw} = '', [], JSONExtract({F['tags'].raw}, 'Array(String)'))",
        "attributes": _attributes(),
        "source": "'batch'",
        "input": _s("input"),
        "output": _s("output"),
        "captured_reason": "''",
    }


def _values() -> dict[str, str]:
    """The mapping layer's helper values (then ``_columns`` over them), as name -> SQL."""
    ts, end_time, status = F["timestamp"].raw, F["end_time"].raw, F["http_status"].raw
    duration = f"ifNull(toFloat64OrNull({F['duration_ms'].raw}), 0)"
    end = (f"if({end_time} IN ('', 'null'), start_us + toInt64(floor({duration})) * 1000 "
           f"+ toInt64(roundBankers(({duration} - floor({duration})) * 1000)), {_t(F['end_time'])})")
    return {
        "v_said": (f"if(match({status}, {_lit(_WORD)}), replaceAll(replaceAll(lower(substring({status}, 2, "
                   f"length({status}) - 2)), ' ', '_'), '-', '_'), '')"),
        "v_word": (f"if(v_said = '', '', transform(v_said, {_array(tuple(STATUS_WORDS))}, "
                   f"{_array(tuple(STATUS_WORDS.values()))}, v_said))"),
        "v_rid": _s("request_id"), "v_model": _s("model"), "v_status": f"if(v_word != '', 'error', {_s('status')})",
        "v_error_type": f"if(v_word != '' AND {_s('error_type')} = '', v_word, {_s('error_type')})",
        "v_kind": f"if({F['kind'].raw} = '', {_lit(str(F['kind'].default))}, {_s('kind')})",
        "start_us": f"if({ts} = '', {{src_mtimes}}[src], {_t(F['timestamp'])})", "end_us": end,
        "start_ns": "toUInt64(toFloat64(start_us) / 1e6 * 1e9)", "end_ns": "toUInt64(toFloat64(end_us) / 1e6 * 1e9)",
    }


def _mapped_select(where: str) -> str:
    """One row per line that passes ``where`` with every spans_in column except the cost columns, plus
    model_key."""
    texts = f"arrayMap(r -> {_text('r')}, [{', '.join(F[n].raw for n in TEXT_FIELDS)}])"
    body = ",\n    ".join(f"{expr} AS {name}" for name, expr in {**_values(), **_columns()}.items())
    return f"""
SELECT
    src, {texts} AS texts,
    {body},
    {model_key_sql("if(response_model != '', response_model, request_model)")} AS model_key
FROM ({_lines_select()}) WHERE {where}"""


def mapping() -> str:
    """The SQL that makes values and columns of a fast line's raw field texts (checked by a test)."""
    return "\n".join({**_values(), **_columns()}.values())


def mapped_columns() -> list[str]:
    """The spans_in columns the fast path fills (a test checks these are all of them): its own, and the
    content columns the encryption makes of ``input`` / ``output`` (privacy/encryption.py)."""
    return list(dict.fromkeys([*_columns(), *encryption.insert_columns("n")]))


# the lines an insert takes when ``others_sql`` has listed the ones it leaves (``{left}``: a table
# expression of (src, line_no)): the insert then maps lines without checking them again
ALL_BUT_LEFT = "NOT blank AND (src, line_no) NOT IN {left}"


def insert_sql(database: str, price_version: str, where: str = "fast") -> str:
    """``_insert_sql`` for the content encryption in force (its key placeholders filled by
    ``encryption.bind`` per insert)."""
    return _insert_sql(database, price_version, encryption.keyring() is not None, where)


@cache
def _insert_sql(database: str, price_version: str, encrypted: bool, where: str = "fast") -> str:
    """INSERT ... SELECT: the lines of ``{lines}`` that pass ``where`` (SQL over ``_lines_select``'s
    columns: ``fast``, or ``ALL_BUT_LEFT``) into spans_in, priced, stamped ``{batch_version}``.

    ``{lines}`` is a table expression with columns (line_no UInt64, line String, src UInt32):
    the lines of one or more chunks, ``src`` numbering the chunk from 1. ``{src_files}`` and
    ``{src_mtimes}`` are arrays (SQL literals) of each chunk's file name and modification
    time (Int64 microseconds), and ``{batch_version}`` an expression over ``n.src`` (see
    ``bind``); query parameter: ``project``.
    Rows dedupe at merges and in FINAL reads, so no merge on insert; the views that split
    spans_in run in parallel (otherwise the whole insert runs on one thread)."""
    plain = [c for c in SPANS_IN.column_names if c not in COST_COLUMNS]
    costs, join = priced_join(database, price_version, "n", ingested_at="{batch_version}")
    content = encryption.insert_columns("n")
    return f"""
INSERT INTO {database}.spans_in ({', '.join(plain + list(COST_COLUMNS))})
SELECT {', '.join(content.get(c, 'n.' + c) for c in plain)}, {', '.join(costs)}
FROM ({_mapped_select(where)}) AS n
{join}
SETTINGS join_use_nulls = 1, optimize_on_insert = 0, parallel_view_processing = 1"""


@cache
def others_sql(clear: str = "true") -> str:
    """(src, line_no) of the lines of ``{lines}`` left to Python: not fast, or not ``clear`` (SQL over
    the line and its ``kv``: ``screen.clear_sql``); blank lines aside; in order."""
    return (f"SELECT src, line_no FROM ({_lines_select()}) WHERE NOT (fast AND {clear}) AND NOT blank "
            "ORDER BY src, line_no "
            "SETTINGS short_circuit_function_evaluation = 'disable'")



def bind(sql: str, files: list[str], mtimes_us: list[int], versions: list[str]) -> str:
    """``sql`` (``insert_sql`` or ``others_sql``) for chunks 1..n of these files, modification
    times and versions (DateTime64(3) SQL literals)."""
    return (sql.replace("{src_files}", "[" + ", ".join(_lit(f) for f in files) + "]")
            .replace("{src_mtimes}", "[" + ", ".join(f"toInt64({int(m)})" for m in mtimes_us) + "]")
            .replace("{batch_version}", f"[{', '.join(versions)}][n.src]"))
