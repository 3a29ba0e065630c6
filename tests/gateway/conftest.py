"""A real server whose gateway upstreams point at the fake provider, and helpers to read what it recorded."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.fake_llm import FakeLLM
from tests.fake_llm.pytest_plugin import fake_llm, fake_llm_server
from tests.support import ServerThread, free_port, running_server, wait_for

__all__ = ["fake_llm", "fake_llm_server"]

KEYED_PROJECT = "keyed"
PROJECT_KEY = "sk-held-by-the-gateway"
GATEWAY_TIMEOUT = 2.0


def write_config(path: Path, fake: FakeLLM) -> Path:
    path.write_text(f"""
[upstreams.openai]
base_url = "{fake.openai_base_url}"
[upstreams.openai.keys]
{KEYED_PROJECT} = "{PROJECT_KEY}"

[upstreams.anthropic]
base_url = "{fake.anthropic_base_url}"

[upstreams.vllm]
base_url = "{fake.openai_base_url}"
provider = "vllm"

[upstreams.dead]
base_url = "http://127.0.0.1:{free_port()}/v1"
""")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_llm_server: FakeLLM) -> Iterator[ServerThread]:
    tmp = tmp_path_factory.mktemp("gw")
    config = write_config(tmp / "gateway.toml", fake_llm_server)
    with running_server(tmp / "data", gateway_config=str(config), gateway_timeout=GATEWAY_TIMEOUT) as s:
        yield s


def tt_headers(project: str, **extra: str) -> dict[str, str]:
    return {"X-Tokentrail-Project": project, **extra}


def openai_via(server: ServerThread, project: str, upstream: str = "openai", **headers: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{server.url}/gateway/{upstream}/v1",
        api_key="sk-test",
        max_retries=0,
        default_headers=tt_headers(project, **headers),
    )


def openai_direct(fake: FakeLLM) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0)


def anthropic_via(server: ServerThread, project: str, **headers: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=f"{server.url}/gateway/anthropic",
        api_key="sk-ant-test",
        max_retries=0,
        default_headers=tt_headers(project, **headers),
    )


def anthropic_direct(fake: FakeLLM) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.anthropic_base_url, api_key="sk-ant-test", max_retries=0)


_IDS = re.compile(rb"fake\d+")
_CREATED = re.compile(rb'"created(_at)?":\d+')


def masked(body: bytes) -> bytes:
    """A fake provider body without what differs between two identical calls (sequence ids, timestamps)."""
    return _CREATED.sub(b'"created":0', _IDS.sub(b"fakeN", body))


SPANS = "SELECT * FROM tokentrail.spans FINAL WHERE project = {p:String} ORDER BY start_time"
CONTENTS = "project = {p:String}"  # server.contents(CONTENTS, ...): decrypted rows


def spans(server: ServerThread, project: str, n: int = 1) -> list[dict[str, Any]]:
    """The project's recorded spans, once there are at least ``n`` (the gateway spools every ~100 ms)."""

    def enough() -> list[dict[str, Any]] | None:
        rows = server.query(SPANS, {"p": project})
        return rows if len(rows) >= n else None

    return wait_for(enough, 30, 0.05)


def one_span(server: ServerThread, project: str) -> dict[str, Any]:
    rows = spans(server, project, 1)
    assert len(rows) == 1, rows
    return rows[0]
