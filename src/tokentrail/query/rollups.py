"""Keeping rollups right: recompute the minutes (and user-hours) each insert touched,
from deduplicated spans, so rollups never double count re-sent data."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from tokentrail.storage.backend import Store
from tokentrail.storage.rollup_tables import LATENCY_BUCKETS_MS, QUANTILES

MODEL = "if(response_model != '', response_model, request_model)"


def _buckets(expr: str) -> str:
    parts = [f"countIf({expr} <= {b})" for b in LATENCY_BUCKETS_MS]
    return "[" + ", ".join(parts + [f"countIf({expr} IS NOT NULL)"]) + "]"


def _ts(t: datetime) -> str:
    return t.replace(tzinfo=None).isoformat(sep=" ")


def _in_minutes(minutes: list[datetime]) -> str:
    return "(" + ", ".join(f"'{m:%Y-%m-%d %H:%M:%S}'" for m in minutes) + ")"


def touched_minutes(store: Store, version: datetime) -> list[tuple[str, datetime]]:
    """(project, minute) pairs holding rows of the insert stamped ``version``."""
    rows = store.query(f"""
        SELECT project, toStartOfMinute(start_time) AS minute FROM {store.database}.spans
        WHERE ingested_at = {{v:DateTime64(3)}} GROUP BY project, minute""", {"v": _ts(version)})
    return [(r["project"], datetime.fromisoformat(r["minute"])) for r in rows]


def minutes_in_range(store: Store, project: str, since: datetime, until: datetime) -> list[tuple[str, datetime]]:
    rows = store.query(f"""
        SELECT DISTINCT toStartOfMinute(start_time) AS minute FROM {store.database}.spans
        WHERE project = {{p:String}} AND start_time >= {{a:DateTime64(6)}} AND start_time < {{b:DateTime64(6)}}""",
                       {"p": project, "a": _ts(since), "b": _ts(until)})
    return [(project, datetime.fromisoformat(r["minute"])) for r in rows]


def refresh(store: Store, touched: set[tuple[str, datetime]]) -> int:
    """Recompute the rollups of ``touched`` (project, minute) pairs; return rows written."""
    by_project: dict[str, set[datetime]] = defaultdict(set)
    for project, minute in touched:
        by_project[project].add(minute)
    written = 0
    for project, minutes in by_project.items():
        ordered = sorted(minutes)
        for i in range(0, len(ordered), 2000):
            chunk = ordered[i:i + 2000]
            written += _refresh_minutes(store, project, chunk)
        hours = sorted({m.replace(minute=0) for m in ordered})
        for i in range(0, len(hours), 500):
            _refresh_hours(store, project, hours[i:i + 500])
    return written


def _refresh_minutes(store: Store, project: str, minutes: list[datetime]) -> int:
    db = store.database
    params = {"p": project, "lo": _ts(minutes[0]), "hi": _ts(minutes[-1] + timedelta(minutes=1))}
    store.command(f"""
        INSERT INTO {db}.rollup_minute
        SELECT project, toStartOfMinute(start_time) AS minute, kind, route, provider, {MODEL} AS model,
               environment, release, status, http_status, error_type,
               count(), countIf(streamed), countIf(cache_hit), countIf(schema_valid IS NOT NULL),
               countIf(schema_valid = true), sum(input_tokens), sum(output_tokens), sum(cached_input_tokens),
               sum(reasoning_tokens), sum(coalesce(total_cost, 0)),
               countIf(total_cost IS NULL AND status = 'ok' AND kind IN ('llm', 'embedding')),
               sum(duration_ms),
               quantilesTDigestState({QUANTILES})(duration_ms),
               quantilesTDigestStateIf({QUANTILES})(assumeNotNull(ttft_ms), ttft_ms IS NOT NULL),
               quantilesTDigestStateIf({QUANTILES})(
                   (duration_ms - assumeNotNull(ttft_ms)) / greatest(output_tokens - 1, 1),
                   ttft_ms IS NOT NULL AND output_tokens > 1),
               quantilesTDigestStateIf({QUANTILES})(toFloat64(output_tokens), kind = 'llm' AND status = 'ok'),
               {_buckets('duration_ms')}, {_buckets('ttft_ms')},
               now64(3)
        FROM {db}.spans FINAL
        WHERE project = {{p:String}} AND start_time >= {{lo:DateTime64(6)}} AND start_time < {{hi:DateTime64(6)}}
          AND toStartOfMinute(start_time) IN {_in_minutes(minutes)}
        GROUP BY project, minute, kind, route, provider, model, environment, release, status, http_status,
                 error_type""", params)
    return len(minutes)


def _refresh_hours(store: Store, project: str, hours: list[datetime]) -> None:
    db = store.database
    params = {"p": project, "lo": _ts(hours[0]), "hi": _ts(hours[-1] + timedelta(hours=1))}
    store.command(f"""
        INSERT INTO {db}.rollup_hour_user
        SELECT project, toStartOfHour(start_time) AS hour, user_id, customer, route, {MODEL} AS model,
               count(), countIf(status = 'error'), sum(input_tokens), sum(output_tokens),
               sum(coalesce(total_cost, 0)), uniqState(session_id), now64(3)
        FROM {db}.spans FINAL
        WHERE project = {{p:String}} AND start_time >= {{lo:DateTime64(6)}} AND start_time < {{hi:DateTime64(6)}}
          AND toStartOfHour(start_time) IN {_in_minutes(hours)} AND kind IN ('llm', 'embedding')
        GROUP BY project, hour, user_id, customer, route, model""", params)


class RollupQueue:
    """Minutes touched since the last refresh (filled after each insert, drained by a job)."""

    def __init__(self) -> None:
        self._pending: set[tuple[str, datetime]] = set()
        self._lock = threading.Lock()

    def add(self, items: list[tuple[str, datetime]]) -> None:
        with self._lock:
            self._pending.update(items)

    def drain(self) -> set[tuple[str, datetime]]:
        with self._lock:
            out, self._pending = self._pending, set()
        return out

    def __len__(self) -> int:
        return len(self._pending)


def stats(store: Store) -> dict[str, Any]:
    rows = store.query(f"SELECT count() AS rows, max(version) AS newest FROM {store.database}.rollup_minute")
    return rows[0] if rows else {}
