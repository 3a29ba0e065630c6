"""The Langfuse SDK (v3+, OTLP based) pointed at tokentrail: only its host changes.

Real parts: the ``langfuse`` client (5.x) exports OTLP protobuf, gzip, to
``/api/public/otel/v1/traces`` with ``Authorization: Basic base64(pk:sk)``; the server maps a
configured key pair to a project (setting ``langfuse_keys``).
"""

from __future__ import annotations

import base64
import dataclasses
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider

from tests.support import ServerThread, running_server

PROJECT_A = "lf-app-a"
PROJECT_B = "lf-app-b"
KEYS = f"pk-lf-aaa:sk-lf-aaa={PROJECT_A}, pk-lf-bbb:sk-lf-bbb={PROJECT_B}"


@pytest.fixture(scope="module")
def lf_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with running_server(tmp_path_factory.mktemp("lf"), langfuse_keys=KEYS) as s:
        yield s


def _basic(public: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{public}:{secret}".encode()).decode()


def _send_generation(server: ServerThread, public: str, secret: str, name: str) -> None:
    """One traced LLM call through the real Langfuse client, flushed before returning."""
    from langfuse import Langfuse

    client = Langfuse(public_key=public, secret_key=secret, base_url=server.url, flush_at=1, flush_interval=0.1,
                      tracer_provider=TracerProvider())
    try:
        with client.start_as_current_observation(name=name, as_type="generation", model="gpt-4o-mini",
                                                 input=[{"role": "user", "content": "hi"}]) as gen:
            gen.update(output={"role": "assistant", "content": "hello"},
                       usage_details={"input": 9, "output": 10})
        client.flush()
    finally:
        client.shutdown()


def _spans(server: ServerThread, project: str, name: str) -> list[dict]:
    return server.query("SELECT name, project FROM tokentrail.spans FINAL WHERE project = {p:String} "
                        "AND name = {n:String}", {"p": project, "n": name})


def test_langfuse_client_spans_land_in_the_mapped_project(lf_server: ServerThread) -> None:
    _send_generation(lf_server, "pk-lf-aaa", "sk-lf-aaa", "lf-generation-ok")
    assert [r["project"] for r in _spans(lf_server, PROJECT_A, "lf-generation-ok")] == [PROJECT_A]
    assert _spans(lf_server, "default", "lf-generation-ok") == []


def test_wrong_secret_gets_401_and_nothing_is_stored(lf_server: ServerThread,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        _send_generation(lf_server, "pk-lf-bbb", "sk-lf-WRONG", "lf-generation-wrong")
    for project in (PROJECT_A, PROJECT_B, "default"):
        assert _spans(lf_server, project, "lf-generation-wrong") == []
    assert "sk-lf-WRONG" not in caplog.text and "sk-lf-bbb" not in caplog.text
    for auth in (_basic("pk-lf-bbb", "sk-lf-WRONG"), _basic("pk-lf-unknown", "sk-lf-bbb"), "Basic !!notbase64"):
        r = httpx.post(f"{lf_server.url}/api/public/otel/v1/traces", content=b"",
                       headers={"Authorization": auth, "Content-Type": "application/x-protobuf"})
        assert r.status_code == 401 and "sk-lf" not in r.text, r.text
        assert r.json()["error"]


def test_known_pair_also_works_on_v1_traces_and_other_basic_auth_is_left_alone(lf_server: ServerThread) -> None:
    r = httpx.post(f"{lf_server.url}/v1/traces", content=b"", headers={
        "Authorization": _basic("pk-lf-aaa", "sk-lf-bad"), "Content-Type": "application/x-protobuf"})
    assert r.status_code == 401  # a Langfuse public key anywhere is checked
    # a reverse proxy's own Basic auth passing through is not Langfuse credentials
    r = httpx.get(f"{lf_server.url}/api/ingest/status", headers={"Authorization": _basic("admin", "pw")})
    assert r.status_code == 200


def test_no_keys_configured_answers_401_saying_how_to_configure(lf_server: ServerThread) -> None:
    settings = lf_server.runtime.settings
    lf_server.runtime.settings = dataclasses.replace(settings, langfuse_keys="")
    try:
        r = httpx.post(f"{lf_server.url}/api/public/otel/v1/traces", content=b"",
                       headers={"Authorization": _basic("pk-lf-aaa", "sk-lf-aaa"),
                                "Content-Type": "application/x-protobuf"})
        assert r.status_code == 401
        assert "TOKENTRAIL_LANGFUSE_KEYS" in r.json()["error"]
    finally:
        lf_server.runtime.settings = settings


def test_keys_from_a_file(lf_server: ServerThread, tmp_path: Path) -> None:
    keys = tmp_path / "langfuse-keys"
    keys.write_text(f"# Langfuse key pairs\npk-lf-file:sk-lf-file={PROJECT_B}  # team B\n")
    settings = lf_server.runtime.settings
    lf_server.runtime.settings = dataclasses.replace(settings, langfuse_keys=f"@{keys}")
    try:
        _send_generation(lf_server, "pk-lf-file", "sk-lf-file", "lf-generation-file")
        assert len(_spans(lf_server, PROJECT_B, "lf-generation-file")) == 1
    finally:
        lf_server.runtime.settings = settings
