"""``serve --demo`` is idempotent per data directory, marked, and sends only to its own server."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.cli.test_cli import tt
from tests.support import ServerProcess, ServerThread
from tokentrail.demo import home
from tokentrail.demo.send import send_backfill


def _totals(server: ServerThread, project: str) -> dict:
    return server.query("""
        SELECT count() AS spans, countIf(kind = 'llm') AS calls, round(sum(coalesce(total_cost, 0)), 9) AS cost,
               countIf(environment != 'demo') AS unmarked,
               (SELECT count() FROM tokentrail.scores FINAL WHERE project = {p:String}) AS scores
        FROM tokentrail.spans FINAL WHERE project = {p:String}""", {"p": project})[0]


def test_the_demo_sent_twice_on_one_data_dir_gives_the_same_totals(server: ServerThread, project: str,
                                                                   tmp_path: Path) -> None:
    def once() -> dict:
        a = home.anchor(tmp_path)  # what serve --demo reads from the data dir on every start
        send_backfill(server.url, traces=300, days=7, project=project, seed=a["seed"], end_ns=a["end_ns"],
                      environment=home.ENVIRONMENT)
        return _totals(server, project)

    first = once()
    assert first["calls"] > 300 and first["scores"] > 0 and first["unmarked"] == 0
    assert once() == first


def test_serve_on_a_taken_port_says_so_and_creates_nothing(tmp_path: Path) -> None:
    data, other = tmp_path / "a", tmp_path / "b"
    data.mkdir()
    server = ServerProcess(data).start()
    try:
        r = tt("serve", "--demo", "--data-dir", str(other), "--port", str(server.port), check=False)
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert f"cannot listen on 127.0.0.1:{server.port}" in r.stderr
        assert not other.exists()  # checked before anything was created
        summary = httpx.get(server.url + "/api/metrics/summary", params={"range": "30d", "environment": "demo"}).json()
        assert summary["requests"] == 0  # and no demo traffic reached the other server
    finally:
        server.stop()


def test_the_demo_sender_refuses_a_server_that_is_not_its_own(tmp_path: Path) -> None:
    data = tmp_path / "a"
    data.mkdir()
    server = ServerProcess(data).start()
    try:
        home.run(server.url, tmp_path / "b", instance="not-this-server", traces=10)
        summary = httpx.get(server.url + "/api/metrics/summary", params={"range": "30d", "environment": "demo"}).json()
        assert summary["requests"] == 0
    finally:
        server.stop()
