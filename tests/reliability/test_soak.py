"""Half a minute of steady ingest mixed with dashboard queries: nothing acknowledged is lost and
every query and health check answers (the long version, 10 minutes with the RSS slope:
bench/reliability/soak.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability import soak

pytestmark = pytest.mark.timeout(150)  # a hang fails in 150 s, not at the suite's 300 s


def test_thirty_seconds_of_steady_ingest_and_queries_lose_nothing(tmp_path: Path) -> None:
    figures = soak.run(tmp_path, seconds=30, clients=4, rate=5, traces_per_request=40)
    print(figures)
    assert figures["acked_spans"] > 0 and figures["flushed"], figures
    assert set(figures["statuses"]) <= {"200"}, figures["statuses"]
    assert not any(figures["poll_failures"].values()), figures["polls"]
    assert figures["lost"] == 0 and figures["duplicated"] == 0, figures
