"""An acknowledged span is never lost: kill -9 the server mid-stream, restart, count."""

from __future__ import annotations

import threading
from pathlib import Path

import httpx

from tests.support import ServerProcess
from tokentrail.demo.traffic import Traffic
from tokentrail.storage.backend import open_store


def test_every_acknowledged_span_survives_sigkill(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = ServerProcess(data, extra=["--batch-seconds", "2"]).start()
    traffic = Traffic(seed=11)
    acked_spans = 0
    stop = threading.Event()
    errors: list[str] = []

    def send() -> None:
        nonlocal acked_spans
        with httpx.Client(base_url=server.url, timeout=10) as c:
            for body in traffic.requests(20_000, per_request=200):
                if stop.is_set():
                    return
                before = traffic.spans_made
                try:
                    r = c.post("/v1/traces", content=body, headers={"content-type": "application/x-protobuf"})
                except httpx.HTTPError:
                    return  # the server died mid-request: that request was never acknowledged
                if r.status_code != 200:
                    errors.append(r.text)
                    return
                acked_spans = before

    sender = threading.Thread(target=send)
    sender.start()
    from tests.support import wait_for

    wait_for(lambda: acked_spans > 3000, 60)
    server.kill()  # SIGKILL while requests are in flight and batches are unloaded
    stop.set()
    sender.join(30)
    assert not errors
    acked = acked_spans
    assert acked > 0

    server = ServerProcess(data, port=server.port).start()  # replays the spool on start
    try:
        httpx.post(server.url + "/api/admin/flush", timeout=120).raise_for_status()
        rows = httpx.get(server.url + "/api/stats/routes", params={"hours": 2}, timeout=60).json()
        assert rows["totals"]["requests"] > 0
    finally:
        server.stop()
    store = open_store(f"chdb://{data / 'db'}")
    try:
        stored = store.query("SELECT count() AS n FROM tokentrail.spans FINAL")[0]["n"]
    finally:
        store.close()
    assert stored >= acked, f"{acked} spans acknowledged, {stored} stored"
