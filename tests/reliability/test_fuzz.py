"""A few hundred fuzz cases against a live server: the API from its OpenAPI schema (schemathesis),
the dashboards' query strings and mutated real OTLP exports (hypothesis). No 5xx, no hang (the
long version, >= 10,000 cases: bench/reliability/fuzz.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.reliability import fuzz
from tests.support import ServerProcess

pytestmark = pytest.mark.timeout(150)  # a hang fails in 150 s, not at the suite's 300 s


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    data.mkdir()
    server = ServerProcess(data).start()
    try:
        yield server
    finally:
        server.stop()


def _check(figures: dict) -> None:
    print(json.dumps({k: v for k, v in figures.items() if k != "failures"}))
    assert figures["failed"] == 0, json.dumps(figures["failures"][:5], indent=1)


def test_schema_driven_api_cases_get_no_5xx_and_no_hang(live: ServerProcess) -> None:
    tally = fuzz.Tally(timeout=10)
    fuzz.api(live.url, tally, examples_per_operation=6)
    _check(tally.figures())


def test_dashboard_query_strings_get_no_5xx_and_no_hang(live: ServerProcess) -> None:
    tally = fuzz.Tally(timeout=10)
    fuzz.dashboard(live.url, tally, examples=150)
    _check(tally.figures())


def test_mutated_otlp_exports_get_no_5xx_and_no_hang(live: ServerProcess) -> None:
    tally = fuzz.Tally(timeout=10)
    fuzz.otlp(live.url, tally, examples=250)
    _check(tally.figures())
