"""The price table in the store, and recomputing past costs after a price change.

Rows of every price version are kept in ``prices``; inserts join on the current
version, so a reload never leaves a moment with no prices.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

import pyarrow as pa

from tokentrail.pricing.cost import cost_sql
from tokentrail.pricing.models import model_key_sql
from tokentrail.pricing.reload import PriceBook
from tokentrail.storage.backend import Store
from tokentrail.storage.schema import SPANS

COST_COLUMNS = ("input_cost", "output_cost", "total_cost", "price_version", "ingested_at")


def sync_prices(store: Store, book: PriceBook, prune: bool = False) -> None:
    """Write the book's current version into the store (once per version)."""
    rows, version = book.snapshot()
    present = store.query(f"SELECT count() AS n FROM {store.database}.prices WHERE version = {{v:String}}",
                          {"v": version})
    if not present or present[0]["n"] == 0:
        table = pa.table({
            "model_key": [r.model_key for r in rows],
            "provider": [r.provider for r in rows],
            "effective_from": pa.array([datetime.combine(r.effective_from, time(), UTC) for r in rows],
                                       pa.timestamp("us", tz="UTC")),
            "input": pa.array([r.input for r in rows], pa.float64()),
            "output": pa.array([r.output for r in rows], pa.float64()),
            "cached_input": pa.array([r.cached_input for r in rows], pa.float64()),
            "cache_write": pa.array([r.cache_write for r in rows], pa.float64()),
            "source": [r.source for r in rows],
            "version": [version] * len(rows),
        })
        store.insert_arrow("prices", table)
    if prune:  # only at start: no insert is running with an older version then
        store.command(f"DELETE FROM {store.database}.prices WHERE version != {{v:String}}", {"v": version})


def priced_join(database: str, version: str, spans_alias: str = "n",
                ingested_at: str = "now64(3)") -> tuple[list[str], str]:
    """Cost column expressions (then ``ingested_at``) and the ASOF join clause pricing
    ``spans_alias`` rows."""
    input_cost, output_cost, total_cost = cost_sql(
        f"{spans_alias}.input_tokens", f"{spans_alias}.output_tokens",
        f"{spans_alias}.cached_input_tokens", f"{spans_alias}.cache_write_tokens",
        input_price="p.input", output_price="p.output", cached_input_price="p.cached_input",
        cache_write_price="p.cache_write")
    join = (f"ASOF LEFT JOIN (SELECT model_key, effective_from, input, output, cached_input, cache_write, version "
            f"FROM {database}.prices WHERE version = '{version}') AS p "
            f"ON {spans_alias}.model_key = p.model_key AND {spans_alias}.start_time >= p.effective_from")
    costs = [input_cost, output_cost, total_cost, "coalesce(p.version, '')", ingested_at]
    return costs, join


def recompute_costs(store: Store, book: PriceBook, project: str, since: datetime,
                    until: datetime) -> dict[str, Any]:
    """Re-price LLM calls in [since, until) with the current prices; newer rows replace older."""
    rows, version = book.snapshot()
    sync_prices(store, book)
    plain = [c for c in SPANS.column_names if c not in COST_COLUMNS]
    costs, join = priced_join(store.database, version, "n")
    model_key = model_key_sql("if(response_model != '', response_model, request_model)")
    params = {"project": project, "since": _naive(since), "until": _naive(until)}
    where = ("project = {project:String} AND start_time >= {since:DateTime64(6)} "
             "AND start_time < {until:DateTime64(6)} AND kind IN ('llm', 'embedding')")
    before = store.query(f"SELECT count() AS calls, sum(total_cost) AS cost, countIf(total_cost IS NULL) AS unpriced "
                         f"FROM {store.database}.spans FINAL WHERE {where}", params)[0]
    store.command(f"""
        INSERT INTO {store.database}.spans ({', '.join(plain + list(COST_COLUMNS))})
        SELECT {', '.join('n.' + c for c in plain)}, {', '.join(costs)}
        FROM (SELECT *, {model_key} AS model_key FROM {store.database}.spans FINAL WHERE {where}) AS n
        {join}
        SETTINGS join_use_nulls = 1""", params)
    after = store.query(f"SELECT count() AS calls, sum(total_cost) AS cost, countIf(total_cost IS NULL) AS unpriced "
                        f"FROM {store.database}.spans FINAL WHERE {where}", params)[0]
    return {"price_version": version, "calls": after["calls"], "cost_before": before["cost"],
            "cost_after": after["cost"], "unpriced_before": before["unpriced"], "unpriced_after": after["unpriced"]}


def _naive(t: datetime) -> str:
    return (t.astimezone(UTC) if t.tzinfo else t).replace(tzinfo=None).isoformat(sep=" ")
