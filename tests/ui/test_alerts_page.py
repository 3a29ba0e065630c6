"""The Alerts and Explain pages in a real headless Chromium, against a real ``tokentrail serve`` process
with an alerts file, a receiver that works and one that answers 500 (local HTTP servers), and the
evaluator every second.

A week of ordinary traffic (one priced model, two routes, five users) is ingested through the batch API,
then a model with no price: the file's ``unpriced_model`` rule fires on it within a few rounds. The page
shows it (and the failing receiver), the rule editor previews and replays a rule typed in and saves it,
a silence made in the UI marks the alert silenced, the explainer opened from the alert (and from its
notification's link) ranks the unpriced model first and links to its traces, and "Why did this change?"
on the overview opens the explainer for the visible range. The server is a subprocess: the package's
demo server holds this process's one chDB store.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.alerts.receivers import Endpoint, endpoint
from tests.support import ServerProcess, wait_for
from tests.ui.conftest import Console, wait_ready

PROJECT = "shop"
MODEL = "house-model-x"  # no price anywhere
USERS = [f"u{i}" for i in range(1, 6)]
ROUTES = ["chat", "search"]


@dataclass
class Site:
    url: str
    client: httpx.Client
    team: Endpoint  # answers 200
    oncall: Endpoint  # answers 500
    shots: Path

    def api(self, path: str, **params: Any) -> Any:
        r = self.client.get(f"/api/{path}", params={"project": PROJECT, **params})
        r.raise_for_status()
        return r.json()

    def ui(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.url}/ui/{path}{sep}project={PROJECT}"


def _call(t: datetime, i: int, model: str) -> dict[str, Any]:
    return {"model": model, "provider": "openai" if model.startswith("gpt") else "house", "start_time": t.isoformat(),
            "input_tokens": 400, "output_tokens": 80, "duration_ms": 900, "route": ROUTES[i % 2],
            "user_id": USERS[i % 5], "customer": f"c{i % 3}", "environment": "prod", "release": "r1"}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    d = tmp_path_factory.mktemp("alerts-ui")
    with endpoint() as team, endpoint(default=500, answer=b"receiver is down") as oncall:
        cfg = d / "alerts.toml"
        cfg.write_text(f"""
[receivers.team]
type = "webhook"
url = "{team.url}"

[receivers.oncall]
type = "webhook"
url = "{oncall.url}"

[[rules]]
name = "unpriced"
kind = "unpriced_model"
project = "{PROJECT}"
window = "1h"
severity = "ticket"
receivers = ["team", "oncall"]
description = "a model with no price: its cost is missing from every total"
""")
        server = ServerProcess(d / "data", extra=["--alerts-file", str(cfg), "--alerts-interval", "1"]).start()
        client = httpx.Client(base_url=server.url, timeout=60, headers={"x-tokentrail-project": PROJECT})
        try:
            now = datetime.now(UTC)
            # a week of ordinary traffic: two calls an hour, the mix steady (routes, users, customers)
            week = [_call(now - timedelta(minutes=30 * k + 3), k, "gpt-4o-mini") for k in range(2 * 24 * 7)]
            for i in range(0, len(week), 200):
                r = client.post("/api/ingest/batch", json=week[i:i + 200])
                assert r.status_code == 200 and r.json()["rejected"] == 0, r.text
            # then a model nobody priced, on the same routes and users
            r = client.post("/api/ingest/batch", json=[_call(now - timedelta(minutes=k), k, MODEL) for k in range(6)])
            assert r.status_code == 200 and r.json()["accepted"] == 6, r.text
            assert client.post("/api/admin/flush").json()["flushed"]
            shots = Path(os.environ.get("TOKENTRAIL_UI_SHOTS") or d / "shots")
            shots.mkdir(parents=True, exist_ok=True)
            yield Site(server.url, client, team, oncall, shots)
        finally:
            client.close()
            server.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """The package's page fixture, but a test may name console errors it causes on purpose
    (``page.expected_errors``: substrings), e.g. the 400 of a rule typed wrong."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id="UTC", locale="en-US")
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    pg.expected_errors = []
    console = Console()
    pg.on("console", console.on_console)
    pg.on("pageerror", console.on_error)
    yield pg
    context.close()
    unexpected = [p for p in console.problems if not any(e in p for e in pg.expected_errors)]
    assert unexpected == [], "the page logged errors"


def firing(site: Site, rule: str = "unpriced") -> list[dict[str, Any]]:
    return [a for a in site.api("alerts")["alerts"] if a["state"] == "firing" and a["rule"] == rule]


def open_ready(page: Any, url: str) -> Any:
    page.goto(url)
    return wait_ready(page)


def shot(page: Any, site: Site, name: str) -> None:
    page.screenshot(path=str(site.shots / f"{name}.png"), full_page=True)


def test_the_page_shows_the_firing_alert_and_the_failing_receiver(page: Any, site: Site) -> None:
    wait_for(lambda: firing(site), timeout=60, interval=0.5)  # a few evaluator rounds
    # the working receiver got the notification; the other one has failed at least once
    wait_for(lambda: {r["name"]: r for r in site.api("alerts")["evaluator"]["receivers"]}["oncall"]["last_error"],
             timeout=60, interval=0.5)
    assert site.team.wait_for(1, timeout=60)
    open_ready(page, site.ui("alerts"))
    rows = page.locator("[data-testid=firing-table] [data-testid=alert-row]")
    assert rows.count() == 1
    row = rows.first
    assert row.locator("[data-testid=cell-rule]").inner_text() == "unpriced"
    assert row.locator("[data-testid=cell-group]").inner_text() == f"model={MODEL}"
    assert "6 calls" in row.locator("[data-testid=cell-summary]").inner_text()
    assert row.locator("[data-testid=silenced-badge]").count() == 0
    why = urlparse(row.locator("[data-testid=explain-link]").get_attribute("href"))
    assert why.path == "/ui/explain" and parse_qs(why.query)["focus.model"] == [MODEL]
    assert page.inner_text("[data-testid=nav-alerts-count]") == "1"
    # receivers: the one answering 500 stands out with its last error; the other is fine
    receivers = {r.locator("[data-testid=cell-receiver]").inner_text(): r
                 for r in page.locator("[data-testid=receiver-row]").all()}
    assert set(receivers) == {"team", "oncall"}
    bad = receivers["oncall"]
    assert bad.locator("[data-testid=receiver-health]").inner_text() == "failing"
    assert "row-bad" in (bad.get_attribute("class") or "")
    assert "500" in bad.locator("[data-testid=cell-last-error]").inner_text()
    assert receivers["team"].locator("[data-testid=receiver-health]").inner_text() == "ok"
    assert "row-bad" not in (receivers["team"].get_attribute("class") or "")
    # the evaluator's status: it has run, no rule failed, the file loaded
    status = page.inner_text("[data-testid=evaluator-status]")
    assert "every 1" in status and "loaded" in status
    assert page.locator("[data-testid=rule-errors-empty]").count() == 1
    assert page.locator("[data-testid=alerts-file-error]").count() == 0
    shot(page, site, "alerts-firing")
    # history: the rule went pending then firing
    page.click("[data-testid=tab-history]")
    wait_ready(page)
    states = page.locator("[data-testid=history-row] [data-testid=cell-state]").all_inner_texts()
    assert {"pending", "firing"} <= set(states)
    page.select_option("[data-testid=history-range]", "1h")
    wait_ready(page)
    assert "h_range=1h" in page.url
    assert page.locator("[data-testid=history-row]").count() == len(
        site.api("alerts/history", range="1h", limit=500)["events"])


def test_the_rule_editor_previews_replays_and_saves(page: Any, site: Site) -> None:
    page.expected_errors = ["status of 400"]  # the preview of a rule typed wrong
    open_ready(page, site.ui("alerts?tab=rules"))
    # the file's rule: read-only, with where it comes from
    file_rule = page.locator("[data-testid=rule-row]").filter(has_text="unpriced")
    assert file_rule.locator("[data-testid=cell-source]").inner_text() == "alerts file"
    file_rule.locator("a").click()
    wait_ready(page)
    assert "alerts.toml" in page.inner_text("[data-testid=rule-readonly]")
    assert page.is_disabled("[data-testid=rule-save]") and page.is_disabled("[data-testid=rule-window]")

    page.click("[data-testid=new-rule]")
    wait_ready(page)
    page.fill("[data-testid=rule-name]", "house-models")
    page.select_option("[data-testid=rule-kind]", "unpriced_model")
    page.fill("[data-testid=rule-window]", "soon")  # not a duration: the server says so, live
    page.wait_for_selector("[data-testid=rule-validity].bad")
    assert "window" in page.inner_text("[data-testid=rule-validity]")
    page.fill("[data-testid=rule-window]", "30m")
    page.fill("[data-testid=rule-filter-route]", "chat")
    page.wait_for_selector("[data-testid=rule-validity].ok")
    page.wait_for_selector("[data-testid=replay-verdict]")
    spec = {"kind": "unpriced_model", "project": PROJECT, "window": "30m", "filters": {"route": "chat"}}
    # what the page shows is what the API answers for the same rule now (one episode: the model we sent)
    api = site.client.post("/api/alerts/preview", json={"rule": spec, "since": "7d"}).json()
    assert api["replay"]["fired"] == 1 and api["replay"]["episodes"][0]["labels"] == {"model": MODEL}
    verdict = page.locator("[data-testid=replay-verdict]")
    assert verdict.get_attribute("data-fired") == "1"
    assert "would have fired 1 time" in verdict.inner_text()
    episodes = page.locator("[data-testid=episode-row]")
    assert episodes.count() == 1 and f"model={MODEL}" in episodes.first.inner_text()
    assert page.locator("[data-testid=replay-strip] .episode").count() == 1
    now_rows = page.locator("[data-testid=preview-findings] [data-testid=finding-row]")
    assert f"model={MODEL}" in now_rows.first.inner_text() and "holds" in now_rows.first.inner_text()
    shot(page, site, "alerts-rule-editor")

    # JSON mode: the same rule, every field; a broken JSON says so
    page.check("[data-testid=rule-json-mode]")
    page.fill("[data-testid=rule-json]", '{"kind": "unpriced_model",')
    page.wait_for_selector("[data-testid=rule-validity].bad")
    assert "JSON" in page.inner_text("[data-testid=rule-validity]")
    page.fill("[data-testid=rule-json]", '{"kind": "unpriced_model", "project": "shop", "window": "30m", '
              '"filters": {"route": "chat"}, "severity": "info"}')
    page.wait_for_selector("[data-testid=rule-validity].ok")
    page.uncheck("[data-testid=rule-json-mode]")
    assert page.input_value("[data-testid=rule-severity]") == "info"
    assert page.input_value("[data-testid=rule-filter-route]") == "chat"

    page.click("[data-testid=rule-save]")
    page.wait_for_url("**edit=house-models**")
    wait_ready(page)
    saved = page.locator("[data-testid=rule-row]").filter(has_text="house-models")
    assert saved.count() == 1 and saved.locator("[data-testid=cell-source]").inner_text() == "API / UI"
    stored = {r["name"]: r for r in site.api("alerts/rules")["rules"]}["house-models"]
    assert stored["source"] == "api" and stored["window"] == "30m" and stored["filters"] == {"route": "chat"}
    assert stored["severity"] == "info"
    # the saved rule opens in the editor; delete asks twice
    assert page.input_value("[data-testid=rule-name]") == "house-models"
    page.click("[data-testid=rule-delete]")
    page.click("[data-testid=rule-delete]")
    page.wait_for_url("**deleted=house-models**")
    wait_ready(page)
    assert page.locator("[data-testid=rule-row]").filter(has_text="house-models").count() == 0
    assert "house-models" not in {r["name"] for r in site.api("alerts/rules")["rules"]}


def test_a_silence_made_in_the_ui_marks_the_alert(page: Any, site: Site) -> None:
    wait_for(lambda: firing(site), timeout=60, interval=0.5)
    open_ready(page, site.ui("alerts"))
    page.locator("[data-testid=firing-table] [data-testid=silence-link]").first.click()
    wait_ready(page)
    assert page.input_value("[data-testid=silence-rule]") == "unpriced"
    assert page.input_value("[data-testid=silence-matchers]") == f"model={MODEL}"
    page.fill("[data-testid=silence-duration]", "30m")
    page.fill("[data-testid=silence-comment]", "pricing it today")
    page.click("[data-testid=silence-create]")
    page.wait_for_selector("[data-testid=silence-row]")
    wait_ready(page)
    row = page.locator("[data-testid=silence-row]").first
    assert row.locator("[data-testid=cell-rule]").inner_text() == "unpriced"
    assert row.locator("[data-testid=cell-matchers]").inner_text() == f"model={MODEL}"
    assert "pricing it today" in row.inner_text()
    stored = site.api("alerts/silences")["silences"]
    assert len(stored) == 1 and stored[0]["matchers"] == {"model": MODEL} and stored[0]["comment"] == "pricing it today"
    page.click("[data-testid=tab-now]")
    wait_ready(page)
    alert = page.locator("[data-testid=firing-table] [data-testid=alert-row]").first
    assert alert.locator("[data-testid=silenced-badge]").inner_text() == "silenced"
    assert page.locator("[data-testid=nav-alerts-count]").is_hidden()  # nothing unsilenced fires
    assert all(a["silenced"] for a in firing(site))
    shot(page, site, "alerts-silenced")
    # end it: the alert is no longer silenced
    page.click("[data-testid=tab-silences]")
    wait_ready(page)
    page.click("[data-testid=end-silence]")
    page.wait_for_selector("[data-testid=silences-table-empty]")
    wait_ready(page)
    assert site.api("alerts/silences")["silences"] == []
    assert not any(a["silenced"] for a in firing(site))


def _first_contribution(page: Any) -> tuple[str, str]:
    row = page.locator("[data-testid=contributions-table] [data-testid=contribution-row]").first
    return row.locator("[data-testid=cell-dimension]").inner_text(), row.locator("[data-testid=cell-value]").inner_text()


def test_the_explainer_from_the_alert_ranks_the_model_first_and_links_its_traces(page: Any, site: Site) -> None:
    wait_for(lambda: firing(site), timeout=60, interval=0.5)
    open_ready(page, site.ui("alerts"))
    page.locator("[data-testid=firing-table] [data-testid=explain-link]").first.click()
    page.wait_for_selector("[data-testid=page-explain]")
    wait_ready(page)
    assert "unpriced" in page.inner_text("[data-testid=alert-banner]")
    assert page.inner_text("[data-testid=alert-focus]") == f"model={MODEL}"
    dimension, value = _first_contribution(page)
    assert dimension == "Model" and value.startswith(MODEL)
    first = page.locator("[data-testid=contributions-table] [data-testid=contribution-row]").first
    assert first.locator("[data-testid=focus-badge]").count() == 1
    # the numbers are the explainer's for the same question
    q = parse_qs(urlparse(page.url).query)
    doc = site.api("explain", metric=q["metric"][0], since=q["since"][0], until=q["until"][0],
                   baseline_since=q["baseline_since"][0], baseline_until=q["baseline_until"][0])
    assert doc["top"][0]["value"] == MODEL and doc["window"]["value"] >= 6
    assert float(page.get_attribute("[data-testid=kpi-window-value]", "data-value")) == doc["window"]["value"]
    page.wait_for_selector("[data-testid=chart-explain][data-drawn=true]")
    assert page.locator("[data-testid=chart-explain] rect[data-band=window]").count() == 1
    # per dimension: the Model tab lists the unpriced model first as well
    page.click("[data-testid=contrib-tab-model]")
    assert page.locator("[data-testid=contribution-row] [data-testid=cell-value]").first.inner_text().startswith(MODEL)
    traces = page.locator("[data-testid=explain-traces] [data-testid=explain-trace-row]")
    assert traces.count() == 6
    assert set(page.locator("[data-testid=explain-traces] [data-testid=cell-models]").all_inner_texts()) == {MODEL}
    shot(page, site, "explain-from-alert")
    traces.first.locator("a").click()
    page.wait_for_selector("[data-testid=page-traces]")
    wait_ready(page)
    assert MODEL in page.inner_text("[data-testid=trace-facts]")


def test_the_notification_link_opens_the_explainer(page: Any, site: Site) -> None:
    got = site.team.wait_for(1, timeout=60)
    link = got[0].json["explain_url"]
    assert "/ui/explain?" in link and "focus.model=" in link
    open_ready(page, site.url + link[link.index("/ui/explain"):])  # the server's own base URL, whatever it says
    dimension, value = _first_contribution(page)
    assert dimension == "Model" and value.startswith(MODEL)
    first = page.locator("[data-testid=contributions-table] [data-testid=contribution-row]").first
    assert first.locator("[data-testid=focus-badge]").count() == 1


def test_why_did_this_change_from_a_chart(page: Any, site: Site) -> None:
    open_ready(page, site.ui("overview?range=6h"))
    page.click("[data-testid=why-requests]")
    page.wait_for_selector("[data-testid=page-explain]")
    wait_ready(page)
    q = parse_qs(urlparse(page.url).query)
    assert q["metric"] == ["requests"] and q["project"] == [PROJECT] and "range" not in q
    since, until = (datetime.fromisoformat(q[k][0].replace("Z", "+00:00")) for k in ("since", "until"))
    assert timedelta(hours=6) - timedelta(seconds=2) <= until - since <= timedelta(hours=6) + timedelta(seconds=2)
    assert "active" in (page.get_attribute("[data-testid=explain-baseline] [data-baseline=prev]", "class") or "")
    # the window's requests are the calls stored in it
    summary = site.api("metrics/summary", since=q["since"][0], until=q["until"][0])
    assert float(page.get_attribute("[data-testid=kpi-window-value]", "data-value")) == summary["requests"]
    assert _first_contribution(page)[1].startswith(MODEL)  # new in the last 6 h
    # the metric can change in place; the filters of the page stay
    page.select_option("[data-testid=explain-metric]", "tokens")
    wait_ready(page)
    assert parse_qs(urlparse(page.url).query)["metric"] == ["tokens"]

    # drag across the requests chart: explain that range
    open_ready(page, site.ui("overview?range=6h"))
    page.wait_for_selector("[data-testid=chart-requests][data-drawn=true]")
    box = page.locator("[data-testid=chart-requests] rect.overlay").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=5)
    page.mouse.up()
    page.wait_for_selector("[data-testid=page-explain]")
    wait_ready(page)
    q = parse_qs(urlparse(page.url).query)
    since, until = (datetime.fromisoformat(q[k][0].replace("Z", "+00:00")) for k in ("since", "until"))
    assert q["metric"] == ["requests"] and timedelta(0) < until - since < timedelta(hours=6)
    shot(page, site, "explain-from-chart")


def test_a_reader_sees_why_a_silence_is_refused(page: Any, site: Site) -> None:
    """Last: making a key ends the server's open mode. A read-only key may look, not silence."""
    r = site.client.post("/api/admin/keys", json={"project": PROJECT, "scopes": ["read"], "name": "reader"})
    assert r.status_code == 200, r.text
    key = r.json()["key"]
    page.expected_errors = ["status of 401", "status of 403"]
    page.goto(site.ui("alerts?tab=silences"))
    page.wait_for_selector("[data-testid=signin-form]")
    page.click("text=Sign in with an API key instead")
    page.fill("[data-testid=signin-key]", key)
    page.click("[data-testid=signin-submit]")
    page.wait_for_selector("[data-testid=silence-form]")
    wait_ready(page)
    page.fill("[data-testid=silence-comment]", "not mine to silence")
    page.click("[data-testid=silence-create]")
    page.wait_for_selector("[data-testid=silence-create-status].bad-text")
    refused = httpx.post(f"{site.url}/api/alerts/silences", json={"duration": "1h", "project": PROJECT},
                         headers={"authorization": f"Bearer {key}"})
    assert refused.status_code == 403
    text = page.inner_text("[data-testid=silence-create-status]")
    assert text.startswith("Not silenced:") and refused.json()["error"] in text
    assert page.locator("[data-testid=silence-row]").count() == 0


def test_the_rule_editor_knows_every_field_of_every_kind() -> None:
    """The editor's form per kind (js/pages/alerts.js KINDS) shows each field of the server's rule models
    (alerts/rules.py), so a field added there is not silently missing here (burn-rate windows: JSON)."""
    from tokentrail.alerts import rules
    from tokentrail.ui import STATIC_DIR

    js = (STATIC_DIR / "js" / "pages" / "alerts.js").read_text()
    common = set(rules._Base.model_fields) | {"kind"}
    models = {"budget": rules.BudgetRule, "cost_jump": rules.CostJumpRule, "burn_rate": rules.BurnRateRule,
              "anomaly": rules.AnomalyRule, "silent_model": rules.SilentModelRule,
              "unpriced_model": rules.UnpricedModelRule, "rate_drop": rules.RateDropRule}
    assert set(models) == set(rules.KINDS)
    for kind, model in models.items():
        start = js.index(f"\n  {kind}: {{")
        section = js[start:js.index("\n  },", start)]
        missing = [f for f in model.model_fields if f not in common and f != "windows" and f'["{f}",' not in section]
        assert missing == [], f"{kind}: the editor lacks {missing}"
