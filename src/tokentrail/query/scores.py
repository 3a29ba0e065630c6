"""Scores linked to a trace or span, and the spans a request id names."""

from __future__ import annotations

from typing import Any

from tokentrail.query.filters import array_param
from tokentrail.storage.backend import Store


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
