from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.security.keyed import Keyed, keyed_server


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keyed]:
    """A real server on loopback with API keys (so nothing is open), shared by one test module."""
    with keyed_server(tmp_path_factory.mktemp("keyed")) as k:
        yield k
