"""Spans from the real OpenTelemetry SDK arrive as rows with the right tokens, cost, latency and context."""

from __future__ import annotations

import gzip

import pytest

from tests.ingest.otel_helpers import emit_agent_trace, in_memory_provider, otlp_json, provider_exporting_to
from tests.support import ServerThread
from tokentrail.pricing import PriceBook, cost_usd, normalize_model


def _rows(server: ServerThread, project: str) -> dict[str, dict]:
    rows = server.query("SELECT * FROM tokentrail.spans FINAL WHERE project = {p:String}", {"p": project})
    return {r["span_id"]: r for r in rows}


def _price(model: str):
    return next(r for r in PriceBook(None).rows if r.model_key == normalize_model(model))


def test_otel_sdk_protobuf_export_becomes_rows(server: ServerThread, project: str) -> None:
    provider = provider_exporting_to(server.url, project)
    ids = emit_agent_trace(provider)
    provider.shutdown()
    rows = _rows(server, project)
    assert len(rows) == 4
    llm = rows[ids["llm"]]
    assert llm["trace_id"] == ids["trace"]
    assert (llm["kind"], llm["provider"], llm["request_model"], llm["response_model"]) == (
        "llm", "openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    assert (llm["input_tokens"], llm["output_tokens"], llm["cached_input_tokens"]) == (1200, 300, 200)
    expected = cost_usd(_price("gpt-4o-mini"), 1200, 300, 200)
    assert llm["input_cost"] == pytest.approx(expected[0])
    assert llm["total_cost"] == pytest.approx(expected[2])
    assert llm["price_version"]
    assert llm["ttft_ms"] == pytest.approx(180.5)
    assert llm["streamed"] is True
    assert llm["duration_ms"] >= 10
    assert llm["finish_reason"] == "stop"
    assert (llm["user_id"], llm["session_id"], llm["route"], llm["customer"]) == (
        "u-42", "s-7", "checkout-assistant", "acme")
    assert (llm["environment"], llm["release"], llm["service"]) == ("production", "1.4.2", "checkout-api")
    assert llm["tags"] == ["beta", "eu"]
    assert llm["attributes"]["app.experiment"] == "b"
    assert "gen_ai.usage.input_tokens" not in llm["attributes"]
    assert llm["source"] == "otlp" and llm["status"] == "ok"


def test_span_tree_kinds_and_errors(server: ServerThread, project: str) -> None:
    provider = provider_exporting_to(server.url, project)
    ids = emit_agent_trace(provider)
    provider.shutdown()
    rows = _rows(server, project)
    kinds = sorted(r["kind"] for r in rows.values())
    assert kinds == ["agent", "llm", "llm", "tool"]
    root = next(r for r in rows.values() if r["kind"] == "agent")
    assert root["parent_span_id"] == ""
    assert all(r["parent_span_id"] == root["span_id"] for r in rows.values() if r is not root)
    failed = rows[ids["failed"]]
    assert (failed["status"], failed["http_status"], failed["error_type"]) == ("error", 429, "RateLimitError")
    assert failed["error_message"] == "Rate limit reached"
    assert failed["total_cost"] == 0  # a priced model with zero tokens costs nothing; unknown would be NULL


def test_otlp_json_from_sdk_spans_becomes_the_same_rows(server: ServerThread, project: str) -> None:
    provider, memory = in_memory_provider()
    ids = emit_agent_trace(provider)
    body = otlp_json(list(memory.get_finished_spans()))
    r = server.client.post("/v1/traces", content=body,
                           headers={"content-type": "application/json", "x-tokentrail-project": project})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    rows = _rows(server, project)
    assert len(rows) == 4
    assert rows[ids["llm"]]["input_tokens"] == 1200
    assert rows[ids["llm"]]["total_cost"] > 0


def test_gzip_protobuf_is_accepted(server: ServerThread, project: str) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    provider, memory = in_memory_provider()
    emit_agent_trace(provider)
    body = gzip.compress(encode_spans(list(memory.get_finished_spans())).SerializeToString())
    r = server.client.post("/v1/traces", content=body, headers={
        "content-type": "application/x-protobuf", "content-encoding": "gzip", "x-tokentrail-project": project})
    assert r.status_code == 200
    assert len(_rows(server, project)) == 4


def test_resent_batch_does_not_double_count(server: ServerThread, project: str) -> None:
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    provider, memory = in_memory_provider()
    emit_agent_trace(provider)
    body = encode_spans(list(memory.get_finished_spans())).SerializeToString()
    headers = {"content-type": "application/x-protobuf", "x-tokentrail-project": project}
    for _ in range(3):
        assert server.client.post("/v1/traces", content=body, headers=headers).status_code == 200
        server.flush()
    rows = server.query("SELECT count() AS n, sum(input_tokens) AS tokens, sum(total_cost) AS cost "
                        "FROM tokentrail.spans FINAL WHERE project = {p:String}", {"p": project})
    assert rows[0]["n"] == 4
    assert rows[0]["tokens"] == 1200
    stats = server.client.get("/api/stats/routes", params={"project": project}).json()
    assert stats["totals"]["requests"] == 2


def test_a_giant_request_is_spooled_as_several_records_with_every_span(server: ServerThread, project: str) -> None:
    import os
    import time

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue

    from tokentrail.ingest import otlp

    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name", value=AnyValue(string_value="giant"))
    ss = rs.scope_spans.add()
    ss.scope.name = "app"
    now, trace_id = time.time_ns(), os.urandom(16)
    for i in range(30_000):  # ~10 MB: over RECORD_MAX_BYTES
        sp = ss.spans.add(trace_id=trace_id, span_id=os.urandom(8), name=f"step {i}", start_time_unix_nano=now,
                          end_time_unix_nano=now + 1000)
        sp.attributes.add(key="note", value=AnyValue(string_value="x" * 300))
    body = req.SerializeToString()
    assert len(body) > otlp.RECORD_MAX_BYTES
    assert len(otlp.decode_request(body, "application/x-protobuf").parts) >= 2
    r = server.client.post("/v1/traces", content=body, headers={"content-type": "application/x-protobuf",
                                                                "x-tokentrail-project": project})
    assert r.status_code == 200
    rows = server.query("SELECT count() AS n, uniqExact(service) AS services FROM tokentrail.spans FINAL "
                        "WHERE project = {p:String}", {"p": project})
    assert rows == [{"n": 30_000, "services": 1}]
