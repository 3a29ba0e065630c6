from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ServerThread, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    """A real server on loopback with a fresh embedded store, shared by one test module."""
    with running_server(tmp_path_factory.mktemp("tt")) as s:
        yield s


@pytest.fixture
def project(request: pytest.FixtureRequest) -> str:
    """A project name of this test's own, so tests sharing a server do not see each other's data."""
    return request.node.name.replace("[", "-").replace("]", "")[:60].strip("-_") or "t"


@pytest.fixture
def tmp_data(tmp_path: Path) -> Path:
    return tmp_path / "data"
