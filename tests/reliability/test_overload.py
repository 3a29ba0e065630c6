"""Offered three times its measured capacity, the server answers every request (200 or 503 with
Retry-After, never a timeout), keeps answering the UI, and loads the backlog afterwards (the long
version: bench/reliability/overload.py, which also reports VmHWM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability import overload

pytestmark = pytest.mark.timeout(150)  # a hang fails in 150 s, not at the suite's 300 s


def test_three_times_capacity_gets_503_with_retry_after_not_timeouts_and_ui_still_answers(tmp_path: Path) -> None:
    figures = overload.run(tmp_path, measure_seconds=5, overload_seconds=12, spool_max_mb=32, workers=8)
    print(figures)
    statuses = figures["statuses"]
    assert set(statuses) <= {"200", "503", "not_offered"}, statuses
    assert not any(figures["poll_failures"].values()), figures["polls"]
    assert figures["drained"], figures
