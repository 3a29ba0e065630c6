"""A busy store never hangs the server: health answers from memory, reads answer 503 + Retry-After after
the query timeout instead of queueing forever, and ingest keeps acknowledging."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support import ServerThread, running_server, wait_for


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with running_server(tmp_path_factory.mktemp("busy"), query_timeout=1.0) as s:
        yield s


def _hold(server: ServerThread) -> None:
    """Hold the store as a long statement does (its one-statement-at-a-time lock)."""
    assert server.runtime.store._lock.acquire(timeout=30)


def test_health_answers_while_a_statement_holds_the_store(busy: ServerThread) -> None:
    _hold(busy)
    try:
        assert busy.client.get("/healthz", timeout=5).status_code == 200
        ready = busy.client.get("/readyz", timeout=5)
        assert ready.status_code == 200, ready.text  # held, not stuck: still ready
    finally:
        busy.runtime.store._lock.release()


def test_a_statement_stuck_past_the_limit_makes_the_server_not_ready(busy: ServerThread,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from tokentrail.server.routes import health

    monkeypatch.setattr(busy.runtime.store, "busy_since", time.monotonic() - health.STUCK_SECONDS - 1)
    ready = busy.client.get("/readyz", timeout=5)
    assert ready.status_code == 503 and "statement has run" in ready.json()["problems"][0]


def test_a_read_behind_a_long_statement_answers_503_with_retry_after(busy: ServerThread) -> None:
    _hold(busy)
    try:
        r = busy.client.get("/api/stats/routes", timeout=30)
    finally:
        busy.runtime.store._lock.release()
    assert r.status_code == 503 and r.headers["retry-after"] == "2"
    assert "busy" in r.json()["error"]
    # and answers again once it is free (background work, e.g. a rollup refresh, may hold it a moment longer
    # than the 1 s query timeout on a loaded machine)
    wait_for(lambda: busy.client.get("/api/stats/routes").status_code == 200, 30, 0.5)


def test_ingest_is_acknowledged_while_reads_wait(busy: ServerThread) -> None:
    _hold(busy)
    try:
        with httpx.Client(base_url=busy.url, timeout=30) as c:
            r = c.post("/api/ingest/batch", json=[{"model": "gpt-4o-mini", "input_tokens": 5}],
                       headers={"x-tokentrail-project": "busy-ingest"})
        assert r.status_code == 200, r.text
    finally:
        busy.runtime.store._lock.release()


def test_a_read_behind_a_long_insert_answers_503_with_retry_after(busy: ServerThread) -> None:
    with busy.runtime.view_gate.write():  # an insert (and its bookkeeping) in progress for longer than the limit
        r = busy.client.get("/api/metrics/summary", timeout=30)
    assert r.status_code == 503 and r.headers["retry-after"] == "2", r.text
    wait_for(lambda: busy.client.get("/api/metrics/summary").status_code == 200, 30, 0.5)
