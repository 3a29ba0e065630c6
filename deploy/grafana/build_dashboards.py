"""Write the Grafana dashboards (dashboards/*.json) from the panel definitions below.

    python deploy/grafana/build_dashboards.py

The JSON files are committed; ``tests/grafana`` fails when they differ from what this
script writes, and runs every panel's SQL against the real engine. The metric
expressions come from ``tokentrail.query.metrics.METRICS`` (the ones the API and UI
use), so a number means the same thing in Grafana as in tokentrail.

SQL conventions (the ClickHouse data source plugin expands the macros):
- ``rollup_minute`` / ``rollup_day_user`` for everything over time (fast at any range),
  ``spans`` only in the deep-dive tables of traces and calls; every read uses FINAL.
- filters: ``project = ${project:singlequote}`` and, for the multi-value variables,
  ``$__conditionalAll(col IN (${var:singlequote}), $var)`` (``All`` becomes ``1=1``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tokentrail.query.filters import DIMENSIONS
from tokentrail.query.metrics import METRICS

OUT = Path(__file__).resolve().parent / "dashboards"
DS = {"type": "grafana-clickhouse-datasource", "uid": "${datasource}"}
LLM = "kind IN ('llm', 'embedding')"
NL = "\n"


def rollup(name: str) -> str:
    return METRICS[name][1]


def per(name: str) -> str:
    """A rollup metric as a rate of LLM calls (NULL when there were none)."""
    return f"{rollup(name)} / nullIf({rollup('requests')}, 0)"


def per_priced_1k(name: str) -> str:
    """A rollup metric per 1,000 priced LLM calls (calls without a price have no known cost: left out of
    the denominator as of the numerator; NULL when none was priced)."""
    return f"1000 * {rollup(name)} / nullIf({rollup('requests')} - {rollup('unpriced')}, 0)"


def finite(expr: str) -> str:
    """Quantiles of an empty state are NaN: show a gap instead."""
    return f"if(isFinite({expr}), {expr}, NULL)"


def any_of(column: str, var: str) -> str:
    return f"$__conditionalAll({column} IN (${{{var}:singlequote}}), ${var})"


def where(*parts: str) -> str:
    return "WHERE " + "\n  AND ".join(parts)


PROJECT = "project = ${project:singlequote}"
FILTERS = (any_of("route", "route"), any_of("model", "model"), any_of("environment", "environment"))
ROLLUP = "${database}.rollup_minute FINAL"
ROLLUP_WHERE = where(PROJECT, "$__timeFilter(minute)", LLM, *FILTERS)
USERS = "${database}.rollup_day_user FINAL"
# the daily user rollup has no route or model column: those filters do not apply to it
USERS_WHERE = where(PROJECT, "day >= toDate($__fromTime, 'UTC')", "day <= toDate($__toTime, 'UTC')", FILTERS[2])
SPANS = "${database}.spans FINAL"
RAW_MODEL = DIMENSIONS["model"][0]
RAW_FILTERS = (any_of("route", "route"), any_of(RAW_MODEL, "model"), any_of("environment", "environment"))
RAW_WHERE = where(PROJECT, "$__timeFilter(start_time)", LLM, *RAW_FILTERS)
BUCKET = "$__timeInterval(minute) AS time"
FILL = "ORDER BY time WITH FILL FROM toStartOfInterval($__fromTime, INTERVAL $__interval_s second) " \
       "TO $__toTime STEP $__interval_s"
PER_MIN = "($__interval_s / 60)"
TRACE_LINK = {"title": "Open the trace in tokentrail", "targetBlank": True,
              "url": "${tokentrail_url}/ui/traces/${__value.raw}?project=${project:percentencode}"}


# ---- panels -------------------------------------------------------------------------------------

def _target(sql: str, fmt: int) -> dict[str, Any]:
    return {"refId": "A", "datasource": DS, "editorType": "sql", "format": fmt,
            "queryType": "timeseries" if fmt == 0 else "table", "rawSql": sql}


def _panel(kind: str, title: str, desc: str, sql: str, pos: tuple[int, int, int, int], fmt: int,
           unit: str = "short", **extra: Any) -> dict[str, Any]:
    x, y, w, h = pos
    panel = {"type": kind, "title": title, "description": desc, "datasource": DS,
             "gridPos": {"x": x, "y": y, "w": w, "h": h}, "targets": [_target(sql.strip(), fmt)],
             "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}, "options": {}}
    for key, value in extra.items():
        if key in ("custom", "displayName", "min", "color"):
            panel["fieldConfig"]["defaults"][key] = value
        elif key == "overrides":
            panel["fieldConfig"]["overrides"] = value
        else:
            panel[key] = value
    return panel


def timeseries(title: str, desc: str, sql: str, pos: tuple[int, int, int, int], unit: str = "short",
               bars: bool = False, stacked: bool = False, label: str = "", **extra: Any) -> dict[str, Any]:
    custom = {"drawStyle": "bars" if bars else "line", "fillOpacity": 60 if bars else 10, "lineWidth": 1,
              "showPoints": "never", "spanNulls": False,
              "stacking": {"mode": "normal" if stacked else "none", "group": "A"}}
    if label:  # one series per value of a label column (long format)
        extra["displayName"] = f"${{__field.labels.{label}}}"
    options = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
               "tooltip": {"mode": "multi", "sort": "desc"}}
    return _panel("timeseries", title, desc, sql, pos, 0, unit, custom=custom, options=options,
                  interval="1m", **extra)


def table(title: str, desc: str, sql: str, pos: tuple[int, int, int, int], units: dict[str, str]) -> dict[str, Any]:
    overrides = [{"matcher": {"id": "byName", "options": name},
                  "properties": [{"id": "unit", "value": unit}]} for name, unit in units.items()]
    if "`Trace`" in sql:  # a trace id opens the trace in tokentrail's web UI
        overrides.append({"matcher": {"id": "byName", "options": "Trace"},
                          "properties": [{"id": "links", "value": [TRACE_LINK]}]})
    options = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"]}}
    return _panel("table", title, desc, sql, pos, 1, overrides=overrides, options=options,
                  custom={"align": "auto", "filterable": True}, interval="1m")


def bars(title: str, desc: str, sql: str, pos: tuple[int, int, int, int], unit: str) -> dict[str, Any]:
    options = {"orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True,
               "reduceOptions": {"values": True, "calcs": [], "fields": "", "limit": 15}}
    return _panel("bargauge", title, desc, sql, pos, 1, unit, options=options, interval="1m",
                  color={"mode": "continuous-GrYlRd"}, min=0)


def row(title: str, y: int) -> dict[str, Any]:
    return {"type": "row", "title": title, "collapsed": False, "panels": [],
            "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}}


def quantiles(title: str, desc: str, metric: str, pos: tuple[int, int, int, int]) -> dict[str, Any]:
    sql = f"""
SELECT time, {finite('q[1]')} AS p50, {finite('q[2]')} AS p95, {finite('q[3]')} AS p99
FROM (
  SELECT {BUCKET}, {rollup(metric)} AS q
  FROM {ROLLUP}
  {ROLLUP_WHERE.replace(NL, NL + '  ')}
  GROUP BY time
)
ORDER BY time"""
    return timeseries(title, desc, sql, pos, "ms")


def stat(title: str, desc: str, sql: str, pos: tuple[int, int, int, int], units: dict[str, str],
         alarms: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """One value per column; ``alarms`` colours a column yellow / red from the given levels."""
    overrides = [{"matcher": {"id": "byName", "options": name},
                  "properties": [{"id": "unit", "value": unit}]} for name, unit in units.items()]
    for name, (warn, bad) in alarms.items():
        steps = [{"color": "green", "value": None}, {"color": "yellow", "value": warn}, {"color": "red", "value": bad}]
        overrides.append({"matcher": {"id": "byName", "options": name},
                          "properties": [{"id": "color", "value": {"mode": "thresholds"}},
                                         {"id": "thresholds", "value": {"mode": "absolute", "steps": steps}}]})
    options = {"reduceOptions": {"values": False, "calcs": ["lastNotNull"], "fields": ""},
               "orientation": "auto", "textMode": "value_and_name", "colorMode": "value",
               "graphMode": "none", "justifyMode": "center", "wideLayout": True}
    return _panel("stat", title, desc, sql, pos, 1, overrides=overrides, options=options, interval="1m",
                  color={"mode": "fixed", "fixedColor": "text"})


# ---- the overview: health, cost, usage (rollups only, fast at any range) -----------------------

def overview() -> list[dict[str, Any]]:
    glance = f"""
SELECT
  {rollup('requests')} AS `LLM calls`,
  {per('errors')} AS `Error rate`,
  {per('rate_limited')} AS `429 rate`,
  {rollup('timeouts')} AS `Timeouts`,
  {finite(rollup('latency_ms') + '[2]')} AS `p95 latency`,
  {finite(rollup('ttft_ms') + '[2]')} AS `p95 TTFT`,
  {rollup('cost_usd')} AS `Spend`,
  {per_priced_1k('cost_usd')} AS `Cost / 1k calls`,
  {rollup('unpriced')} AS `Unpriced calls`
FROM {ROLLUP}
{ROLLUP_WHERE}"""
    volume = f"""
SELECT {BUCKET},
  {rollup('requests')} / {PER_MIN} AS `LLM calls / min`,
  {rollup('errors')} / {PER_MIN} AS `errors / min`
FROM {ROLLUP}
{ROLLUP_WHERE}
GROUP BY time
{FILL}"""

    def by_model(expr: str, alias: str, having: bool = False) -> str:
        return f"""
SELECT {BUCKET}, model, {expr} AS {alias}
FROM {ROLLUP}
{ROLLUP_WHERE}
GROUP BY time, model{f'{NL}HAVING {alias} > 0' if having else ''}
ORDER BY time"""

    daily = f"""
SELECT toStartOfDay(minute) AS time, model, {rollup('cost_usd')} AS spend
FROM {ROLLUP}
{where(PROJECT, "minute >= toStartOfDay($__fromTime, 'UTC')", 'minute <= $__toTime', LLM, *FILTERS)}
GROUP BY time, model
ORDER BY time"""
    route_cost = f"""
SELECT {BUCKET}, if(route = '', '(none)', route) AS route_name, {rollup('cost_usd')} / ($__interval_s / 3600) AS spend
FROM {ROLLUP}
{ROLLUP_WHERE}
GROUP BY time, route_name
ORDER BY time"""
    model_cost = f"""
SELECT model, {rollup('cost_usd')} AS spend
FROM {ROLLUP}
{ROLLUP_WHERE}
GROUP BY model
ORDER BY spend DESC
LIMIT 15"""
    customer_cost = f"""
SELECT if(customer = '', '(none)', customer) AS customer_name, sum(cost) AS spend
FROM {USERS}
{USERS_WHERE}
GROUP BY customer_name
ORDER BY spend DESC
LIMIT 15"""
    per_1k = f"""
SELECT {BUCKET}, {per_priced_1k('cost_usd')} AS `cost / 1k calls`
FROM {ROLLUP}
{ROLLUP_WHERE}
GROUP BY time
ORDER BY time"""
    users = f"""
SELECT user_id AS `User`, sum(requests) AS `Calls`, uniqMerge(sessions) AS `Sessions`,
  sum(input_tokens) + sum(output_tokens) AS `Tokens`, sum(cost) AS `Spend`, sum(errors) AS `Errors`,
  max(last_seen) AS `Last active`
FROM {USERS}
{USERS_WHERE}
  AND user_id != ''
GROUP BY user_id
ORDER BY `Spend` DESC
LIMIT 20"""
    unpriced = f"""
SELECT model AS `Model`, provider AS `Provider`, {rollup('unpriced')} AS `Unpriced calls`,
  {rollup('requests')} AS `All calls`, max(minute) AS `Last seen`
FROM {ROLLUP}
{ROLLUP_WHERE}
GROUP BY model, provider
HAVING `Unpriced calls` > 0
ORDER BY `Unpriced calls` DESC"""
    tokens = f"""
SELECT {BUCKET},
  {rollup('input_tokens')} / {PER_MIN} AS `input tokens / min`,
  {rollup('output_tokens')} / {PER_MIN} AS `output tokens / min`
FROM {ROLLUP}
{ROLLUP_WHERE}
GROUP BY time
{FILL}"""
    route_tokens = f"""
SELECT {BUCKET}, if(route = '', '(none)', route) AS route_name,
  ({rollup('input_tokens')} + {rollup('output_tokens')}) / {PER_MIN} AS tokens_per_min
FROM {ROLLUP}
{ROLLUP_WHERE}
GROUP BY time, route_name
ORDER BY time"""
    return [
        row("Health", 0),
        stat("At a glance", "LLM and embedding calls in the time range, as the tokentrail API counts them: "
             "error rate = failed calls / calls; 429 rate = HTTP 429 answers / calls; timeouts = HTTP 408/504 "
             "or an error type containing 'timeout'; spend counts priced calls only; unpriced calls are "
             "successful calls of a model without a price (their cost is unknown, not zero).",
             glance, (0, 1, 24, 4), {"Error rate": "percentunit", "429 rate": "percentunit", "p95 latency": "ms",
                                     "p95 TTFT": "ms", "Spend": "currencyUSD", "Cost / 1k calls": "currencyUSD"},
             {"Error rate": (0.01, 0.05), "429 rate": (0.005, 0.02), "Timeouts": (1, 10), "Unpriced calls": (1, 100)}),
        timeseries("LLM calls per minute", "Volume of LLM and embedding calls, and of failed ones. A drop "
                   "to zero is shown as zero, not as a gap.", volume, (0, 5, 8, 8), "short"),
        timeseries("Error rate by model", "Failed calls / calls, per model and interval.",
                   by_model(per("errors"), "error_rate"), (8, 5, 8, 8), "percentunit", label="model"),
        timeseries("429 rate-limited calls by model", "Calls the provider answered with HTTP 429, per model "
                   "(kept apart from other errors: they call for backoff or more quota, not a fix).",
                   by_model(rollup("rate_limited"), "rate_limited", having=True), (16, 5, 8, 8),
                   bars=True, stacked=True, label="model"),
        timeseries("Timeouts by model", "Calls that timed out (HTTP 408/504 or a timeout error type), per model.",
                   by_model(rollup("timeouts"), "timeouts", having=True), (0, 13, 6, 8),
                   bars=True, stacked=True, label="model"),
        quantiles("Latency p50 / p95 / p99", "Total duration of LLM calls (DDSketch quantiles merged "
                  "from the per-minute rollup).", "latency_ms", (6, 13, 6, 8)),
        quantiles("Time to first token p50 / p95 / p99", "TTFT of streamed calls.", "ttft_ms", (12, 13, 6, 8)),
        quantiles("Time per output token p50 / p95 / p99", "TPOT of streamed calls: (duration - TTFT) / "
                  "(output tokens - 1), in ms per token.", "tpot_ms", (18, 13, 6, 8)),
        row("Cost", 21),
        timeseries("Daily spend by model (last 30 days)", "USD per UTC day, per model.", daily, (0, 22, 12, 8),
                   "currencyUSD", bars=True, stacked=True, label="model", timeFrom="30d"),
        timeseries("Spend per hour by route", "USD per hour, per route (feature).", route_cost, (12, 22, 12, 8),
                   "currencyUSD", stacked=True, label="route_name"),
        bars("Spend by model", "USD in the time range, per model.", model_cost, (0, 30, 8, 8), "currencyUSD"),
        bars("Spend by customer", "USD in the time range, per customer (daily user rollup: whole UTC days; "
             "the route and model filters do not apply).", customer_cost, (8, 30, 8, 8), "currencyUSD"),
        timeseries("Cost per 1,000 calls", "USD per 1,000 LLM calls: the unit cost trend.", per_1k,
                   (16, 30, 8, 8), "currencyUSD"),
        table("Top users by spend", "Users who cost most in the time range (daily user rollup: whole UTC "
              "days; the route and model filters do not apply).", users, (0, 38, 12, 9), {"Spend": "currencyUSD", "Last active": "dateTimeAsIso"}),
        table("Unpriced calls by model", "Successful calls of models without a price: their cost is missing "
              "from every total. Add the model to your price file (--prices-file).", unpriced, (12, 38, 12, 9),
              {"Last seen": "dateTimeAsIso"}),
        row("Usage", 47),
        timeseries("Tokens per minute", "Input tokens (cached included) and output tokens (reasoning included).",
                   tokens, (0, 48, 12, 8), "short"),
        timeseries("Tokens per minute by route", "Input + output tokens per route (feature).", route_tokens,
                   (12, 48, 12, 8), "short", stacked=True, label="route_name"),
    ]


# ---- the deep dive: errors, and tables of traces and calls (raw spans) --------------------------

TRACE_COLUMNS = f"""
  min(start_time) AS `Start`, trace_id AS `Trace`,
  argMin(name, if(parent_span_id = '', 0, 1)) AS `Name`,
  anyIf(route, route != '') AS `Route`, anyIf(user_id, user_id != '') AS `User`,
  arrayStringConcat(groupUniqArrayIf({RAW_MODEL}, request_model != ''), ', ') AS `Models`,
  round((toUnixTimestamp64Micro(max(end_time)) - toUnixTimestamp64Micro(min(start_time))) / 1000, 1) AS `Duration`,
  count() AS `Spans`, countIf({LLM}) AS `LLM calls`,
  sum(input_tokens) + sum(output_tokens) AS `Tokens`,
  round(sum(coalesce(total_cost, 0)), 6) AS `Cost`,
  if(countIf(status = 'error') > 0, 'error', 'ok') AS `Status`"""


def traces_sql(order: str) -> str:
    return f"""
SELECT{TRACE_COLUMNS}
FROM {SPANS}
{where(PROJECT, '$__timeFilter(start_time)')}
GROUP BY trace_id
HAVING countIf({LLM}
  AND {(NL + '  AND ').join(RAW_FILTERS)}) > 0
ORDER BY `{order}` DESC
LIMIT 50"""


def deep_dive() -> list[dict[str, Any]]:
    error_types = f"""
SELECT if(error_type = '', '(none)', error_type) AS `Error type`, http_status AS `HTTP status`, model AS `Model`,
  {rollup('requests')} AS `Errors`, max(minute) AS `Last seen`
FROM {ROLLUP}
{ROLLUP_WHERE}
  AND status = 'error'
GROUP BY error_type, http_status, model
ORDER BY `Errors` DESC
LIMIT 100"""
    errors_over_time = f"""
SELECT {BUCKET},
  concat(if(error_type = '', 'error', error_type), if(http_status > 0, concat(' (', toString(http_status), ')'), ''))
    AS error_kind,
  {rollup('requests')} AS errors
FROM {ROLLUP}
{ROLLUP_WHERE}
  AND status = 'error'
GROUP BY time, error_kind
ORDER BY time"""
    slow_calls = f"""
SELECT start_time AS `Start`, trace_id AS `Trace`, route AS `Route`, {RAW_MODEL} AS `Model`,
  provider AS `Provider`, duration_ms AS `Duration`, ttft_ms AS `TTFT`, input_tokens AS `Input tokens`,
  output_tokens AS `Output tokens`, total_cost AS `Cost`, status AS `Status`
FROM {SPANS}
{RAW_WHERE}
ORDER BY duration_ms DESC
LIMIT 50"""
    recent_errors = f"""
SELECT start_time AS `Time`, trace_id AS `Trace`, route AS `Route`, {RAW_MODEL} AS `Model`,
  http_status AS `HTTP status`, error_type AS `Error type`, substring(error_message, 1, 300) AS `Message`
FROM {SPANS}
{RAW_WHERE}
  AND status = 'error'
ORDER BY start_time DESC
LIMIT 100"""
    trace_units = {"Start": "dateTimeAsIso", "Duration": "ms", "Cost": "currencyUSD"}
    return [
        table("Errors by type", "Failed LLM calls by error type, HTTP status and model.", error_types,
              (0, 0, 12, 9), {"Last seen": "dateTimeAsIso"}),
        timeseries("Errors over time by type", "Failed LLM calls per interval, by error type (HTTP status).",
                   errors_over_time, (12, 0, 12, 9), bars=True, stacked=True, label="error_kind"),
        table("Slowest traces", "Traces with an LLM call matching the filters, longest first (wall time "
              "from the first span's start to the last span's end).", traces_sql("Duration"), (0, 9, 24, 10),
              trace_units),
        table("Costliest traces", "Traces with an LLM call matching the filters, most expensive first "
              "(priced calls only).", traces_sql("Cost"), (0, 19, 24, 10), trace_units),
        table("Slowest LLM calls", "Single LLM calls, longest first.", slow_calls, (0, 29, 12, 10),
              {"Start": "dateTimeAsIso", "Duration": "ms", "TTFT": "ms", "Cost": "currencyUSD"}),
        table("Recent errors", "The latest failed LLM calls with their error message.", recent_errors,
              (12, 29, 12, 10), {"Time": "dateTimeAsIso"}),
    ]


# ---- variables and dashboards -------------------------------------------------------------------

def _query_var(name: str, label: str, sql: str, multi: bool = True) -> dict[str, Any]:
    current = {"text": ["All"], "value": ["$__all"]} if multi else {"text": "default", "value": "default"}
    return {"name": name, "label": label, "type": "query", "datasource": DS, "definition": sql,
            "query": {"editorType": "sql", "format": 1, "rawSql": sql}, "refresh": 2, "sort": 1,
            "multi": multi, "includeAll": multi, "current": current, "options": [], "hide": 0,
            "regex": "", "skipUrlSync": False}


def _values_of(column: str) -> str:
    return (f"SELECT DISTINCT {column} FROM {ROLLUP} "
            f"WHERE {PROJECT} AND $__timeFilter(minute) AND {LLM} AND {column} != '' ORDER BY {column}")


def variables() -> list[dict[str, Any]]:
    return [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "grafana-clickhouse-datasource",
         "current": {"text": "tokentrail", "value": "tokentrail-clickhouse"}, "hide": 0, "regex": "",
         "refresh": 1, "options": [], "skipUrlSync": False},
        {"name": "database", "label": "Database", "type": "constant", "query": "tokentrail", "hide": 2,
         "current": {"text": "tokentrail", "value": "tokentrail"}, "options": [], "skipUrlSync": False,
         "description": "The ClickHouse database tokentrail writes to (the path of --storage-url)."},
        {"name": "tokentrail_url", "label": "tokentrail URL", "type": "constant", "query": "http://localhost:4318",
         "hide": 2, "current": {"text": "http://localhost:4318", "value": "http://localhost:4318"}, "options": [],
         "skipUrlSync": False, "description": "Where your browser reaches tokentrail's web UI (links to traces)."},
        _query_var("project", "Project", f"SELECT DISTINCT project FROM {ROLLUP} WHERE $__timeFilter(minute) "
                   "ORDER BY project", multi=False),
        _query_var("route", "Route", _values_of("route")),
        _query_var("model", "Model", _values_of("model")),
        _query_var("environment", "Environment", _values_of("environment")),
    ]


def dashboard(uid: str, title: str, description: str, panels: list[dict[str, Any]]) -> dict[str, Any]:
    for i, panel in enumerate(panels, start=1):
        panel["id"] = i
    return {
        "uid": uid, "title": title, "description": description, "tags": ["tokentrail", "llm"],
        "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1, "id": None,
        "timezone": "utc", "refresh": "1m", "time": {"from": "now-24h", "to": "now"},
        "timepicker": {}, "fiscalYearStartMonth": 0, "liveNow": False,
        "annotations": {"list": [{"builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                                  "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                                  "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": [{"title": "tokentrail", "type": "dashboards", "tags": ["tokentrail"], "asDropdown": False,
                   "includeVars": True, "keepTime": True}],
        "templating": {"list": variables()},
        "panels": panels,
    }


def build() -> dict[str, dict[str, Any]]:
    """File name -> dashboard."""
    return {
        "tokentrail-overview.json": dashboard(
            "tokentrail-overview", "tokentrail: overview",
            "LLM calls at a glance: health, cost and usage, from tokentrail's per-minute rollups.", overview()),
        "tokentrail-deep-dive.json": dashboard(
            "tokentrail-deep-dive", "tokentrail: deep dive",
            "Errors by type, and the slowest and costliest traces and calls, from raw spans.", deep_dive()),
    }


def render(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, doc in build().items():
        (OUT / name).write_text(render(doc))
        print(f"wrote {OUT / name} ({len(doc['panels'])} panels)")


if __name__ == "__main__":
    main()
