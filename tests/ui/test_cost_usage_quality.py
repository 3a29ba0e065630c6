"""Cost, Usage and Quality pages show the API's numbers; unpriced models are never silently $0."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tests.ui.conftest import Demo, open_page, wait_ready
from tests.ui.numbers import assert_shows


def value(page, testid: str) -> float:
    return float(page.get_attribute(f"[data-testid={testid}-value]", "data-value"))


def table_column(page, table: str, cell: str) -> list[float]:
    return [float(v) for v in page.locator(f"[data-testid={table}] [data-testid={cell}]").evaluate_all(
        "cells => cells.map(c => c.dataset.value)")]


def test_cost_page_totals_and_breakdowns_equal_the_api(demo: Demo, page) -> None:
    s = demo.api("metrics/summary")
    open_page(page, demo.page_url("cost"))
    assert value(page, "kpi-cost") == s["cost_usd"]
    assert value(page, "kpi-cost-per-1k") == s["cost_per_1k_requests"]
    for by in ("route", "model_family", "user", "customer"):
        rows = demo.api("metrics/breakdown", by=by, order="cost_usd", limit=10)["rows"]
        shown = f"cost-by-{by.removesuffix('_family')}] [data-testid=row"  # models: the family rows
        assert table_column(page, shown, "cell-cost") == [r["cost_usd"] for r in rows], by
        assert table_column(page, shown, "cell-requests") == [r["requests"] for r in rows], by


def test_cost_by_model_lists_one_family_with_its_versions_and_filters_by_it(demo: Demo, page) -> None:
    """The demo reports gpt-4o-mini both undated and as gpt-4o-mini-2024-07-18: one family, 2 versions."""
    by_model = {r["key"]: r for r in demo.api("metrics/breakdown", by="model", limit=100)["rows"]}
    versions = ["gpt-4o-mini", "gpt-4o-mini-2024-07-18"]
    assert set(versions) <= by_model.keys()
    open_page(page, demo.page_url("cost"))
    table = "[data-testid=cost-by-model]"
    family = page.locator(f"{table} [data-testid=row][data-family='gpt-4o-mini']")
    assert family.count() == 1
    assert family.locator("td").first.inner_text() == "gpt-4o-mini · 2 versions"
    rows = page.locator(f"{table} [data-testid=version-row][data-family='gpt-4o-mini']")
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.version)")) == versions
    assert float(family.locator("[data-testid=cell-requests]").get_attribute("data-value")) == sum(
        by_model[v]["requests"] for v in versions)
    for v in versions:
        row = page.locator(f"{table} [data-testid=version-row][data-version='{v}']")
        assert float(row.locator("[data-testid=cell-requests]").get_attribute("data-value")) == by_model[v]["requests"]
        assert float(row.locator("[data-testid=cell-cost]").get_attribute("data-value")) == by_model[v]["cost_usd"]
    # a click on the family (anywhere on its row) filters the page by it
    family.locator("[data-testid=cell-requests]").click()
    page.wait_for_url("**/ui/cost?*model_family=gpt-4o-mini*")
    wait_ready(page)
    assert parse_qs(urlparse(page.url).query)["model_family"] == ["gpt-4o-mini"]
    s = demo.api("metrics/summary", model_family="gpt-4o-mini")
    assert s["requests"] == sum(by_model[v]["requests"] for v in versions)
    assert value(page, "kpi-cost") == s["cost_usd"]
    assert page.locator(f"{table} [data-testid=row]").evaluate_all("rows => rows.map(r => r.dataset.family)") == [
        "gpt-4o-mini"]
    # and one on a version, by that model
    page.locator(f"{table} [data-testid=version-row][data-version='gpt-4o-mini-2024-07-18'] a").click()
    page.wait_for_url("**/ui/cost?*model=gpt-4o-mini-2024-07-18*")
    wait_ready(page)
    assert parse_qs(urlparse(page.url).query)["model"] == ["gpt-4o-mini-2024-07-18"]
    assert value(page, "kpi-cost") == demo.api("metrics/summary", model="gpt-4o-mini-2024-07-18")["cost_usd"]
    assert page.locator(f"{table} [data-testid=version-row]").evaluate_all(
        "rows => rows.map(r => r.dataset.version)") == ["gpt-4o-mini-2024-07-18"]


def test_cost_page_daily_chart_adds_up_to_the_daily_api(demo: Demo, page) -> None:
    open_page(page, demo.page_url("cost"))
    daily = demo.api("metrics/timeseries", metric="cost_usd,requests", step=86400, range="84d", since="", until="")
    total = sum(daily["series"][0]["metrics"]["cost_usd"][-30:])
    assert_shows(page.inner_text("[data-testid=daily-total]").replace("$", ""), total)
    budget = demo.api("cost")["budget"]
    assert value(page, "kpi-month") == budget["month_to_date_usd"]


def test_unpriced_models_are_named_not_counted_as_zero(demo: Demo, page) -> None:
    s = demo.api("metrics/summary")
    unpriced = demo.api("pricing", hours=24 * 4)["unpriced_models"]
    assert s["unpriced"] > 0 and unpriced
    open_page(page, demo.page_url("cost"))
    warning = page.inner_text("[data-testid=unpriced-warning]")
    assert f"{s['unpriced']} calls have no price" in warning
    assert page.locator("[data-testid=unpriced-model]").all_inner_texts() == [m["model"] for m in unpriced]
    assert "no price" in page.inner_text("[data-testid=cost-by-model]")


def test_usage_page_tokens_and_routes_equal_the_api(demo: Demo, page) -> None:
    s = demo.api("metrics/summary")
    open_page(page, demo.page_url("usage"))
    assert value(page, "kpi-requests") == s["requests"]
    assert value(page, "kpi-input-tokens") == s["input_tokens"]
    assert value(page, "kpi-output-tokens") == s["output_tokens"]
    assert_shows(page.inner_text("[data-testid=kpi-input-tokens-value]"), s["input_tokens"])
    rows = demo.api("metrics/breakdown", by="route", order="requests", limit=15)["rows"]
    assert table_column(page, "usage-by-route", "cell-requests") == [r["requests"] for r in rows]
    page.wait_for_selector("[data-testid=chart-requests-by-route][data-drawn=true]")
    shown = page.locator("[data-testid=chart-requests-by-route] .legend-item").evaluate_all(
        "items => items.map(i => [i.dataset.series, Number(i.dataset.sum)])")
    grouped = demo.api("metrics/timeseries", metric="requests", group_by="route", top=7)["series"]
    assert sorted(shown) == sorted([g["group"], sum(g["metrics"]["requests"])] for g in grouped)


def test_quality_page_shows_feedback_schema_and_output_length(demo: Demo, page) -> None:
    q = demo.api("quality")
    open_page(page, demo.page_url("quality"))
    assert value(page, "kpi-schema-valid") == q["summary"]["schema_valid_rate"]
    assert value(page, "kpi-cache-hit") == q["summary"]["cache_hit_rate"]
    assert q["feedback"], "the demo sends user feedback"
    counts = table_column(page, "feedback-table", "cell-count")
    assert counts == [f["count"] for f in q["feedback"]]
    total = sum(b["count"] for b in q["output_length"])
    assert_shows(page.inner_text("[data-testid=output-length-total]"), total)


def test_a_price_file_that_did_not_reload_is_shown_on_the_cost_page(demo: Demo, page) -> None:
    from tokentrail.pricing.table import PricingError

    prices = demo.server.runtime.prices
    assert prices.last_error is None
    open_page(page, demo.page_url("cost"))
    assert page.locator("[data-testid=price-file-error]").count() == 0
    prices.last_error = PricingError("prices.toml: invalid TOML: Expected '=' after a key (at line 3, column 7)")
    try:
        assert demo.api("pricing")["reload_error"] == str(prices.last_error)
        open_page(page, demo.page_url("cost"))
        banner = page.inner_text("[data-testid=price-file-error]")
        assert "could not be reloaded" in banner and "prices.toml: invalid TOML" in banner
    finally:
        prices.last_error = None
