"""Traces and sessions: search, one trace's span tree (waterfall), a session's turns."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tokentrail.errors import BadRequest
from tokentrail.privacy import encryption
from tokentrail.query.filters import Filters, array_param
from tokentrail.query.rollups import exact_people_source
from tokentrail.query.scores import SCORE_SLACK, in_range, newest
from tokentrail.query.scores import naive as _naive
from tokentrail.storage.backend import Store

SCORES_PER_TRACE = 20


@dataclass(frozen=True)
class ScoreFilter:
    """Traces holding a score with this name, source, label and value between ``min`` and ``max``
    (each optional; a trace matches when ONE of its scores matches every part given)."""

    name: str = ""
    source: str = ""
    label: str = ""
    min: float | None = None
    max: float | None = None
    # whether scores sent with only a span id may match (``search`` asks the store once per request; the
    # branch that reads them costs a second pass over the scores and a spans scan)
    span_only: bool = True

    def __post_init__(self) -> None:
        for bound in (self.min, self.max):
            if bound is not None and not math.isfinite(bound):
                raise BadRequest("score_min and score_max must be finite numbers")

    def __bool__(self) -> bool:
        return bool(self.name or self.source or self.label) or self.min is not None or self.max is not None

    def condition(self, prefix: str = "") -> tuple[str, dict[str, Any]]:
        """SQL over the scores table (its columns named ``prefix`` + name) and its parameters (``sc_...``)."""
        parts, params = ["1"], {}
        for field_name in ("name", "source", "label"):
            value = getattr(self, field_name)
            if value:
                parts.append(f"{prefix}{field_name} = {{sc_{field_name}:String}}")
                params[f"sc_{field_name}"] = value
        if self.min is not None:
            parts.append(f"{prefix}value >= {{sc_min:Float64}}")
            params["sc_min"] = self.min
        if self.max is not None:
            parts.append(f"{prefix}value <= {{sc_max:Float64}}")
            params["sc_max"] = self.max
        return " AND ".join(parts), params


_SCORE_FIELDS = ("name", "source", "label", "value")  # what a score filter tests, as s_name ...


@dataclass(frozen=True)
class ContentMatch:
    """Traces with a content row (prompt/response) matching ``condition``: SQL over the contents table
    (``privacy/search.py`` builds it from the blind index, so it holds no word of the query), its
    parameters named ``ct_...``."""

    condition: str
    params: dict[str, Any]
    words: int = 0


def _with_text(store: Store, f: Filters, text: ContentMatch | None, where: str,
               params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``where`` narrowed to traces holding a content row that matches ``text`` from an hour before ``f``'s
    start (the look-back window being searched; the row may belong to another span of the trace than the
    one matching the filters)."""
    if text is None:
        return where, params
    # PREWHERE: the person's traces are looked up first and the words matched on their rows only (the engine
    # would match the words on every row first: a third slower under a customer filter at 30 days)
    sql = (f"trace_id IN (SELECT trace_id FROM {store.database}.contents PREWHERE project = {{project:String}} "
           f"AND start_time >= {{ct_since:DateTime64(6)}}{_people_traces(store, f, where)} WHERE {text.condition})")
    return f"{where} AND {sql}", {**params, **text.params, "ct_since": _naive(f.since - timedelta(hours=1))}


def _people_traces(store: Store, f: Filters, where: str) -> str:
    """Under a user, customer or session filter: `` AND trace_id IN (their traces)`` (``where`` being the
    spans' condition), so the scores or contents read are only theirs, found by the tables' keys (both
    are sorted by trace id), instead of every row of the range. Empty for other filters."""
    if not f.by_person():
        return ""
    return f" AND trace_id IN (SELECT trace_id FROM {f.span_source(store.database, llm_only=False)} WHERE {where})"


def _with_scores(store: Store, f: Filters, scored: ScoreFilter | None, where: str,
                 params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``where`` narrowed to traces holding a score that matches ``scored`` (scores sent with only a span
    id, from batch files, count for that span's trace)."""
    if not scored:
        return where, params
    cond, more = scored.condition("s_")
    db = store.database
    since = "{sc_since:DateTime64(3)}"
    scored_where = f"project = {{project:String}} AND timestamp >= {since} AND "
    latest = newest(db, scored_where + "trace_id != ''" + _people_traces(store, f, where), _SCORE_FIELDS)
    sql = f"trace_id IN (SELECT trace_id FROM ({latest}) WHERE {cond}"
    params = {**params, **more, "sc_since": _naive(f.since - SCORE_SLACK)}
    if scored.span_only:
        only = newest(db, scored_where + "trace_id = '' AND span_id != ''", _SCORE_FIELDS, "span_id")
        sql += (f" UNION ALL SELECT trace_id FROM {db}.spans WHERE project = {{project:String}} AND span_id IN ("
                f"SELECT span_id FROM ({only}) WHERE {cond})")
    return f"{where} AND {sql})", params


def _has_span_only_scores(store: Store, project: str, since: datetime) -> bool:
    """Whether the project holds scores sent with only a span id since ``since`` (a check on the unmerged
    table: milliseconds)."""
    return bool(store.query(f"""
        SELECT count() AS n FROM (SELECT 1 FROM {store.database}.scores WHERE project = {{p:String}}
          AND timestamp >= {{since:DateTime64(3)}} AND trace_id = '' AND span_id != '' LIMIT 1)""",
                            {"p": project, "since": _naive(since)})[0]["n"])


def score_names(store: Store, f: Filters, limit: int = 100) -> list[dict[str, Any]]:
    """The score names given in the range (most used first), each with its sources and how many scores."""
    source, params = in_range(store, f, ("name", "source"))
    return store.query(f"""
        SELECT name, count() AS scores, arraySort(groupUniqArray(source)) AS sources FROM {source}
        GROUP BY name ORDER BY scores DESC, name LIMIT {int(limit)}""", params)


def scores_of(store: Store, project: str, trace_ids: list[str], since: datetime,
              span_only: bool | None = None) -> dict[str, list[dict[str, Any]]]:
    """The scores of each of ``trace_ids`` (oldest first, at most ``SCORES_PER_TRACE`` each): name, value,
    label, source; those sent with only a span id count for that span's trace (looked for only when the
    project holds such scores since ``since``: ``span_only``, asked here when not known). Each score's
    newest version by grouping only these traces' scores (FINAL merges every part of the table). Scores
    are read from ``SCORE_SLACK`` before ``since`` (a score is made after its trace starts), so the engine
    reads them by time (the table's ``by_time`` projection) when that is fewer rows than by trace id."""
    if not trace_ids:
        return {}
    db = store.database
    params = {"p": project, "ids": array_param(trace_ids), "since": _naive(since),
              "sc_since": _naive(since - SCORE_SLACK)}
    fields = ("name", "value", "label", "source", "timestamp")
    picked = "s_name, s_value, s_label, s_source, s_timestamp"
    mine = "project = {p:String} AND trace_id IN {ids:Array(String)} AND timestamp >= {sc_since:DateTime64(3)}"
    parts = [f"SELECT trace_id AS t, {picked} FROM ({newest(db, mine, fields)})"]
    if span_only is None:
        span_only = _has_span_only_scores(store, project, since)
    if span_only:
        only = "project = {p:String} AND trace_id = '' AND span_id != '' AND timestamp >= {since:DateTime64(3)}"
        parts.append(f"""
            SELECT m.trace_id AS t, {picked} FROM ({newest(db, only, fields, "span_id")}) AS s
            INNER JOIN (SELECT DISTINCT span_id, trace_id FROM {db}.spans WHERE project = {{p:String}}
                        AND trace_id IN {{ids:Array(String)}} AND start_time >= {{since:DateTime64(6)}}) AS m
            ON s.span_id = m.span_id""")
    rows = store.query(f"""
        SELECT t AS trace_id, s_name AS name, s_value AS value, s_label AS label, s_source AS source
        FROM ({" UNION ALL ".join(parts)}) ORDER BY s_timestamp LIMIT {SCORES_PER_TRACE} BY t""", params)
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.pop("trace_id"), []).append(r)
    return out


_TRACE_SUMMARY = """
    trace_id,
    min(start_time) AS start_time,
    argMin(name, if(parent_span_id = '', 0, 1)) AS name,
    anyIf(route, route != '') AS route,
    anyIf(user_id, user_id != '') AS user_id,
    anyIf(session_id, session_id != '') AS session_id,
    anyIf(environment, environment != '') AS environment,
    round((toUnixTimestamp64Micro(max(end_time)) - toUnixTimestamp64Micro(min(start_time))) / 1000, 3) AS duration_ms,
    count() AS spans,
    countIf(kind IN ('llm', 'embedding')) AS llm_calls,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    round(sum(coalesce(total_cost, 0)), 6) AS cost_usd,
    countIf(kind IN ('llm', 'embedding') AND total_cost IS NULL AND status = 'ok') AS unpriced,
    if(countIf(status = 'error') > 0, 'error', 'ok') AS status,
    anyIf(error_type, status = 'error' AND error_type != '') AS error_type,
    groupUniqArrayIf(if(response_model != '', response_model, request_model), request_model != '') AS models
"""


Seen = dict[str, tuple[datetime, datetime]]  # key -> first and last start of its spans that matched


def _newest_keys(store: Store, f: Filters, key: str, want: int, scored: ScoreFilter | None = None,
                 text: ContentMatch | None = None) -> tuple[list[str], datetime, Seen]:
    """The ``want`` most recently active values of ``key`` among spans matching ``f`` (and, with
    ``scored``, of traces holding such a score), looking back in growing windows so the common case
    (recent data) reads a small part of the range; also the start of the window that sufficed, and when
    each key's matching spans started."""
    end = f.end
    # a user or session filter picks a few hundred calls a month, a few granules of spans_by_user over any
    # range: one pass; so does a customer's under a text or score filter (a customer's calls are many: the
    # windows pay alone, not when most of them are left out)
    sparse = {"user", "session"} & set(f.equals) or (f.by_person() and (scored or text))
    # with a score or text filter a window's fixed cost (the scores of the day before it, the content index)
    # is most of it: six hours cost what one does
    hours: float | None = None if sparse else WINDOWS[1] if scored or text else WINDOWS[0]
    while True:
        since = f.since if hours is None else max(f.since, end - timedelta(hours=hours))
        g = Filters(project=f.project, since=since, until=f.until, equals=f.equals, pending=f.pending)
        where, params = _with_text(store, g, text, *_with_scores(store, g, scored, *g.where(llm_only=False)))
        source = g.span_source(store.database, llm_only=False) if g.by_person() else f"{store.database}.spans"
        rows = store.query(f"""
            SELECT {key} AS k, min(start_time) AS lo, max(start_time) AS hi FROM {source} WHERE {where} AND {key} != ''
            GROUP BY k ORDER BY hi DESC LIMIT {int(want)}""", params)
        if len(rows) >= want or since == f.since or hours is None:
            return [r["k"] for r in rows], since, {r["k"]: (utc(r["lo"]), utc(r["hi"])) for r in rows}
        hours = next_window(hours, len(rows), want)


WINDOWS = (1, 6, 24, 96)  # hours looked back by the newest-first lists, then the whole range


def next_window(hours: float, found: int, want: int) -> float | None:
    """The window to look back in after ``hours`` found ``found`` of ``want`` keys: the next of ``WINDOWS``,
    or a later one when the rate found says that one would fall short too (keys found in proportion to the
    window, with a margin of half); None for the whole range. Each window is a query: a sparse filter (a
    score filter, a rare route and model) skips the windows it cannot fill."""
    needed = hours * 1.5 * want / found if found else 0.0
    for h in WINDOWS:
        if h > hours and h >= min(needed, WINDOWS[-1]):
            return h
    return None


def utc(value: str) -> datetime:
    """A time as the engine writes it (naive UTC text) as an aware datetime."""
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


# Where a trace's spans may lie around those that matched: an hour before (a root that started first) and
# six after (a long agent's later steps). The summary reads only those days of each trace by the spans'
# key (project, day, trace_id): a few granules a trace instead of one per trace in every day of the range.
_BEFORE, _AFTER = timedelta(hours=1), timedelta(hours=6)


def trace_days(seen: Seen) -> str:
    """An Array(Tuple(Date, String)) parameter: every (day, trace) where the traces' spans may lie."""
    pairs = []
    for trace, (lo, hi) in seen.items():
        day, last = (lo - _BEFORE).date(), (hi + _AFTER).date()
        while day <= last:
            pairs.append(f"('{day.isoformat()}',{array_param([trace])[1:-1]})")
            day += timedelta(days=1)
    return "[" + ",".join(pairs) + "]"


def _top_traces_by(store: Store, f: Filters, column: str, want: int,
                   scored: ScoreFilter | None = None,
                   text: ContentMatch | None = None) -> tuple[list[str], datetime, Seen]:
    """Candidate traces for "costliest" / "slowest": those holding the largest values of a span
    column, many more than asked (x20): one top-N over spans instead of summing every trace of
    the range. Exact unless a trace's total is made of many calls each too small to place."""
    where, params = _with_text(store, f, text, *_with_scores(store, f, scored, *f.where(llm_only=False)))
    source = f.span_source(store.database, llm_only=False) if f.by_person() else f"{store.database}.spans"
    rows = store.query(f"""
        SELECT trace_id, start_time FROM {source} WHERE {where}
        ORDER BY {column} DESC LIMIT 1 BY trace_id LIMIT {int(want)}""", params)
    seen = {r["trace_id"]: (utc(r["start_time"]), utc(r["start_time"])) for r in rows}
    earliest = min((lo for lo, _ in seen.values()), default=f.since)
    return [r["trace_id"] for r in rows], earliest, seen


def search(store: Store, f: Filters, limit: int = 50, offset: int = 0, order: str = "start_time",
           scored: ScoreFilter | None = None, text: ContentMatch | None = None) -> dict[str, Any]:
    """Traces with a span matching the filters (with ``scored``, holding a score that matches it; with
    ``text``, a prompt or response that does): newest first, or those holding the costliest or slowest
    calls. Two steps: pick the trace ids, then summarize only those. Each trace comes with its scores."""
    want = limit + offset
    if scored:
        scored = replace(scored, span_only=_has_span_only_scores(store, f.project, f.since - SCORE_SLACK))
    else:
        scored = None
    if order == "start_time":
        ids, since, seen = _newest_keys(store, f, "trace_id", want, scored, text)
    else:
        ids, since, seen = _top_traces_by(store, f, "coalesce(total_cost, 0)" if order == "cost" else "duration_ms",
                                    max(200, 20 * want), scored, text)
    if not ids:
        return {"traces": [], "limit": limit, "offset": offset}
    order_sql = {"start_time": "min(start_time) DESC", "cost": "sum(coalesce(total_cost, 0)) DESC",
                 "duration": "max(end_time) - min(start_time) DESC"}[order]
    # a trace may start before its matching span: look an hour further back than that span
    params = {"project": f.project, "since": (since - timedelta(hours=1)).astimezone(UTC).replace(tzinfo=None)
              .isoformat(sep=" "), "ids": array_param(ids), "days": trace_days(seen)}
    rows = store.query(f"""
        SELECT {_TRACE_SUMMARY}
        FROM (SELECT * FROM {store.database}.spans FINAL
              WHERE project = {{project:String}} AND start_time >= {{since:DateTime64(6)}}
                AND trace_id IN {{ids:Array(String)}}
                AND (toDate(start_time), trace_id) IN {{days:Array(Tuple(Date, String))}})
        GROUP BY trace_id
        ORDER BY {order_sql} LIMIT {int(limit)} OFFSET {int(offset)}
        SETTINGS prefer_column_name_to_alias = 1""", params)
    # with a score filter, whether span-only scores exist is known (since before ``since``): not asked again
    by_trace = scores_of(store, f.project, [r["trace_id"] for r in rows], since - timedelta(hours=1),
                         span_only=scored.span_only if scored else None)
    for r in rows:
        r["scores"] = by_trace.get(r["trace_id"], [])
    return {"traces": rows, "limit": limit, "offset": offset}


def detail(store: Store, project: str, trace_id: str, with_content: bool) -> dict[str, Any] | None:
    """Every span of the trace as a tree in time order, with depth and offset for a waterfall."""
    params = {"p": project, "t": trace_id.lower()}
    spans = store.query(f"""
        SELECT * EXCEPT (project, ingested_at), finish
        FROM {store.database}.spans FINAL
        WHERE project = {{p:String}} AND trace_id = {{t:String}}
        ORDER BY start_time""", params)
    if not spans:
        return None
    ordered = _tree_order(spans)
    t0 = datetime.fromisoformat(ordered[0]["start_time"])
    for s in ordered:
        s["offset_ms"] = round((datetime.fromisoformat(s["start_time"]) - t0).total_seconds() * 1000, 3)
    content: dict[str, dict[str, str]] = {}
    if with_content:
        for c in store.query(f"""
                SELECT trace_id, span_id, {encryption.select_columns()}, captured_reason
                FROM {store.database}.contents FINAL
                WHERE project = {{p:String}} AND trace_id = {{t:String}}""", params):
            encryption.decrypt_row(c)
            content[c.pop("span_id")] = {k: v for k, v in c.items() if k != "trace_id"}
    summary = store.query(f"SELECT {_TRACE_SUMMARY} FROM (SELECT * FROM {store.database}.spans FINAL "
                          "WHERE project = {p:String} AND trace_id = {t:String}) GROUP BY trace_id "
                          "SETTINGS prefer_column_name_to_alias = 1", params)
    return {"trace": summary[0], "spans": ordered, "content": content, "content_permitted": with_content}


def _tree_order(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Depth-first order, children by start time; orphans (parent not received) become roots."""
    ids = {s["span_id"] for s in spans}
    children: dict[str, list[dict[str, Any]]] = {}
    roots = []
    for s in spans:
        parent = s["parent_span_id"]
        if parent and parent in ids and parent != s["span_id"]:
            children.setdefault(parent, []).append(s)
        else:
            roots.append(s)
    out: list[dict[str, Any]] = []
    stack = [(r, 0) for r in reversed(roots)]
    seen: set[str] = set()
    while stack:
        node, depth = stack.pop()
        if node["span_id"] in seen:
            continue
        seen.add(node["span_id"])
        node["depth"] = depth
        out.append(node)
        stack += [(c, depth + 1) for c in reversed(children.get(node["span_id"], []))]
    return out


_SESSION_FROM_SPANS = """
    session_id, anyIf(user_id, user_id != '') AS user_id, uniqState(trace_id) AS turns,
    min(start_time) AS first_seen, max(end_time) AS last_seen,
    countIf(kind IN ('llm', 'embedding')) AS llm_calls,
    sum(input_tokens) + sum(output_tokens) AS tokens,
    sum(coalesce(total_cost, 0)) AS cost, countIf(total_cost IS NULL AND status = 'ok' AND kind IN ('llm', 'embedding'))
    AS unpriced, countIf(status = 'error' AND kind IN ('llm', 'embedding')) AS errors,
    groupUniqArrayIf(route, route != '') AS routes
"""


def sessions(store: Store, f: Filters, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """The most recently active sessions among spans matching the filters, each with its totals
    over the range. Over about a day these come from spans; beyond, the days before today come
    from the per-session daily rollup (whose first day is whole) and today from spans."""
    ids, _, _ = _newest_keys(store, f, "session_id", limit + offset)
    if not ids:
        return {"sessions": [], "limit": limit, "offset": offset}
    db = store.database
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    parts = []
    params: dict[str, Any] = {"ids": array_param(ids)}
    recent = f.unfiltered()  # a session's totals are over all its spans: the filters chose the sessions only
    if recent.use_rollup():  # so the per-session rollup answers under any filter (a customer's too)
        whole_days = f.end <= today  # a range ending before today: its last day is whole too
        params.update({"project": f.project, "d_from": f.since.date().isoformat(),
                       "d_to": (f.end.date() if whole_days else today.date() - timedelta(days=1)).isoformat()})
        parts.append(f"""
            SELECT session_id, user_id, turns, first_seen, last_seen, llm_calls, tokens, cost, unpriced, errors, routes
            FROM {f.day_source(db, "rollup_day_session")}
            WHERE project = {{project:String}} AND session_id IN {{ids:Array(String)}}
              AND day >= {{d_from:Date}} AND day <= {{d_to:Date}}""")
        recent = None if whole_days else Filters(project=f.project, since=max(f.since, today), until=f.until)
    if recent is not None:
        where, more = recent.where(llm_only=False)
        params.update(more)
        # spans_by_user holds every span naming a session, sorted (and bloom-indexed) by it
        source = exact_people_source(db, "{project:String}", f.pending)
        parts.append(f"""
            SELECT {_SESSION_FROM_SPANS} FROM {source}
            WHERE {where} AND session_id IN {{ids:Array(String)}} GROUP BY session_id""")
    rows = store.query(f"""
        SELECT session_id, anyIf(user_id, user_id != '') AS user_id, uniqMerge(turns) AS turns,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen, sum(llm_calls) AS llm_calls,
               sum(tokens) AS tokens, round(sum(cost), 6) AS cost_usd, sum(unpriced) AS unpriced,
               sum(errors) AS errors, arraySort(groupUniqArrayArray(routes)) AS routes
        FROM ({" UNION ALL ".join(parts)})
        GROUP BY session_id ORDER BY max(last_seen) DESC, session_id LIMIT {int(limit)} OFFSET {int(offset)}
        SETTINGS prefer_column_name_to_alias = 1""", params)
    return {"sessions": rows, "limit": limit, "offset": offset}


def session_turns(store: Store, project: str, session_id: str, with_content: bool) -> dict[str, Any] | None:
    """The session's traces in order, each with its first input and last output where captured."""
    params = {"p": project, "s": session_id}
    turns = store.query(f"""
        SELECT {_TRACE_SUMMARY}
        FROM (SELECT * FROM {store.database}.spans FINAL
              WHERE project = {{p:String}} AND trace_id IN (
                  SELECT DISTINCT trace_id FROM {store.database}.spans
                  WHERE project = {{p:String}} AND session_id = {{s:String}}))
        GROUP BY trace_id ORDER BY min(start_time)
        SETTINGS prefer_column_name_to_alias = 1""", params)
    if not turns:
        return None
    if with_content:
        # each turn: the first input and the last output, each decrypted with its own row's key and ids
        texts = store.query(f"""
            SELECT trace_id, argMinIf((span_id, key_id, base64Encode(input)), start_time, input != '') AS i,
                   argMaxIf((span_id, key_id, base64Encode(output)), start_time, output != '') AS o
            FROM {store.database}.contents FINAL
            WHERE project = {{p:String}} AND trace_id IN {{ids:Array(String)}}
            GROUP BY trace_id""", dict(params, ids=array_param([t["trace_id"] for t in turns])))
        by_trace = {t["trace_id"]: t for t in texts}
        for t in turns:
            c = by_trace.get(t["trace_id"])
            t["input"], t["output"] = ("", "")
            for field, part in (("input", "i"), ("output", "o")):
                if c and c[part][0]:
                    span_id, key_id, value = c[part]
                    row = encryption.decrypt_row({"trace_id": t["trace_id"], "span_id": span_id, "key_id": key_id,
                                                  field: value})
                    t[field] = row[field]
                    if "content_error" in row:
                        t["content_error"] = row["content_error"]
    return {"session_id": session_id, "turns": turns, "content_permitted": with_content}
