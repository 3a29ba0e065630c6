"""Clients pass a key the way they already can: the OTel SDK's exporter through
``OTEL_EXPORTER_OTLP_HEADERS`` (Authorization: Bearer, or x-api-key), the tokentrail SDK from
``TOKENTRAIL_API_KEY``. What they send lands in the key's project; without the key it is refused."""

from __future__ import annotations

import secrets

import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import tokentrail
from tests.fake_llm import FakeLLM
from tests.fake_llm.pytest_plugin import fake_llm, fake_llm_server  # noqa: F401 - fixtures
from tests.security.keyed import ALPHA, Keyed
from tests.support import wait_for


def _export_one(url: str, name: str) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "otel-key-test"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces")))
    with provider.get_tracer("t").start_as_current_span(name) as span:
        span.set_attribute("gen_ai.request.model", "gpt-4o-mini")
        span.set_attribute("gen_ai.usage.input_tokens", 3)
    provider.shutdown()


def _projects(keyed: Keyed, name: str) -> list[str]:
    return [r["project"] for r in keyed.query("SELECT project FROM tokentrail.spans FINAL WHERE name = {n:String}",
                                              {"n": name})]


@pytest.mark.parametrize("header", ["Authorization=Bearer%20{key}", "x-api-key={key}"])
def test_the_otel_exporter_sends_the_key_from_its_headers_env(keyed: Keyed, monkeypatch: pytest.MonkeyPatch,
                                                              header: str) -> None:
    name = f"otel-{secrets.token_hex(4)}"
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", header.format(key=keyed.keys["alpha_ingest"]))
    _export_one(keyed.url, name)
    assert _projects(keyed, name) == [ALPHA]


def test_the_otel_exporter_without_a_key_is_refused(keyed: Keyed, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"otel-{secrets.token_hex(4)}"
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_HEADERS", raising=False)
    _export_one(keyed.url, name)
    assert _projects(keyed, name) == []


def test_the_sdk_takes_its_key_from_the_environment(keyed: Keyed, monkeypatch: pytest.MonkeyPatch,
                                                    fake_llm: FakeLLM) -> None:  # noqa: F811
    route = f"sdk-{secrets.token_hex(4)}"
    monkeypatch.setenv("TOKENTRAIL_API_KEY", keyed.keys["alpha_ingest"])
    tokentrail.init(endpoint=keyed.url, flush_seconds=0.2, capture="off")
    try:
        client = openai.OpenAI(base_url=fake_llm.openai_base_url, api_key="sk-test", max_retries=0)
        with tokentrail.context(route=route):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        tokentrail.flush()
    finally:
        tokentrail.shutdown()
    wait_for(lambda: keyed.query("SELECT project FROM tokentrail.spans FINAL WHERE route = {r:String}",
                                 {"r": route}), 30)
    rows = keyed.query("SELECT DISTINCT project FROM tokentrail.spans FINAL WHERE route = {r:String}", {"r": route})
    assert [r["project"] for r in rows] == [ALPHA]
