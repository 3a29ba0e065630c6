"""Saved views in headless Chromium: a page and its filters saved under a name open again from any page,
are shared with the project's other readers (the API lists them), and are deleted from the filter bar."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tests.ui.conftest import Demo, open_page, wait_ready


def test_save_open_and_delete_a_view(demo: Demo, page) -> None:
    route = demo.api("filters/values")["route"][0]
    open_page(page, demo.page_url("cost", route=route, status="error"))
    page.click("[data-testid=save-view]")
    page.fill("[data-testid=save-view-name]", "Failing route costs")
    page.click("[data-testid=save-view-submit]")
    page.wait_for_function("document.querySelector('[data-testid=saved-view-status]').textContent.includes('saved')")
    views = demo.server.client.get("/api/views").json()["views"]
    assert [(v["name"], v["page"]) for v in views] == [("Failing route costs", "cost")]
    saved = parse_qs(views[0]["query"])
    assert saved["route"] == [route] and saved["status"] == ["error"] and "since" in saved
    # the open page is that view: selected, with its delete button
    page.wait_for_function("document.querySelector('[data-testid=saved-view-select]').value !== ''")
    assert page.is_visible("[data-testid=delete-view]")
    # from another page without filters, choosing it opens the cost page with its filters
    open_page(page, demo.page_url("overview"))
    assert page.input_value("[data-testid=saved-view-select]") == ""
    page.select_option("[data-testid=saved-view-select]", views[0]["view_id"])
    page.wait_for_url("**/ui/cost?**")
    wait_ready(page)
    opened = parse_qs(urlparse(page.url).query)
    assert opened["route"] == [route] and opened["status"] == ["error"]
    assert page.input_value("[data-testid=filter-route]") == route
    assert page.input_value("[data-testid=filter-status]") == "error"
    # deleted from the filter bar: gone for everyone
    page.click("[data-testid=delete-view]")
    page.wait_for_function("document.querySelector('[data-testid=saved-view-status]').textContent.includes('deleted')")
    assert demo.server.client.get("/api/views").json()["views"] == []
    assert page.locator("[data-testid=saved-view-select] option").count() == 1  # the "No saved views" line


def test_views_are_per_project(demo: Demo, page) -> None:
    r = demo.server.client.post("/api/views", params={"project": "elsewhere"},
                                json={"name": "Elsewhere only", "page": "traces", "query": "status=error"})
    assert r.status_code == 200, r.text
    open_page(page, demo.page_url("traces"))
    names = page.locator("[data-testid=saved-view-select] option").all_inner_texts()
    assert not any("Elsewhere only" in n for n in names)
    open_page(page, demo.page_url("traces", project="elsewhere"))
    page.wait_for_function("[...document.querySelectorAll('[data-testid=saved-view-select] option')]"
                           ".some(o => o.textContent.includes('Elsewhere only'))")
    demo.server.client.delete(f"/api/views/{r.json()['view_id']}", params={"project": "elsewhere"})
