"""The PII corpus (tests/privacy/corpus, 600 texts, ~1,100 values of 8 types, 1,200 decoys) sent through
every ingest path of a real server: the SDK (official openai client against the fake provider), the
gateway (the same client through /gateway, flagged calls and failed ones), OTLP (the real OTel SDK
exporter; content, status messages, exception events, user ids), the native batch, a batch file
(``tokentrail ingest`` through the server) and OTLP log records (the real OTel logs exporter).

Then every String-typed column of every table and every file under the data dir (raw bytes: spool,
quarantine, temp files, engine parts) is searched for every PII value: none may be found. Every
decoy must survive into what is stored (the spans and the decrypted content).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

import tokentrail
from tests.fake_llm import FakeLLM
from tests.fake_llm.pytest_plugin import fake_llm, fake_llm_server  # noqa: F401 - fixtures
from tests.gateway.conftest import write_config
from tests.support import ServerThread, running_server, wait_for

CORPUS = [json.loads(line) for line in (Path(__file__).parent / "corpus" / "corpus.jsonl").read_text().splitlines()]
PATHS = ("sdk", "gateway", "otlp", "native", "batch_file", "otlp_logs")
PART = {p: CORPUS[i::len(PATHS)] for i, p in enumerate(PATHS)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fake_llm_server: FakeLLM) -> Iterator[ServerThread]:  # noqa: F811
    tmp = tmp_path_factory.mktemp("pii")
    config = write_config(tmp / "gateway.toml", fake_llm_server)
    with running_server(tmp / "data", gateway_config=str(config)) as s:
        yield s


def _sdk(server: ServerThread, fake: FakeLLM) -> None:
    tokentrail.init(endpoint=server.url, project="p-sdk", flush_seconds=0.2, capture="always")
    try:
        client = openai.OpenAI(base_url=fake.openai_base_url, api_key="sk-test", max_retries=0)
        for e in PART["sdk"]:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": e["text"]}])
    finally:
        tokentrail.shutdown()


def _gateway(server: ServerThread) -> None:
    flagged = openai.OpenAI(base_url=f"{server.url}/gateway/openai/v1", api_key="sk-test", max_retries=0,
                            default_headers={"X-Tokentrail-Project": "p-gateway", "X-Tokentrail-Capture": "true"})
    plain = openai.OpenAI(base_url=f"{server.url}/gateway/openai/v1", api_key="sk-test", max_retries=0,
                          default_headers={"X-Tokentrail-Project": "p-gateway"})
    for i, e in enumerate(PART["gateway"]):
        messages = [{"role": "user", "content": e["text"]}]
        if i % 2:
            flagged.chat.completions.create(model="gpt-4o-mini", messages=messages)
        else:  # a failed call: its content is kept (errors) and its error recorded
            with pytest.raises(openai.BadRequestError):
                plain.chat.completions.create(model="gpt-4o-mini+error-400", messages=messages)


def _otlp(server: ServerThread) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "pii-app"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(
        endpoint=f"{server.url}/v1/traces", headers={"X-Tokentrail-Project": "p-otlp"})))
    tracer = provider.get_tracer("pii-test")
    for i, e in enumerate(PART["otlp"]):
        emails = [p["value"] for p in e["pii"] if p["type"] == "EMAIL"]
        attrs: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
                                 "gen_ai.usage.input_tokens": 10, "tokentrail.input": e["text"],
                                 "tokentrail.output": f"Answer about: {e['text']}", "app.note": e["text"]}
        if emails:
            attrs["user.id"] = emails[0]  # an e-mail used as the user id
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=attrs) as span:
            if i % 3 == 0:
                span.add_event("exception", {"exception.type": "ValueError", "exception.message": e["text"]})
                span.set_status(Status(StatusCode.ERROR, e["text"]))
    provider.shutdown()


def _native(server: ServerThread) -> None:
    items = [{"model": "gpt-4o-mini", "request_id": f"n-{i}", "input": e["text"], "output": e["text"],
              "metadata": {"note": e["text"]}, **({"status": "error", "error_message": e["text"]} if i % 2 else {})}
             for i, e in enumerate(PART["native"])]
    r = server.client.post("/api/ingest/batch", json={"spans": items}, headers={"X-Tokentrail-Project": "p-native"})
    assert r.status_code == 200, r.text


def _batch_file(server: ServerThread, tmp: Path) -> None:
    path = tmp / "calls.jsonl"
    lines = [json.dumps({"model": "gpt-4o-mini", "request_id": f"f-{i}", "input": e["text"], "output": "ok",
                         "error_message": e["text"] if i % 2 else None}, ensure_ascii=False)
             for i, e in enumerate(PART["batch_file"])]
    path.write_text("\n".join(lines) + "\nnot json: " + PART["batch_file"][0]["text"].replace("\n", " ") + "\n")
    r = subprocess.run([sys.executable, "-m", "tokentrail.cli.main", "ingest", str(path), "--url", server.url,
                        "--project", "p-batch", "--json", "--dead-letter", str(tmp / "dead.jsonl")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr


def _otlp_logs(server: ServerThread) -> None:
    headers = {"X-Tokentrail-Project": "p-logs"}
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{server.url}/v1/traces",
                                                                            headers=headers)))
    logger_provider = LoggerProvider()
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter(
        endpoint=f"{server.url}/v1/logs", headers=headers)))
    tracer = tracer_provider.get_tracer("opentelemetry.instrumentation.openai_v2")
    logger = logger_provider.get_logger("opentelemetry.instrumentation.openai_v2")
    for e in PART["otlp_logs"]:
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}) as span:
            ctx = trace.set_span_in_context(span)
            logger.emit(event_name="gen_ai.user.message", body={"content": e["text"]},
                        attributes={"gen_ai.system": "openai"}, context=ctx)
            logger.emit(event_name="gen_ai.choice", body={"index": 0, "finish_reason": "stop",
                                                          "message": {"role": "assistant", "content": e["text"]}},
                        attributes={"gen_ai.system": "openai"}, context=ctx)
    tracer_provider.shutdown()
    logger_provider.shutdown()


@pytest.fixture(scope="module")
def stored(server: ServerThread, fake_llm_server: FakeLLM,  # noqa: F811
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Send the corpus through every path; return what the store and the data dir hold."""
    _sdk(server, fake_llm_server)
    _gateway(server)
    _otlp(server)
    _native(server)
    _batch_file(server, tmp_path_factory.mktemp("files"))
    _otlp_logs(server)
    projects = {"p-sdk": "sdk", "p-gateway": "gateway", "p-otlp": "otlp", "p-native": "native",
                "p-batch": "batch_file", "p-logs": "otlp_logs"}

    def settled() -> bool:
        server.flush()
        counts = {r["project"]: r["n"] for r in server.runtime.store.query(
            "SELECT project, count() AS n FROM tokentrail.spans FINAL GROUP BY project")}
        return all(counts.get(p, 0) >= len(PART[path]) for p, path in projects.items())
    wait_for(settled, 120, 0.5)
    server.flush()
    store = server.runtime.store
    columns = store.query("SELECT table, name FROM system.columns WHERE database = 'tokentrail' "
                          "AND type LIKE '%String%' AND table NOT LIKE '.%'")
    tables: dict[str, list[str]] = {}
    for c in columns:
        tables.setdefault(c["table"], []).append(c["name"])
    engines = {r["name"]: r["engine"] for r in store.query(
        "SELECT name, engine FROM system.tables WHERE database = 'tokentrail'")}
    chunks = []
    for table, names in tables.items():
        if engines.get(table) in ("Null", "MaterializedView", "View"):
            continue
        cols = ", ".join(f"toString(`{n}`) AS `{n}`" for n in names)
        for row in store.query(f"SELECT {cols} FROM tokentrail.`{table}`"):
            chunks.extend(row.values())
    content = server.contents()
    data_dir = Path(server.settings.data_dir)
    files = {}
    # the engine merges parts in the background: a part may vanish between listing and reading it (its
    # rows live on in the merged part, which is read too)
    for root, _dirs, names in os.walk(data_dir, onerror=lambda e: None):
        for name in names:
            path = os.path.join(root, name)
            try:
                with open(path, "rb") as f:
                    files[path] = f.read()
            except FileNotFoundError:
                continue
    return {"tables": "\n".join(chunks), "content": "\n".join(f"{c['input']}\n{c['output']}" for c in content),
            "files": files, "content_rows": len(content)}


def _forms(value: str) -> list[str]:
    """A value as text and as JSON escapes it (a request body the gateway keeps as sent)."""
    return list({value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]})


def _per_path(found: Any) -> dict[str, list[str]]:
    return {path: [x for e in PART[path] for x in found(e)] for path in PATHS}


def test_no_pii_value_is_stored_in_any_table_or_content(stored: dict[str, Any]) -> None:
    blob = stored["tables"] + "\n" + stored["content"]
    leaked = _per_path(lambda e: [p["value"] for p in e["pii"] if any(f in blob for f in _forms(p["value"]))])
    values = sum(len(e["pii"]) for e in CORPUS)
    report = {"pii_values": values, "leaked": {k: len(v) for k, v in leaked.items()},
              "leak_rate": sum(map(len, leaked.values())) / values, "content_rows": stored["content_rows"]}
    print("\nPII corpus, tables:", json.dumps(report))
    assert stored["content_rows"] > len(CORPUS) // 2  # the content really was stored (and searched)
    assert all(not v for v in leaked.values()), leaked


def test_no_pii_value_is_in_any_file_of_the_data_dir(stored: dict[str, Any]) -> None:
    values = [p["value"] for e in CORPUS for p in e["pii"]]
    leaked = [(name, v) for v in values for name, data in stored["files"].items()
              if any(f.encode() in data for f in _forms(v))]
    print("\nPII corpus, data dir:", json.dumps({"files": len(stored["files"]), "leaked": len(leaked)}))
    assert leaked == []


def test_every_decoy_survives(stored: dict[str, Any]) -> None:
    blob = stored["tables"] + "\n" + stored["content"]
    lost = _per_path(lambda e: [d for d in e["decoys"] if not any(f in blob for f in _forms(d))])
    decoys = sum(len(e["decoys"]) for e in CORPUS)
    print("\nPII corpus, decoys:", json.dumps({"decoys": decoys, "lost": {k: len(v) for k, v in lost.items()},
                                               "survival_rate": 1 - sum(map(len, lost.values())) / decoys}))
    assert all(not v for v in lost.values()), lost


def test_redactions_are_counted_per_type_on_the_quality_page(server: ServerThread, stored: dict[str, Any]) -> None:
    r = server.client.get("/api/quality", params={"project": "p-native", "range": "1d"})
    assert r.status_code == 200, r.text
    types = {row["type"]: row["values"] for row in r.json()["redactions"]}
    expected = {p["type"] for e in PART["native"] for p in e["pii"]}
    assert expected <= set(types)
