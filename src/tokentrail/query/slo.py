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
    return window_counts_many(store, project, [(equals, windows, slo, threshold_ms)], now)[0]


Spec = tuple[dict[str, str], list[timedelta], str, float | None]  # equals, windows, slo, threshold_ms


def window_counts_many(store: Store, project: str, specs: list[Spec], now: datetime
                       ) -> list[dict[timedelta, tuple[int, int]]]:
    """``window_counts`` of several SLOs of one project (each with its own filters, windows and
    threshold) in one pass over the spans: the alert evaluator reads all its burn-rate rules at once."""
    longest = max(max(windows) for _, windows, _, _ in specs)
    where, params = Filters(project=project, since=now - longest, until=now).where(rollup=False, llm_only=False)
    cols = []
    for r, (equals, windows, slo, threshold_ms) in enumerate(specs):
        scope, scope_params = _prefixed(Filters(project=project, since=now - max(windows), until=now,
                                                equals=dict(equals)), f"r{r}_")
        params.update(scope_params)
        bad = BAD[slo].replace("{threshold:", f"{{r{r}_threshold:")
        if threshold_ms is not None:
            params[f"r{r}_threshold"] = float(threshold_ms)
        for i, w in enumerate(windows):
            params[f"r{r}_s{i}"] = _naive_utc(now - w)
            inside = f"start_time >= {{r{r}_s{i}:DateTime64(6)}} AND {scope} AND {ELIGIBLE[slo]}"
            cols.append(f"countIf({inside}) AS total_{r}_{i}, countIf({inside} AND {bad}) AS bad_{r}_{i}")
    row: dict[str, Any] = store.query(
        f"SELECT {', '.join(cols)} FROM {store.database}.spans FINAL WHERE {where}", params)[0]
    return [{w: (int(row[f"bad_{r}_{i}"]), int(row[f"total_{r}_{i}"])) for i, w in enumerate(windows)}
            for r, (_, windows, _, _) in enumerate(specs)]


def _prefixed(f: Filters, prefix: str) -> tuple[str, dict[str, Any]]:
    """``f.where()`` with its parameters renamed, so several scopes can sit in one query."""
    where, params = f.where(rollup=False)
    for name in sorted(params, key=len, reverse=True):
        where = where.replace("{" + name + ":", "{" + prefix + name + ":")
    return where, {prefix + k: v for k, v in params.items()}
