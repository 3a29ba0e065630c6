"""What one insert added, aggregated by the bounded label set of /metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tokentrail.query.rollups import MODEL, _buckets, _ts
from tokentrail.storage.backend import Store

LABELS = ("project", "route", "model", "provider", "kind", "status")


def aggregate_columns() -> str:
    """The sums and histograms /metrics keeps, as select columns (also read by ingest/batch_summary.py)."""
    return f"""count() AS requests, countIf(http_status = 429) AS rate_limited,
               sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
               sum(coalesce(total_cost, 0)) AS cost,
               countIf(total_cost IS NULL AND status = 'ok' AND kind IN ('llm', 'embedding')) AS unpriced,
               sum(duration_ms) AS duration_sum_ms, {_buckets('duration_ms')} AS latency_buckets,
               sum(coalesce(ttft_ms, 0)) AS ttft_sum_ms, {_buckets('ttft_ms')} AS ttft_buckets,
               countIf(attributes['tokentrail.truncated'] != '') AS truncated"""


def batch_aggregates(store: Store, version: datetime) -> list[dict[str, Any]]:
    return store.query(f"""
        SELECT project, route, {MODEL} AS model, provider, kind, status, {aggregate_columns()}
        FROM {store.database}.spans
        WHERE ingested_at = {{v:DateTime64(3)}}
        GROUP BY project, route, model, provider, kind, status""", {"v": _ts(version)})
