"""Malformed input gets a 4xx with a JSON error; the good spans beside a bad one are kept."""

from __future__ import annotations

import json
import socket

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.ingest.otel_helpers import emit_agent_trace, in_memory_provider, otlp_json
from tests.support import ServerThread

PB = "application/x-protobuf"


def _count(server: ServerThread, project: str) -> int:
    return server.query("SELECT count() AS n FROM tokentrail.spans FINAL WHERE project = {p:String}",
                        {"p": project})[0]["n"]


def test_garbage_protobuf_is_400_with_json_error(server: ServerThread, project: str) -> None:
    r = server.client.post("/v1/traces", content=b"\xff\xff\xff not a protobuf",
                           headers={"content-type": PB, "x-tokentrail-project": project})
    assert r.status_code == 400
    assert "ExportTraceServiceRequest" in r.json()["error"]


def test_invalid_json_is_400(server: ServerThread, project: str) -> None:
    r = server.client.post("/v1/traces", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = server.client.post("/v1/traces", content=b'{"resourceSpans": 5}', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "error" in r.json()


def test_unsupported_content_type_and_encoding(server: ServerThread) -> None:
    r = server.client.post("/v1/traces", content=b"x", headers={"content-type": "text/plain"})
    assert r.status_code == 415 and "Content-Type" in r.json()["error"]
    r = server.client.post("/v1/traces", content=b"x", headers={"content-type": PB, "content-encoding": "br"})
    assert r.status_code == 415
    r = server.client.post("/v1/traces", content=b"not gzip", headers={"content-type": PB, "content-encoding": "gzip"})
    assert r.status_code == 400 and "gzip" in r.json()["error"]


def test_bad_span_in_protobuf_batch_keeps_its_neighbours(server: ServerThread, project: str) -> None:
    provider, memory = in_memory_provider()
    emit_agent_trace(provider)
    req = encode_spans(list(memory.get_finished_spans()))
    spans = req.resource_spans[0].scope_spans[0].spans
    spans[0].trace_id = b"\x01\x02"  # wrong length
    spans[1].start_time_unix_nano = 0  # no start time
    r = server.client.post("/v1/traces", content=req.SerializeToString(),
                           headers={"content-type": PB, "x-tokentrail-project": project})
    assert r.status_code == 200  # OTLP partial success: the exporter must not treat it as a failed export
    partial = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert partial.rejected_spans == 2
    assert "trace_id" in partial.error_message and "start_time" in partial.error_message
    assert _count(server, project) == 2
    status = server.client.get("/api/ingest/status").json()
    assert status["refused"]["rejected_span"] >= 2


def test_bad_hex_id_in_json_rejects_only_that_span(server: ServerThread, project: str) -> None:
    provider, memory = in_memory_provider()
    emit_agent_trace(provider)
    doc = json.loads(otlp_json(list(memory.get_finished_spans())))
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] = "zz-not-hex"
    r = server.client.post("/v1/traces", content=json.dumps(doc).encode(),
                           headers={"content-type": "application/json", "x-tokentrail-project": project})
    assert r.status_code == 200
    assert r.json()["partialSuccess"]["rejectedSpans"] == "1"  # int64 is a string in the protobuf JSON mapping
    assert _count(server, project) == 3


def test_bad_project_header_is_400(server: ServerThread) -> None:
    r = server.client.post("/v1/traces", content=b"", headers={"content-type": PB, "x-tokentrail-project": "a b/c"})
    assert r.status_code == 400 and "Project" in r.json()["error"]


def test_too_large_body_is_413_before_it_is_read(server: ServerThread) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(f"POST /v1/traces HTTP/1.1\r\nHost: localhost\r\nContent-Type: {PB}\r\n"
                     f"Content-Length: {1 << 30}\r\n\r\n".encode())
        reply = sock.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 413")
    assert "over" in reply
