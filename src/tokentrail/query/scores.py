"""Scores linked to a trace or span."""

from __future__ import annotations

from typing import Any

from tokentrail.storage.backend import Store


def for_trace_or_span(store: Store, project: str, trace_id: str = "", span_id: str = "") -> list[dict[str, Any]]:
    cond = []
    if trace_id:
        cond.append("trace_id = {t:String}")
    if span_id:
        cond.append("span_id = {s:String}")
    if not cond:
        return []
    return store.query(f"""
        SELECT score_id, trace_id, span_id, name, value, label, source, comment, user_id, timestamp
        FROM {store.database}.scores FINAL
        WHERE project = {{p:String}} AND ({' OR '.join(cond)})
        ORDER BY timestamp""", {"p": project, "t": trace_id.lower(), "s": span_id.lower()})
