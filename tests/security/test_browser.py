"""Browser safety on an open loopback server (no keys: the case a web page could exploit): a cross-site
``text/plain`` POST, a form post and a foreign ``Host`` (DNS rebinding) are refused before any data is
read or written. Real HTTP to a real server; what got stored is read back from the store."""

from __future__ import annotations

import json
import secrets

import httpx
import pytest

from tests.support import ServerThread


def _stored(server: ServerThread, trace_id: str) -> int:
    return len(server.query("SELECT 1 FROM tokentrail.spans FINAL WHERE trace_id = {t:String}", {"t": trace_id}))


def _batch(trace_id: str) -> bytes:
    return json.dumps([{"trace_id": trace_id, "span_id": secrets.token_hex(8), "model": "gpt-4o",
                        "input_tokens": 1_000_000, "output_tokens": 1_000_000}]).encode()


def test_a_cross_site_text_plain_post_is_refused_and_nothing_is_stored(server: ServerThread) -> None:
    trace_id = secrets.token_hex(16)
    # what fetch(url, {method: "POST", mode: "no-cors", body: "..."}) from another site sends: no preflight
    r = httpx.post(f"{server.url}/api/ingest/batch", content=_batch(trace_id),
                   headers={"content-type": "text/plain;charset=UTF-8", "origin": "https://evil.example",
                            "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors"})
    assert r.status_code == 403 and "origin" in r.json()["error"]
    assert "access-control-allow-origin" not in r.headers
    assert _stored(server, trace_id) == 0


@pytest.mark.parametrize("path", ["/api/ingest/batch", "/api/scores", "/v1/traces"])
@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"])
def test_simple_request_content_types_are_refused_even_same_site(server: ServerThread, path: str, ctype: str) -> None:
    trace_id = secrets.token_hex(16)
    r = httpx.post(server.url + path, content=_batch(trace_id), headers={"content-type": ctype})
    assert r.status_code == 415 and "Content-Type" in r.json()["error"]
    assert _stored(server, trace_id) == 0


def test_same_origin_and_non_browser_writes_pass(server: ServerThread) -> None:
    for headers in ({"origin": server.url}, {"sec-fetch-site": "same-origin"}, {}):
        trace_id = secrets.token_hex(16)
        r = httpx.post(f"{server.url}/api/ingest/batch", content=_batch(trace_id),
                       headers={"content-type": "application/json", **headers})
        assert r.status_code == 200, r.text
        assert _stored(server, trace_id) == 1


def test_a_cross_site_post_without_origin_but_sec_fetch_site_is_refused(server: ServerThread) -> None:
    r = httpx.post(f"{server.url}/api/admin/flush", headers={"sec-fetch-site": "cross-site"})
    assert r.status_code == 403


@pytest.mark.parametrize("method,path", [("GET", "/api/traces"), ("POST", "/v1/traces"), ("GET", "/api/me"),
                                         ("POST", "/gateway/openai/v1/chat/completions")])
def test_a_foreign_host_header_is_refused(server: ServerThread, method: str, path: str) -> None:
    """DNS rebinding: evil.example resolves to 127.0.0.1, so the browser sends Host: evil.example."""
    r = httpx.request(method, server.url + path, headers={"host": f"evil.example:{server.port}",
                                                         "content-type": "application/json"}, content=b"{}")
    assert r.status_code == 421 and "allowed_hosts" in r.json()["error"]
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}"):
        assert httpx.get(server.url + "/api/traces", headers={"host": host}).status_code == 200


def test_no_cors_headers_unless_configured(server: ServerThread) -> None:
    r = httpx.get(f"{server.url}/api/traces", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    r = httpx.options(f"{server.url}/api/ingest/batch", headers={
        "origin": "https://evil.example", "access-control-request-method": "POST",
        "access-control-request-headers": "content-type"})
    assert "access-control-allow-origin" not in r.headers
