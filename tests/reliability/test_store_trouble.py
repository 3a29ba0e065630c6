"""The store in trouble: refusals are 503/507 with Retry-After, nothing acknowledged is lost, and
ingest recovers by itself (the long version: bench/reliability/store_trouble.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.reliability import store_trouble

pytestmark = pytest.mark.timeout(150)  # a hang fails in 150 s, not at the suite's 300 s


def test_full_disk_refuses_with_retry_after_loses_nothing_and_recovers_when_freed(tmp_path: Path) -> None:
    figures = store_trouble.disk_full(tmp_path, size_mb=48, free_mb=6, full_seconds=3,
                                        flush_timeout=20)
    if "skipped" in figures:
        pytest.skip(f"needs a small tmpfs data dir: {figures['skipped']}")
    print(figures)
    assert figures["alive_while_full"] and figures["health_while_full"] == "200", figures
    assert set(figures["statuses"]) <= {"200", "503", "507", "connection"}, figures["unexpected_answers"]
    assert figures["retry_after_missing"] == 0, figures
    assert figures["flushed"], figures
    assert figures["lost"] == 0, figures


@pytest.mark.skipif(not os.environ.get("TOKENTRAIL_TEST_CLICKHOUSE_URL"),
                    reason="needs a ClickHouse server: set TOKENTRAIL_TEST_CLICKHOUSE_URL")
def test_unreachable_clickhouse_server_refuses_with_retry_after_loses_nothing_and_recovers(tmp_path: Path) -> None:
    figures = store_trouble.unreachable(tmp_path, os.environ["TOKENTRAIL_TEST_CLICKHOUSE_URL"], outage_seconds=8)
    print(figures)
    assert figures["health_while_cut"] == "200", figures
    assert set(figures["statuses"]) <= {"200", "503", "507"}, figures["unexpected_answers"]
    assert figures["retry_after_missing"] == 0, figures
    assert figures["lost"] == 0, figures
