"""Secure by default, with the real ``tokentrail`` command: a non-loopback address without keys is
refused (one line, non-zero exit) unless ``--insecure``; the first admin key is made on the data dir
(no server) or through the open loopback server; keys are then made, listed and revoked through the
running server with ``TOKENTRAIL_API_KEY``. The raw key is printed once and never listed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support import ServerProcess, free_port, wait_for


def tt(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TOKENTRAIL_API_KEY"}
    if key:
        env["TOKENTRAIL_API_KEY"] = key
    return subprocess.run([sys.executable, "-m", "tokentrail.cli.main", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def test_a_non_loopback_bind_without_keys_refuses_to_start(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "tokentrail.cli.main", "serve", "--host", "0.0.0.0", "--port",
                        str(free_port()), "--data-dir", str(tmp_path / "data"), "--log-level", "warning"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    errors = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "no API key" in errors[0] and "--insecure" in errors[0], r.stderr


def test_insecure_starts_open_on_any_address_and_says_so(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = ServerProcess(data, extra=["--host", "0.0.0.0", "--insecure", "--log-level", "info"]).start()
    try:
        assert httpx.get(server.url + "/api/traces").status_code == 200
    finally:
        server.stop()
    assert "INSECURE" in (data.parent / f"serve-{server.port}.log").read_text()


def test_first_key_on_the_data_dir_then_a_non_loopback_server_needs_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    made = tt("keys", "create", "--project", "*", "--scope", "admin", "--name", "root", "--data-dir", str(data))
    assert made.returncode == 0, made.stderr
    admin = made.stdout.strip()
    assert admin.startswith("tt_") and len(admin) > 40
    listed = tt("keys", "list", "--data-dir", str(data))
    assert admin[:11] in listed.stdout and admin not in listed.stdout and "root" in listed.stdout
    server = ServerProcess(data, extra=["--host", "0.0.0.0"]).start()
    try:
        url = ["--url", server.url]
        assert httpx.get(server.url + "/api/traces").status_code == 401
        assert httpx.get(server.url + "/api/traces", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
        assert tt("keys", "list", *url).returncode != 0  # the CLI needs the key too
        reader = tt("keys", "create", "--project", "alpha", "--scope", "read", "--expires", "30d", *url, key=admin)
        assert reader.returncode == 0, reader.stderr
        read_key = reader.stdout.strip()
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {read_key}"}) as c:
            assert c.get("/api/traces").status_code == 200
            assert tt("keys", "revoke", read_key[:11], *url, key=admin).returncode == 0
            wait_for(lambda: c.get("/api/traces").status_code == 401, 10)
        listed = tt("keys", "list", "--json", *url, key=admin)
        assert {k["prefix"]: k["state"] for k in json.loads(listed.stdout)}[read_key[:11]] == "revoked"
    finally:
        server.stop()


def test_the_first_key_through_the_open_loopback_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = ServerProcess(data).start()
    try:
        url = ["--url", server.url]
        first = tt("keys", "create", "--project", "*", "--scope", "admin", *url)
        assert first.returncode == 0 and first.stdout.startswith("tt_"), first.stderr
        second = tt("keys", "create", "--project", "*", "--scope", "admin", *url)  # no longer open
        assert second.returncode != 0 and "401" in second.stderr
        assert httpx.get(server.url + "/healthz").status_code == 200  # probes stay open
    finally:
        server.stop()
