"""One LLM call, two spans: count it once.

Since anthropic 2.x the provider SDK emits its own span for every ``messages.create``
(scope ``com.anthropic.sdk.python``) whenever a global OTel tracer provider exists. Under
an instrumentation library (OpenInference, OpenLLMetry, OpenLIT, Langfuse) each Anthropic
call then arrives as two spans carrying the same tokens, and two libraries instrumenting
one client do the same. Without a rule requests, tokens and cost would count twice; with
only the SDK's span (no library) the call must still count.

The rule (run after every insert, over the traces that insert touched): an LLM or
embedding span B is *counted in* another span A of the same trace when

* A is B's parent and is itself an LLM/embedding span (or was one: already counted in
  another); an LLM call inside an LLM call is the same call seen by two instrumentations; or
* A and B are siblings (OpenLLMetry starts its span without making it current, so the
  SDK's span is not its child), A's time contains B's, same provider, and they share the
  response id (``gen_ai.response.id``) or B comes from a provider SDK's own scope
  (``provider_sdks.NATIVE_SCOPES``) and A does not, with the same request model (a failed
  call has no response id). Parallel calls under one parent differ in response id.

* A and B are in DIFFERENT traces and share the provider's response id (``response_id``, from
  ``gen_ai.response.id``): a provider SDK that traces itself beside an instrumentation library can
  start its own trace (seen with OpenLLMetry on Anthropic messages). Only the response id pairs
  across traces, never look-alike values (model, tokens, time): parallel identical calls are real calls.

The outer span A is kept (it has the library's user, session and content). B is
re-inserted as kind ``other`` with zero tokens and no cost, a newer version of the same
row (``ReplacingMergeTree``: queries read ``FINAL``); its own numbers stay readable in its
attributes (``tokentrail.counted_in`` = A's span id, ``tokentrail.original_kind``,
``gen_ai.usage.*``). When only B timed the first token (the anthropic SDK's span under a
library that does not), A takes B's TTFT. Spans of one trace may arrive in separate requests in either order:
whichever insert completes the pair applies the rule, so the result does not depend on
the order. The check reads the inserted traces' LLM spans (found through the ``ingested_at``
minmax index and the trace bloom filter) in three key-based queries, near-linear in their number
(``find_pairs``); the re-insert happens only when a pair is found.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any

from tokentrail.ingest.conventions.provider_sdks import NATIVE_SCOPES
from tokentrail.query.filters import array_param
from tokentrail.storage.backend import Store
from tokentrail.storage.schema import SPANS

_LLM = "kind IN ('llm', 'embedding')"
_SCOPES = "[" + ", ".join(f"'{s}'" for s in NATIVE_SCOPES) + "]"


def _ts(version: datetime) -> str:
    return version.isoformat(sep=" ", timespec="milliseconds")


# the two spans of one call overlap in time: look only this far around the inserted LLM spans, so
# the check reads the partitions and granules of those minutes, not the whole table
_MARGIN = "INTERVAL 1 HOUR"


def _in_window(db: str) -> str:
    """Spans of the traces that got an LLM span in insert ``v``, near its LLM spans' start times."""
    return (f"start_time >= {{lo:DateTime64(6)}} - {_MARGIN} AND start_time <= {{hi:DateTime64(6)}} + {_MARGIN} "
            f"AND (project, trace_id) IN (SELECT project, trace_id FROM {db}.spans "
            f"WHERE ingested_at = {{v:DateTime64(3)}} AND {_LLM})")


def _window(store: Store, version: datetime) -> dict[str, str] | None:
    """Start-time bounds of the LLM spans inserted with ``version`` (None: there are none)."""
    row = store.query(f"""
        SELECT count() AS n, toString(min(start_time)) AS lo, toString(max(start_time)) AS hi
        FROM {store.database}.spans WHERE ingested_at = {{v:DateTime64(3)}} AND {_LLM}""", {"v": _ts(version)})[0]
    return {"v": _ts(version), "lo": row["lo"], "hi": row["hi"]} if row["n"] else None


# a response id shared by more spans than this is not one call seen twice: such groups are not paired
# (a client can send any number of spans with one id; the check must stay linear)
MAX_GROUP = 4


def find_pairs(store: Store, window: dict[str, str]) -> list[dict[str, Any]]:
    """(project, trace_id, span_id, counted_in, outer_ttft, inner_ttft) of every span to count in
    another, among the traces with an LLM span in the insert of ``window`` (``_window``).

    Near-linear in the spans of those traces, whatever their shape (one trace of 100,000 LLM spans
    under one parent included): every rule pairs on a key instead of comparing spans two by two
    (a hash join on the parent's id, groups of at most ``MAX_GROUP`` spans sharing a response id, and
    an ASOF join for the provider SDK's span inside the library's), so no join output can grow
    quadratically."""
    db = store.database
    calls = f"""
        SELECT project, trace_id, span_id, parent_span_id, start_time, end_time, provider, request_model, kind,
               ttft_ms, attributes['gen_ai.response.id'] AS rid, has({_SCOPES}, attributes['otel.scope.name']) AS native,
               request_model = '' AND response_model = '' AND input_tokens = 0 AND output_tokens = 0 AS empty,
               attributes['tokentrail.counted_in'] AS counted_in_attr
        FROM {db}.spans FINAL
        WHERE {_in_window(db)} AND ({_LLM} OR mapContains(attributes, 'tokentrail.counted_in'))"""
    # 1. an LLM call inside an LLM call (or one already counted in another): the parent's span id is the key
    by_parent = store.query(f"""
        WITH calls AS ({calls})
        SELECT b.project AS project, b.trace_id AS trace_id, b.span_id AS span_id, a.span_id AS counted_in,
               a.ttft_ms AS outer_ttft, b.ttft_ms AS inner_ttft,
               a.empty AND NOT b.empty AND a.kind IN ('llm', 'embedding') AS flip
        FROM calls AS b INNER JOIN calls AS a
             ON a.project = b.project AND a.trace_id = b.trace_id AND a.span_id = b.parent_span_id
        WHERE b.kind IN ('llm', 'embedding') AND a.counted_in_attr != b.span_id""", window)
    # an instrumentation span that recorded neither model nor tokens (OpenLLMetry's events mode) around a
    # provider SDK span that did: the SDK span is the call that counts, and takes the outer span's context
    by_parent = [_flipped(p) if p["flip"] else p for p in by_parent]
    # 2. siblings sharing a response id: small groups only; the outer span is chosen below
    groups = store.query(f"""
        WITH calls AS ({calls})
        SELECT groupArray((span_id, kind, native, toUnixTimestamp64Micro(start_time),
                           toUnixTimestamp64Micro(end_time), ttft_ms)) AS spans, project, trace_id
        FROM calls WHERE rid != ''
        GROUP BY project, trace_id, parent_span_id, provider, rid
        HAVING count() BETWEEN 2 AND {MAX_GROUP}""", window)
    # 3. the provider SDK's own span (no response id on a failed call) inside a library's span of the same
    #    model: the library span under the same parent that started last before it (ASOF), if it contains it
    native = store.query(f"""
        WITH calls AS ({calls})
        SELECT b.project AS project, b.trace_id AS trace_id, b.span_id AS span_id, a.span_id AS counted_in,
               a.ttft_ms AS outer_ttft, b.ttft_ms AS inner_ttft
        FROM (SELECT * FROM calls WHERE native AND kind IN ('llm', 'embedding')) AS b
        ASOF INNER JOIN (SELECT * FROM calls WHERE NOT native) AS a
             ON a.project = b.project AND a.trace_id = b.trace_id AND a.parent_span_id = b.parent_span_id
                AND a.provider = b.provider AND a.request_model = b.request_model AND b.start_time >= a.start_time
        WHERE a.end_time >= b.end_time""", window)
    # 4. the same response id in two traces (a provider SDK that traces itself may start its own trace beside
    #    the library's): groups of at most MAX_GROUP spans near the inserted ones, on the response-id index
    across = store.query(f"""
        SELECT groupArray((trace_id, span_id, kind, native, toUnixTimestamp64Micro(start_time),
                           toUnixTimestamp64Micro(end_time), ttft_ms)) AS spans, project
        FROM (SELECT project, trace_id, span_id, kind, provider, response_id, start_time, end_time, ttft_ms,
                     has({_SCOPES}, attributes['otel.scope.name']) AS native
              FROM {db}.spans FINAL
              WHERE start_time >= {{lo:DateTime64(6)}} - {_MARGIN} AND start_time <= {{hi:DateTime64(6)}} + {_MARGIN}
                AND (project, response_id) IN (SELECT project, response_id FROM {db}.spans
                                               WHERE ingested_at = {{v:DateTime64(3)}} AND {_LLM} AND response_id != '')
                AND ({_LLM} OR mapContains(attributes, 'tokentrail.counted_in')))
        GROUP BY project, provider, response_id
        HAVING count() BETWEEN 2 AND {MAX_GROUP} AND uniqExact(trace_id) > 1""", window)
    pairs: dict[tuple[str, str, str], dict[str, Any]] = {}
    grouped = [q for g in groups for q in _group_pairs(g)] + [q for g in across for q in _group_pairs(g)]
    for p in by_parent + grouped + native:
        pairs.setdefault((p["project"], p["trace_id"], p["span_id"]), p)
    return list(pairs.values())


def _flipped(p: dict[str, Any]) -> dict[str, Any]:
    """The parent (no model, no tokens) is counted in its child, which takes the parent's context."""
    return {"project": p["project"], "trace_id": p["trace_id"], "span_id": p["counted_in"],
            "counted_in": p["span_id"], "outer_ttft": p["inner_ttft"], "inner_ttft": None,
            "context_from": p["counted_in"]}


def _group_pairs(group: dict[str, Any]) -> list[dict[str, Any]]:
    """The spans of one response id: the outer one is kept (a library's over the provider SDK's, the
    one whose time contains the others, then the smallest id); the others still counted are counted in it.
    A group's spans may carry their trace id first (groups across traces)."""
    names = ("span_id", "kind", "native", "start", "end", "ttft")
    spans = [dict(zip(("trace_id", *names) if len(s) == 7 else names, s, strict=True)) for s in group["spans"]]
    for s in spans:
        s.setdefault("trace_id", group.get("trace_id", ""))
    outer = min(spans, key=lambda s: (bool(s["native"]), s["start"], -s["end"], s["span_id"]))
    return [{"project": group["project"], "trace_id": s["trace_id"], "span_id": s["span_id"],
             "counted_in": outer["span_id"], "outer_trace_id": outer["trace_id"], "outer_ttft": outer["ttft"],
             "inner_ttft": s["ttft"]}
            for s in spans if s is not outer and s["kind"] in ("llm", "embedding")
            and outer["start"] <= s["start"] and outer["end"] >= s["end"]]


def candidates_sql(db: str) -> str:
    """A scalar SQL expression over the insert ``{v:DateTime64(3)}``: 0 when none of its LLM spans can
    be paired, so ``find_pairs`` (four queries, FINAL) need not run. It over-approximates every rule:
    a pair needs two spans (LLM, or already counted in another) of one trace near the inserted LLM spans
    (rules 1-3), or one response id in two traces (rule 4); versions are not merged (FINAL), which can
    only count more. Read by ingest/batch_summary.py, in the one query after each insert."""
    inserted = f"FROM {db}.spans WHERE ingested_at = {{v:DateTime64(3)}} AND {_LLM}"
    near = (f"start_time >= (SELECT min(start_time) {inserted}) - {_MARGIN} "
            f"AND start_time <= (SELECT max(start_time) {inserted}) + {_MARGIN}")
    calls = f"({_LLM} OR mapContains(attributes, 'tokentrail.counted_in'))"
    return f"""((SELECT count() FROM (SELECT 1 FROM {db}.spans
                  WHERE {near} AND (project, trace_id) IN (SELECT project, trace_id {inserted}) AND {calls}
                  GROUP BY project, trace_id HAVING uniqExact(span_id) >= 2 LIMIT 1))
              + (SELECT count() FROM (SELECT 1 FROM {db}.spans
                  WHERE {near} AND (project, response_id) IN (SELECT project, response_id {inserted} AND response_id != '')
                    AND response_id != '' AND {calls}
                  GROUP BY project, response_id HAVING uniqExact(trace_id) > 1 LIMIT 1)))"""


def count_once(store: Store, version: datetime, new_version: datetime,
               gate: Callable[[], AbstractContextManager[object]] = nullcontext,
               after: Callable[[datetime], None] | None = None) -> int:
    """Apply the rule for the insert stamped ``version``; re-inserted rows get ``new_version``.
    Returns how many spans were re-kinded. The pairs are found without ``gate`` (reads may go on); the
    re-inserts and ``after(new_version)`` (the rollups' bookkeeping) happen inside it, as one step."""
    return count_once_in(store, _window(store, version), new_version, gate, after)


def count_once_in(store: Store, window: dict[str, str] | None, new_version: datetime,
                  gate: Callable[[], AbstractContextManager[object]] = nullcontext,
                  after: Callable[[datetime], None] | None = None) -> int:
    """``count_once`` for an insert whose LLM spans' ``window`` is known (None: it has none)."""
    pairs = find_pairs(store, window) if window is not None else []
    if not pairs:
        return 0
    assert window is not None
    with gate():
        _apply(store, window, pairs, new_version)
        if after is not None:
            after(new_version)
    return len(pairs)


def _apply(store: Store, window: dict[str, str], pairs: list[dict[str, Any]], new_version: datetime) -> None:
    flipped = [p for p in pairs if p.get("context_from")]
    if flipped:  # the counted child takes the context its instrumentation span had (user, session, route ...)
        _take_context(store, window, new_version, [f"{p['project']}/{p['trace_id']}/{p['counted_in']}" for p in flipped],
                      [f"{p['project']}/{p['trace_id']}/{p['context_from']}" for p in flipped])
    carry = {f"{p['project']}/{p.get('outer_trace_id') or p['trace_id']}/{p['counted_in']}": p["inner_ttft"]
             for p in pairs
             if p["outer_ttft"] is None and p["inner_ttft"] is not None}
    if carry:  # only the inner span timed the first token (the anthropic SDK's own span under a library
        # that does not): the counted span takes its TTFT and is marked streamed
        _reinsert(store, window, new_version, list(carry), {
            "ttft_ms": "transform(key, {keys:Array(String)}, {ttfts:Array(Float64)}, 0.)", "streamed": "true"},
                  ttfts="[" + ",".join(repr(float(v)) for v in carry.values()) + "]")
    new_attributes = ("mapUpdate(attributes, map("
                      "'tokentrail.counted_in', transform(key, {keys:Array(String)}, {outer:Array(String)}, ''), "
                      "'tokentrail.original_kind', kind, "
                      "'gen_ai.usage.input_tokens', toString(input_tokens), "
                      "'gen_ai.usage.output_tokens', toString(output_tokens), "
                      "'gen_ai.usage.cache_read.input_tokens', toString(cached_input_tokens), "
                      "'gen_ai.usage.cache_creation.input_tokens', toString(cache_write_tokens), "
                      "'gen_ai.usage.reasoning.output_tokens', toString(reasoning_tokens)))")
    _reinsert(store, window, new_version, [f"{p['project']}/{p['trace_id']}/{p['span_id']}" for p in pairs], {
        "kind": "'other'",
        **{c: "0" for c in ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
                            "reasoning_tokens")},
        **{c: "NULL" for c in ("input_cost", "output_cost", "total_cost")},
        "attributes": new_attributes,
    }, outer=array_param([p["counted_in"] for p in pairs]))


_CONTEXT = ("user_id", "session_id", "route", "customer", "environment", "release")


# A large Array parameter is matched as a set through a subquery: ``x IN {p:Array(String)}`` is
# far slower (50,000 values: 11 s against 0.07 s), and a giant trace pairs tens of thousands of spans.
def _rows(db: str, keys: str) -> str:
    """Stored spans (with their ``key``: project/trace/span) near the insert's window whose key is in
    the Array(String) parameter ``keys``; the parameter ``traces`` holds their trace ids."""
    return (f"SELECT *, concat(project, '/', trace_id, '/', span_id) AS key FROM {db}.spans FINAL "
            f"WHERE start_time >= {{lo:DateTime64(6)}} - {_MARGIN} AND start_time <= {{hi:DateTime64(6)}} + {_MARGIN} "
            f"AND trace_id IN (SELECT arrayJoin({{traces:Array(String)}})) "
            f"AND key IN (SELECT arrayJoin({{{keys}:Array(String)}}))")


def _traces(keys: list[str]) -> str:
    return array_param(sorted({k.split("/")[-2] for k in keys}))


def _take_context(store: Store, window: dict[str, str], new_version: datetime, targets: list[str],
                  donors: list[str]) -> None:
    """A newer version of the spans ``targets`` whose empty context columns take the values of the spans
    ``donors`` (same order; keys are project/trace/span)."""
    db = store.database
    pick = {c: f"if(t.{c} = '', d.{c}, t.{c})" for c in _CONTEXT}
    select = ", ".join(f"{pick[c]} AS {c}" if c in pick else ("{nv:DateTime64(3)} AS ingested_at" if c == "ingested_at"
                                                               else f"t.{c} AS {c}") for c in SPANS.column_names)
    store.command(f"""
        INSERT INTO {db}.spans ({', '.join(SPANS.column_names)})
        SELECT {select}
        FROM ({_rows(db, "targets")}) AS t INNER JOIN ({_rows(db, "donors")}) AS d
             ON d.key = transform(t.key, {{targets:Array(String)}}, {{donors:Array(String)}}, '')""",
                  dict(window, nv=_ts(new_version), targets=array_param(targets), donors=array_param(donors),
                       traces=_traces(targets + donors)))


def _reinsert(store: Store, window: dict[str, str], new_version: datetime, keys: list[str],
              changed: dict[str, str], **params: str) -> None:
    """Insert a newer version (``new_version``) of the LLM spans ``keys`` (project/trace/span) of
    ``window``, with ``changed`` columns (SQL over the stored row; ``key`` is its project/trace/span)."""
    db = store.database
    cols = SPANS.column_names
    changed = {**changed, "ingested_at": "{nv:DateTime64(3)}"}
    # the new values are computed beside the stored row (as new_*) and only then take the columns'
    # names, so an expression never reads a column another one has replaced
    new = ", ".join(f"{expr} AS new_{c}" for c, expr in changed.items())
    select = ", ".join(f"new_{c} AS {c}" if c in changed else c for c in cols)
    store.command(f"""
        INSERT INTO {db}.spans ({', '.join(cols)})
        SELECT {select} FROM (SELECT *, {new} FROM ({_rows(db, "keys")}) WHERE {_LLM})""",
                  dict(window, nv=_ts(new_version), keys=array_param(keys), traces=_traces(keys), **params))
