"""From feedback to traces, in headless Chromium: the quality page's thumbs-down and low scores lead to
their traces, a trace shows its scores, and a reviewer adds one (an annotation) that lands in
/api/scores (the scores ingest, POST /api/scores) and on the trace."""

from __future__ import annotations

import os
from typing import Any

from tests.ingest.otel_helpers import emit_agent_trace, provider_exporting_to
from tests.support import wait_for
from tests.ui.conftest import Demo, open_page, wait_ready

REVIEW_PROJECT = "review"
SHOTS = os.environ.get("TOKENTRAIL_UI_SHOTS", "")


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def test_a_thumbs_down_on_the_quality_page_leads_to_its_trace(demo: Demo, page: Any) -> None:
    low = demo.api("quality")["low_scores"]
    # the demo's feedback is 1 (thumbs-up) or 0 (thumbs-down): the low ones are exactly the thumbs-down
    every = demo.server.query("SELECT count() AS n FROM tokentrail.scores FINAL WHERE project = 'default' "
                              "AND label = 'thumbs-down'")[0]["n"]
    assert every > 0 and low["total"] == every
    assert {(r["label"], r["value"]) for r in low["rows"]} == {("thumbs-down", 0.0)}
    open_page(page, demo.page_url("quality"))
    rows = page.locator("[data-testid=low-score-row]")
    assert rows.count() == len(low["rows"])
    _shot(page, "quality-low-scores")
    first = low["rows"][0]
    assert first["trace_id"]
    rows.first.locator("[data-testid=low-score-trace]").click()
    page.wait_for_url(f"**/ui/traces/{first['trace_id']}?**")
    wait_ready(page)
    table = page.locator("[data-testid=trace-scores] [data-testid=score-row]")
    assert table.count() >= 1
    assert "thumbs-down" in page.inner_text("[data-testid=scores-table]")


def test_a_reviewer_adds_a_score_to_a_trace(demo: Demo, page: Any) -> None:
    provider = provider_exporting_to(demo.url, REVIEW_PROJECT)
    ids = emit_agent_trace(provider)
    provider.shutdown()
    demo.server.flush()
    trace_id = ids["trace"]
    wait_for(lambda: demo.server.client.get(f"/api/traces/{trace_id}", params={"project": REVIEW_PROJECT})
             .status_code == 200, 30, 0.1)
    open_page(page, f"{demo.url}/ui/traces/{trace_id}?project={REVIEW_PROJECT}")
    assert page.locator("[data-testid=score-row]").count() == 0
    # a value is needed: nothing is sent without one
    page.click("[data-testid=annotate-submit]")
    assert page.evaluate("document.querySelector('[data-testid=annotate-value]').validity.valid") is False
    page.fill("[data-testid=annotate-name]", "correctness")
    page.fill("[data-testid=annotate-value]", "0.25")
    page.fill("[data-testid=annotate-comment]", "Quoted the wrong order <b>total</b>.")
    page.click("[data-testid=annotate-submit]")
    page.wait_for_selector("[data-testid=score-row]")
    stored = demo.server.client.get("/api/scores", params={"trace_id": trace_id, "project": REVIEW_PROJECT}).json()
    assert [(s["name"], s["value"], s["comment"], s["source"]) for s in stored["scores"]] == [
        ("correctness", 0.25, "Quoted the wrong order <b>total</b>.", "annotation")]
    assert page.inner_text("[data-testid=score-row] [data-testid=score-value]") == "0.25"
    assert page.inner_text("[data-testid=score-row] [data-testid=score-comment]") == "Quoted the wrong order <b>total</b>."
    _shot(page, "trace-annotated")
    # another project's reader does not see it; a fresh load of the trace does
    assert demo.server.client.get("/api/scores", params={"trace_id": trace_id}).json()["scores"] == []
    open_page(page, f"{demo.url}/ui/traces/{trace_id}?project={REVIEW_PROJECT}")
    assert page.locator("[data-testid=score-row]").count() == 1


def test_the_score_panels_say_which_filters_they_follow(demo: Demo, page: Any) -> None:
    """Under a route filter the score panels are the whole project's, and say so; under a user filter (with a
    route too) they are that user's traces' scores, and a user's lone thumbs-down is drawn, not "nothing"."""
    row = demo.server.query(
        "SELECT s.user_id AS u, sp.route AS r, count() AS n FROM tokentrail.scores AS sc FINAL "
        "INNER JOIN (SELECT trace_id, anyIf(user_id, user_id != '') AS user_id, anyIf(route, route != '') AS route "
        "FROM tokentrail.spans FINAL WHERE project = 'default' GROUP BY trace_id) AS s ON s.trace_id = sc.trace_id "
        "INNER JOIN (SELECT trace_id, anyIf(route, route != '') AS route FROM tokentrail.spans FINAL "
        "WHERE project = 'default' GROUP BY trace_id) AS sp ON sp.trace_id = sc.trace_id "
        "WHERE sc.project = 'default' AND sc.label = 'thumbs-down' AND s.user_id != '' "
        "GROUP BY u, r ORDER BY n DESC, u LIMIT 1")[0]
    open_page(page, demo.page_url("quality", route=row["r"]))
    note = page.inner_text("[data-testid=panel-feedback]")
    assert "whole project, not filtered by route" in note
    assert "whole project" in page.inner_text("[data-testid=panel-low-scores]")
    open_page(page, demo.page_url("quality", user=row["u"], route=row["r"]))
    assert demo.api("quality", user=row["u"], route=row["r"])["scores_filtered_by"] == ["route", "user"]
    note = page.inner_text("[data-testid=panel-feedback]")
    assert "scores of the traces matching route, user" in note and "whole project" not in note
    assert page.locator("[data-testid=feedback-table]").count() == 1
    chart = page.inner_text("[data-testid=panel-scores-over-time]")
    assert "nothing in this range" not in chart
    _shot(page, "quality-user-route-filter")
    unscored = demo.server.query(
        "SELECT user_id AS u FROM tokentrail.spans FINAL WHERE project = 'default' AND user_id != '' "
        "AND trace_id NOT IN (SELECT trace_id FROM tokentrail.scores WHERE project = 'default') "
        "AND user_id NOT IN (SELECT DISTINCT user_id FROM tokentrail.spans FINAL WHERE project = 'default' "
        "AND trace_id IN (SELECT trace_id FROM tokentrail.scores WHERE project = 'default')) "
        "GROUP BY u ORDER BY u LIMIT 1")
    assert unscored  # a user with calls and no scores: no first-run help, the filters left nothing
    open_page(page, demo.page_url("quality", user=unscored[0]["u"]))
    assert "No scores on the traces matching these filters" in page.inner_text("[data-testid=panel-feedback]")
