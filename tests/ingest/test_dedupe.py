"""One LLM call seen as two spans (a library's and the anthropic SDK's own) counts once; an app with
only the SDK's span, and parallel calls under one parent, still count every call (ingest/dedupe.py)."""

from __future__ import annotations

from opentelemetry import trace

from tests.ingest.otel_helpers import provider_exporting_to
from tests.support import ServerThread

NATIVE = "com.anthropic.sdk.python"
USAGE = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic", "gen_ai.request.model": "claude-haiku-4-5",
         "gen_ai.usage.input_tokens": 9, "gen_ai.usage.output_tokens": 10}


def _rows(server: ServerThread, project: str) -> dict[str, dict]:
    rows = server.query("SELECT * FROM tokentrail.spans FINAL WHERE project = {p:String}", {"p": project})
    return {r["name"]: r for r in rows}


def test_native_span_alone_is_counted(server: ServerThread, project: str) -> None:
    provider = provider_exporting_to(server.url, project)
    with provider.get_tracer(NATIVE).start_as_current_span("anthropic.messages.create", attributes=USAGE):
        pass
    provider.shutdown()
    row = _rows(server, project)["anthropic.messages.create"]
    assert (row["kind"], row["input_tokens"]) == ("llm", 9) and row["total_cost"] > 0


def test_child_exported_before_its_parent_is_counted_in_it(server: ServerThread, project: str) -> None:
    provider = provider_exporting_to(server.url, project)
    lib = provider.get_tracer("openinference.instrumentation.anthropic")
    outer = lib.start_span("messages.create", attributes={"openinference.span.kind": "LLM",
                                                          "llm.token_count.prompt": 9, "llm.token_count.completion": 10,
                                                          "llm.model_name": "claude-haiku-4-5"})
    with trace.use_span(outer):
        with provider.get_tracer(NATIVE).start_as_current_span("anthropic.messages.create", attributes=USAGE):
            pass
    provider.force_flush()
    server.flush()  # the child is stored alone first (and counted) ...
    assert _rows(server, project)["anthropic.messages.create"]["kind"] == "llm"
    outer.end()
    provider.shutdown()
    rows = _rows(server, project)  # ... until its parent arrives
    assert rows["messages.create"]["kind"] == "llm" and rows["messages.create"]["input_tokens"] == 9
    inner = rows["anthropic.messages.create"]
    assert (inner["kind"], inner["input_tokens"], inner["total_cost"]) == ("other", 0, None)
    assert inner["attributes"]["tokentrail.counted_in"] == rows["messages.create"]["span_id"]
    assert inner["attributes"]["gen_ai.usage.input_tokens"] == "9"
    calls = server.query("SELECT count() AS n, sum(input_tokens) AS t FROM tokentrail.spans FINAL "
                         "WHERE project = {p:String} AND kind = 'llm'", {"p": project})
    assert calls == [{"n": 1, "t": 9}]


def test_parallel_sibling_calls_all_count(server: ServerThread, project: str) -> None:
    provider = provider_exporting_to(server.url, project)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("agent"):
        a = tracer.start_span("call a", attributes={**USAGE, "gen_ai.response.id": "msg_a"})
        b = tracer.start_span("call b", attributes={**USAGE, "gen_ai.response.id": "msg_b"})
        b.end()
        a.end()
    provider.shutdown()
    rows = _rows(server, project)
    assert (rows["call a"]["kind"], rows["call b"]["kind"]) == ("llm", "llm")
