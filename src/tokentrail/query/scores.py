"""Scores linked to a trace or span, the spans a request id names, and the scores of a time range."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from tokentrail.query.filters import Filters, array_param
from tokentrail.storage.backend import Store

SCORE_SLACK = timedelta(days=1)  # a score is made after its trace starts: its trace may start a day before it
# Up to this many days (any range for a person's scores) a range's scores are read from the table's copy
# sorted by time (``by_time``) and each score's newest version found by grouping that range alone; a longer
# range holds most of the table, which FINAL merges faster than a grouping by id (10M calls, 1M scores:
# 7 days 43 vs 125 ms, 30 days 148 vs 88 ms).
GROUPED_MAX_DAYS = 8.0
SCORE_COLUMNS = ("score_id", "trace_id", "span_id", "name", "value", "label", "source", "comment", "user_id",
                 "timestamp")


def naive(t: datetime) -> str:
    return t.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def filtered_by(f: Filters) -> list[str]:
    """The filters of ``f`` that the scores of its range follow. Scores carry no route, model or release: with a
    user, customer or session filter they are those of that person's traces matching every filter (so a route
    filter narrows them too); without one, the filters leave them as they are (the whole project)."""
    return sorted(f.equals) if f.by_person() else []


def person_traces(store: Store, f: Filters) -> tuple[str, dict[str, Any]]:
    """SQL condition on ``trace_id`` (and its parameters): under a user, customer or session filter, a trace
    of that person with a span in ``f``'s range or the ``SCORE_SLACK`` before it; else always true."""
    if not f.by_person():
        return "1", {}
    g = replace(f, since=f.since - SCORE_SLACK)
    where, params = g.where(llm_only=False)
    return f"trace_id IN (SELECT trace_id FROM {g.span_source(store.database, llm_only=False)} WHERE {where})", params


def in_range(store: Store, f: Filters, columns: tuple[str, ...] = SCORE_COLUMNS,
             people: bool = True) -> tuple[str, dict[str, Any]]:
    """FROM-clause source of the scores made in ``f``'s range (``columns`` of each one's newest version) and its
    parameters (named ``sc_...``). Under a user, customer or session filter (and ``people``), only the scores
    of that person's traces (``person_traces``)."""
    db = store.database
    params: dict[str, Any] = {"sc_project": f.project, "sc_since": naive(f.since), "sc_until": naive(f.end)}
    where = ("project = {sc_project:String} AND timestamp >= {sc_since:DateTime64(3)} "
             "AND timestamp < {sc_until:DateTime64(3)}")
    mine = people and f.by_person()
    if mine:
        cond, more = person_traces(store, f)
        where += f" AND {cond}"
        params.update(more)
    # a person's scores are few whatever the range: grouping them beats FINAL over every part of the table
    # (a user's month: 108 -> 52 ms)
    if f.hours > GROUPED_MAX_DAYS * 24 and not mine:
        return f"(SELECT {', '.join(columns)} FROM {db}.scores FINAL WHERE {where})", params
    picked = newest(db, where, tuple(c for c in columns if c != "trace_id"), "trace_id", "v_")
    renamed = ", ".join("trace_id" if c == "trace_id" else f"v_{c} AS {c}" for c in columns)
    return f"(SELECT {renamed} FROM ({picked}))", params


def newest(db: str, where: str, columns: tuple[str, ...], key: str = "trace_id", prefix: str = "s_") -> str:
    """SELECT of each score's newest version (by ``ingested_at``) among the scores matching ``where``: ``key``
    (trace_id, or span_id for scores sent with only a span id) and ``columns`` named ``prefix`` + column.
    Grouping only those scores is far cheaper than FINAL, which merges every score of the project whatever
    the range (a score's key is its trace and id; the id hashed: grouping 64-bit numbers instead of strings
    halves the time, and only two ids of one trace could collide)."""
    picked = ", ".join(f"argMax({c}, ingested_at) AS {prefix}{c}" for c in columns)
    return f"SELECT {key}, {picked} FROM {db}.scores WHERE {where} GROUP BY {key}, cityHash64(score_id)"


def for_trace_or_span(store: Store, project: str, trace_id: str = "", span_id: str = "") -> list[dict[str, Any]]:
    """Scores of a trace (including those sent with only a span or request id of one of its spans,
    e.g. the gateway's ``X-Tokentrail-Request-Id`` before the span was stored) or of one span."""
    cond = []
    if trace_id:
        cond.append("trace_id = {t:String}")
        cond.append(f"(trace_id = '' AND span_id IN (SELECT span_id FROM {store.database}.spans "
                    "WHERE project = {p:String} AND trace_id = {t:String}))")
    if span_id:
        cond.append("span_id = {s:String}")
    if not cond:
        return []
    return store.query(f"""
        SELECT score_id, trace_id, span_id, name, value, label, source, comment, user_id, timestamp
        FROM {store.database}.scores FINAL
        WHERE project = {{p:String}} AND ({' OR '.join(cond)})
        ORDER BY timestamp""", {"p": project, "t": trace_id.lower(), "s": span_id.lower()})


def traces_of_spans(store: Store, project: str, span_ids: list[str]) -> dict[str, str]:
    """span id -> trace id, for the ``span_ids`` stored in ``project`` (the span-id bloom filter)."""
    if not span_ids:
        return {}
    rows = store.query(f"""
        SELECT span_id, any(trace_id) AS trace_id FROM {store.database}.spans
        WHERE project = {{p:String}} AND span_id IN (SELECT arrayJoin({{ids:Array(String)}})) GROUP BY span_id""",
                       {"p": project, "ids": array_param(sorted({s.lower() for s in span_ids}))})
    return {r["span_id"]: r["trace_id"] for r in rows}
