"""Batching while nobody reads (ingest/spool.py, server/freshness.py): a trickle batches past
``batch_seconds`` until someone reads; the read has the acknowledged calls inserted before it is
answered, and brings the batching back to ``batch_seconds``; an alert round reads fresh data without
that. Its own module: this server batches for up to two minutes while nobody reads."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ingest.otel_helpers import provider_exporting_to
from tests.support import ServerThread, running_server, wait_for
from tokentrail.server.freshness import is_read

BATCH = 0.5  # batch_seconds: what a reader may wait for
UNWATCHED = 120.0  # batch_seconds_unwatched


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with running_server(tmp_path_factory.mktemp("tt"), batch_seconds=BATCH, batch_seconds_unwatched=UNWATCHED) as s:
        yield s


def _stored(server: ServerThread, trace_id: str) -> list[dict]:
    """The store read directly (no flush, no reader): what has been inserted."""
    return server.runtime.store.query("SELECT span_id, request_model, input_tokens, output_tokens FROM tokentrail.spans "
                                      "WHERE trace_id = {t:String}", {"t": trace_id})


def _call(provider, name: str, tokens: tuple[int, int]) -> str:
    with provider.get_tracer("app").start_as_current_span(name, attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.usage.input_tokens": tokens[0], "gen_ai.usage.output_tokens": tokens[1]}) as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    return trace_id


def test_a_trickle_batches_past_batch_seconds_until_someone_reads(server: ServerThread) -> None:
    provider = provider_exporting_to(server.url, "trickle")
    # a real trickle, nobody reading: each call goes in alone and the deadline doubles past batch_seconds
    while server.runtime.spool.deadline <= 4 * BATCH:
        trace_id = _call(provider, "warm", (1, 1))
        wait_for(lambda t=trace_id: _stored(server, t), 30, 0.02)
    assert server.runtime.spool.deadline > BATCH

    # an alert round reads the calls up to now, and is no reader watching: the deadline stays long
    first = _call(provider, "before the alert round", (11, 12))
    time.sleep(2 * BATCH)
    assert _stored(server, first) == []  # acknowledged, still batching
    assert server.runtime.fresh(watch=False)
    assert [(r["input_tokens"], r["output_tokens"]) for r in _stored(server, first)] == [(11, 12)]
    assert server.runtime.spool.deadline > BATCH

    # a reader (the trace API) sees a call acknowledged more than batch_seconds ago
    second = _call(provider, "before the reader", (21, 22))
    time.sleep(2 * BATCH)
    assert _stored(server, second) == []
    # while inserts fail (the store refuses them for a transient reason), a read does not wait for one
    server.runtime.inserter.failing = True
    try:
        assert server.runtime.fresh(watch=False) is False
    finally:
        server.runtime.inserter.failing = False
    assert _stored(server, second) == []
    got = server.client.get(f"/api/traces/{second}", params={"project": "trickle"})
    assert got.status_code == 200
    spans = got.json()["spans"]
    assert [(s["input_tokens"], s["output_tokens"], s["request_model"]) for s in spans] == [(21, 22, "gpt-4o-mini")]
    # and the batching is back to batch_seconds while someone reads: the next call is in within it
    assert server.runtime.spool.deadline <= BATCH
    third = _call(provider, "while watched", (31, 32))
    wait_for(lambda: _stored(server, third), 10 * BATCH, 0.02)
    provider.shutdown()


@pytest.mark.parametrize(("method", "path", "read"), [
    ("GET", "/api/traces", True), ("GET", "/api/metrics/summary", True), ("GET", "/metrics", True),
    ("POST", "/api/alerts/preview", True), ("POST", "/api/alerts/test", True),
    ("POST", "/v1/traces", False), ("POST", "/api/ingest/batch", False), ("GET", "/", False),
    ("GET", "/healthz", False), ("POST", "/api/admin/flush", False), ("GET", "/static/app.js", False)])
def test_which_requests_are_reads(method: str, path: str, read: bool) -> None:
    assert is_read(method, path) is read


def test_the_setting_is_never_below_batch_seconds(tmp_path: Path) -> None:
    from tokentrail.ingest.spool import Spool
    spool = Spool(tmp_path, segment_age=2.0, unwatched_age=0.5, fsync=False)
    assert spool.unwatched_age == 2.0
