"""The batching policy (ingest/spool.py, inserter.py): a trickle waits to be inserted in one batch, a
burst goes in at once by size, the deadline grows while traffic is light and never passes the cap, and
a flush never waits for it. The work after an insert (ingest/batch_summary.py: one query for the
rollups' minutes, /metrics and the double-count check, which is skipped when no span can pair) gives
the answers the separate queries gave. Its own module: the server here batches for a minute."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import trace

from tests.ingest.otel_helpers import provider_exporting_to
from tests.support import ServerThread, running_server
from tokentrail.demo.traffic import Traffic
from tokentrail.ingest import wire
from tokentrail.ingest.batch_summary import summarize
from tokentrail.ingest.spool import Spool
from tokentrail.query.ingest_metrics import batch_aggregates
from tokentrail.query.rollups import touched_minutes

CAP = 60.0  # batch_seconds of this module's server: nothing goes in by time during a test


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with running_server(tmp_path_factory.mktemp("tt"), batch_seconds=CAP) as s:
        yield s


def test_a_trickle_waits_and_goes_in_as_one_segment(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_age=CAP, min_age=CAP, fsync=False)
    for i in range(5):
        spool.append(b"call-%d" % i)
    assert spool.take(1 << 30, wait=0) == []  # the first record has not waited the deadline yet
    spool.cut()
    taken = spool.take(1 << 30, wait=0)
    assert len(taken) == 1 and wire.records(taken[0][0].read_bytes()) == [b"call-%d" % i for i in range(5)]


def test_a_burst_goes_in_at_once_by_size(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_bytes=1000, segment_age=CAP, min_age=0.01, fsync=False)
    spool.deadline = CAP  # after a trickle
    for _ in range(12):
        spool.append(b"x" * 100)
    taken = spool.take(1 << 30, wait=0)  # full: closed without waiting for the deadline
    assert taken and sum(size for _, size in taken) >= 1000
    assert spool.deadline == spool.min_age  # and the next batch goes in soon again


def test_the_deadline_grows_while_traffic_is_light_and_never_passes_the_cap(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_age=0.08, min_age=0.01, fsync=False)
    seen = []
    for i in range(6):
        spool.append(b"lonely call %d" % i)
        assert spool.take(1 << 30, wait=30)  # closed by time
        seen.append(spool.deadline)
    assert seen == sorted(seen) and seen[0] > 0.01 and max(seen) == 0.08


def test_while_nobody_reads_the_deadline_grows_past_batch_seconds_and_a_reader_brings_it_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_age=0.04, min_age=0.01, unwatched_age=0.3, fsync=False)
    seen = []
    for i in range(7):
        spool.append(b"unwatched %d" % i)
        assert spool.take(1 << 30, wait=30)
        seen.append(spool.deadline)
    assert seen == sorted(seen) and max(seen) == 0.3  # past segment_age, never past unwatched_age
    spool.append(b"a reader comes")
    time.sleep(0.06)  # longer than segment_age, shorter than the deadline now
    assert spool.take(1 << 30, wait=0) == []
    waited = spool.watch(10.0)
    assert waited >= 0.06 and spool.deadline == 0.04
    taken = spool.take(1 << 30, wait=0)  # it has waited past segment_age: closed at once
    assert [wire.records(p.read_bytes()) for p, _ in taken] == [[b"a reader comes"]]
    for i in range(4):  # watched: back to the batch_seconds cap
        spool.append(b"watched %d" % i)
        assert spool.take(1 << 30, wait=30)
        assert spool.deadline <= 0.04
    assert spool.oldest_open() == 0.0
    spool.append(b"open")
    assert spool.oldest_open() > 0.0


def test_flush_never_waits_for_the_deadline(slow: ServerThread, project: str) -> None:
    provider = provider_exporting_to(slow.url, project)
    with provider.get_tracer("app").start_as_current_span("chat", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 7}):
        pass
    provider.shutdown()
    r = slow.client.post("/api/admin/flush", params={"timeout": CAP / 4}).json()
    assert r == {"flushed": True, "backlog_bytes": 0}
    rows = slow.runtime.store.query("SELECT kind, input_tokens FROM tokentrail.spans WHERE project = {p:String}",
                                    {"p": project})
    assert rows == [{"kind": "llm", "input_tokens": 5}]


def test_one_summary_query_gives_what_the_separate_queries_gave(slow: ServerThread) -> None:
    rt = slow.runtime
    rt.spool.deadline = CAP  # as after a trickle: the requests below wait for the flush, in one batch
    traffic = Traffic(seed=11)
    for body in traffic.requests(200, per_request=50, span_seconds=900):
        rt.spool.append(wire.envelope(body, "summary", "sdk", time.time_ns()))
    before = rt.inserter.stats.batches
    assert slow.client.post("/api/admin/flush").json()["flushed"]
    assert rt.inserter.stats.batches == before + 1  # all of it in one batch
    version = rt.store.query("SELECT toString(max(ingested_at)) AS v FROM tokentrail.spans "
                             "WHERE project = 'summary'")[0]["v"]
    from datetime import datetime
    v = datetime.fromisoformat(version)
    summary = summarize(rt.store, v)
    assert summary.minutes == sorted(touched_minutes(rt.store, v))
    labels = ("project", "route", "model", "provider", "kind", "status")
    expected = {tuple(r[k] for k in labels): r for r in batch_aggregates(rt.store, v)}
    got = {tuple(r[k] for k in labels): r for r in summary.metrics}
    assert got.keys() == expected.keys()
    for key, row in expected.items():
        for column, value in row.items():
            if isinstance(value, float):
                assert got[key][column] == pytest.approx(value)
            elif isinstance(value, list):
                assert [int(x) for x in got[key][column]] == [int(x) for x in value]
            else:
                assert got[key][column] == value
    llm = rt.store.query("SELECT count() AS n FROM tokentrail.spans WHERE ingested_at = {v:DateTime64(3)} "
                         "AND kind IN ('llm', 'embedding')", {"v": version})[0]["n"]
    assert summary.llm_spans == llm and summary.may_pair  # demo agents make two calls in one trace


def test_a_lone_call_skips_the_double_count_check_and_a_pair_does_not(slow: ServerThread, project: str) -> None:
    native = "com.anthropic.sdk.python"
    usage = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
             "gen_ai.request.model": "claude-haiku-4-5", "gen_ai.usage.input_tokens": 9,
             "gen_ai.usage.output_tokens": 10}
    provider = provider_exporting_to(slow.url, project)
    with provider.get_tracer(native).start_as_current_span("lone", attributes=usage):
        pass
    provider.force_flush()
    slow.flush()
    rt = slow.runtime

    def last_summary():
        v = rt.store.query("SELECT toString(max(ingested_at)) AS v FROM tokentrail.spans "
                           "WHERE project = {p:String}", {"p": project})[0]["v"]
        from datetime import datetime
        return summarize(rt.store, datetime.fromisoformat(v))

    lone = last_summary()
    assert lone.llm_spans == 1 and not lone.may_pair and lone.dedupe_window is None
    lib = provider.get_tracer("openinference.instrumentation.anthropic")
    outer = lib.start_span("outer", attributes={"openinference.span.kind": "LLM", "llm.token_count.prompt": 9,
                                                "llm.token_count.completion": 10, "llm.model_name": "claude-haiku-4-5"})
    with trace.use_span(outer):
        with provider.get_tracer(native).start_as_current_span("inner", attributes=usage):
            pass
    outer.end()
    provider.shutdown()
    slow.flush()
    rows = {r["name"]: r for r in slow.query("SELECT name, kind, input_tokens FROM tokentrail.spans FINAL "
                                              "WHERE project = {p:String}", {"p": project})}
    assert rows["lone"]["kind"] == "llm" and rows["outer"]["kind"] == "llm"
    assert (rows["inner"]["kind"], rows["inner"]["input_tokens"]) == ("other", 0)  # counted once, in outer


def test_metrics_count_every_span_of_the_batch(slow: ServerThread, project: str) -> None:
    provider = provider_exporting_to(slow.url, project)
    tracer = provider.get_tracer("app")
    for i in range(7):  # seven calls in one batch, by two models
        with tracer.start_as_current_span(f"call-{i}", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini" if i % 2 else "gpt-4o",
                "gen_ai.usage.input_tokens": 10 + i, "gen_ai.usage.output_tokens": 1}):
            pass
    provider.shutdown()
    slow.flush()
    text = slow.client.get("/metrics").text
    mine = [m for m in re.finditer(r'^tokentrail_(spans|input_tokens)_total\{([^}]*)\} (\S+)$', text, re.M)
            if f'project="{project}"' in m.group(2)]
    assert sum(float(m.group(3)) for m in mine if m.group(1) == "spans") == 7
    assert sum(float(m.group(3)) for m in mine if m.group(1) == "input_tokens") == sum(10 + i for i in range(7))
    assert len({m.group(2) for m in mine if m.group(1) == "spans"}) == 2  # one series per model
