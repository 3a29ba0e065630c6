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


def _otlp_llm_spans(trace_id: bytes, parent: bytes, n: int, rid: str | None, native_every: int = 0) -> bytes:
    """One OTLP request: ``n`` LLM spans of one trace under one parent (``rid``: a shared response id)."""
    import os
    import time

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    now = time.time_ns()
    lib, sdk = rs.scope_spans.add(), rs.scope_spans.add()
    lib.scope.name, sdk.scope.name = "app", NATIVE
    for i in range(n):
        scope = sdk if native_every and i % native_every == 0 else lib
        attrs = {**USAGE, **({"gen_ai.response.id": rid} if rid else {})}
        span = scope.spans.add(trace_id=trace_id, span_id=os.urandom(8), parent_span_id=parent, name=f"call {i}",
                               start_time_unix_nano=now + i * 10**6, end_time_unix_nano=now + i * 10**6 + 500_000)
        for k, v in attrs.items():
            value = AnyValue(int_value=v) if isinstance(v, int) else AnyValue(string_value=v)
            span.attributes.append(KeyValue(key=k, value=value))
    return req.SerializeToString()


def _post(server: ServerThread, project: str, body: bytes) -> None:
    r = server.client.post("/v1/traces", content=body, headers={"content-type": "application/x-protobuf",
                                                                "x-tokentrail-project": project}, timeout=120)
    assert r.status_code == 200, r.text


def test_a_giant_trace_of_look_alike_calls_counts_every_call(server: ServerThread, project: str) -> None:
    # 20,000 LLM calls under one parent, a fifth from a provider SDK scope, all with ONE response id: no
    # group is one call seen twice (too many share the id), so nothing pairs, and the check stays linear
    import os

    _post(server, project, _otlp_llm_spans(os.urandom(16), os.urandom(8), 20_000, "msg_same", native_every=5))
    calls = server.query("SELECT count() AS n FROM tokentrail.spans FINAL WHERE project = {p:String} "
                         "AND kind = 'llm'", {"p": project})
    assert calls == [{"n": 20_000}]


def test_sibling_spans_with_one_response_id_count_once(server: ServerThread, project: str) -> None:
    provider = provider_exporting_to(server.url, project)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("agent"):
        outer = tracer.start_span("library call", attributes={**USAGE, "gen_ai.response.id": "msg_1"})
        inner = tracer.start_span("second library", attributes={**USAGE, "gen_ai.response.id": "msg_1"})
        inner.end()
        outer.end()
    provider.shutdown()
    rows = _rows(server, project)
    assert (rows["library call"]["kind"], rows["second library"]["kind"]) == ("llm", "other")
    assert rows["second library"]["attributes"]["tokentrail.counted_in"] == rows["library call"]["span_id"]


def _lone_span(server: ServerThread, project: str, scope: str, name: str, rid: str | None, start: int, end: int,
               **attrs: object) -> None:
    provider = provider_exporting_to(server.url, project)
    span = provider.get_tracer(scope).start_span(name, start_time=start,
                                                 attributes={**USAGE, **attrs, **({"gen_ai.response.id": rid} if rid else {})})
    span.end(end_time=end)
    provider.shutdown()


def test_one_call_in_two_traces_counts_once_on_its_response_id(server: ServerThread, project: str) -> None:
    import time

    now = time.time_ns()
    # the provider SDK's span arrives first, in a trace of its own; the library's span later, in another
    _lone_span(server, project, NATIVE, "anthropic.messages.create", "msg_x1", now + 10_000_000, now + 90_000_000,
               **{"gen_ai.response.time_to_first_chunk": 0.03})
    server.flush()
    _lone_span(server, project, "opentelemetry.instrumentation.anthropic", "anthropic.chat", "msg_x1", now,
               now + 100_000_000)
    rows = _rows(server, project)
    lib, sdk = rows["anthropic.chat"], rows["anthropic.messages.create"]
    assert lib["trace_id"] != sdk["trace_id"]
    assert (lib["kind"], sdk["kind"]) == ("llm", "other")
    assert sdk["attributes"]["tokentrail.counted_in"] == lib["span_id"]
    assert lib["ttft_ms"] == 30.0  # the library recorded none: the SDK span's carries over


def test_parallel_identical_calls_in_two_traces_without_a_response_id_all_count(server: ServerThread,
                                                                               project: str) -> None:
    import time

    now = time.time_ns()
    for scope in (NATIVE, "opentelemetry.instrumentation.anthropic"):
        _lone_span(server, project, scope, f"call {scope}", None, now, now + 50_000_000)
    rows = _rows(server, project)
    assert sorted(r["kind"] for r in rows.values()) == ["llm", "llm"]


def test_an_instrumentation_span_without_model_or_tokens_leaves_the_count_to_the_sdk_span_under_it(
        server: ServerThread, project: str) -> None:
    # OpenLLMetry in events mode: its span is a chat call (llm.request.type) but records no model and no
    # usage; the anthropic SDK's own span under it has them. The SDK span counts, with the user, session
    # and route the library's span carried; the library's span is counted in it.
    provider = provider_exporting_to(server.url, project)
    lib = provider.get_tracer("opentelemetry.instrumentation.anthropic").start_span("anthropic.chat", attributes={
        "llm.request.type": "chat", "traceloop.association.properties.user_id": "u-7",
        "traceloop.association.properties.session_id": "s-7", "traceloop.workflow.name": "support"})
    with trace.use_span(lib):
        with provider.get_tracer(NATIVE).start_as_current_span("anthropic.messages.create", attributes=USAGE):
            pass
    lib.end()
    provider.shutdown()
    rows = _rows(server, project)
    outer, sdk = rows["anthropic.chat"], rows["anthropic.messages.create"]
    assert (outer["kind"], sdk["kind"]) == ("other", "llm")
    assert outer["attributes"]["tokentrail.counted_in"] == sdk["span_id"]
    assert (sdk["request_model"], sdk["input_tokens"], sdk["output_tokens"]) == ("claude-haiku-4-5", 9, 10)
    assert (sdk["user_id"], sdk["session_id"], sdk["route"]) == ("u-7", "s-7", "support")
    calls = server.query("SELECT count() AS n FROM tokentrail.spans FINAL WHERE project = {p:String} AND kind = 'llm'",
                         {"p": project})
    assert calls == [{"n": 1}]
