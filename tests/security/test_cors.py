"""CORS when configured: a listed origin gets real CORS (preflight included); others stay refused."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support import ServerThread, running_server

APP = "https://app.example.com"


@pytest.fixture(scope="module")
def cors_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with running_server(tmp_path_factory.mktemp("cors"), cors_origins=APP,
                        allowed_hosts="tokentrail.example.com,127.0.0.1") as s:
        yield s


def test_a_listed_origin_gets_a_preflight_and_may_post(cors_server: ServerThread) -> None:
    r = httpx.options(f"{cors_server.url}/api/ingest/batch", headers={
        "origin": APP, "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,authorization"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == APP
    r = httpx.post(f"{cors_server.url}/api/ingest/batch", json=[], headers={"origin": APP})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == APP


def test_other_origins_get_nothing(cors_server: ServerThread) -> None:
    r = httpx.post(f"{cors_server.url}/api/ingest/batch", json=[], headers={"origin": "https://evil.example"})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers


def test_allowed_hosts_replace_the_defaults(cors_server: ServerThread) -> None:
    url = cors_server.url
    assert httpx.get(url + "/api/traces", headers={"host": "tokentrail.example.com"}).status_code == 200
    assert httpx.get(url + "/api/traces", headers={"host": f"localhost:{cors_server.port}"}).status_code == 421
    assert httpx.get(url + "/healthz", headers={"host": "10.1.2.3:4318"}).status_code == 200  # probes by address
