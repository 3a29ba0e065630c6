"""Traces, one trace's spans, sessions and their turns, users: what the API has, in its order."""

from __future__ import annotations

import secrets

from tests.ui.conftest import Demo, open_page, wait_ready


def hrefs(page, row: str) -> list[str]:
    return page.locator(f"[data-testid={row}]").evaluate_all("rows => rows.map(r => r.dataset.href)")


def test_traces_list_is_the_search_api_in_its_order(demo: Demo, page) -> None:
    for order in ("start_time", "cost", "duration"):
        api = demo.api("traces", order=order, limit=50)["traces"]
        open_page(page, demo.page_url("traces", **({"order": order} if order != "start_time" else {})))
        ids = [h.split("/ui/traces/")[1].split("?")[0] for h in hrefs(page, "trace-row")]
        assert ids == [t["trace_id"] for t in api], order


def test_errors_only_lists_failed_traces(demo: Demo, page) -> None:
    open_page(page, demo.page_url("traces"))
    page.check("[data-testid=errors-only]")
    page.wait_for_url("**status=error**")
    wait_ready(page)
    api = demo.api("traces", status="error", limit=50)["traces"]
    assert api and all(t["status"] == "error" for t in api)
    assert page.locator("[data-testid=trace-row]").count() == len(api)
    # each failed trace shows the error type of one of its failed calls (a 429 reads RateLimitError)
    shown = page.locator("[data-testid=trace-row] [data-testid=cell-status]").all_inner_texts()
    assert shown == [t["error_type"] or "error" for t in api]
    first = api[0]
    types = {r["error_type"] for r in demo.server.query(
        "SELECT error_type FROM tokentrail.spans FINAL WHERE trace_id = {t:String} AND status = 'error'",
        {"t": first["trace_id"]})}
    assert first["error_type"] in types and first["error_type"]


def test_a_trace_shows_all_its_spans_and_its_captured_content(demo: Demo, page) -> None:
    candidates = demo.api("traces", order="cost", limit=50)["traces"]
    doc = None
    for t in candidates:
        d = demo.server.client.get(f"/api/traces/{t['trace_id']}").json()
        if d["content"] and len(d["spans"]) >= 3:
            doc = d
            break
    assert doc is not None, "the demo captures content for a sample of calls"
    trace_id = doc["trace"]["trace_id"]
    open_page(page, demo.page_url("traces"))
    page.goto(demo.page_url(f"traces/{trace_id}"))
    wait_ready(page)
    rows = page.locator("[data-testid=span-row]")
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.spanId)") == [s["span_id"] for s in doc["spans"]]
    span_id, content = next(iter(doc["content"].items()))
    page.click(f"[data-testid=span-row][data-span-id='{span_id}']")
    assert page.inner_text("[data-testid=content-input]") == content["input"]
    assert page.inner_text("[data-testid=content-output]") == content["output"]


def test_clicking_a_trace_row_opens_it(demo: Demo, page) -> None:
    first = demo.api("traces", limit=1)["traces"][0]
    open_page(page, demo.page_url("traces"))
    page.locator("[data-testid=trace-row]").first.locator("a").click()
    page.wait_for_url(f"**/ui/traces/{first['trace_id']}?**")
    wait_ready(page)
    assert page.locator("[data-testid=span-row]").count() == first["spans"]
    assert "since=" in page.url  # the filters come along


def test_sessions_list_and_a_sessions_turns_in_order(demo: Demo, page) -> None:
    sessions = demo.api("sessions", limit=50)["sessions"]
    open_page(page, demo.page_url("sessions"))
    assert page.locator("[data-testid=session-row]").count() == len(sessions)
    first = sessions[0]
    page.locator("[data-testid=session-row]").first.locator("a").click()
    page.wait_for_url("**/ui/sessions/**")
    wait_ready(page)
    turns = demo.server.client.get(f"/api/sessions/{first['session_id']}").json()["turns"]
    shown = page.locator("[data-testid=turn]").evaluate_all("turns => turns.map(t => t.dataset.traceId)")
    assert shown == [t["trace_id"] for t in turns]
    assert not page.locator("[data-testid=live]").is_visible()  # one session: nothing to tail


def test_a_session_of_unpriced_calls_shows_no_price_not_zero(demo: Demo, page) -> None:
    # the sessions holding a call of a model without a price (the demo's legacy batch calls)
    model = demo.server.query("SELECT any(request_model) AS m FROM tokentrail.spans FINAL WHERE project = 'default' "
                              "AND kind = 'llm' AND total_cost IS NULL AND status = 'ok' AND session_id != ''")[0]["m"]
    assert model
    sessions = demo.api("sessions", limit=50, model=model)["sessions"]
    open_page(page, demo.page_url("sessions", model=model))
    costs = page.locator("[data-testid=sessions-table] [data-testid=cell-cost]").all_inner_texts()
    assert len(costs) == len(sessions)
    unpriced = [(r, text) for r, text in zip(sessions, costs, strict=True) if r["unpriced"]]
    assert unpriced  # the demo's legacy batch calls name a model without a price
    for r, text in unpriced:
        assert ("no price" if not r["cost_usd"] else f"+ {r['unpriced']} unpriced") in text, (r, text)
    assert all("unpriced" not in text and "no price" not in text
               for r, text in zip(sessions, costs, strict=True) if not r["unpriced"])


def test_users_and_customers_equal_the_api(demo: Demo, page) -> None:
    for by in ("user", "customer"):
        rows = demo.api("users", by=by, order="cost", limit=100)["rows"]
        open_page(page, demo.page_url("users", **({"by": by} if by == "customer" else {})))
        cells = page.locator("[data-testid=users-table] [data-testid=cell-cost]").evaluate_all(
            "cells => cells.map(c => Number(c.dataset.value))")
        assert cells == [r["cost_usd"] for r in rows], by
    page.click("[data-testid=users-order] button[data-order=requests]")
    page.wait_for_url("**order=requests**")
    wait_ready(page)
    rows = demo.api("users", by="customer", order="requests", limit=100)["rows"]
    cells = page.locator("[data-testid=users-table] [data-testid=cell-requests]").evaluate_all(
        "cells => cells.map(c => Number(c.dataset.value))")
    assert cells == [r["requests"] for r in rows]


def test_a_text_search_finds_a_captured_prompt(demo: Demo, page) -> None:
    word = "zq" + secrets.token_hex(5)
    wanted = {"trace_id": secrets.token_hex(16), "span_id": secrets.token_hex(8), "model": "gpt-4o-mini",
              "input": f"Where is my parcel {word}? It was due Friday.", "output": "It ships on Monday.",
              "route": "support-search", "input_tokens": 12, "output_tokens": 5}
    decoy = {**wanted, "trace_id": secrets.token_hex(16), "span_id": secrets.token_hex(8),
             "input": f"Cancel order {word}", "output": "Cancelled."}
    r = demo.server.client.post("/api/ingest/batch", json=[wanted, decoy])
    assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
    demo.server.flush()
    open_page(page, demo.page_url("traces"))
    page.fill("[data-testid=content-search]", f"PARCEL {word}")  # any case, every word
    page.press("[data-testid=content-search]", "Enter")
    page.wait_for_url("**q=PARCEL**")
    wait_ready(page)
    ids = [h.split("/ui/traces/")[1].split("?")[0] for h in hrefs(page, "trace-row")]
    assert ids == [wanted["trace_id"]]
    assert page.input_value("[data-testid=content-search]") == f"PARCEL {word}"
    # where it matched: the prompt sent, the searched words marked
    assert page.inner_text("[data-testid=match-snippet]") == f"prompt: {wanted['input']}"
    assert page.locator("[data-testid=match-snippet] mark").all_inner_texts() == ["parcel", word]
    # both hold the marker: the newest first, as without a search
    page.fill("[data-testid=content-search]", word)
    page.click("[data-testid=content-search-go]")
    page.wait_for_function("document.querySelectorAll('[data-testid=trace-row]').length === 2")
    wait_ready(page)
    # a word no prompt holds: the page says so and how to clear it
    page.fill("[data-testid=content-search]", f"{word} umbrella")
    page.press("[data-testid=content-search]", "Enter")
    page.wait_for_selector("[data-testid=empty-state]")
    assert "holds every word" in page.inner_text("[data-testid=empty-state]")
    page.click("[data-testid=content-search-clear]")
    page.wait_for_function("!location.search.includes('q=')")
    wait_ready(page)
    # the found trace opens with its prompt
    page.goto(demo.page_url("traces", q=f"parcel {word}"))
    wait_ready(page)
    page.locator("[data-testid=trace-row]").first.locator("a").click()
    page.wait_for_url(f"**/ui/traces/{wanted['trace_id']}?**")
    wait_ready(page)
    assert "Where is my parcel" in page.inner_text("[data-testid=page]")


def test_users_list_pages_through_every_user(demo: Demo, page) -> None:
    """A later page of the users list is the API's rows from that offset, with a link back to the first."""
    every = demo.api("users", by="user", order="requests", limit=1000)["rows"]
    assert len(every) >= 3
    offset = len(every) - 2
    open_page(page, demo.page_url("users", order="requests", offset=offset))
    cells = page.locator("[data-testid=users-table] [data-testid=cell-requests]").evaluate_all(
        "cells => cells.map(c => Number(c.dataset.value))")
    assert cells == [r["requests"] for r in every[offset:]]
    assert page.locator("[data-testid=pager]").inner_text().startswith(f"← Previous\nusers {offset + 1:,}–")
    assert page.locator("[data-testid=next-page]").count() == 0  # fewer rows than a page: the last page
    back = max(0, offset - 100)
    page.click("[data-testid=prev-page]")
    page.wait_for_url(lambda url: (f"offset={back}" in url) if back else ("offset" not in url))
    wait_ready(page)
    first = page.locator("[data-testid=users-table] [data-testid=cell-requests]").evaluate_all(
        "cells => cells.map(c => Number(c.dataset.value))")
    assert first == [r["requests"] for r in every[back:back + 100]]
