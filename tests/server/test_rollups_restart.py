"""Minutes whose rollup rows were still owed when the server stopped (killed mid-refresh) are known after a
restart: reads compute them exactly, and the rollups catch up."""

from __future__ import annotations

from tests.server.test_rollups_exact import PROJECT, _agree
from tests.support import running_server
from tokentrail.demo.traffic import Traffic


def test_minutes_still_owed_at_a_restart_are_read_exactly_and_refreshed(tmp_path) -> None:
    data = tmp_path / "d"
    with running_server(data, rollup_seconds=3600.0) as server:  # the rollup job never runs on its own
        body = next(Traffic(seed=6).requests(500, per_request=5_000, span_seconds=600))
        r = server.client.post("/v1/traces", content=body, headers={"content-type": "application/x-protobuf",
                                                                    "x-tokentrail-project": PROJECT})
        assert r.status_code == 200
        assert server.runtime.inserter.flush(60)
        owed = server.runtime.pending_minutes(PROJECT)
        assert owed
        server.runtime.rollup_queue.drain()  # a crash in the middle of a refresh: nothing was marked done
        server.runtime.refresh_rollups = lambda all_levels=False: 0  # and no refresh at stop: as after a kill
    with running_server(data, rollup_seconds=3600.0) as again:
        assert again.runtime.pending_minutes(PROJECT) == owed
        _agree(again)
        again.runtime.settle()
        assert not again.runtime.pending_minutes(PROJECT)
        _agree(again)
