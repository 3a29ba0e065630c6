"""Dashboard reads waiting on a busy store, however many, never delay an ingest acknowledgement: ingest has
worker threads of its own (routes/ingest.py INGEST_THREADS)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support import running_server


def test_reads_filling_every_worker_thread_never_delay_an_acknowledgement(tmp_path_factory: pytest.TempPathFactory) -> None:
    with running_server(tmp_path_factory.mktemp("starve"), query_timeout=120.0) as server:
        assert server.runtime.store._lock.acquire(timeout=30)  # a long statement holds the store
        try:
            with ThreadPoolExecutor(60) as pool:  # more waiting reads than the default pool has threads
                reads = [pool.submit(httpx.get, server.url + "/api/stats/routes", timeout=150) for _ in range(60)]
                r = httpx.post(server.url + "/api/ingest/batch", json=[{"model": "gpt-4o-mini", "input_tokens": 5}],
                               headers={"x-tokentrail-project": "starve"}, timeout=10)
                assert r.status_code == 200, r.text  # acknowledged while every read still waits
                assert not any(f.done() for f in reads)
                server.runtime.store._lock.release()
                assert all(f.result().status_code == 200 for f in reads)
        finally:
            if server.runtime.store._lock.locked():
                server.runtime.store._lock.release()
