"""Hostile or impossible input: a clear 4xx (never a 5xx, never a closed connection), spans outside the
accepted time window refused on their own, and bodies bounded while they stream in."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.ingest.otel_helpers import emit_agent_trace, in_memory_provider
from tests.support import ServerProcess, ServerThread

PB = "application/x-protobuf"
NOW_NS = time.time_ns()


def _count(server: ServerThread, project: str) -> int:
    return server.query("SELECT count() AS n FROM tokentrail.spans FINAL WHERE project = {p:String}",
                        {"p": project})[0]["n"]


def _agent_trace_request() -> object:
    provider, memory = in_memory_provider()
    emit_agent_trace(provider)
    return encode_spans(list(memory.get_finished_spans()))


@pytest.mark.parametrize("start_ns", [1, 2**63, 10_413_792_000 * 10**9, NOW_NS + 2 * 86_400 * 10**9],
                         ids=["1ns", "2pow63", "year2300", "two-days-ahead"])
def test_otlp_impossible_time_refused_neighbours_kept(server: ServerThread, project: str,
                                                                           start_ns: int) -> None:
    req = _agent_trace_request()
    span = req.resource_spans[0].scope_spans[0].spans[0]
    span.start_time_unix_nano = start_ns
    span.end_time_unix_nano = max(start_ns, span.end_time_unix_nano)
    r = server.client.post("/v1/traces", content=req.SerializeToString(),
                           headers={"content-type": PB, "x-tokentrail-project": project})
    assert r.status_code == 200
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_spans == 1 and "2000-01-01" in partial.error_message
    assert _count(server, project) == 3


@pytest.mark.parametrize("timestamp", [-2**63, 2**63, 1, "2300-01-01T00:00:00Z", "1970-01-02T00:00:00Z"],
                         ids=["minus2pow63", "2pow63", "1s", "year2300", "year1970"])
def test_native_impossible_time_refused_by_index(server: ServerThread, project: str,
                                                              timestamp: object) -> None:
    items = [{"model": "gpt-4o", "timestamp": timestamp}, {"model": "gpt-4o", "input_tokens": 3}]
    r = server.client.post("/api/ingest/batch", json=items, headers={"x-tokentrail-project": project})
    assert r.status_code == 400
    body = r.json()
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert body["errors"][0]["index"] == 0 and "2000-01-01" in body["errors"][0]["error"]
    assert _count(server, project) == 1


def test_span_older_than_the_retention_is_refused_and_counted_as_expired(server: ServerThread,
                                                                         project: str) -> None:
    days = server.settings.retention_spans_days
    old = time.time() - (days + 2) * 86_400
    r = server.client.post("/api/ingest/batch", json=[{"model": "gpt-4o", "timestamp": old}],
                           headers={"x-tokentrail-project": project})
    assert r.status_code == 400 and r.json()["expired"] == 1
    assert "retention" in r.json()["errors"][0]["error"]
    req = _agent_trace_request()
    for span in req.resource_spans[0].scope_spans[0].spans:
        span.start_time_unix_nano = span.end_time_unix_nano = int(old * 1e9)
    r = server.client.post("/v1/traces", content=req.SerializeToString(),
                           headers={"content-type": PB, "x-tokentrail-project": project})
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert r.status_code == 200 and partial.rejected_spans == 4 and "retention" in partial.error_message
    assert server.client.get("/api/ingest/status").json()["refused"]["expired_span"] >= 5
    metrics = server.client.get("/metrics").text
    assert 'tokentrail_ingest_refused_total{reason="expired_span"}' in metrics


def test_lone_surrogate_in_json_gets_a_json_4xx(server: ServerThread) -> None:
    r = server.client.post("/api/ingest/batch", content=b'[{"model": "\\ud800"}]')
    assert r.status_code == 400 and "surrogate" in r.json()["errors"][0]["error"]
    r = server.client.post("/api/admin/recompute-costs", content=b'{"since": "\\ud800"}',
                           headers={"content-type": "application/json"})
    assert r.status_code == 422 and "since" in r.json()["error"]


@pytest.mark.parametrize("path,ctype", [("/api/ingest/batch", "application/json"), ("/v1/traces", "application/json"),
                                        ("/v1/logs", "application/json"), ("/api/scores", "application/json")])
def test_json_nested_a_thousand_levels_is_400(server: ServerThread, path: str, ctype: str) -> None:
    deep = b"[" * 1000 + b"]" * 1000
    r = server.client.post(path, content=deep, headers={"content-type": ctype})
    assert r.status_code == 400 and "nested too deeply" in r.json()["error"]


def test_connection_survives_a_deeply_nested_body_under_pipelining(server: ServerThread) -> None:
    deep = b"[" * 1000 + b"]" * 1000
    bad = (f"POST /api/ingest/batch HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(deep)}\r\n\r\n").encode() + deep
    good = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(bad + good)
        reply = b""
        while reply.count(b"HTTP/1.1 ") < 2:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after: {reply[:300]!r}"
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 400") and b"HTTP/1.1 200" in reply


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_chunked_upload_over_the_limit_is_413_and_never_held_in_memory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = ServerProcess(data).start()
    try:
        assert server.proc is not None
        before = _peak_rss_mb(server.proc.pid)
        chunk = b"x" * (1 << 20)
        replies: list[bytes] = []

        def read(sock: socket.socket) -> None:  # reads while the body is sent: the answer comes before its end
            got = b""
            try:
                while b"}" not in got and (part := sock.recv(4096)):  # headers and JSON body may come apart
                    got += part
                    replies[:] = [got]
            except OSError as e:
                replies[:] = [got or repr(e).encode()]

        with socket.create_connection(("127.0.0.1", server.port), timeout=120) as sock:
            reader = threading.Thread(target=read, args=(sock,))
            reader.start()
            sock.sendall(b"POST /api/ingest/batch HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            try:
                for _ in range(256):  # 256 MiB, four times the limit
                    sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                    if replies:
                        break
            except OSError:
                pass  # the server answered and closed
            reader.join(120)
        reply = replies[0] if replies else b""
        assert reply.startswith(b"HTTP/1.1 413") and b"over" in reply, reply[:200]
        assert _peak_rss_mb(server.proc.pid) - before < 150  # read up to the 64 MiB limit, never the whole body
    finally:
        server.stop()


def test_native_batch_over_the_item_cap_is_413(server: ServerThread) -> None:
    cap = server.settings.ingest_max_batch_items
    r = server.client.post("/api/ingest/batch", json=[{"model": "m"}] * (cap + 1))
    assert r.status_code == 413 and "ingest_max_batch_items" in r.json()["error"]


def test_backslash_in_a_filter_is_a_value_not_an_error(server: ServerThread, project: str) -> None:
    r = server.client.post("/api/ingest/batch", json=[{"model": "gpt-4o", "route": "a\\b", "input_tokens": 2}],
                           headers={"x-tokentrail-project": project})
    assert r.status_code == 200
    server.flush()
    summary = server.client.get("/api/metrics/summary", params={"project": project, "route": "a\\b"}).json()
    assert summary["requests"] == 1


@pytest.mark.parametrize("params", [{"provider": "openai"}, {"provider": "x", "model": "y"}])
def test_pricing_with_a_provider_filter_answers(server: ServerThread, params: dict) -> None:
    r = server.client.get("/api/pricing", params=params)
    assert r.status_code == 200 and r.json()["unpriced_models"] == []


@pytest.mark.parametrize("params", [{"range": "100000000d"}, {"until": "0001-01-01"}, {"since": "9999-12-31"}])
def test_out_of_range_times_in_queries_are_400(server: ServerThread, params: dict) -> None:
    r = server.client.get("/api/metrics/summary", params=params)
    assert r.status_code == 400 and "error" in r.json()


def test_real_otel_exporter_logs_no_error_when_part_of_an_export_is_refused(
        server: ServerThread, project: str, caplog: pytest.LogCaptureFixture) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    provider, memory = in_memory_provider()
    tracer = provider.get_tracer("test")
    tracer.start_span("impossible", start_time=1).end(end_time=2)
    tracer.start_span("fine").end()
    exporter = OTLPSpanExporter(endpoint=server.url + "/v1/traces", headers={"x-tokentrail-project": project})
    with caplog.at_level(logging.WARNING):
        result = exporter.export(list(memory.get_finished_spans()))
    assert result == SpanExportResult.SUCCESS
    assert not [r for r in caplog.records if r.name.startswith("opentelemetry")], caplog.text
    assert _count(server, project) == 1


@pytest.mark.parametrize("ctype", [PB, "application/json"])
def test_tokentrail_sdk_reads_the_refused_count_from_a_partial_success(server: ServerThread, project: str,
                                                                       ctype: str) -> None:
    from google.protobuf import json_format

    from tokentrail.sdk._otlp import _partial_success

    req = _agent_trace_request()
    req.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano = 1
    if ctype == PB:
        body = req.SerializeToString()
    else:
        doc = json_format.MessageToDict(req)
        for span in doc["resourceSpans"][0]["scopeSpans"][0]["spans"]:  # OTLP/JSON ids are hex
            for key in ("traceId", "spanId", "parentSpanId"):
                if key in span:
                    span[key] = base64.b64decode(span[key]).hex()
        body = json.dumps(doc).encode()
    r = server.client.post("/v1/traces", content=body, headers={"content-type": ctype, "x-tokentrail-project": project})
    assert r.status_code == 200 and _partial_success(r) == 1


def test_content_older_than_its_retention_is_counted_and_said_while_the_span_is_kept(server: ServerThread,
                                                                                     project: str) -> None:
    days = server.settings.retention_contents_days
    assert days < server.settings.retention_spans_days
    req = _agent_trace_request()
    old_ns = time.time_ns() - (days + 1) * 86_400 * 10**9
    for span in req.resource_spans[0].scope_spans[0].spans:
        span.end_time_unix_nano += old_ns - span.start_time_unix_nano
        span.start_time_unix_nano = old_ns
    llm = req.resource_spans[0].scope_spans[0].spans[0]
    llm.attributes.add(key="gen_ai.prompt", value={"string_value": "hello"})
    before = server.client.get("/api/ingest/status").json()["refused"].get("expired_content", 0)
    r = server.client.post("/v1/traces", content=req.SerializeToString(),
                           headers={"content-type": PB, "x-tokentrail-project": project})
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert r.status_code == 200 and partial.rejected_spans == 0 and "content retention" in partial.error_message
    assert server.client.get("/api/ingest/status").json()["refused"]["expired_content"] == before + 1
    assert _count(server, project) == 4


def test_native_content_older_than_its_retention_is_counted_and_said(server: ServerThread, project: str) -> None:
    old = time.time() - (server.settings.retention_contents_days + 1) * 86_400
    items = [{"model": "gpt-4o", "timestamp": old, "input": "hi", "output": "hello"},
             {"model": "gpt-4o", "timestamp": old}, {"model": "gpt-4o", "input": "recent"}]
    r = server.client.post("/api/ingest/batch", json=items, headers={"x-tokentrail-project": project})
    assert r.status_code == 200 and r.json()["accepted"] == 3 and r.json()["content_expired"] == 1
    assert _count(server, project) == 3


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00.0+00:01", "1990-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_recompute_costs_with_a_time_out_of_range_is_a_400(server: ServerThread, since: str) -> None:
    # found by the fuzzer: year 1 with a positive offset is before year 1 in UTC, and was a 500
    r = server.client.post("/api/admin/recompute-costs", json={"since": since})
    assert r.status_code in (400, 422) and "2000-01-01" in r.text, r.text
