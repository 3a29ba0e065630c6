"""Users and customers: who uses and who costs most (raw for about a day; beyond, the daily
user rollup, whose first day is whole: a "7 days" view counts from midnight UTC)."""

from __future__ import annotations

from typing import Any

from tokentrail.errors import BadRequest
from tokentrail.query.filters import Filters, array_param
from tokentrail.storage.backend import Store

ORDERS = {"cost": "cost_usd", "requests": "requests", "tokens": "tokens", "errors": "errors"}
# the cost of spans_by_user rows, summed as integers (``cost_pico``: 1e-12 USD a unit, so a sum of a month's
# calls is exact to far below the 6 decimals shown), and the successful calls without a price, from that column
PEOPLE_COST = "sumIf(cost_pico, cost_pico > 0) / 1e12"
PEOPLE_UNPRICED = "countIf(cost_pico < 0)"  # successful calls without a price (-1)
# the top users' granules only, FINAL or not: every version of a row has the same user (a key column), so a
# granule the user-key index skips holds no version of their rows (FINAL's exact mode would read them all)
_BY_KEY = "SETTINGS use_skip_indexes_if_final_exact_mode = 0"


def names_of(store: Store, f: Filters, keys: list[int], sums: str = "") -> dict[int, dict[str, Any]]:
    """The user id of each of ``keys`` (``spans_by_user.user_key``; 0: no user, '') as ``name``, and with
    ``sums`` (SQL) those of that user's calls under ``f``: read from those users' granules (``idx_user_key``)."""
    if not keys:
        return {}
    if sums:
        where, params = f.where()
    else:
        where, params = "project = {project:String}", {"project": f.project}
    rows = store.query(f"""
        SELECT user_key AS k, any(user_id) AS name{f", {sums}" if sums else ""}
        FROM {f.span_source(store.database, people=True)} WHERE {where} AND user_key IN {{uk:Array(UInt64)}}
        GROUP BY k {_BY_KEY}""", {**params, "uk": "[" + ",".join(str(int(k)) for k in keys) + "]"})
    return {int(r.pop("k")): r for r in rows}


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
    else:  # every LLM call's narrow columns, in spans_by_user
        rows = _raw_leaderboard(store, f, by, order, limit, offset)
        source = "raw"
    for row in rows:  # a call without a price has no known cost: in neither side of the average
        priced = int(row["requests"]) - int(row["unpriced"])
        row["cost_per_request"] = round(row["cost_usd"] / priced, 8) if priced > 0 else None
    return {"by": by, "source": source, "rows": rows, "limit": limit, "offset": offset}


def _raw_leaderboard(store: Store, f: Filters, by: str, order: str, limit: int, offset: int) -> list[dict[str, Any]]:
    """The leaderboard from ``spans_by_user``. Customers, and users under a person filter (a few granules): one
    pass. Users over every call of the range: grouped by hashed key on the order's figure alone (numbers: a
    route filter over a month of 10M calls 590 -> ~190 ms for that pass), the top ones kept with every user
    tied with the last; then their names and every figure from their granules only; ordered by name among
    ties and cut to the page here."""
    where, params = f.where()
    sums = {"requests": "count()", "tokens": "sum(input_tokens) + sum(output_tokens)",
            "cost_usd": f"round({PEOPLE_COST}, 6)",
            "unpriced": PEOPLE_UNPRICED,
            "errors": "countIf(status = 'error')", "last_seen": "max(start_time)",
            "sessions": "uniqIf(session_id, session_id != '')"}
    every = ", ".join(f"{sql} AS {name}" for name, sql in sums.items())
    source = f.span_source(store.database, people=True)
    if by == "customer" or f.by_person():
        col = "customer" if by == "customer" else "user_id"
        return store.query(f"""
            SELECT {col} AS key, {every} FROM {source} WHERE {where} AND {col} != ''
            GROUP BY key ORDER BY {ORDERS[order]} DESC, key LIMIT {int(limit)} OFFSET {int(offset)}""", params)
    top = store.query(f"""
        SELECT user_key AS k, {sums[ORDERS[order]]} AS v FROM {source} WHERE {where} AND user_key != 0
        GROUP BY k ORDER BY v DESC LIMIT {int(offset) + int(limit)} WITH TIES""", params)
    found = names_of(store, f, [int(r["k"]) for r in top], every)
    rows = [{"key": r.pop("name"), **r} for r in found.values()]
    rows.sort(key=lambda r: (-r[ORDERS[order]], r["key"]))
    return rows[offset:offset + limit]
