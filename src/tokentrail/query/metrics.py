"""Health, cost and usage metrics: one definition per metric, for raw spans and rollups.

``summary``, ``timeseries`` and ``breakdown`` pick the source (raw spans for about a
day, the per-minute rollup beyond) and return plain JSON-able dicts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tokentrail.errors import BadRequest
from tokentrail.query import users
from tokentrail.query.filters import DIMENSIONS, FILTER_ONLY, Filters, array_param
from tokentrail.storage.backend import Store
from tokentrail.storage.rollup_tables import SKETCH, SKETCH_ARGS

_TIMEOUT = "(http_status IN (408, 504) OR positionCaseInsensitive(error_type, 'timeout') > 0)"

# metric -> (raw spans expression, rollup_minute expression)
METRICS: dict[str, tuple[str, str]] = {
    "requests": ("count()", "sum(requests)"),
    "errors": ("countIf(status = 'error')", "sumIf(requests, status = 'error')"),
    "rate_limited": ("countIf(http_status = 429)", "sumIf(requests, http_status = 429)"),
    "timeouts": (f"countIf({_TIMEOUT})", f"sumIf(requests, {_TIMEOUT})"),
    "input_tokens": ("sum(input_tokens)", "sum(input_tokens)"),
    "output_tokens": ("sum(output_tokens)", "sum(output_tokens)"),
    "cached_input_tokens": ("sum(cached_input_tokens)", "sum(cached_input_tokens)"),
    "cost_usd": ("sum(coalesce(total_cost, 0))", "sum(cost)"),
    "unpriced": ("countIf(total_cost IS NULL AND status = 'ok' AND kind IN ('llm', 'embedding'))", "sum(unpriced)"),
    "streamed": ("countIf(streamed)", "sum(streamed)"),
    "cache_hits": ("countIf(cache_hit)", "sum(cache_hits)"),
    "schema_checked": ("countIf(schema_valid IS NOT NULL)", "sum(schema_checked)"),
    "schema_valid": ("countIf(schema_valid = true)", "sum(schema_valid)"),
    "latency_ms": (f"{SKETCH}({SKETCH_ARGS})(duration_ms)", f"{SKETCH}Merge({SKETCH_ARGS})(duration_q)"),
    "ttft_ms": (f"{SKETCH}If({SKETCH_ARGS})(assumeNotNull(ttft_ms), ttft_ms IS NOT NULL)",
                f"{SKETCH}Merge({SKETCH_ARGS})(ttft_q)"),
    "tpot_ms": (f"{SKETCH}If({SKETCH_ARGS})((duration_ms - assumeNotNull(ttft_ms)) / "
                "greatest(output_tokens - 1, 1), ttft_ms IS NOT NULL AND output_tokens > 1)",
                f"{SKETCH}Merge({SKETCH_ARGS})(tpot_q)"),
}
QUANTILE_METRICS = ("latency_ms", "ttft_ms", "tpot_ms")
# rate -> the counts it is derived from (the same derivation as ``_derive``)
RATES: dict[str, tuple[str, str]] = {
    "error_rate": ("errors", "requests"), "rate_limited_rate": ("rate_limited", "requests"),
    "timeout_rate": ("timeouts", "requests"), "cache_hit_rate": ("cache_hits", "requests"),
    "streamed_rate": ("streamed", "requests"),
    "cost_per_1k_requests": ("cost_usd", "requests"),  # x 1000, over priced calls (requests - unpriced)
    "schema_valid_rate": ("schema_valid", "schema_checked"),
}



def _select(names: list[str], rollup: bool) -> str:
    # aliases get a prefix: an alias named like a column would shadow it in other expressions
    return ", ".join(f"{METRICS[n][1 if rollup else 0]} AS m_{n}" for n in names)


def _unprefix(row: dict[str, Any]) -> dict[str, Any]:
    return {(k[2:] if k.startswith("m_") else k): v for k, v in row.items()}


def _derive(row: dict[str, Any]) -> dict[str, Any]:
    """Rates and percentiles from the raw sums (one place, so every view agrees)."""
    row = _unprefix(row)
    out = dict(row)
    n = row.get("requests") or 0
    for q in QUANTILE_METRICS:
        if q in row:
            values = list(row[q] or []) + [None] * 3
            out[q] = {p: (round(v, 1) if isinstance(v, int | float) and v == v else None)
                      for p, v in zip(("p50", "p95", "p99"), values[:3], strict=True)}
    if "cost_usd" in row:
        out["cost_usd"] = round(row["cost_usd"] or 0.0, 6)
        # per priced call: a call without a price has no known cost, so it counts in neither side
        priced = n - (row.get("unpriced") or 0)
        out["cost_per_1k_requests"] = round(1000 * out["cost_usd"] / priced, 6) if priced > 0 else None
    if "requests" not in row:
        out.pop("cost_per_1k_requests", None)
    for rate, (num, den) in RATES.items():
        if num in row and den in row and rate != "cost_per_1k_requests":
            out[rate] = round(row[num] / row[den], 4) if row[den] else None
    return out


def _table(store: Store, rollup: bool, f: Filters, dims: tuple[str, ...] = ()) -> str:
    return f.rollup_source(store.database, dims) if rollup else f.span_source(store.database)


def _whole_range(store: Store, rollup: bool, f: Filters, dims: tuple[str, ...], params: dict[str, Any]) -> str:
    """The source of a query over the whole range (no time buckets). Where the range reads the
    hourly rollup, its whole UTC days come from the daily rollup and only the hours at either
    end from the hourly one: a week reads ~10x fewer rows (quantile states to merge), with
    the same hour-aligned boundaries."""
    table = _table(store, rollup, f, dims)
    if not rollup or f.rollup_time(dims) != "hour":
        return table
    start = f.since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    first_day = start.replace(hour=0) + (timedelta(days=1) if start.hour else timedelta(0))
    end_day = f.end.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if end_day <= first_day:
        return table
    params.update({"d_lo": first_day.strftime("%Y-%m-%d %H:%M:%S"), "d_hi": end_day.strftime("%Y-%m-%d %H:%M:%S")})
    hours = f.rollup_table(dims)
    days = hours.replace("rollup_hour", "rollup_day")
    db = store.database
    # union by position: the daily rows' ``day`` lands in the hourly rows' ``hour`` column
    return f"""(
        SELECT * FROM {f.rollup_source(db, table=hours)}
        WHERE project = {{project:String}} AND (hour < {{d_lo:DateTime}} OR hour >= {{d_hi:DateTime}})
        UNION ALL
        SELECT * FROM {f.rollup_source(db, table=days)}
        WHERE project = {{project:String}} AND day >= {{d_lo:DateTime}} AND day < {{d_hi:DateTime}})"""


def _time_column(rollup: bool, f: Filters, dims: tuple[str, ...] = ()) -> str:
    return f.rollup_time(dims) if rollup else "start_time"


PEOPLE = "users"  # a summary name: distinct users and sessions (raw spans only: up to about a day)


def summary(store: Store, f: Filters, names: list[str] | None = None) -> dict[str, Any]:
    """Every metric over the range, with distinct users and sessions where raw spans answer it; or only
    ``names`` (a quantile merges a sketch per row read, the slowest part of a rollup read: a page asks
    only what it shows), ``PEOPLE`` among them for the distinct users and sessions."""
    unknown = [n for n in names or [] if n not in METRICS and n != PEOPLE]
    if unknown:
        raise BadRequest(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join([*METRICS, PEOPLE])}")
    rollup = f.use_rollup()
    where, params = f.where(rollup)
    source = _whole_range(store, rollup, f, (), params)
    # raw spans also give distinct users and sessions, in the same pass
    people = "" if rollup or (names and PEOPLE not in names) else (
        ", uniq(user_id) - (countIf(user_id = '') > 0) AS users, "
        "uniq(session_id) - (countIf(session_id = '') > 0) AS sessions")
    asked = [n for n in names or [] if n != PEOPLE]
    wanted = list(dict.fromkeys(["requests", *asked, *(["unpriced"] if "cost_usd" in asked else [])])) \
        if names else list(METRICS)
    rows = store.query(f"SELECT {_select(wanted, rollup)}{people} FROM {source} WHERE {where}", params)
    out = _derive(rows[0]) if rows else {}
    out["source"] = "rollup" if rollup else "raw"
    return out


def metric_names(metric: str | None) -> list[str] | None:
    """A ``metric`` query parameter (comma-separated names) as a list; none or empty: None (every metric)."""
    names = [m.strip() for m in (metric or "").split(",") if m.strip()]
    return names or None


# what the quality page shows of the summary: its schema-valid, cache-hit and request tiles
QUALITY_SUMMARY = ["requests", "input_tokens", "cached_input_tokens", "cache_hits", "schema_checked", "schema_valid"]


def auto_interval(hours: float) -> int:
    """Bucket width in seconds giving roughly 50-200 points."""
    for limit, seconds in ((1.5, 60), (6.5, 300), (26, 900), (24 * 3.5, 3600), (24 * 8, 3 * 3600),
                           (24 * 35, 6 * 3600)):
        if hours <= limit:
            return seconds
    return 86400


def _buckets(f: Filters, step: int) -> list[datetime]:
    start = datetime.fromtimestamp(int(f.since.timestamp()) // step * step, UTC)
    out = []
    t = start
    while t < f.end:
        out.append(t)
        t += timedelta(seconds=step)
    return out


def top_groups(store: Store, f: Filters, by: str, limit: int, order: str = "requests") -> list[str]:
    rollup = f.use_rollup()
    where, params = f.where(rollup, dims=(by,))
    expr = DIMENSIONS[by][1 if rollup else 0]
    if expr is None:
        raise BadRequest(f"{by} is not available for this range")
    rows = store.query(f"SELECT {expr} AS g, {METRICS[order][1 if rollup else 0]} AS m_v "
                       f"FROM {_table(store, rollup, f, (by,))} "
                       f"WHERE {where} GROUP BY g ORDER BY m_v DESC, g LIMIT {int(limit)}", params)
    return [r["g"] for r in rows]


def timeseries(store: Store, f: Filters, names: list[str], group_by: str | None = None, top: int = 8,
               step: int | None = None, total: bool = False) -> dict[str, Any]:
    """Each metric (or rate) per time bucket; buckets with no calls hold 0 (counts) or None. With ``total`` (no
    ``group_by``), also the metrics over the whole range (``total``, as ``summary`` gives them) from the same
    pass: a page that shows both merges each latency sketch once, not twice."""
    unknown = [n for n in names if n not in METRICS and n not in RATES]
    if unknown:
        raise BadRequest(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join([*METRICS, *RATES])}")
    if group_by is not None and (group_by not in DIMENSIONS or group_by in FILTER_ONLY):
        raise BadRequest(f"cannot group by {group_by!r}")
    step = step or auto_interval(f.hours)
    rollup = f.use_rollup()
    dims = (group_by,) if group_by else ()
    if rollup:  # a coarse rollup cannot place a call within its hour or day
        step = max(step, {"hour": 3600, "day": 86400}.get(f.rollup_time(dims), 60))
    where, params = f.where(rollup, dims=dims)
    time_col = _time_column(rollup, f, dims)
    base = [n for n in names if n in METRICS] + [x for n in names if n in RATES for x in RATES[n]]
    wanted = list(dict.fromkeys(base + ["requests"] + (["unpriced"] if "cost_per_1k_requests" in names else [])))
    group_sql = "'all'"
    groups: list[str] = []
    if group_by:
        groups = top_groups(store, f, group_by, top)
        expr = DIMENSIONS[group_by][1 if rollup else 0]
        params["groups"] = array_param(groups)
        group_sql = f"if({expr} IN {{groups:Array(String)}}, {expr}, 'other')"
    whole = total and not group_by
    rows = store.query(f"""
        SELECT toStartOfInterval({time_col}, INTERVAL {int(step)} SECOND) AS t, {group_sql} AS g,
               {_select(wanted, rollup)}{", grouping(t) AS whole" if whole else ""}
        FROM {_table(store, rollup, f, dims)} WHERE {where}
        GROUP BY {"GROUPING SETS ((t, g), ())" if whole else "t, g"} ORDER BY t""", params)
    totals = [r for r in rows if whole and r.pop("whole")]
    buckets = _buckets(f, step)
    index = {b.strftime("%Y-%m-%d %H:%M:%S"): i for i, b in enumerate(buckets)}
    rank = {g: i for i, g in enumerate(groups)}
    series: dict[str, dict[str, list[Any]]] = {}
    for row in rows:
        i = index.get(row["t"])
        if i is None:
            continue
        d = _derive(row)
        s = series.setdefault(row["g"], {n: [0 if n in METRICS else None] * len(buckets) for n in _flat(names)})
        for n in names:
            if n in QUANTILE_METRICS:
                for p in ("p50", "p95", "p99"):
                    s[f"{n}_{p}"][i] = d[n][p]
            else:
                s[n][i] = d[n]
    out: dict[str, Any] = {"total": _whole(totals, wanted, names)} if whole else {}
    return {"step_seconds": step, "source": "rollup" if rollup else "raw", **out,
            "timestamps": [b.isoformat().replace("+00:00", "Z") for b in buckets],
            # the top groups in their order (largest first), then "other": never the order rows came in
            "series": [{"group": g, "metrics": m} for g, m in sorted(
                series.items(), key=lambda kv: (kv[0] == "other", rank.get(kv[0], len(rank)), kv[0]))]}


def _whole(totals: list[dict[str, Any]], wanted: list[str], names: list[str]) -> dict[str, Any]:
    """The range's ``names`` from the grouping sets' total row (none when no call matched: zeros and Nones)."""
    row = totals[0] if totals else {f"m_{n}": ([] if n in QUANTILE_METRICS else 0) for n in wanted}
    d = _derive({k: v for k, v in row.items() if k.startswith("m_")})
    return {n: d.get(n) for n in dict.fromkeys([*wanted, *names])}


def _flat(names: list[str]) -> list[str]:
    out = []
    for n in names:
        out += [f"{n}_{p}" for p in ("p50", "p95", "p99")] if n in QUANTILE_METRICS else [n]
    return out


BREAKDOWN_METRICS = ("requests", "errors", "rate_limited", "timeouts", "input_tokens", "output_tokens", "cost_usd",
                     "unpriced", "latency_ms", "ttft_ms")
# what the per-user daily rollup can answer for a user or customer breakdown over a long range
_USER_ROLLUP = {"requests": "sum(requests)", "errors": "sum(errors)", "input_tokens": "sum(input_tokens)",
                "output_tokens": "sum(output_tokens)", "cost_usd": "sum(cost)", "unpriced": "sum(unpriced)"}


def breakdown(store: Store, f: Filters, by: str, limit: int = 20, order: str = "cost_usd",
              names: list[str] | None = None) -> dict[str, Any]:
    """``names`` (default: all of BREAKDOWN_METRICS) per value of ``by``, the top ``limit`` by
    ``order``. Ask only for what is shown: each quantile metric merges a sketch per row read."""
    if by not in DIMENSIONS or by in FILTER_ONLY:
        raise BadRequest(f"cannot break down by {by!r}; use one of {', '.join(set(DIMENSIONS) - FILTER_ONLY)}")
    if order not in METRICS or order in QUANTILE_METRICS:
        raise BadRequest(f"cannot order by {order!r}")
    names = list(BREAKDOWN_METRICS if not names else names)
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise BadRequest(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(METRICS)}")
    # unpriced: the cost per 1,000 calls counts priced calls only
    names = list(dict.fromkeys(["requests", "cost_usd", "unpriced", order, *names]))
    if by in ("user", "customer") and users.rollup_answers(f) and order in _USER_ROLLUP:
        return _user_breakdown(store, f, by, limit, order, names)
    if by in ("user", "customer"):
        return _people_breakdown(store, f, by, limit, order, names)
    rollup = f.use_rollup() and DIMENSIONS[by][1] is not None
    dims = (by,)
    where, params = f.where(rollup, dims=dims)
    expr = DIMENSIONS[by][1 if rollup else 0]
    source = _whole_range(store, rollup, f, dims, params)
    if by == "model_family":
        return _family_breakdown(store, rollup, source, where, params, limit, order, names)
    rows = store.query(f"""
        SELECT {expr} AS key, {_select(names, rollup)}, sum(m_cost_usd) OVER () AS all_cost
        FROM {source} WHERE {where}
        GROUP BY key ORDER BY m_{order} DESC, m_requests DESC LIMIT {int(limit)}""", params)
    return {"by": by, "source": "rollup" if rollup else "raw", "rows": _shares(rows)}


def _family_breakdown(store: Store, rollup: bool, source: str, where: str, params: dict[str, Any], limit: int,
                      order: str, names: list[str]) -> dict[str, Any]:
    """By model family, each family with its ``versions``: the models seen in it (as reported, e.g.
    gpt-4o-mini and gpt-4o-mini-2024-07-18), each with the same metrics. One pass: GROUPING SETS give
    the families' own totals (their quantiles merged over every version) and the versions'."""
    family, model = DIMENSIONS["model_family"][1 if rollup else 0], DIMENSIONS["model"][1 if rollup else 0]
    rows = store.query(f"""
        SELECT {family} AS key, {model} AS g_model, grouping(g_model) AS g_whole, {_select(names, rollup)},
               sum(if(g_whole = 1, m_cost_usd, 0)) OVER () AS all_cost
        FROM {source} WHERE {where}
        GROUP BY GROUPING SETS ((key, g_model), (key))""", params)

    def rank(r: dict[str, Any]) -> tuple[Any, ...]:
        return -(r[f"m_{order}"] or 0), -(r["m_requests"] or 0), r["key"] if r["g_whole"] else r["g_model"]

    families = sorted((r for r in rows if r["g_whole"]), key=rank)[:limit]
    versions: dict[str, list[dict[str, Any]]] = {}
    for r in sorted((r for r in rows if not r["g_whole"]), key=rank):
        versions.setdefault(r["key"], []).append({**r, "key": r["g_model"]})
    out = []
    for fam in _shares([_strip(r) for r in families]):
        fam["versions"] = _shares([_strip(v) for v in versions.get(fam["key"], [])])
        out.append(fam)
    return {"by": "model_family", "source": "rollup" if rollup else "raw", "rows": out}


def _strip(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("g_model", "g_whole")}


def _shares(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        total_cost = r.pop("all_cost") or 0
        d = _derive(r)
        d["cost_share"] = round(d["cost_usd"] / total_cost, 4) if total_cost else None  # of the whole range
        out.append(d)
    return out


def _people_breakdown(store: Store, f: Filters, by: str, limit: int, order: str, names: list[str]) -> dict[str, Any]:
    """Users or customers from ``spans_by_user`` (every LLM call's narrow columns; under a route, model ...
    filter, every call of the range): grouped by the hashed user key or the customer's dictionary index, the
    cost summed as integers; the top users are named afterwards from their granules (``users.names_of``).
    Under a person filter (a few granules) users are grouped by name at once.
    A month of 10M calls under a route filter: the spans' strings and nullable costs 400 -> ~190 ms."""
    where, params = f.where()
    exprs = {**{n: METRICS[n][0] for n in names}, "cost_usd": users.PEOPLE_COST, "unpriced": users.PEOPLE_UNPRICED}
    select = ", ".join(f"{exprs[n]} AS m_{n}" for n in names)
    by_key = by == "user" and not f.by_person()
    rows = store.query(f"""
        SELECT {"customer" if by == "customer" else "user_key" if by_key else "user_id"} AS key, {select},
               sum(m_cost_usd) OVER () AS all_cost
        FROM {f.span_source(store.database, people=True)} WHERE {where}
        GROUP BY key ORDER BY m_{order} DESC, m_requests DESC LIMIT {int(limit)}""", params)
    if by_key:
        found = users.names_of(store, f, [int(r["key"]) for r in rows])
        for r in rows:
            r["key"] = found.get(int(r["key"]), {}).get("name", "")
    return {"by": by, "source": "raw", "rows": _shares(rows)}


def _user_breakdown(store: Store, f: Filters, by: str, limit: int, order: str, names: list[str]) -> dict[str, Any]:
    """Users or customers over a long range, from the per-user daily rollup (whose first day is
    whole). Metrics it does not keep come back as None."""
    col = "user_id" if by == "user" else "customer"
    where, params = users.rollup_where(f, col)
    kept = [n for n in names if n in _USER_ROLLUP]
    select = ", ".join(f"{_USER_ROLLUP[n]} AS m_{n}" for n in kept)
    rows = store.query(f"""
        SELECT {col} AS key, {select}, sum(m_cost_usd) OVER () AS all_cost
        FROM {f.day_source(store.database, "rollup_day_user")} WHERE {where}
        GROUP BY key ORDER BY m_{order} DESC, m_requests DESC LIMIT {int(limit)}""", params)
    out = _shares(rows)
    for d in out:
        for n in names:
            d.setdefault(n, None)
    return {"by": by, "source": "rollup", "rows": out}
