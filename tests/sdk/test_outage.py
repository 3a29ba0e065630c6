"""The SDK never hurts the app: server down, slow or failing, bad config, dead export thread, full queue."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import openai
import pytest

import tokentrail
from tests.sdk.conftest import Init, spans
from tests.support import ServerProcess, ServerThread, free_port, wait_for

MESSAGES = [{"role": "user", "content": "hello"}]


def llm_calls(url: str, project: str) -> int:
    """LLM spans of ``project`` stored by the server at ``url`` (read through its API)."""
    assert httpx.post(url + "/api/admin/flush", timeout=60).json()["flushed"]
    r = httpx.get(url + "/api/stats/routes", params={"project": project, "hours": 1}, timeout=60)
    return r.json()["totals"]["requests"]


def make_calls(client: openai.OpenAI, n: int) -> None:
    for _ in range(n):
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert reply.choices[0].message.content


@pytest.fixture
def down_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server process that is NOT running yet (start it with ``.start()``); its port is fixed."""
    data = tmp_path / "data"
    data.mkdir()
    proc = ServerProcess(data, port=free_port())
    yield proc
    if proc.proc is not None:
        proc.stop()


def test_server_down_then_up_app_unaffected_and_spans_delivered(down_server: ServerProcess, oai: openai.OpenAI,
                                                                project: str) -> None:
    tokentrail.init(endpoint=down_server.url, project=project, flush_seconds=0.1, max_backoff_seconds=0.3)
    try:
        make_calls(oai, 20)
        wait_for(lambda: tokentrail.stats()["export_failures"] > 0, 10)
        assert tokentrail.flush(0.5) is False  # nothing can be delivered yet
        stats = tokentrail.stats()
        assert stats["spans_in_memory"] == 20 and stats["server_reachable"] is False
        down_server.start()
        make_calls(oai, 5)
        assert tokentrail.flush(30), tokentrail.stats()
        assert llm_calls(down_server.url, project) == 25
        stats = tokentrail.stats()
        assert (stats["spans_exported"], stats["spans_dropped_queue_full"], stats["spans_dropped_memory"]) == (25, 0, 0)
    finally:
        tokentrail.shutdown()


def test_disk_spool_keeps_spans_across_a_restart_of_the_app(down_server: ServerProcess, oai: openai.OpenAI,
                                                            project: str, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    tokentrail.init(endpoint=down_server.url, project=project, spool_dir=str(spool), flush_seconds=0.1,
                    max_backoff_seconds=0.3)
    make_calls(oai, 12)
    wait_for(lambda: tokentrail.stats()["spans_spooled"] == 12, 10)
    tokentrail.shutdown(timeout=0.5)  # the app exits while the server is down
    assert list((spool / project).glob("*.otlp"))
    down_server.start()
    tokentrail.init(endpoint=down_server.url, project=project, spool_dir=str(spool), flush_seconds=0.1)
    try:
        assert tokentrail.flush(30), tokentrail.stats()
        assert llm_calls(down_server.url, project) == 12
        assert not list((spool / project).glob("*.otlp"))
    finally:
        tokentrail.shutdown()


class _Failing(BaseHTTPRequestHandler):
    """A stand-in for a broken server: 503 with Retry-After, or an answer slower than the SDK's timeout."""

    mode = "503"
    hits = 0

    def do_POST(self) -> None:  # noqa: N802
        type(self).hits += 1
        self.rfile.read(int(self.headers.get("content-length", 0)))
        if self.mode == "slow":
            time.sleep(1.5)
        self.send_response(503)
        self.send_header("retry-after", "0")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("mode", ["503", "slow"])
def test_failing_or_slow_server_never_reaches_the_app(oai: openai.OpenAI, project: str, mode: str) -> None:
    _Failing.mode, _Failing.hits = mode, 0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    tokentrail.init(endpoint=f"http://127.0.0.1:{httpd.server_port}", project=project, flush_seconds=0.05,
                    timeout_seconds=0.3, max_backoff_seconds=0.1)
    try:
        make_calls(oai, 10)
        wait_for(lambda: _Failing.hits >= 2, 10)
        stats = tokentrail.stats()
        assert stats["export_failures"] >= 1 and stats["spans_exported"] == 0
        assert stats["spans_in_memory"] + stats["spans_waiting"] == 10  # kept for later, not lost
    finally:
        tokentrail.shutdown(timeout=0.5)
        httpd.shutdown()


def test_bad_config_is_logged_and_replaced_by_defaults(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                       project: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tokentrail"):
        sdk(capture="sometimes", capture_rate="lots", queue_size=-5, instrument="openai,cohere", colour="blue")
    warnings = caplog.text
    for name in ("capture=", "capture_rate=", "queue_size=", "cohere", "colour"):
        assert name in warnings
    make_calls(oai, 2)
    assert len(spans(server, project, 2)) == 2


def test_dead_export_thread_does_not_hurt_the_app_and_is_restarted(sdk: Init, oai: openai.OpenAI,
                                                                   server: ServerThread, project: str) -> None:
    sdk()
    exporter = tokentrail.sdk._state.STATE.exporter
    exporter.stopping = True  # the thread ends as if it had crashed
    exporter.wake.set()
    exporter.thread.join(10)
    assert not exporter.thread.is_alive()
    exporter.stopping = False
    make_calls(oai, 3)
    assert tokentrail.stats()["exporter_alive"] is False
    assert len(spans(server, project, 3)) == 3  # flush() starts a new export thread
    assert tokentrail.stats()["exporter_alive"] is True


def test_full_queue_drops_the_oldest_and_counts_them(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                     project: str) -> None:
    sdk(queue_size=4, batch_size=100)
    exporter = tokentrail.sdk._state.STATE.exporter
    exporter.stopping = True  # nobody takes from the queue for a while
    exporter.wake.set()
    exporter.thread.join(10)
    exporter.stopping = False
    make_calls(oai, 7)
    stats = tokentrail.stats()
    assert (stats["spans_queued"], stats["spans_waiting"], stats["spans_dropped_queue_full"]) == (7, 4, 3)
    assert len(spans(server, project, 4)) == 4


def test_data_the_server_refuses_is_counted_not_retried(oai: openai.OpenAI, fake_llm, project: str) -> None:
    tokentrail.init(endpoint=fake_llm.base_url, project=project, flush_seconds=30)  # answers 400 to /v1/traces
    try:
        make_calls(oai, 3)
        assert tokentrail.flush(10)
        stats = tokentrail.stats()
        assert (stats["spans_rejected"], stats["spans_exported"], stats["export_requests"]) == (3, 0, 1)
        assert stats["last_export_error"].startswith("HTTP 400")
    finally:
        tokentrail.shutdown()


class _FivehundredsThenOk(BaseHTTPRequestHandler):
    """A server in trouble for a while (a full disk): 500 to the first ``failures`` exports, then 200."""

    failures = 8
    hits = 0

    def do_POST(self) -> None:  # noqa: N802
        type(self).hits += 1
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(500 if type(self).hits <= self.failures else 200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_answering_500_for_a_while_gets_every_span_after_it_recovers(oai: openai.OpenAI,
                                                                             project: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FivehundredsThenOk)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        tokentrail.init(endpoint=f"http://127.0.0.1:{server.server_port}", project=project, flush_seconds=0.05,
                        max_backoff_seconds=0.05)
        make_calls(oai, 10)
        assert tokentrail.flush(30), tokentrail.stats()
        stats = tokentrail.stats()
        assert _FivehundredsThenOk.hits > _FivehundredsThenOk.failures  # it did answer 500 that often
        assert (stats["spans_exported"], stats["spans_failed"]) == (10, 0)
    finally:
        tokentrail.shutdown()
        server.shutdown()
