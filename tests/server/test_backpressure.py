"""When the ingest backlog is full the server answers 503 with Retry-After, not unbounded growth."""

from __future__ import annotations

from pathlib import Path

from tests.support import running_server
from tokentrail.demo.traffic import Traffic


def test_full_backlog_answers_503_with_retry_after(tmp_path: Path) -> None:
    with running_server(tmp_path, spool_max_mb=1) as server:
        server.runtime.inserter.stop(drain=False)  # the store stops taking batches
        statuses = []
        for body in Traffic(seed=3).requests(3000, per_request=200):
            r = server.client.post("/v1/traces", content=body, headers={"content-type": "application/x-protobuf"})
            statuses.append(r.status_code)
            if r.status_code == 503:
                assert int(r.headers["retry-after"]) >= 1
                assert "retry" in r.json()["error"]
                break
        assert statuses[0] == 200 and statuses[-1] == 503
        assert server.runtime.spool.backlog_bytes <= 1 << 20
        ready = server.client.get("/readyz")
        assert ready.status_code == 503
