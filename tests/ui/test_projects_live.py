"""Projects in the UI (picker with counts, remembered, links that carry the project, a trace opened
in the wrong project), live mode (new traces at the top, dashboards redrawn in place, paused while
the tab is hidden) and the traces list filtered by score.

The package's demo server holds the default project; this module adds a second one, ``support-bot``,
with other traffic (another seed: other trace ids). Live tests send their new calls to that project.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.ui.conftest import Console, Demo, open_page, wait_ready
from tokentrail.demo.send import send_backfill
from tokentrail.demo.traffic import Traffic

OTHER = "support-bot"
SHOTS = os.environ.get("TOKENTRAIL_UI_SHOTS", "")  # a directory: screenshots of the pages changed here


@pytest.fixture(scope="module")
def two(demo: Demo) -> Demo:
    send_backfill(demo.url, traces=400, days=2, project=OTHER, seed=11)
    demo.server.flush()
    return demo


@pytest.fixture
def lenient_page(browser: Any) -> Iterator[Any]:
    """A page on which the browser's own "Failed to load resource: 404" line is expected (a trace
    looked up in the wrong project answers 404); any other console error still fails the test."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id="UTC", locale="en-US")
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    console = Console()
    pg.on("console", console.on_console)
    pg.on("pageerror", console.on_error)
    yield pg
    context.close()
    assert [p for p in console.problems if "404 (Not Found)" not in p] == [], "the page logged errors"


def shot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def api(demo: Demo, path: str, project: str, **params: Any) -> Any:
    return demo.api(path, project=project, **params)


def picker_rows(page: Any) -> dict[str, int]:
    """Each project the picker offers with its calls, once /api/projects has filled it."""
    page.wait_for_function("""() => {
        const os = [...document.querySelectorAll('[data-testid=project-picker] option')];
        return os.length > 0 && os.every((o) => o.dataset.requests !== undefined);
    }""")
    return dict(page.locator("[data-testid=project-picker] option").evaluate_all(
        "os => os.map(o => [o.value, Number(o.dataset.requests)])"))


def row_ids(page: Any, row: str = "trace-row") -> list[str]:
    hrefs = page.locator(f"[data-testid=page] > .page [data-testid={row}]").evaluate_all(
        "rows => rows.map(r => r.dataset.href)")
    return [urlparse(h).path.rsplit("/", 1)[1] for h in hrefs]


def kpi(page: Any, name: str) -> float:
    return float(page.get_attribute(f"[data-testid={name}-value]", "data-value"))


def choose(page: Any, project: str) -> None:
    page.select_option("[data-testid=project-picker]", project)
    page.wait_for_url(f"**project={project}**")
    wait_ready(page)


def test_the_picker_lists_each_project_with_its_calls_in_the_range(two: Demo, page: Any) -> None:
    open_page(page, two.page_url("overview"))
    shown = picker_rows(page)
    assert {"default", OTHER} <= set(shown)
    for project in ("default", OTHER):
        assert shown[project] == api(two, "metrics/summary", project)["requests"] > 0, project
    assert page.input_value("[data-testid=project-picker]") == "default"
    assert parse_qs(urlparse(page.url).query)["project"] == ["default"]  # links made here carry it
    shot(page, "overview-default")


def test_the_picker_switches_every_page_to_the_other_projects_numbers(two: Demo, page: Any) -> None:
    here, there = (api(two, "metrics/summary", p) for p in ("default", OTHER))
    assert here["requests"] != there["requests"]  # the switch must show in the numbers
    checks = {
        "overview": lambda: kpi(page, "kpi-requests") == there["requests"],
        "cost": lambda: kpi(page, "kpi-cost") == there["cost_usd"],
        "usage": lambda: kpi(page, "kpi-requests") == there["requests"],
        "quality": lambda: kpi(page, "kpi-requests") == there["requests"],
        "traces": lambda: row_ids(page) == [t["trace_id"] for t in api(two, "traces", OTHER, limit=50)["traces"]],
        "sessions": lambda: row_ids(page, "session-row") == [
            s["session_id"] for s in api(two, "sessions", OTHER, limit=50)["sessions"]],
        "users": lambda: page.locator("[data-testid=users-table] [data-testid=cell-cost]").evaluate_all(
            "cells => cells.map(c => Number(c.dataset.value))") == [
            r["cost_usd"] for r in api(two, "users", OTHER, by="user", order="cost", limit=100)["rows"]],
    }
    for name, check in checks.items():
        open_page(page, two.page_url(name, project="default"))
        choose(page, OTHER)
        assert f"/ui/{name}" in page.url
        assert check(), name
        assert page.input_value("[data-testid=project-picker]") == OTHER
        if name in ("overview", "traces"):
            shot(page, f"{name}-{OTHER}")


def test_the_choice_is_remembered_and_links_carry_the_project(two: Demo, page: Any) -> None:
    open_page(page, two.page_url("overview"))
    choose(page, OTHER)
    open_page(page, two.page_url("traces"))  # no ?project=: the one chosen before
    assert parse_qs(urlparse(page.url).query)["project"] == [OTHER]
    assert row_ids(page) == [t["trace_id"] for t in api(two, "traces", OTHER, limit=50)["traces"]]
    for row in ("trace-row",):
        href = page.locator(f"[data-testid={row}]").first.get_attribute("data-href")
        assert parse_qs(urlparse(href).query)["project"] == [OTHER]
    open_page(page, two.page_url("sessions"))
    href = page.locator("[data-testid=session-row]").first.get_attribute("data-href")
    assert parse_qs(urlparse(href).query)["project"] == [OTHER]


def test_a_trace_link_without_project_finds_its_trace_or_says_where_it_is(two: Demo, lenient_page: Any) -> None:
    page = lenient_page
    trace = api(two, "traces", OTHER, limit=5)["traces"][2]
    assert two.server.client.get(f"/api/traces/{trace['trace_id']}").status_code == 404  # not in default
    page.goto(f"{two.url}/ui/traces/{trace['trace_id']}")  # a shared link, no ?project=
    wait_ready(page)
    assert parse_qs(urlparse(page.url).query)["project"] == [OTHER]
    assert page.inner_text("[data-testid=trace-name]") == trace["name"]
    page.goto(f"{two.url}/ui/traces/{trace['trace_id']}?project=default")  # the wrong project, named
    page.wait_for_selector("[data-testid=page][data-state=ready] [data-testid=error]")
    text = page.inner_text("[data-testid=error]")
    assert f"no trace {trace['trace_id']} in project default; it is in project {OTHER}" in text
    shot(page, "trace-wrong-project")


def new_call(demo: Demo, seed: int) -> str:
    """Send one fresh trace to the other project, wait until it can be read; return its trace id."""
    body = next(Traffic(seed=seed).requests(1, per_request=64, span_seconds=1.0))
    sent = ExportTraceServiceRequest.FromString(body)
    trace_id = sent.resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    r = demo.server.client.post("/v1/traces", content=body, headers={
        "content-type": "application/x-protobuf", "x-tokentrail-project": OTHER})
    assert r.status_code == 200, r.text
    demo.server.flush()
    return trace_id


def test_live_mode_shows_a_new_trace_at_the_top_within_5_seconds(two: Demo, page: Any) -> None:
    open_page(page, two.page_url("traces", project=OTHER))
    page.evaluate("window.__sameDocument = true")
    page.check("[data-testid=live-toggle]")
    trace_id = new_call(two, seed=101)
    page.wait_for_selector(f"[data-testid=traces-table] tbody tr:first-child[data-trace-id='{trace_id}']",
                           timeout=5_000)
    assert page.evaluate("window.__sameDocument") is True  # rows were added, the page was not reloaded
    assert row_ids(page)[0] == trace_id == api(two, "traces", OTHER, limit=1)["traces"][0]["trace_id"]
    assert "new trace" in page.inner_text("[data-testid=live-status]")
    shot(page, "traces-live")
    page.uncheck("[data-testid=live-toggle]")  # remembered in this browser only: this context ends here


def test_live_mode_rests_while_the_tab_is_hidden(two: Demo, page: Any) -> None:
    open_page(page, two.page_url("traces", project=OTHER))
    with page.expect_request("**/api/traces?**"):  # turned on, it asks at once (and every 3 s while shown)
        page.check("[data-testid=live-toggle]")
    asked: list[str] = []
    page.evaluate("""() => {
        Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
        document.dispatchEvent(new Event("visibilitychange"));
    }""")
    page.on("request", lambda r: asked.append(r.url) if "/api/" in r.url else None)
    page.wait_for_timeout(7_000)  # more than two polling periods
    assert asked == []
    with page.expect_request("**/api/traces?**"):  # shown again: it catches up at once
        page.evaluate("""() => {
            Object.defineProperty(document, "hidden", { configurable: true, get: () => false });
            document.dispatchEvent(new Event("visibilitychange"));
        }""")


def test_live_mode_redraws_dashboard_numbers_in_place(two: Demo, page: Any) -> None:
    open_page(page, two.page_url("overview", project=OTHER))
    before = kpi(page, "kpi-requests")
    page.evaluate("""() => {
        window.__sameDocument = true;
        window.__states = [];
        const main = document.querySelector("[data-testid=page]");
        new MutationObserver(() => window.__states.push(main.dataset.state))
            .observe(main, { attributes: true, attributeFilter: ["data-state"] });
    }""")
    page.click("[data-testid=panel-latency] .segmented button[data-metric=ttft_ms]")  # the reader's choice
    page.check("[data-testid=live-toggle]")
    new_call(two, seed=202)
    want = api(two, "metrics/summary", OTHER)["requests"]
    assert want > before
    page.wait_for_function(
        """want => Number(document.querySelector("[data-testid=page] > .page:not(.page-next) "
                  + "[data-testid=kpi-requests-value]").dataset.value) === want""", arg=want, timeout=30_000)
    assert page.evaluate("window.__sameDocument") is True
    assert "loading" not in page.evaluate("window.__states")  # never blanked to "Loading…"
    assert page.locator("[data-testid=page] > .page").count() == 1
    assert page.inner_text("[data-testid=panel-latency] .segmented button.active") == "Time to first token"
    assert int(page.get_attribute("[data-testid=page]", "data-refreshed")) >= 1
    page.wait_for_selector("[data-testid=chart-requests][data-drawn=true]")
    shot(page, "overview-live")


def test_score_filters_list_the_traces_the_api_lists(two: Demo, page: Any) -> None:
    want = two.api("traces", score_name="user-feedback", score_max=0, limit=50)["traces"]
    assert want
    thumbs_down = {r["trace_id"] for r in two.server.query(
        "SELECT DISTINCT trace_id FROM tokentrail.scores FINAL WHERE project = 'default' "
        "AND name = 'user-feedback' AND value <= 0")}
    assert {t["trace_id"] for t in want} <= thumbs_down
    open_page(page, two.page_url("traces", project="default"))
    page.fill("[data-testid=filter-score-name]", "user-feedback")
    page.fill("[data-testid=filter-score-max]", "0")
    page.click("[data-testid=score-apply]")
    page.wait_for_url("**score_max=0**")
    wait_ready(page)
    query = parse_qs(urlparse(page.url).query)
    assert query["score_name"] == ["user-feedback"] and query["score_max"] == ["0"]
    assert row_ids(page) == [t["trace_id"] for t in want]
    cells = page.locator("[data-testid=trace-row] [data-testid=cell-score]").all_inner_texts()
    assert cells and all("thumbs-down" in c for c in cells)
    shot(page, "traces-score-filter")
    # the label and source, from a link (e.g. the quality page's thumbs-down)
    labelled = two.api("traces", score_label="thumbs-up", score_source="feedback", limit=50)["traces"]
    open_page(page, two.page_url("traces", project="default", score_label="thumbs-up", score_source="feedback"))
    assert row_ids(page) == [t["trace_id"] for t in labelled]
    assert page.input_value("[data-testid=filter-score-source]") == "feedback"
    assert "thumbs-up" in page.inner_text("[data-testid=chip-score-label]")



def test_live_mode_shows_a_call_within_5_seconds_whatever_the_batching_deadline(two: Demo, page: Any) -> None:
    """No flush by the test: the spool waits 30 s before inserting (the deadline a long trickle leaves: it
    doubles each time a segment closes by time, up to batch_seconds), and a live traces list still shows a
    new call within 5 s (its polls insert what is spooled, at most once a second)."""
    spool = two.server.runtime.spool
    open_page(page, two.page_url("traces", project=OTHER))
    page.check("[data-testid=live-toggle]")
    body = next(Traffic(seed=202).requests(1, per_request=64, span_seconds=1.0))
    trace_id = ExportTraceServiceRequest.FromString(body).resource_spans[0].scope_spans[0].spans[0].trace_id.hex()
    spool.deadline = 30.0
    try:
        r = two.server.client.post("/v1/traces", content=body, headers={
            "content-type": "application/x-protobuf", "x-tokentrail-project": OTHER})
        assert r.status_code == 200, r.text
        page.wait_for_selector(f"[data-testid=traces-table] tbody tr:first-child[data-trace-id='{trace_id}']",
                               timeout=5_000)
    finally:
        spool.deadline = spool.min_age
    page.uncheck("[data-testid=live-toggle]")
