"""Spend over days and weeks, and against the budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tokentrail.query.filters import Filters
from tokentrail.storage.backend import Store


def _source(store: Store, f: Filters) -> tuple[str, str, str, dict[str, Any]]:
    """The rollup (kept forever) unless a filter needs raw spans (user, session, customer: those read
    spans_by_user, sorted by them)."""
    if f.rollup_possible():
        where, params = f.where(rollup=True)
        return f.rollup_source(store.database), f.rollup_time(), where, params
    where, params = f.where()
    return f.span_source(store.database), "start_time", where, params


def daily(store: Store, f: Filters) -> list[dict[str, Any]]:
    """Cost and requests per UTC day."""
    table, t, where, params = _source(store, f)
    cost, requests = ("sum(cost)", "sum(requests)") if t != "start_time" else ("sum(coalesce(total_cost, 0))", "count()")
    return store.query(f"""
        SELECT toDate({t}) AS day, round({cost}, 6) AS cost_usd, {requests} AS requests,
               sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens
        FROM {table} WHERE {where}
        GROUP BY day ORDER BY day""", params)


def weekly(store: Store, f: Filters) -> list[dict[str, Any]]:
    """Cost and requests per week (starting Monday, UTC)."""
    table, t, where, params = _source(store, f)
    cost, requests = ("sum(cost)", "sum(requests)") if t != "start_time" else ("sum(coalesce(total_cost, 0))", "count()")
    return store.query(f"""
        SELECT toMonday({t}) AS week, round({cost}, 6) AS cost_usd, {requests} AS requests
        FROM {table} WHERE {where}
        GROUP BY week ORDER BY week""", params)


def budget(store: Store, project: str, daily_budget: float) -> dict[str, Any]:
    """Today's and this month's spend against a daily budget, and the month's projection."""
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    f = Filters(project=project, since=month_start)
    days = {d["day"]: d["cost_usd"] for d in daily(store, f)}
    today = days.get(now.date().isoformat(), 0.0)
    mtd = round(sum(days.values()), 6)
    elapsed_days = (now - month_start).total_seconds() / 86400
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    month_days = (next_month - month_start).days
    projected = round(mtd / elapsed_days * month_days, 2) if elapsed_days > 0 else None
    return {"daily_budget_usd": daily_budget or None, "today_usd": today, "month_to_date_usd": mtd,
            "projected_month_usd": projected,
            "month_budget_usd": round(daily_budget * month_days, 2) if daily_budget else None,
            "today_ratio": round(today / daily_budget, 4) if daily_budget else None}
