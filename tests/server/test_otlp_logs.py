"""OTLP logs: GenAI content sent as log records becomes the linked span's content.

Real parts only: the OpenTelemetry SDK (TracerProvider + OTLPSpanExporter, LoggerProvider +
OTLPLogExporter) against a real server on loopback. The records are shaped exactly like the
ones captured from opentelemetry-instrumentation-openai-v2 2.4b0 (legacy events and latest
``gen_ai.client.inference.operation.details``) and openlit 1.45 (issue #11 interop captures).
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.support import ServerThread

SYSTEM = "You are a terse assistant."
USER = "Say hello to tokentrail"
REPLY = "This is a deterministic reply from the fake LLM server."
TOOL_CALLS = [{"id": "call_fake4_0", "type": "function",
               "function": {"name": "get_weather", "arguments": "{\"city\":\"fake\"}"}}]
# gen_ai.input.messages / gen_ai.output.messages as otel-openai-v2 latest sends them
LATEST_IN = [{"role": "system", "parts": [{"content": SYSTEM, "type": "text"}]},
             {"role": "user", "parts": [{"content": USER, "type": "text"}]}]
LATEST_OUT = [{"role": "assistant", "parts": [{"content": REPLY, "type": "text"}], "finish_reason": "stop"}]


class Sdk:
    """One app's OTel SDK pipelines (synchronous processors: an export per span/record)."""

    def __init__(self, server: ServerThread, project: str, *, gzip_logs: bool = False) -> None:
        resource = Resource.create({"service.name": "interop-otel-openai-v2"})
        headers = {"X-Tokentrail-Project": project}
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(
            OTLPSpanExporter(endpoint=f"{server.url}/v1/traces", headers=headers)))
        self.logger_provider = LoggerProvider(resource=resource)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(
            endpoint=f"{server.url}/v1/logs", headers=headers,
            compression=Compression.Gzip if gzip_logs else Compression.NoCompression)))
        self.tracer = self.tracer_provider.get_tracer("opentelemetry.instrumentation.openai_v2")
        self.logger = self.logger_provider.get_logger("opentelemetry.instrumentation.openai_v2")

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()

    @contextmanager
    def llm_span(self, attributes: dict[str, Any] | None = None) -> Iterator[trace.Span]:
        with self.tracer.start_as_current_span("chat gpt-4o-mini", kind=trace.SpanKind.CLIENT, attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", "gen_ai.system": "openai",
                "gen_ai.usage.input_tokens": 9, "gen_ai.usage.output_tokens": 10, **(attributes or {})}) as span:
            yield span

    def event(self, name: str, body: Any = None, attributes: dict[str, Any] | None = None,
              span: trace.Span | None = None) -> None:
        ctx = trace.set_span_in_context(span) if span is not None else None
        self.logger.emit(event_name=name, body=body, attributes=attributes or {"gen_ai.system": "openai"},
                         context=ctx)


@contextmanager
def sdk(server: ServerThread, project: str, **kw: Any) -> Iterator[Sdk]:
    s = Sdk(server, project, **kw)
    try:
        yield s
    finally:
        s.shutdown()


def ids(span: trace.Span) -> tuple[str, str]:
    c = span.get_span_context()
    return f"{c.trace_id:032x}", f"{c.span_id:016x}"


def content(server: ServerThread, project: str, span: trace.Span) -> dict[str, Any] | None:
    trace_id, span_id = ids(span)
    server.flush()
    r = server.client.get(f"/api/traces/{trace_id}", params={"project": project})
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["content_permitted"]
    return doc["content"].get(span_id)


def test_legacy_events_become_the_span_content(server: ServerThread, project: str) -> None:
    with sdk(server, project) as app:
        with app.llm_span() as span:  # the span has no content; the events carry it
            app.event("gen_ai.system.message", {"content": SYSTEM}, span=span)
            app.event("gen_ai.user.message", {"content": USER}, span=span)
            app.event("gen_ai.choice", {"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": REPLY}}, span=span)
    c = content(server, project, span)
    assert c is not None
    assert json.loads(c["input"]) == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    assert json.loads(c["output"]) == {"role": "assistant", "content": REPLY}


def test_tool_call_events_keep_order_and_tool_ids(server: ServerThread, project: str) -> None:
    with sdk(server, project) as app:
        with app.llm_span() as first:
            app.event("gen_ai.user.message", {"content": "What is the weather in Paris?"}, span=first)
            app.event("gen_ai.choice", {"index": 0, "finish_reason": "tool_calls",
                                        "message": {"role": "assistant", "tool_calls": TOOL_CALLS}}, span=first)
        with app.llm_span() as second:
            app.event("gen_ai.user.message", {"content": "What is the weather in Paris?"}, span=second)
            app.event("gen_ai.assistant.message", {"tool_calls": TOOL_CALLS}, span=second)
            app.event("gen_ai.tool.message", {"content": "{\"temp_c\": 21, \"sky\": \"clear\"}",
                                              "id": "call_fake4_0"}, span=second)
            app.event("gen_ai.choice", {"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": REPLY}}, span=second)
    c1 = content(server, project, first)
    assert c1 is not None and json.loads(c1["output"]) == {"role": "assistant", "tool_calls": TOOL_CALLS}
    c2 = content(server, project, second)
    assert c2 is not None
    assert json.loads(c2["input"]) == [
        {"role": "user", "content": "What is the weather in Paris?"},
        {"role": "assistant", "tool_calls": TOOL_CALLS},
        {"role": "tool", "content": "{\"temp_c\": 21, \"sky\": \"clear\"}", "tool_call_id": "call_fake4_0"}]
    assert json.loads(c2["output"])["content"] == REPLY


def test_input_and_choice_in_separate_exports_with_the_span_between(server: ServerThread, project: str) -> None:
    """The streaming capture: input records exported before the span, the choice after it was stored."""
    with sdk(server, project) as app:
        with app.llm_span() as span:
            app.event("gen_ai.system.message", {"content": SYSTEM}, span=span)
            app.event("gen_ai.user.message", {"content": USER}, span=span)
        server.flush()  # the span is in the store now
        app.event("gen_ai.choice", {"index": 0, "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": REPLY}}, span=span)
    c = content(server, project, span)
    assert c is not None
    assert len(json.loads(c["input"])) == 2
    assert json.loads(c["output"])["content"] == REPLY
    rows = server.query("SELECT start_time FROM tokentrail.contents FINAL WHERE project = {p:String}",
                        {"p": project})
    spans = server.query("SELECT start_time FROM tokentrail.spans FINAL WHERE project = {p:String}", {"p": project})
    assert len(rows) == 1 and rows[0]["start_time"][:10] == spans[0]["start_time"][:10]


def test_operation_details_record_with_structured_attributes(server: ServerThread, project: str) -> None:
    """openai-v2 latest / openlit: the same content as span attributes (JSON strings) and as a log
    record (structured): one row, and log content equal to what the span path stores."""
    with sdk(server, project) as app:
        with app.llm_span({"gen_ai.input.messages": json.dumps(LATEST_IN, separators=(",", ":")),
                           "gen_ai.output.messages": json.dumps(LATEST_OUT, separators=(",", ":"))}) as both:
            app.event("gen_ai.client.inference.operation.details", None, span=both, attributes={
                "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                "gen_ai.input.messages": LATEST_IN, "gen_ai.output.messages": LATEST_OUT,
                "gen_ai.system_instructions": [{"type": "text", "content": SYSTEM}]})
        with app.llm_span() as logs_only:  # openai-v2 latest with content capture EVENT_ONLY
            app.event("gen_ai.client.inference.operation.details", None, span=logs_only, attributes={
                "gen_ai.input.messages": LATEST_IN[1:], "gen_ai.output.messages": LATEST_OUT,
                "gen_ai.system_instructions": [{"type": "text", "content": SYSTEM}]})
    c = content(server, project, both)
    assert c is not None and json.loads(c["input"]) == LATEST_IN and json.loads(c["output"]) == LATEST_OUT
    c = content(server, project, logs_only)
    assert c is not None
    assert json.loads(c["input"]) == [{"role": "system", "parts": [{"type": "text", "content": SYSTEM}]},
                                      LATEST_IN[1]]
    assert json.loads(c["output"]) == LATEST_OUT
    n = server.query("SELECT count() AS n FROM tokentrail.contents FINAL WHERE project = {p:String}", {"p": project})
    assert n[0]["n"] == 2


def test_log_content_never_erases_span_content(server: ServerThread, project: str) -> None:
    """A span stored with content, then a record with other (partial) content: stored content
    stays, the empty field is filled."""
    with sdk(server, project) as app:
        with app.llm_span({"gen_ai.input.messages": "span-input"}) as span:
            pass
        server.flush()
        app.event("gen_ai.user.message", {"content": "log-input"}, span=span)
        app.event("gen_ai.choice", {"index": 0, "message": {"role": "assistant", "content": "log-output"}}, span=span)
    c = content(server, project, span)
    assert c is not None and c["input"] == "span-input"
    assert json.loads(c["output"]) == {"role": "assistant", "content": "log-output"}


def test_gzip_and_records_without_ids_or_content_are_dropped_not_refused(server: ServerThread, project: str) -> None:
    before = server.client.get("/api/ingest/status").json()["refused"].get("dropped_log_record", 0)
    with sdk(server, project, gzip_logs=True) as app:
        with app.llm_span() as span:
            app.event("gen_ai.user.message", {"content": USER}, span=span)
            app.event("app.log", "plain application log line", span=span)  # not GenAI
            app.event("gen_ai.choice", {"index": 0, "message": {"role": "assistant"}}, span=span)  # no content
        app.event("gen_ai.user.message", {"content": "no span"})  # no trace/span id
    c = content(server, project, span)
    assert c is not None and json.loads(c["input"]) == [{"role": "user", "content": USER}] and c["output"] == ""
    after = server.client.get("/api/ingest/status").json()["refused"].get("dropped_log_record", 0)
    assert after - before == 3


def test_otlp_json_with_hex_ids(server: ServerThread, project: str) -> None:
    with sdk(server, project) as app:
        with app.llm_span() as span:
            pass
    trace_id, span_id = ids(span)
    doc = {"resourceLogs": [{"resource": {"attributes": []}, "scopeLogs": [{"scope": {"name": "x"}, "logRecords": [
        {"timeUnixNano": str(time.time_ns()), "eventName": "gen_ai.user.message", "traceId": trace_id, "spanId": span_id,
         "body": {"kvlistValue": {"values": [{"key": "content", "value": {"stringValue": USER}}]}}},
        {"eventName": "gen_ai.choice", "traceId": trace_id, "spanId": span_id,
         "body": {"kvlistValue": {"values": [
             {"key": "index", "value": {"intValue": "0"}},
             {"key": "message", "value": {"kvlistValue": {"values": [
                 {"key": "role", "value": {"stringValue": "assistant"}},
                 {"key": "content", "value": {"stringValue": REPLY}}]}}}]}}},
        {"eventName": "gen_ai.user.message", "traceId": "abc", "spanId": span_id,
         "body": {"stringValue": "bad id"}}]}]}]}
    for _ in range(2):  # the second time: an exporter retry, which must not repeat the messages
        r = server.client.post("/v1/logs", json=doc, headers={"X-Tokentrail-Project": project})
        assert r.status_code == 200, r.text
        assert r.json()["partialSuccess"]["rejectedLogRecords"] == "1"
    c = content(server, project, span)
    assert c is not None
    assert json.loads(c["input"]) == [{"role": "user", "content": USER}]
    assert json.loads(c["output"]) == {"role": "assistant", "content": REPLY}


def test_bad_payloads_get_4xx_json(server: ServerThread) -> None:
    cases = [
        (b"\xff\xff not protobuf", {"Content-Type": "application/x-protobuf"}, 400),
        (b"{not json", {"Content-Type": "application/json"}, 400),
        (b"[1, 2]", {"Content-Type": "application/json"}, 400),
        (b"x", {"Content-Type": "text/plain"}, 415),
        (b"not gzip", {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}, 400),
        (gzip.compress(b"x"), {"Content-Type": "application/x-protobuf", "Content-Encoding": "br"}, 415),
    ]
    for body, headers, status in cases:
        r = server.client.post("/v1/logs", content=body, headers=headers)
        assert r.status_code == status, (body, r.text)
        assert r.headers["content-type"].startswith("application/json") and r.json()["error"]


def test_metrics_are_accepted_and_not_stored(server: ServerThread) -> None:
    r = httpx.post(f"{server.url}/v1/metrics", content=b"\x0a\x00",
                   headers={"Content-Type": "application/x-protobuf"})
    assert r.status_code == 200 and r.content == b""
    r = httpx.post(f"{server.url}/v1/metrics", json={"resourceMetrics": []})
    assert r.status_code == 200 and r.json() == {}


RUN_INSTRUMENTED = """
import sys
from tests.fake_llm import start_fake_llm
from tests.interop.capture import run_scenarios

with start_fake_llm() as fake:
    handle = run_scenarios(sys.argv[1], fake.openai_base_url, fake.anthropic_base_url, sys.argv[2],
                           only=["openai_chat", "openai_tool_call"])
sys.exit(1 if handle.errors else 0)
"""


@pytest.mark.parametrize("lib", ["otel-openai-v2", "otel-openai-v2-latest"])
def test_real_openai_v2_instrumentation(server: ServerThread, project: str, lib: str) -> None:
    """The real opentelemetry-instrumentation-openai-v2 (own process: it patches openai globally)
    against the fake provider, exporting traces, logs and metrics to the server."""
    pytest.importorskip("opentelemetry.instrumentation.openai_v2")
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, OTEL_RESOURCE_ATTRIBUTES=f"tokentrail.project={project}")
    done = subprocess.run([sys.executable, "-c", RUN_INSTRUMENTED, lib, server.url], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Failed to export" not in done.stderr, done.stderr[-3000:]
    spans = server.query("SELECT trace_id, span_id FROM tokentrail.spans FINAL WHERE project = {p:String} "
                         "ORDER BY start_time", {"p": project})
    content = {(c["trace_id"], c["span_id"]): c for c in server.contents("project = {p:String}", {"p": project})}
    rows = [{"span_id": s["span_id"], "input": content.get((s["trace_id"], s["span_id"]), {}).get("input", ""),
             "output": content.get((s["trace_id"], s["span_id"]), {}).get("output", "")} for s in spans]
    assert len(rows) == 3  # openai_chat, then the tool call's two calls
    chat, tool_1, tool_2 = rows
    texts = [json.dumps(json.loads(r["input"])) + json.dumps(json.loads(r["output"])) for r in rows]
    assert SYSTEM in texts[0] and USER in texts[0] and REPLY in texts[0]
    assert "get_weather" in texts[1] and "call_fake" in texts[1]
    assert "temp_c" in texts[2] and REPLY in texts[2]
    if lib == "otel-openai-v2":
        assert json.loads(chat["input"]) == [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
        assert json.loads(chat["output"]) == {"role": "assistant", "content": REPLY}
        assert [m["role"] for m in json.loads(tool_2["input"])] == ["user", "assistant", "tool"]
    else:
        assert json.loads(chat["input"])[0] == {"role": "system", "parts": [{"content": SYSTEM, "type": "text"}]}
