"""A request the store refuses costs nobody else their data: the inserter narrows a refused batch down to
that request, loads everything around it and quarantines only it (counted, listed, replayable, expired)."""

from __future__ import annotations

import os
import time

from click.testing import CliRunner
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.support import ServerThread
from tokentrail.cli.main import main
from tokentrail.ingest import wire
from tokentrail.ingest.spool import Spool

# a request whose spans field is not a message: the Python parser would refuse it at the door, so only a
# record spooled by a bug (or a store that changed under it) can hold it; the store refuses it
BAD = b"\x0a\x03\xff\xff\xff"


def _request(project: str, n: int) -> bytes:
    req = ExportTraceServiceRequest()
    spans = req.resource_spans.add().scope_spans.add().spans
    now = time.time_ns()
    for i in range(n):
        sp = spans.add(trace_id=os.urandom(16), span_id=os.urandom(8), name=f"{project} {i}",
                       start_time_unix_nano=now, end_time_unix_nano=now + 10**6)
        sp.attributes.add(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o-mini"))
    return wire.envelope(req.SerializeToString(), project, "otlp", now)


def _stored(server: ServerThread, project: str) -> int:
    return server.query("SELECT count() AS n FROM tokentrail.spans FINAL WHERE project = {p:String}",
                        {"p": project})[0]["n"]


def test_one_refused_request_is_quarantined_and_its_neighbours_load(server: ServerThread, project: str) -> None:
    before = server.client.get("/api/ingest/status").json()
    spool = server.runtime.spool
    for i in range(40):  # one segment: 39 good requests of two clients and one the store refuses
        spool.append(wire.envelope(BAD, project + "-bad", "otlp", time.time_ns()) if i == 17
                     else _request(project + ("-a" if i % 2 else "-b"), 5))
    assert (_stored(server, project + "-a"), _stored(server, project + "-b")) == (95, 100)
    status = server.client.get("/api/ingest/status").json()
    assert status["inserts"]["quarantined"] == before["inserts"]["quarantined"] + 1
    assert status["quarantine"]["requests"] >= 1
    held = [q for q in server.client.get("/api/admin/quarantine").json()["items"] if q["project"] == project + "-bad"]
    assert len(held) == 1 and held[0]["reason"]
    metrics = server.client.get("/metrics").text
    assert "tokentrail_spool_quarantined_requests_total" in metrics


def test_a_replayed_request_that_still_fails_comes_back_with_its_reason(server: ServerThread, project: str) -> None:
    server.runtime.spool.append(wire.envelope(BAD, project, "otlp", time.time_ns()))
    server.flush()
    mine = [q["name"] for q in server.client.get("/api/admin/quarantine").json()["items"] if q["project"] == project]
    assert len(mine) == 1
    assert server.client.post("/api/admin/quarantine/replay", json={"names": mine}).json() == {"replayed": 1}
    server.flush()
    again = [q for q in server.client.get("/api/admin/quarantine").json()["items"] if q["project"] == project]
    assert len(again) == 1 and again[0]["name"] != mine[0] and again[0]["reason"]


def test_quarantine_expires_with_the_content_retention(tmp_path) -> None:
    spool = Spool(tmp_path, fsync=False)
    old = spool.quarantine(b"old", "refused")
    new = spool.quarantine(b"new", "refused")
    past = time.time() - 8 * 86400
    for p in (old, old.with_suffix(".json")):
        os.utime(p, (past, past))
    assert spool.expire(7 * 86400) == 2
    assert [q.path for q in spool.quarantined()] == [new]


def test_cli_lists_and_replays_the_quarantine_without_a_server(tmp_path) -> None:
    spool = Spool(tmp_path / "spool", fsync=False)
    spool.quarantine(wire.envelope(BAD, "shop", "otlp", 1), "Protobuf messages are corrupted")
    spool.close()
    listed = CliRunner().invoke(main, ["quarantine", "list", "--data-dir", str(tmp_path), "--port", "9"])
    assert listed.exit_code == 0 and "shop" in listed.output and "corrupted" in listed.output
    replayed = CliRunner().invoke(main, ["quarantine", "replay", "--data-dir", str(tmp_path), "--port", "9"])
    assert replayed.exit_code == 0 and "spooled 1 request" in replayed.output
    assert Spool(tmp_path / "spool", fsync=False).quarantined() == []
