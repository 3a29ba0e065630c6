"""Users and customers: who uses and who costs most (raw for about a day; beyond, the daily
user rollup, whose first day is whole: a "7 days" view counts from midnight UTC)."""

from __future__ import annotations

from typing import Any

from tokentrail.errors import BadRequest
from tokentrail.query.filters import Filters, array_param
from tokentrail.storage.backend import Store

ORDERS = {"cost": "cost_usd", "requests": "requests", "tokens": "tokens", "errors": "errors"}


def rollup_answers(f: Filters) -> bool:
    """The per-user daily rollup answers long ranges filtered by environment at most."""
    return f.use_rollup() and not set(f.equals) - {"environment"}


def rollup_where(f: Filters, col: str) -> tuple[str, dict[str, Any]]:
    """Condition on the per-user daily rollup (its first and last days whole) for rows with a ``col``."""
    params = {"project": f.project, "since": f.since.replace(tzinfo=None).isoformat(sep=" "),
              "until": f.end.replace(tzinfo=None).isoformat(sep=" "), "env": f.equals.get("environment", "")}
    env = " AND environment = {env:String}" if "environment" in f.equals else ""
    return (f"project = {{project:String}} AND day >= toDate({{since:DateTime64(6)}}) "
            f"AND day <= toDate({{until:DateTime64(6)}}) AND {col} != ''{env}"), params


def leaderboard(store: Store, f: Filters, by: str = "user", order: str = "cost", limit: int = 50,
                offset: int = 0) -> dict[str, Any]:
    """Users (or customers) by ``order``, ties by name: a page of ``limit`` from ``offset``."""
    if by not in ("user", "customer"):
        raise BadRequest("by must be user or customer")
    if order not in ORDERS:
        raise BadRequest(f"order must be one of {', '.join(ORDERS)}")
    col = "user_id" if by == "user" else "customer"
    if rollup_answers(f):
        where, params = rollup_where(f, col)
        # two steps: the top keys by one sum (a narrow GROUP BY over every user-day), then the
        # other sums and the distinct sessions of those keys only (merging sketches is the slow part)
        order_sql = {"cost": "sum(cost)", "requests": "sum(requests)", "errors": "sum(errors)",
                     "tokens": "sum(input_tokens) + sum(output_tokens)"}[order]
        keys = [r["key"] for r in store.query(f"""
            SELECT {col} AS key, {order_sql} AS v FROM {f.day_source(store.database, "rollup_day_user")} WHERE {where}
            GROUP BY key ORDER BY v DESC, key LIMIT {int(limit)} OFFSET {int(offset)}""", params)]
        rows = store.query(f"""
            SELECT {col} AS key, sum(requests) AS requests, sum(input_tokens) + sum(output_tokens) AS tokens,
                   round(sum(cost), 6) AS cost_usd, sum(unpriced) AS unpriced, sum(errors) AS errors,
                   max(last_seen) AS last_seen,
                   uniqMerge(sessions) AS sessions
            FROM {f.day_source(store.database, "rollup_day_user")} WHERE {where} AND {col} IN {{keys:Array(String)}}
            GROUP BY key ORDER BY {ORDERS[order]} DESC, key""", dict(params, keys=array_param(keys))) if keys else []
        source = "rollup"
    else:  # every LLM call's narrow columns, in spans_by_user: a route filter over a month 883 -> 517 ms
        where, params = f.where()
        rows = store.query(f"""
            SELECT {col} AS key, count() AS requests, uniqIf(session_id, session_id != '') AS sessions,
                   sum(input_tokens) + sum(output_tokens) AS tokens,
                   round(sum(coalesce(total_cost, 0)), 6) AS cost_usd,
                   countIf(total_cost IS NULL AND status = 'ok' AND kind IN ('llm', 'embedding')) AS unpriced,
                   countIf(status = 'error') AS errors,
                   max(start_time) AS last_seen
            FROM {f.span_source(store.database, people=True)}
            WHERE {where} AND {col} != ''
            GROUP BY key ORDER BY {ORDERS[order]} DESC, key LIMIT {int(limit)} OFFSET {int(offset)}""", params)
        source = "raw"
    for row in rows:  # a call without a price has no known cost: in neither side of the average
        priced = int(row["requests"]) - int(row["unpriced"])
        row["cost_per_request"] = round(row["cost_usd"] / priced, 8) if priced > 0 else None
    return {"by": by, "source": source, "rows": rows, "limit": limit, "offset": offset}
