"""Pytest fixtures. Enable with ``pytest_plugins = ["tests.fake_llm.pytest_plugin"]`` in the root conftest.py
(or import the fixtures into a test module).

* ``fake_llm_server``: one fake provider for the whole session.
* ``fake_llm``: the same server, with its recorded requests cleared before each test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import FakeLLM, start_fake_llm


@pytest.fixture(scope="session")
def fake_llm_server() -> Iterator[FakeLLM]:
    with start_fake_llm() as fake:
        yield fake


@pytest.fixture
def fake_llm(fake_llm_server: FakeLLM) -> FakeLLM:
    fake_llm_server.reset()
    return fake_llm_server
