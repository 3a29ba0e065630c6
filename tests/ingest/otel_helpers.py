"""Spans made by the real OpenTelemetry SDK, exported by its real OTLP exporter."""

from __future__ import annotations

import json
import time
from typing import Any

from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode

RESOURCE = {"service.name": "checkout-api", "deployment.environment.name": "production",
            "service.version": "1.4.2"}


def provider_exporting_to(url: str, project: str) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create(RESOURCE))
    exporter = OTLPSpanExporter(endpoint=url + "/v1/traces", headers={"x-tokentrail-project": project})
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def in_memory_provider() -> tuple[TracerProvider, InMemorySpanExporter]:
    provider = TracerProvider(resource=Resource.create(RESOURCE))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    return provider, memory


LLM_ATTRS: dict[str, Any] = {
    "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300, "gen_ai.usage.cache_read.input_tokens": 200,
    "gen_ai.response.finish_reasons": ("stop",), "gen_ai.request.temperature": 0.3,
    "tokentrail.ttft_ms": 180.5, "tokentrail.streamed": True, "user.id": "u-42", "session.id": "s-7",
    "tokentrail.route": "checkout-assistant", "tokentrail.customer": "acme", "tokentrail.tags": ("beta", "eu"),
    "app.experiment": "b",
}


def emit_agent_trace(provider: TracerProvider) -> dict[str, str]:
    """agent -> llm (streamed) -> tool -> llm (429). Returns the ids of the spans made."""
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("support-agent", attributes={"tokentrail.kind": "agent",
                                                                    "tokentrail.route": "checkout-assistant"}) as root:
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=LLM_ATTRS) as llm:
            time.sleep(0.01)
        with tracer.start_as_current_span("get_order", attributes={"tokentrail.kind": "tool"}):
            pass
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
                "http.response.status_code": 429, "error.type": "RateLimitError",
                "tokentrail.route": "checkout-assistant"}) as failed:
            failed.set_status(Status(StatusCode.ERROR, "Rate limit reached"))
    return {"trace": format(root.get_span_context().trace_id, "032x"),
            "llm": format(llm.get_span_context().span_id, "016x"),
            "failed": format(failed.get_span_context().span_id, "016x")}


def otlp_json(spans: list[ReadableSpan]) -> bytes:
    """OTLP/JSON (the spec's encoding: hex ids, camelCase) of the SDK's own protobuf encoding."""
    doc = json_format.MessageToDict(encode_spans(spans))
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for sp in ss.get("spans", []):
                for k in ("traceId", "spanId", "parentSpanId"):
                    if k in sp:
                        import base64

                        sp[k] = base64.b64decode(sp[k]).hex()
    return json.dumps(doc).encode()
