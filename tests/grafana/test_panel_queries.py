"""Every Grafana panel's and variable's SQL, expanded as the ClickHouse plugin would, runs
on the real engine over demo traffic, returns what its visualization needs, and shows
the same numbers as tokentrail's own API."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.grafana.files import (
    DASHBOARD_FILES,
    OVERVIEW,
    data_panels,
    load,
    panel_cases,
    variable_sql,
    variables,
)
from tests.grafana.grafana_sql import Request, Value, expand, template_variables
from tests.support import ServerThread, running_server
from tokentrail.demo.send import send_backfill

P = "grafana-demo"
CASES = panel_cases()
NUMERIC = ("Int", "UInt", "Float", "Decimal")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with running_server(tmp_path_factory.mktemp("grafana")) as server:
        send_backfill(server.url, traces=1500, days=3, project=P)
        server.flush()
        yield server


def defaults(dashboard: dict[str, Any]) -> dict[str, Value]:
    """The dashboard's own variable defaults, with the demo project selected."""
    values: dict[str, Value] = {}
    for var in variables(dashboard):
        if var["type"] == "constant":
            values[var["name"]] = var["query"]
        elif var["type"] == "query":
            values[var["name"]] = var["current"]["value"]
    values["project"] = P
    return values


def request(hours: float, dashboard: dict[str, Any] | None = None, **chosen: Value) -> Request:
    """The last ``hours``, from a whole minute (so the rollup's minutes and raw start times
    cut at the same instant; a whole hour beyond a day, where the API reads hourly rollups) to
    a few minutes past now (so Grafana's ``<= to`` and the API's ``< until`` both take every span)."""
    now = datetime.now(UTC)
    start = (now - timedelta(hours=hours)).replace(second=0, microsecond=0)
    if hours > 26:
        start = start.replace(minute=0)
    values = defaults(dashboard or load(OVERVIEW))
    values.update(chosen)
    return Request(start, now + timedelta(minutes=5), values)


def run(server: ServerThread, panel: dict[str, Any], req: Request,
        now: datetime | None = None) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Column types and rows of the panel's query."""
    sql = expand(panel["targets"][0]["rawSql"], req.for_panel(panel, now))
    store = server.runtime.store
    columns = {c["name"]: c["type"] for c in store.query(f"DESCRIBE ({sql})")}
    return columns, store.query(sql)


def panel(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for p in data_panels(dashboard) if p["title"] == title)


def api(server: ServerThread, path: str, req: Request | None = None, **params: Any) -> Any:
    if req is not None:
        params |= {"since": req.time_from.isoformat(), "until": req.time_to.isoformat()}
    r = server.client.get(path, params={"project": P, **params})
    assert r.status_code == 200, r.text
    return r.json()


def is_numeric(type_: str) -> bool:
    return type_.removeprefix("Nullable(").startswith(NUMERIC)


def is_text(type_: str) -> bool:
    return type_ in ("String", "LowCardinality(String)")


# ---- every query runs and fits its panel --------------------------------------------------------

@pytest.mark.parametrize("case", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_panel_query_runs_and_returns_what_its_visualization_needs(demo: ServerThread, case: dict[str, Any]) -> None:
    columns, rows = run(demo, case, request(80))
    assert rows, "no rows on three days of demo traffic"
    names, types = list(columns), list(columns.values())
    assert not any(t.startswith(("Array", "Map", "Tuple", "AggregateFunction")) for t in types), columns
    if case["type"] == "timeseries":
        assert names[0] == "time" and types[0].startswith("DateTime"), columns
        assert any(is_numeric(t) for t in types[1:]), columns
        labels = [n for n, t in columns.items() if not is_numeric(t) and n != "time"]
        assert len(labels) <= 1 and all(is_text(columns[n]) for n in labels), columns
        display = case["fieldConfig"]["defaults"].get("displayName", "")
        assert display in ("", *(f"${{__field.labels.{n}}}" for n in labels)), display
        assert [r["time"] for r in rows] == sorted(r["time"] for r in rows), "time must ascend"
    elif case["type"] == "stat":
        assert all(is_numeric(t) for t in types) and len(rows) == 1, columns
    elif case["type"] == "bargauge":
        assert is_text(types[0]) and all(is_numeric(t) for t in types[1:]), columns
    for override in case["fieldConfig"]["overrides"]:
        assert override["matcher"]["options"] in columns, f"override for a missing column {override['matcher']}"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=[p.stem for p in DASHBOARD_FILES])
def test_variable_values_are_those_of_the_api_filter_drop_downs(demo: ServerThread, path: Any) -> None:
    dash = load(path)
    req = request(80, dash)
    expected = api(demo, "/api/filters/values", req)
    store = demo.runtime.store
    for var in variables(dash):
        if var["type"] != "query":
            continue
        rows = store.query(expand(variable_sql(var), req))
        assert rows and all(len(r) == 1 for r in rows), var["name"]
        values = [next(iter(r.values())) for r in rows]
        if var["name"] == "project":
            assert P in values
        else:
            assert values == expected[var["name"]], var["name"]


def test_every_panel_runs_with_values_chosen_in_every_variable(demo: ServerThread) -> None:
    for path in DASHBOARD_FILES:
        dash = load(path)
        req = request(80, dash, route=["support-chat", "classify-intent"], model=["gpt-4o-mini"],
                      environment=["production"])
        for p in data_panels(dash):
            run(demo, p, req)


def test_a_quote_in_a_variable_value_cannot_break_the_sql(demo: ServerThread) -> None:
    for path in DASHBOARD_FILES:
        dash = load(path)
        req = request(80, dash, route=["it's", "o'brien"], project="o'brien")
        for p in data_panels(dash):
            _, rows = run(demo, p, req)
            assert all(not r.get("LLM calls") for r in rows)


# ---- the numbers are the API's ------------------------------------------------------------------

@pytest.mark.parametrize("hours", [60, 12], ids=["rollup-range", "raw-range"])
def test_at_a_glance_equals_the_api_summary(demo: ServerThread, hours: int) -> None:
    req = request(hours)
    _, (row,) = run(demo, panel(load(OVERVIEW), "At a glance"), req)
    s = api(demo, "/api/metrics/summary", req)
    assert s["source"] == ("rollup" if hours > 26 else "raw")
    assert row["LLM calls"] == s["requests"] > 100
    assert row["Timeouts"] == s["timeouts"] and row["Unpriced calls"] == s["unpriced"] > 0
    assert row["Error rate"] == pytest.approx(s["error_rate"], abs=1e-4)
    assert row["429 rate"] == pytest.approx(s["rate_limited_rate"], abs=1e-4)
    assert row["Spend"] == pytest.approx(s["cost_usd"], abs=1e-5)
    assert row["Cost / 1k calls"] == pytest.approx(s["cost_per_1k_requests"], abs=1e-5)
    assert row["p95 latency"] == pytest.approx(s["latency_ms"]["p95"], rel=0.01)
    assert row["p95 TTFT"] == pytest.approx(s["ttft_ms"]["p95"], rel=0.01)


def test_filtered_at_a_glance_equals_the_filtered_api_summary(demo: ServerThread) -> None:
    req = request(60, route=["support-chat"], environment=["production"])
    _, (row,) = run(demo, panel(load(OVERVIEW), "At a glance"), req)
    s = api(demo, "/api/metrics/summary", req, route="support-chat", environment="production")
    everything = api(demo, "/api/metrics/summary", req)
    assert 0 < row["LLM calls"] == s["requests"] < everything["requests"]
    assert row["Spend"] == pytest.approx(s["cost_usd"], abs=1e-5)


def test_per_minute_series_add_up_to_the_summary(demo: ServerThread) -> None:
    dash = load(OVERVIEW)
    req = request(60)
    s = api(demo, "/api/metrics/summary", req)
    calls_panel = panel(dash, "LLM calls per minute")
    minutes = req.for_panel(calls_panel).interval.total_seconds() / 60
    _, calls = run(demo, calls_panel, req)
    assert sum(r["LLM calls / min"] for r in calls) * minutes == pytest.approx(s["requests"])
    assert sum(r["errors / min"] for r in calls) * minutes == pytest.approx(s["errors"])
    _, tokens = run(demo, panel(dash, "Tokens per minute"), req)
    assert sum(r["input tokens / min"] for r in tokens) * minutes == pytest.approx(s["input_tokens"])
    assert sum(r["output tokens / min"] for r in tokens) * minutes == pytest.approx(s["output_tokens"])


def test_spend_by_model_equals_the_api_breakdown(demo: ServerThread) -> None:
    req = request(60)
    _, rows = run(demo, panel(load(OVERVIEW), "Spend by model"), req)
    expected = api(demo, "/api/metrics/breakdown", req, by="model", limit=15)["rows"]
    assert [r["model"] for r in rows] == [e["key"] for e in expected]
    assert [r["spend"] for r in rows] == pytest.approx([e["cost_usd"] for e in expected], abs=1e-5)


def test_daily_spend_equals_the_api_cost_view(demo: ServerThread) -> None:
    p = panel(load(OVERVIEW), "Daily spend by model (last 30 days)")
    req, now = request(80), datetime.now(UTC)
    _, rows = run(demo, p, req, now)
    by_day: dict[str, float] = defaultdict(float)
    for r in rows:
        by_day[r["time"][:10]] += r["spend"]
    window = req.for_panel(p, now)
    since = window.time_from.replace(hour=0, minute=0, second=0, microsecond=0)
    daily = api(demo, "/api/cost", since=since.isoformat(), until=window.time_to.isoformat())["daily"]
    assert len(daily) >= 3
    assert dict(by_day) == pytest.approx({d["day"]: d["cost_usd"] for d in daily}, abs=1e-5)


def test_top_users_and_customers_equal_the_api_leaderboards(demo: ServerThread) -> None:
    dash = load(OVERVIEW)
    req = request(60)
    _, users = run(demo, panel(dash, "Top users by spend"), req)
    expected = api(demo, "/api/users", req, by="user", order="cost", limit=20)
    assert expected["source"] == "rollup"
    assert [u["User"] for u in users] == [e["key"] for e in expected["rows"]]
    assert [(u["Calls"], u["Sessions"], u["Tokens"]) for u in users] == \
        [(e["requests"], e["sessions"], e["tokens"]) for e in expected["rows"]]
    _, customers = run(demo, panel(dash, "Spend by customer"), req)
    by_customer = api(demo, "/api/users", req, by="customer", order="cost", limit=15)["rows"]
    assert {c["customer_name"]: c["spend"] for c in customers} == \
        pytest.approx({e["key"]: e["cost_usd"] for e in by_customer}, abs=1e-5)


@pytest.mark.parametrize("title,order", [("Costliest traces", "cost"), ("Slowest traces", "duration")])
def test_trace_tables_equal_the_api_trace_search(demo: ServerThread, title: str, order: str) -> None:
    dash = next(load(p) for p in DASHBOARD_FILES if p.stem == "tokentrail-deep-dive")
    req = request(80, dash)
    _, rows = run(demo, panel(dash, title), req)
    expected = api(demo, "/api/traces", req, order=order, limit=10)["traces"]
    assert [r["Trace"] for r in rows[:10]] == [t["trace_id"] for t in expected]
    assert [r["Cost"] for r in rows[:10]] == pytest.approx([t["cost_usd"] for t in expected], abs=1e-6)


def test_errors_by_type_add_up_to_the_summary(demo: ServerThread) -> None:
    dash = next(load(p) for p in DASHBOARD_FILES if p.stem == "tokentrail-deep-dive")
    req = request(60, dash)
    _, rows = run(demo, panel(dash, "Errors by type"), req)
    s = api(demo, "/api/metrics/summary", req)
    assert sum(r["Errors"] for r in rows) == s["errors"] > 0
    assert sum(r["Errors"] for r in rows if r["HTTP status"] == 429) == s["rate_limited"] > 0


def test_unpriced_table_lists_the_models_without_a_price(demo: ServerThread) -> None:
    req = request(60)
    _, rows = run(demo, panel(load(OVERVIEW), "Unpriced calls by model"), req)
    expected = api(demo, "/api/pricing", req)["unpriced_models"]
    assert {r["Model"]: r["Unpriced calls"] for r in rows} == {e["model"]: e["calls"] for e in expected}


def test_trace_ids_link_to_the_trace_in_the_tokentrail_ui(demo: ServerThread) -> None:
    dash = next(load(p) for p in DASHBOARD_FILES if p.stem == "tokentrail-deep-dive")
    req = request(80, dash)
    for title in ("Slowest traces", "Costliest traces", "Slowest LLM calls", "Recent errors"):
        p = panel(dash, title)
        _, rows = run(demo, p, req)
        (link,) = next(o["properties"][0]["value"] for o in p["fieldConfig"]["overrides"]
                       if o["matcher"]["options"] == "Trace")
        url = template_variables(link["url"].replace("${__value.raw}", rows[0]["Trace"]),
                                 {**req.variables, "tokentrail_url": demo.url})
        assert url == f"{demo.url}/ui/traces/{rows[0]['Trace']}?project={P}"
        assert api(demo, f"/api/traces/{rows[0]['Trace']}")["trace"]["trace_id"] == rows[0]["Trace"]
