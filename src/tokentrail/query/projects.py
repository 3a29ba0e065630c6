"""Projects: which hold data, and which hold a given trace or session (for links opened in the wrong one)."""

from __future__ import annotations

from collections.abc import Iterable

from tokentrail.query.filters import array_param
from tokentrail.storage.backend import Store


def with_data(store: Store) -> list[str]:
    """Every project that holds calls (the rollups name each project that ever had one)."""
    rows = store.query(f"SELECT DISTINCT project FROM {store.database}.rollup_day UNION DISTINCT "
                       f"SELECT DISTINCT project FROM {store.database}.rollup_minute")
    return sorted(r["project"] for r in rows if r["project"])


def _holding(store: Store, column: str, value: str, among: Iterable[str] | None) -> list[str]:
    where = f"{column} = {{v:String}}"
    params: dict[str, str] = {"v": value}
    if among is not None:
        names = sorted(set(among))
        if not names:
            return []
        where += " AND project IN {among:Array(String)}"
        params["among"] = array_param(names)
    # the trace and session bloom filters of spans skip nearly every granule
    rows = store.query(f"SELECT DISTINCT project FROM {store.database}.spans WHERE {where} ORDER BY project", params)
    return [r["project"] for r in rows]


def holding_trace(store: Store, trace_id: str, among: Iterable[str] | None = None) -> list[str]:
    """The projects (of ``among``; None: any) that hold spans of ``trace_id``."""
    return _holding(store, "trace_id", trace_id.lower(), among)


def holding_session(store: Store, session_id: str, among: Iterable[str] | None = None) -> list[str]:
    """The projects (of ``among``; None: any) that hold spans of the session ``session_id``."""
    return _holding(store, "session_id", session_id, among)
