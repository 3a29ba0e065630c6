"""UI sign-in in a real headless Chromium against a real server process that needs credentials.

The server starts open (loopback, no keys, no accounts), takes calls with content in projects p1, p2 and
p3, and is closed by its first account (root, an admin of every project). Then: alice (p1 and p2, read
only), carol (p1, read and read-content) and a key of p2 with read-content. The server is a subprocess:
the package's demo server may hold this process's one chDB store.
"""

from __future__ import annotations

import http.server
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import ServerProcess, free_port
from tests.ui.conftest import CHROMIUM_ARGS, Console, wait_ready  # noqa: F401 (the browser fixture)

PASSWORD = "correct horse battery staple"
PROMPT = "Which river runs through Lyon?"  # the content a reader without read-content must never see


@dataclass
class Site:
    url: str
    traces: dict[str, str]  # project -> a trace id with content
    key: str  # a key of p2 with read-content
    root: httpx.Client  # signed in as root (cookie + CSRF header)
    sessions: list[httpx.Client] = field(default_factory=list)


def _signed_in(url: str, **fields: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=30)
    r = client.post("/api/signin", json=fields)
    assert r.status_code == 200, r.text
    client.headers["x-tokentrail-csrf"] = r.json()["csrf"]
    return client


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    server = ServerProcess(tmp_path_factory.mktemp("signin") / "data").start()
    try:
        open_client = httpx.Client(base_url=server.url, timeout=60)
        traces = {}
        for project in ("p1", "p2", "p3"):
            trace_id = uuid.uuid4().hex
            item = {"trace_id": trace_id, "span_id": trace_id[:16], "model": "gpt-4o-mini", "input_tokens": 12,
                    "output_tokens": 4, "input": PROMPT, "output": "The Rhône and the Saône.",
                    "session_id": f"sess-{project}", "route": "geo"}
            r = open_client.post("/api/ingest/batch", json=[item], headers={"x-tokentrail-project": project})
            assert r.status_code == 200, r.text
            traces[project] = trace_id
        assert open_client.post("/api/admin/flush").json()["flushed"]
        assert open_client.get("/api/me").json()["auth"] == "open"
        r = open_client.post("/api/admin/accounts", json={"name": "root", "projects": ["*"], "scopes": ["admin"],
                                                           "password": PASSWORD})
        assert r.status_code == 200, r.text
        assert open_client.get("/api/me").json()["auth"] == "none"  # the first account ends open mode
        assert open_client.get("/api/metrics/summary").status_code == 401
        root = _signed_in(server.url, name="root", password=PASSWORD)
        for name, projects, scopes in (("alice", ["p1", "p2"], ["read"]), ("carol", ["p1"], ["read", "read-content"])):
            r = root.post("/api/admin/accounts", json={"name": name, "projects": projects, "scopes": scopes,
                                                       "password": PASSWORD})
            assert r.status_code == 200, r.text
        r = root.post("/api/admin/keys", json={"project": "p2", "scopes": ["read-content"], "name": "ui"})
        assert r.status_code == 200, r.text
        yield Site(server.url, traces, r.json()["key"], root)
        root.close()
        open_client.close()
    finally:
        server.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """The package's page fixture, but a test may name console errors it causes on purpose
    (``page.expected_errors``: substrings), e.g. the 401 of a wrong password."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id="UTC", locale="en-US")
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.expected_errors = []
    console = Console()
    pg.on("console", console.on_console)
    pg.on("pageerror", console.on_error)
    yield pg
    context.close()
    unexpected = [p for p in console.problems if not any(e in p for e in pg.expected_errors)]
    assert unexpected == [], "the page logged errors"


def sign_in(page: Any, site: Site, name: str = "", key: str = "") -> None:
    page.goto(f"{site.url}/ui/traces?range=7d")
    page.wait_for_selector("[data-testid=signin-form]")
    if key:
        page.click("text=Sign in with an API key instead")
        page.fill("[data-testid=signin-key]", key)
    else:
        page.fill("[data-testid=signin-name]", name)
        page.fill("[data-testid=signin-password]", PASSWORD)
    page.click("[data-testid=signin-submit]")
    page.wait_for_selector("[data-testid=page-traces]")
    wait_ready(page)


def picker(page: Any) -> list[str]:
    """The projects the picker offers (each option reads "p1 · 3 calls": its value is the project), once
    /api/projects has filled it (it first holds the current project alone: a loaded machine answered
    the test before the list)."""
    page.wait_for_function("""() => {
        const os = [...document.querySelectorAll('[data-testid=project-picker] option')];
        return os.length > 0 && os.every((o) => o.dataset.requests !== undefined);
    }""")
    return page.locator("[data-testid=project-picker] option").evaluate_all("os => os.map(o => o.value)")


def test_without_a_session_the_ui_shows_the_sign_in_page(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/ui/overview")
    page.wait_for_selector("[data-testid=signin-form]")
    assert not page.locator("[data-testid=nav]").is_visible()
    page.fill("[data-testid=signin-name]", "alice")
    page.fill("[data-testid=signin-password]", "not the password")
    page.expected_errors.append("status of 401 (Unauthorized) (http://127.0.0.1")
    with page.expect_response("**/api/signin") as answer:
        page.click("[data-testid=signin-submit]")
    assert answer.value.status == 401
    page.wait_for_selector("[data-testid=signin-error]:not([hidden])")
    assert "wrong name or password" in page.inner_text("[data-testid=signin-error]")
    assert page.context.cookies() == []


def test_an_account_sees_only_its_projects_and_no_content_without_read_content(page: Any, site: Site) -> None:
    sign_in(page, site, name="alice")
    assert picker(page) == ["p1", "p2"]  # p3 holds data too, but alice may not read it
    assert "p1" in page.url  # she starts on a project she may read
    assert page.locator("[data-testid=audit-tab], .tabs a[data-page=audit]").is_hidden()
    rows = page.locator("[data-testid=traces-table] [data-testid=trace-row]")
    assert rows.count() == 1
    page.select_option("[data-testid=project-picker]", "p2")
    page.wait_for_url("**project=p2**")
    wait_ready(page)
    page.goto(f"{site.url}/ui/traces/{site.traces['p1']}?project=p1")
    wait_ready(page)
    hidden = page.inner_text("[data-testid=content-hidden]")
    assert "your account (alice) lacks read-content on project p1" in hidden
    assert PROMPT not in page.content()
    page.goto(f"{site.url}/ui/sessions/sess-p1?project=p1")
    wait_ready(page)
    assert "lacks read-content on project p1" in page.inner_text("[data-testid=content-hidden]")
    # the server, not only the page, keeps it: alice's own cookie cannot fetch content or another project
    cookie = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=site.url, cookies=cookie) as alice:
        doc = alice.get(f"/api/traces/{site.traces['p1']}", params={"project": "p1"}).json()
        assert doc["content_permitted"] is False and doc["content"] == {}
        assert alice.get(f"/api/traces/{site.traces['p3']}", params={"project": "p3"}).status_code == 403
        assert alice.get("/api/admin/audit").status_code == 403


def test_read_content_shows_the_prompt_and_the_read_is_audited(page: Any, site: Site) -> None:
    sign_in(page, site, name="carol")
    assert picker(page) == ["p1"]
    page.goto(f"{site.url}/ui/traces/{site.traces['p1']}?project=p1")
    wait_ready(page)
    assert page.inner_text("[data-testid=content-input]") == PROMPT
    rows = site.root.get("/api/admin/audit", params={"actor": "user:carol", "action": "content.read"}).json()["rows"]
    assert [(r["target"], r["project"], r["ip"]) for r in rows] == [(site.traces["p1"], "p1", "127.0.0.1")]
    assert "Chrome" in rows[0]["user_agent"]


def test_a_key_signs_in_too(page: Any, site: Site) -> None:
    sign_in(page, site, key=site.key)
    assert picker(page) == ["p2"]
    page.goto(f"{site.url}/ui/traces/{site.traces['p2']}?project=p2")
    wait_ready(page)
    assert page.inner_text("[data-testid=content-input]") == PROMPT


def test_admins_see_the_audit_page(page: Any, site: Site) -> None:
    sign_in(page, site, name="root")
    assert picker(page) == ["default", "p1", "p2", "p3"]
    page.click(".tabs a[data-page=audit]")
    page.wait_for_selector("[data-testid=page-audit]")
    wait_ready(page)
    page.fill("[data-testid=audit-action]", "account.create")
    page.press("[data-testid=audit-action]", "Enter")
    page.wait_for_url("**action=account.create**")
    wait_ready(page)
    targets = page.locator("[data-testid=cell-target]").all_inner_texts()
    assert sorted(targets) == ["user:alice", "user:carol", "user:root"]


def test_cookie_flags_on_the_real_response(site: Site) -> None:
    r = httpx.post(f"{site.url}/api/signin", json={"name": "alice", "password": PASSWORD})
    cookie = r.headers["set-cookie"]
    attrs = {a.strip().split("=")[0].lower() for a in cookie.split(";")[1:]}
    assert cookie.startswith("tokentrail_session=") and {"httponly", "path", "samesite", "max-age"} <= attrs
    assert "samesite=strict" in cookie.lower() and "secure" not in attrs  # plain http on loopback
    # behind a TLS proxy on the same host (uvicorn trusts X-Forwarded-Proto from 127.0.0.1): Secure
    r = httpx.post(f"{site.url}/api/signin", json={"name": "alice", "password": PASSWORD},
                   headers={"x-forwarded-proto": "https"})
    assert "secure" in {a.strip().lower() for a in r.headers["set-cookie"].split(";")}


def test_posts_with_the_cookie_need_the_csrf_header_and_our_origin(site: Site) -> None:
    alice = _signed_in(site.url, name="alice", password=PASSWORD)
    token = alice.headers.pop("x-tokentrail-csrf")
    r = alice.post("/api/signout")
    assert r.status_code == 403 and "x-tokentrail-csrf" in r.json()["error"]
    r = alice.post("/api/signout", headers={"x-tokentrail-csrf": token, "origin": "http://evil.example"})
    assert r.status_code == 403
    r = alice.post("/api/signout", headers={"x-tokentrail-csrf": "0" * 64})
    assert r.status_code == 403
    assert alice.get("/api/me").json()["actor"] == "user:alice"  # still signed in


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def test_a_cross_site_page_cannot_post_with_the_cookie(page: Any, site: Site, tmp_path: Path) -> None:
    sign_in(page, site, name="root")
    port = free_port()
    target = site.url
    (tmp_path / "evil.html").write_text(f"""<!doctype html><body>
<form id=f method=POST action="{target}/api/admin/accounts" enctype="text/plain">
<input name='{{"name":"mallory","projects":["*"],"scopes":["admin"],"password":"x' value='xxxxxxxxxxx"}}'>
</form>
<script>
fetch("{target}/api/signout", {{method: "POST", mode: "no-cors", credentials: "include",
  headers: {{"content-type": "text/plain"}}, body: "bye"}}).finally(() => document.getElementById("f").submit());
</script></body>""")
    page.expected_errors += ["status of 403 (Forbidden)", "favicon.ico"]  # the refused POSTs and their page
    handler = partial(_Quiet, directory=str(tmp_path))
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        refused = []
        page.on("response", lambda r: refused.append(r.status) if r.url.startswith(target + "/api/") else None)
        page.goto(f"http://localhost:{port}/evil.html")  # another site: localhost is not 127.0.0.1
        page.wait_for_url(f"{target}/api/admin/accounts")
        assert 403 in refused
    finally:
        evil.shutdown()
    names = [a["name"] for a in site.root.get("/api/admin/accounts").json()["accounts"]]
    assert "mallory" not in names
    page.goto(f"{site.url}/ui/traces?range=7d")
    wait_ready(page)  # still signed in: the signout POST did nothing
    assert page.locator("[data-testid=who]").inner_text() == "root"


def test_sign_out_ends_the_session(page: Any, site: Site) -> None:
    sign_in(page, site, name="alice")
    cookie = {c["name"]: c["value"] for c in page.context.cookies()}
    page.click("[data-testid=signout]")
    page.wait_for_selector("[data-testid=signin-form]")
    assert page.context.cookies() == []
    with httpx.Client(base_url=site.url, cookies=cookie) as old:  # the old cookie, replayed
        assert old.get("/api/me").json()["auth"] == "none"
        assert old.get("/api/metrics/summary", params={"project": "p1"}).status_code == 401
    rows = site.root.get("/api/admin/audit", params={"actor": "user:alice", "action": "signout"}).json()["rows"]
    assert rows and rows[0]["ip"] == "127.0.0.1"
