"""Good and bad calls over several windows ending at one moment, in one pass: what SLO burn-rate
alerts read. Bad is an error (availability SLO) or a call slower than a threshold (latency / TTFT)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from tokentrail.query.filters import Filters, _naive_utc
from tokentrail.storage.backend import Store

BAD = {
    "availability": "status = 'error'",
    "latency": "duration_ms > {threshold:Float64}",
    "ttft": "ttft_ms IS NOT NULL AND ttft_ms > {threshold:Float64}",
}
ELIGIBLE = {"availability": "1", "latency": "status != 'error'", "ttft": "ttft_ms IS NOT NULL"}


def window_counts(store: Store, project: str, equals: dict[str, str], windows: list[timedelta], now: datetime,
                  slo: str = "availability", threshold_ms: float | None = None) -> dict[timedelta, tuple[int, int]]:
    """{window: (bad, total)} for each window ending at ``now``. Latency and TTFT SLOs count only the
    calls they can judge (a failed call has no meaningful latency; a call without TTFT is not streamed)."""
    longest = max(windows)
    f = Filters(project=project, since=now - longest, until=now, equals=dict(equals))
    where, params = f.where(rollup=False)
    cols = []
    for i, w in enumerate(windows):
        params[f"s{i}"] = _naive_utc(now - w)
        inside = f"start_time >= {{s{i}:DateTime64(6)}} AND {ELIGIBLE[slo]}"
        cols.append(f"countIf({inside}) AS total_{i}, countIf({inside} AND {BAD[slo]}) AS bad_{i}")
    if threshold_ms is not None:
        params["threshold"] = float(threshold_ms)
    row: dict[str, Any] = store.query(
        f"SELECT {', '.join(cols)} FROM {store.database}.spans FINAL WHERE {where}", params)[0]
    return {w: (int(row[f"bad_{i}"]), int(row[f"total_{i}"])) for i, w in enumerate(windows)}
