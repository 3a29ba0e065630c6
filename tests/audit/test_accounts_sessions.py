"""Accounts and sessions against a real server: the CLI makes accounts (in the store, or through the
server with an admin key), a disabled account's open session stops, an expired session is refused,
and every account change and sign-in is in the audit log."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support import ServerThread
from tokentrail.auth import accounts, sessions

PASSWORD = "a long enough password"


def cli(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``tokentrail`` in its own process (this one holds the test server's store)."""
    return subprocess.run([sys.executable, "-m", "tokentrail.cli.main", *args], input=stdin, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def test_cli_makes_lists_and_disables_accounts_in_a_stopped_store(tmp_path: Path) -> None:
    local = ["--data-dir", str(tmp_path / "data"), "--url", "http://127.0.0.1:9"]  # no server there: the store
    made = cli("accounts", "create", "dana", "--project", "p1", "--project", "p2", "--scope", "read",
               "--password-stdin", *local, stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    assert "account dana: projects p1, p2; scopes read" in made.stdout and PASSWORD not in made.stdout
    generated = cli("accounts", "create", "eve", "--project", "*", "--scope", "admin", *local)
    assert generated.returncode == 0 and "password (shown once): " in generated.stdout
    again = cli("accounts", "create", "dana", "--project", "p1", "--scope", "read", "--password-stdin", *local,
                stdin=PASSWORD + "\n")
    assert again.returncode != 0 and "exists already" in again.stderr and "Traceback" not in again.stderr
    short = cli("accounts", "create", "fred", "--project", "p1", "--scope", "read", "--password-stdin", *local,
                stdin="short\n")
    assert short.returncode != 0 and "at least 10 characters" in short.stderr
    bad = cli("accounts", "create", "gus", "--project", "p1", "--scope", "root", *local)
    assert bad.returncode != 0 and "unknown scope" in bad.stderr
    assert cli("accounts", "disable", "dana", *local).returncode == 0
    listed = cli("accounts", "list", *local).stdout
    assert "dana" in listed and "disabled" in listed and "eve" in listed
    log = cli("audit", "--action", "account.*", "--json", *local)
    assert log.returncode == 0, log.stderr
    assert log.stdout.count('"account.create"') == 2 and log.stdout.count('"account.disable"') == 1


@contextmanager
def _sign_in(url: str, name: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as client:
        r = client.post("/api/signin", json={"name": name, "password": PASSWORD})
        assert r.status_code == 200, r.text
        client.headers["x-tokentrail-csrf"] = r.json()["csrf"]
        yield client


@pytest.fixture(scope="module")
def admin_key(server: ServerThread) -> str:
    """An admin key of every project (the first key also ends the open mode of this module's server)."""
    r = server.client.post("/api/admin/keys", json={"project": "*", "scopes": ["admin"], "name": "tests"})
    assert r.status_code == 200, r.text
    return r.json()["key"]


def test_cli_goes_through_the_server_with_an_admin_key(server: ServerThread, admin_key: str) -> None:
    args = ["--url", server.url, "--data-dir", str(server.settings.data_dir)]
    refused = cli("accounts", "list", *args, env={"TOKENTRAIL_API_KEY": ""})
    assert refused.returncode != 0 and "401" in refused.stderr
    made = cli("accounts", "create", "hana", "--project", "cli-p", "--scope", "read", "--scope", "read-content",
               "--password-stdin", *args, stdin=PASSWORD + "\n", env={"TOKENTRAIL_API_KEY": admin_key})
    assert made.returncode == 0, made.stderr
    with _sign_in(server.url, "hana") as hana:
        me = hana.get("/api/me").json()
        assert (me["actor"], me["projects"], me["content_projects"]) == ("user:hana", ["cli-p"], ["cli-p"])
    rows = server.client.get("/api/admin/audit", params={"target": "user:hana"},
                             headers={"authorization": f"Bearer {admin_key}"}).json()["rows"]
    assert {(r["action"], r["actor"]) for r in rows} >= {("account.create", f"key:{admin_key[:11]}"),
                                                         ("signin", "user:hana")}


def test_a_disabled_account_loses_its_open_session(server: ServerThread, admin_key: str) -> None:
    accounts.create_account(server.runtime.store, "ivan", ["p1"], ["read"], PASSWORD)
    with _sign_in(server.url, "ivan") as ivan:
        assert ivan.get("/api/metrics/summary", params={"project": "p1"}).status_code == 200
        r = httpx.post(f"{server.url}/api/admin/accounts/ivan/disable", headers={"authorization": f"Bearer {admin_key}"})
        assert r.status_code == 200 and r.json()["state"] == "disabled"
        assert ivan.get("/api/metrics/summary", params={"project": "p1"}).status_code == 401
        assert httpx.post(f"{server.url}/api/signin", json={"name": "ivan", "password": PASSWORD}).status_code == 401


def test_an_expired_session_is_refused(server: ServerThread, admin_key: str) -> None:
    accounts.create_account(server.runtime.store, "judy", ["p1"], ["read"], PASSWORD)
    raw = sessions.start(server.runtime.store, "account", "judy", hours=-0.001)  # expired a few seconds ago
    with httpx.Client(base_url=server.url, cookies={sessions.COOKIE: raw}) as judy:
        assert judy.get("/api/me").json()["auth"] == "none"
        assert judy.get("/api/metrics/summary", params={"project": "p1"}).status_code == 401
    live = sessions.start(server.runtime.store, "account", "judy", hours=1)
    with httpx.Client(base_url=server.url, cookies={sessions.COOKIE: live}) as judy:
        assert judy.get("/api/me").json()["actor"] == "user:judy"


def test_the_session_table_holds_no_raw_session_id(server: ServerThread, admin_key: str) -> None:
    accounts.create_account(server.runtime.store, "kim", ["p1"], ["read"], PASSWORD)
    with _sign_in(server.url, "kim") as kim:
        raw = kim.cookies[sessions.COOKIE]
    rows = server.runtime.store.query("SELECT * FROM tokentrail.ui_sessions FINAL WHERE subject = 'kim'")
    assert len(rows) == 1 and raw not in str(rows) and rows[0]["id_hash"] != raw
    stored = server.runtime.store.query("SELECT password_hash FROM tokentrail.accounts FINAL WHERE name = 'kim'")
    assert stored[0]["password_hash"].startswith("scrypt$") and PASSWORD not in stored[0]["password_hash"]


def test_too_many_failed_sign_ins_are_slowed_down(server: ServerThread, admin_key: str) -> None:
    accounts.create_account(server.runtime.store, "leo", ["p1"], ["read"], PASSWORD)
    answers = [httpx.post(f"{server.url}/api/signin", json={"name": "leo", "password": f"guess number {i}"}).status_code
               for i in range(11)]
    assert answers == [401] * 10 + [429]
    assert httpx.post(f"{server.url}/api/signin", json={"name": "leo", "password": PASSWORD}).status_code == 429
