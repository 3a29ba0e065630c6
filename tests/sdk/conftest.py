"""Fixtures for SDK tests: the fake provider, the real clients pointed at it, and an initialized SDK.

Every test gets its own project on the module's server; ``sdk`` initializes tokentrail for
it and, at the end, checks that the SDK met no internal error (they are re-raised on the
app's thread under pytest, but only counted in the export thread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

import tokentrail
from tests.fake_llm import FakeLLM
from tests.fake_llm.pytest_plugin import fake_llm, fake_llm_server  # noqa: F401 - fixtures
from tests.support import ServerThread, wait_for
from tokentrail.sdk._guard import ERRORS

Init = Callable[..., None]


@pytest.fixture
def sdk(server: ServerThread, project: str) -> Iterator[Init]:
    """``sdk(**settings)`` initializes tokentrail against the module's server for this test's project."""
    errors_before = ERRORS.count

    def start(**settings: Any) -> None:
        tokentrail.init(**{"endpoint": server.url, "project": project, "flush_seconds": 0.2, "capture": "off",
                           **settings})

    yield start
    tokentrail.shutdown()
    assert ERRORS.count == errors_before, f"SDK internal error: {ERRORS.last}"


@pytest.fixture
def oai(fake_llm: FakeLLM) -> openai.OpenAI:  # noqa: F811
    return openai.OpenAI(base_url=fake_llm.openai_base_url, api_key="sk-test", max_retries=0)


@pytest.fixture
def aoai(fake_llm: FakeLLM) -> openai.AsyncOpenAI:  # noqa: F811
    return openai.AsyncOpenAI(base_url=fake_llm.openai_base_url, api_key="sk-test", max_retries=0)


@pytest.fixture
def claude(fake_llm: FakeLLM) -> anthropic.Anthropic:  # noqa: F811
    return anthropic.Anthropic(base_url=fake_llm.base_url, api_key="sk-ant-test", max_retries=0)


@pytest.fixture
def aclaude(fake_llm: FakeLLM) -> anthropic.AsyncAnthropic:  # noqa: F811
    return anthropic.AsyncAnthropic(base_url=fake_llm.base_url, api_key="sk-ant-test", max_retries=0)


def spans(server: ServerThread, project: str, count: int, timeout: float = 30) -> list[dict[str, Any]]:
    """The project's span rows once ``count`` of them have arrived (oldest first)."""
    assert tokentrail.flush(timeout), tokentrail.stats()

    def rows() -> list[dict[str, Any]] | None:
        found = server.query("SELECT * FROM tokentrail.spans FINAL WHERE project = {p:String} ORDER BY start_time",
                             {"p": project})
        return found if len(found) >= count else None

    found = wait_for(rows, timeout)
    assert len(found) == count, [r["name"] for r in found]
    return found


def one(server: ServerThread, project: str) -> dict[str, Any]:
    return spans(server, project, 1)[0]


def contents(server: ServerThread, project: str) -> dict[str, dict[str, Any]]:
    rows = server.contents("project = {p:String}", {"p": project})
    return {r["span_id"]: r for r in rows}
