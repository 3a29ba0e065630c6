"""Overview: the headline numbers are the API's, for the filters in the URL."""

from __future__ import annotations

from tests.ui.conftest import Demo, open_page, wait_ready
from tests.ui.numbers import assert_shows


def kpi(page, name: str) -> tuple[str, str]:
    value = page.locator(f"[data-testid=kpi-{name}-value]")
    return value.inner_text(), value.get_attribute("data-value")


def test_overview_headline_numbers_equal_the_summary_api(demo: Demo, page) -> None:
    s = demo.api("metrics/summary")
    assert s["requests"] > 1000
    open_page(page, demo.page_url("overview"))
    for name, key in (("requests", "requests"), ("cost", "cost_usd"), ("error-rate", "error_rate"),
                      ("rate-limited", "rate_limited")):
        text, raw = kpi(page, name)
        assert float(raw) == s[key], name
        assert_shows(text.replace("$", ""), s[key])
    text, raw = kpi(page, "latency-p95")
    assert float(raw) == s["latency_ms"]["p95"]
    assert_shows(text, s["latency_ms"]["p95"])
    assert_shows(kpi(page, "ttft-p95")[0], s["ttft_ms"]["p95"])


def test_overview_shows_all_latency_percentiles_and_429s_and_timeouts_apart(demo: Demo, page) -> None:
    s = demo.api("metrics/summary")
    open_page(page, demo.page_url("overview"))
    rows = page.locator("[data-testid=latency-row]")
    assert rows.count() == 3
    for i, metric in enumerate(("latency_ms", "ttft_ms", "tpot_ms")):
        for p in ("p50", "p95", "p99"):
            cell = rows.nth(i).locator(f"[data-testid=latency-{p}]")
            assert float(cell.get_attribute("data-value")) == s[metric][p]
    assert_shows(page.inner_text("[data-testid=errors-429] b"), s["rate_limited"])
    assert_shows(page.inner_text("[data-testid=errors-timeouts] b"), s["timeouts"])
    assert_shows(page.inner_text("[data-testid=errors-other] b"), s["errors"] - s["rate_limited"] - s["timeouts"])
    assert "No self-hosted model metrics yet" in page.inner_text("[data-testid=panel-self-hosted]")


def test_overview_charts_draw_the_timeseries(demo: Demo, page) -> None:
    ts = demo.api("metrics/timeseries", metric="requests")
    open_page(page, demo.page_url("overview"))
    page.wait_for_selector("[data-testid=chart-requests][data-drawn=true]")
    bars = page.locator("[data-testid=chart-requests] g[data-series=requests] rect").count()
    assert bars == sum(1 for v in ts["series"][0]["metrics"]["requests"] if v)


def test_filters_in_the_url_reach_every_number_and_the_drop_downs(demo: Demo, page) -> None:
    s = demo.api("metrics/summary", route="support-chat", environment="production")
    open_page(page, demo.page_url("overview", route="support-chat", environment="production"))
    assert float(kpi(page, "requests")[1]) == s["requests"]
    assert float(kpi(page, "cost")[1]) == s["cost_usd"]
    assert page.input_value("[data-testid=filter-route]") == "support-chat"
    assert page.input_value("[data-testid=filter-environment]") == "production"


def test_choosing_a_filter_updates_the_url_and_the_numbers(demo: Demo, page) -> None:
    open_page(page, demo.page_url("overview"))
    page.select_option("[data-testid=filter-model]", "gpt-4o-mini")
    page.wait_for_url("**model=gpt-4o-mini**")
    wait_ready(page)
    s = demo.api("metrics/summary", model="gpt-4o-mini")
    assert float(kpi(page, "requests")[1]) == s["requests"]


def options(page, testid: str) -> list[str]:
    return page.locator(f"[data-testid={testid}] option").evaluate_all("os => os.map(o => o.value).filter(v => v)")


def test_every_filter_has_a_control_and_choices_narrow_to_the_other_filters(demo: Demo, page) -> None:
    everything = demo.api("filters/values")
    open_page(page, demo.page_url("overview"))
    page.wait_for_function("document.querySelectorAll('[data-testid=filter-model] option').length > 1")
    assert options(page, "filter-model") == everything["model"]
    assert options(page, "filter-error-type") == everything["error_type"] != []
    # a route: the model list shrinks to that route's models (the API's answer equals the spans', see
    # tests/query/test_filter_values.py); the route list still offers every route
    route = everything["route"][0]
    narrowed = demo.api("filters/values", route=route)
    assert narrowed["route"] == everything["route"] and narrowed["model"] != everything["model"]
    page.select_option("[data-testid=filter-route]", route)
    page.wait_for_url(f"**route={route}**")
    wait_ready(page)
    page.wait_for_function(f"document.querySelectorAll('[data-testid=filter-model] option').length === "
                           f"{len(narrowed['model']) + 1}")
    assert options(page, "filter-model") == narrowed["model"]
    # status, error type, customer and session each filter the page's numbers as the API does
    page.select_option("[data-testid=filter-status]", "error")
    page.wait_for_url("**status=error**")
    wait_ready(page)
    assert float(kpi(page, "requests")[1]) == demo.api("metrics/summary", route=route, status="error")["requests"]
    error_type = demo.api("filters/values", route=route, status="error")["error_type"][0]
    page.select_option("[data-testid=filter-error-type]", error_type)
    page.wait_for_url("**error_type=**")
    wait_ready(page)
    assert float(kpi(page, "requests")[1]) == demo.api("metrics/summary", route=route, status="error",
                                                       error_type=error_type)["requests"]
    customer = demo.api("users", by="customer", limit=1)["rows"][0]["key"]
    page.goto(demo.page_url("overview"))
    wait_ready(page)
    page.fill("[data-testid=filter-customer]", customer)
    page.press("[data-testid=filter-customer]", "Enter")
    page.wait_for_url("**customer=**")
    wait_ready(page)
    assert float(kpi(page, "requests")[1]) == demo.api("metrics/summary", customer=customer)["requests"]
    session = demo.api("sessions", customer=customer, limit=1)["sessions"][0]["session_id"]
    page.fill("[data-testid=filter-session]", session)
    page.press("[data-testid=filter-session]", "Enter")
    page.wait_for_url("**session=**")
    wait_ready(page)
    assert page.input_value("[data-testid=filter-customer]") == customer
    in_session = demo.api("metrics/summary", customer=customer, session=session)["requests"]
    assert in_session > 0 and float(kpi(page, "requests")[1]) == in_session


def test_navigation_keeps_the_filters(demo: Demo, page) -> None:
    open_page(page, demo.page_url("overview", route="code-review"))
    page.click("[data-testid=nav] a[data-page=cost]")
    page.wait_for_url("**/ui/cost?**")
    wait_ready(page)
    assert "route=code-review" in page.url and "since=" in page.url
    s = demo.api("metrics/summary", route="code-review")
    assert float(kpi(page, "cost")[1]) == s["cost_usd"]


def test_count_axes_have_whole_number_ticks(demo: Demo, page) -> None:
    open_page(page, demo.page_url("overview"))
    ticks = page.evaluate("""async () => {
        const { niceTicks } = await import('/ui/static/js/charts.js');
        return [niceTicks(3, 4, true), niceTicks(1, 4, true), niceTicks(37, 4, true), niceTicks(3, 4, false)];
    }""")
    assert ticks[0] == [0, 1, 2, 3] and ticks[1] == [0, 1] and ticks[2] == [0, 10, 20, 30, 40]
    assert ticks[3] == [0, 1, 2, 3]  # fractional steps stay possible for money and latency: 0.75 is not one here
    page.wait_for_selector("[data-testid=chart-errors][data-drawn=true]")
    texts = page.locator("[data-testid=chart-errors] text.tick").evaluate_all("els => els.map(e => e.textContent)")
    ys = [t for t in texts if t.replace(",", "").isdigit()]
    assert ys
    assert len(ys) == len(set(ys))  # no repeated labels such as 1, 1, 1


def test_no_self_hosted_traffic_is_one_line_across_the_row(demo: Demo, page) -> None:
    open_page(page, demo.page_url("overview"))
    panel = page.locator("[data-testid=panel-self-hosted]")
    page.wait_for_selector("[data-testid=self-hosted-empty]")
    half = page.locator("[data-testid=panel-volume]").bounding_box()
    box = panel.bounding_box()
    assert box["width"] > 1.8 * half["width"]  # the whole row, not half of it
    assert box["height"] < 0.5 * half["height"]
    # and the errors panel, alone in its row then, takes the whole row too (no empty half beside it)
    errors = page.locator("[data-testid=panel-errors]").bounding_box()
    assert errors["width"] > 1.8 * half["width"]
