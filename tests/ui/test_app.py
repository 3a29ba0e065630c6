"""The UI is served by the server itself, from files inside the package, with no third-party assets."""

from __future__ import annotations

import re

import pytest

from tests.ui.conftest import Demo, open_page
from tokentrail.ui import STATIC_DIR

PAGES = ["overview", "cost", "usage", "quality", "traces", "sessions", "users"]


def test_root_redirects_to_the_ui_keeping_the_query(demo: Demo) -> None:
    r = demo.server.client.get("/?range=7d", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == "/ui/?range=7d"


def test_every_ui_path_serves_the_app_and_assets_have_their_types(demo: Demo) -> None:
    c = demo.server.client
    for path in ("/ui/", "/ui/cost", "/ui/traces/" + "a" * 32, "/ui/sessions/some-session"):
        r = c.get(path)
        assert r.status_code == 200 and "<main id=\"page\"" in r.text, path
    assert "javascript" in c.get("/ui/static/js/app.js").headers["content-type"]
    assert c.get("/ui/static/app.css").headers["content-type"].startswith("text/css")


def test_static_files_outside_the_ui_folder_are_not_served(demo: Demo) -> None:
    c = demo.server.client
    assert c.get("/ui/static/%2e%2e/__init__.py").status_code == 404
    assert c.get("/ui/static/..%2f..%2fconfig.py").status_code == 404
    assert c.get("/ui/static/missing.js").status_code == 404


def test_the_app_loads_nothing_from_other_hosts() -> None:
    """Works offline: every asset is ours and relative to this server."""
    for f in STATIC_DIR.rglob("*"):
        if f.suffix in (".html", ".js", ".css"):
            text = f.read_text()
            assert not re.search(r"""(src|href)\s*=\s*["']https?://""", text), f
            assert not re.search(r"""import[^;]*from\s+["']https?://""", text), f
            assert "@import url(http" not in text, f


@pytest.mark.parametrize("name", PAGES)
def test_every_page_renders_on_demo_data_without_errors(demo: Demo, page, name: str) -> None:
    open_page(page, demo.page_url(name))
    assert page.locator(f"[data-testid=page-{name}]").count() == 1
    assert page.locator("[data-testid=empty-state]").count() == 0
    assert page.locator(".tabs a.active").inner_text() == name.capitalize()


def test_an_unknown_page_says_so(demo: Demo, page) -> None:
    page.goto(demo.page_url("nonsense"))
    page.wait_for_selector("[data-testid=page][data-state=ready]")
    assert "no page" in page.inner_text("[data-testid=page]")


def test_a_project_without_data_tells_a_new_user_how_to_send_some(demo: Demo, page) -> None:
    for name in PAGES:
        open_page(page, f"{demo.url}/ui/{name}?project=nobody-yet")
        guide = page.inner_text("[data-testid=empty-state]")
        assert "No data yet" in guide, name
        assert f"{demo.url}/v1/traces" in guide
        assert "tokentrail demo" in guide and "--project nobody-yet" in guide
