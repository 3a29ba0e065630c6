"""The web UI in a real headless Chromium, against a real server loaded with demo traffic.

Every page is opened at a fixed time window (``since``/``until`` in the URL), so the page and
the test ask the API the same question and must show the same numbers. A page is done when
``[data-testid=page]`` has ``data-state="ready"`` (the app sets it after its last panel).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.support import ServerThread, running_server
from tokentrail.demo.send import send_backfill

CHROMIUM = os.environ.get("TOKENTRAIL_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
DEMO_TRACES = 1500
DEMO_DAYS = 2.0


@dataclass
class Demo:
    server: ServerThread
    window: dict[str, str]  # since/until: the same fixed range for the page and the API

    @property
    def url(self) -> str:
        return self.server.url

    def api(self, path: str, **params: Any) -> Any:
        r = self.server.client.get(f"/api/{path}", params={**self.window, **params})
        r.raise_for_status()
        return r.json()

    def page_url(self, page: str, **params: str) -> str:
        return f"{self.url}/ui/{page}?{urlencode({**self.window, **params})}"


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One server for the UI tests, with two days of realistic demo traffic (and its feedback)."""
    with running_server(tmp_path_factory.mktemp("ui")) as server:
        send_backfill(server.url, traces=DEMO_TRACES, days=DEMO_DAYS)
        server.flush()
        now = datetime.now(UTC).replace(microsecond=0)
        window = {"since": (now - timedelta(days=DEMO_DAYS + 1)).isoformat().replace("+00:00", "Z"),
                  "until": (now + timedelta(hours=1)).isoformat().replace("+00:00", "Z")}
        yield Demo(server, window)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM}: .ci/run installs the Debian package `chromium`")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@dataclass
class Console:
    """Console errors and uncaught exceptions of a page: each test ends with none."""

    problems: list[str] = field(default_factory=list)

    def on_console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console.error: {message.text} ({message.location.get('url', '')})")

    def on_error(self, error: Any) -> None:
        self.problems.append(f"uncaught: {error}")


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id="UTC", locale="en-US")
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    console = Console()
    pg.on("console", console.on_console)
    pg.on("pageerror", console.on_error)
    yield pg
    context.close()
    assert console.problems == [], "the page logged errors"


def open_page(page: Any, url: str) -> Any:
    """Go to a UI URL and wait until every panel is filled; fail on an error box."""
    page.goto(url)
    return wait_ready(page)


def wait_ready(page: Any) -> Any:
    page.wait_for_selector("[data-testid=page][data-state=ready], [data-testid=page][data-state=error]")
    assert page.get_attribute("[data-testid=page]", "data-state") == "ready", page.inner_text("[data-testid=page]")
    errors = page.locator("[data-testid=error]").all_inner_texts()
    assert errors == [], errors
    return page
