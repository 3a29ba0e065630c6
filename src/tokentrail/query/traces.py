"""Traces and sessions: search, one trace's span tree (waterfall), a session's turns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tokentrail.privacy import encryption
from tokentrail.query.filters import Filters, array_param
from tokentrail.query.rollups import exact_people_source
from tokentrail.storage.backend import Store

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
    groupUniqArrayIf(if(response_model != '', response_model, request_model), request_model != '') AS models
"""


def _newest_keys(store: Store, f: Filters, key: str, want: int) -> tuple[list[str], datetime]:
    """The ``want`` most recently active values of ``key`` among spans matching ``f``, looking
    back in growing windows so the common case (recent data) reads a small part of the range;
    also the start of the window that sufficed."""
    end = f.end
    for hours in (1, 6, 24, 96, None):
        since = f.since if hours is None else max(f.since, end - timedelta(hours=hours))
        g = Filters(project=f.project, since=since, until=f.until, equals=f.equals, pending=f.pending)
        where, params = g.where(llm_only=False)
        source = g.span_source(store.database, llm_only=False) if g.by_person() else f"{store.database}.spans"
        rows = store.query(f"""
            SELECT {key} AS k FROM {source} WHERE {where} AND {key} != ''
            GROUP BY k ORDER BY max(start_time) DESC LIMIT {int(want)}""", params)
        if len(rows) >= want or since == f.since:
            return [r["k"] for r in rows], since
    return [], f.since


def _top_traces_by(store: Store, f: Filters, column: str, want: int) -> tuple[list[str], datetime]:
    """Candidate traces for "costliest" / "slowest": those holding the largest values of a span
    column, many more than asked (x20): one top-N over spans instead of summing every trace of
    the range. Exact unless a trace's total is made of many calls each too small to place."""
    where, params = f.where(llm_only=False)
    source = f.span_source(store.database, llm_only=False) if f.by_person() else f"{store.database}.spans"
    rows = store.query(f"""
        SELECT trace_id, start_time FROM {source} WHERE {where}
        ORDER BY {column} DESC LIMIT 1 BY trace_id LIMIT {int(want)}""", params)
    earliest = min((datetime.fromisoformat(r["start_time"]).replace(tzinfo=UTC) for r in rows), default=f.since)
    return [r["trace_id"] for r in rows], earliest


def search(store: Store, f: Filters, limit: int = 50, offset: int = 0, order: str = "start_time") -> dict[str, Any]:
    """Traces with a span matching the filters: newest first, or those holding the costliest
    or slowest calls. Two steps: pick the trace ids, then summarize only those."""
    want = limit + offset
    if order == "start_time":
        ids, since = _newest_keys(store, f, "trace_id", want)
    else:
        ids, since = _top_traces_by(store, f, "coalesce(total_cost, 0)" if order == "cost" else "duration_ms",
                             max(200, 20 * want))
    if not ids:
        return {"traces": [], "limit": limit, "offset": offset}
    order_sql = {"start_time": "min(start_time) DESC", "cost": "sum(coalesce(total_cost, 0)) DESC",
                 "duration": "max(end_time) - min(start_time) DESC"}[order]
    # a trace may start before its matching span: look an hour further back than that span
    params = {"project": f.project, "since": (since - timedelta(hours=1)).astimezone(UTC).replace(tzinfo=None)
              .isoformat(sep=" "), "ids": array_param(ids)}
    rows = store.query(f"""
        SELECT {_TRACE_SUMMARY}
        FROM (SELECT * FROM {store.database}.spans FINAL
              WHERE project = {{project:String}} AND start_time >= {{since:DateTime64(6)}}
                AND trace_id IN {{ids:Array(String)}})
        GROUP BY trace_id
        ORDER BY {order_sql} LIMIT {int(limit)} OFFSET {int(offset)}
        SETTINGS prefer_column_name_to_alias = 1""", params)
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
    sum(coalesce(total_cost, 0)) AS cost, countIf(status = 'error') AS errors,
    groupUniqArrayIf(route, route != '') AS routes
"""


def sessions(store: Store, f: Filters, limit: int = 50, offset: int = 0) -> dict[str, Any]:
    """The most recently active sessions among spans matching the filters, each with its totals
    over the range. Over about a day these come from spans; beyond, the days before today come
    from the per-session daily rollup (whose first day is whole) and today from spans."""
    ids, _ = _newest_keys(store, f, "session_id", limit + offset)
    if not ids:
        return {"sessions": [], "limit": limit, "offset": offset}
    db = store.database
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    parts = []
    params: dict[str, Any] = {"ids": array_param(ids)}
    recent = f.unfiltered()
    if f.use_rollup():
        whole_days = f.end <= today  # a range ending before today: its last day is whole too
        params.update({"project": f.project, "d_from": f.since.date().isoformat(),
                       "d_to": (f.end.date() if whole_days else today.date() - timedelta(days=1)).isoformat()})
        parts.append(f"""
            SELECT session_id, user_id, turns, first_seen, last_seen, llm_calls, tokens, cost, errors, routes
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
               sum(tokens) AS tokens, round(sum(cost), 6) AS cost_usd, sum(errors) AS errors,
               arraySort(groupUniqArrayArray(routes)) AS routes
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
