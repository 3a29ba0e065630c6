"""The recorder (bounded buffer -> spans -> spool) and the capture policy of a span."""

from __future__ import annotations

import json
import time

import pytest
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.gateway.conftest import SPANS, spans
from tests.support import ServerThread
from tokentrail.gateway.call import CLIENT_DISCONNECTED, Call
from tokentrail.gateway.headers import Context
from tokentrail.gateway.record import Recorder
from tokentrail.gateway.spans import build_span
from tokentrail.gateway.upstreams import Upstream

OPENAI = Upstream("openai", "http://up/v1")
REQUEST = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi there"}]}).encode()
REPLY = json.dumps(
    {
        "id": "c1",
        "model": "gpt-4o-mini",
        "choices": [{"finish_reason": "stop", "message": {"content": "Hello!"}}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 2},
    }
).encode()


def make_call(project: str = "p", status: int = 200, capture: bool | None = None, **kw: object) -> Call:
    call = Call(
        project,
        OPENAI,
        "chat",
        REQUEST,
        Context(capture=capture),
        b"\x01" * 16,
        time.time_ns().to_bytes(8, "big"),
        b"",
        start_ns=time.time_ns(),
        started=time.perf_counter(),
        status=status,
        body=REPLY if status == 200 else b'{"error": {"message": "bad"}}',
        duration_s=0.01,
    )
    for k, v in kw.items():
        setattr(call, k, v)
    return call


def span_of(call: Call, policy: str) -> trace_pb2.Span:
    return trace_pb2.Span.FromString(build_span(call, policy))


def attrs(call: Call, policy: str) -> dict[str, str]:
    return {a.key: a.value.string_value for a in span_of(call, policy).attributes}


@pytest.mark.parametrize(
    "policy, status, flag, reason",
    [
        ("errors", 200, None, None),
        ("errors", 400, None, "error"),
        ("errors", 200, True, "flagged"),
        ("errors", 400, False, None),
        ("always", 200, None, "always"),
        ("always", 200, False, None),
        ("off", 500, True, None),
    ],
)
def test_capture_policy(policy: str, status: int, flag: bool | None, reason: str | None) -> None:
    got = attrs(make_call(status=status, capture=flag), policy)
    assert got.get("tokentrail.capture_reason") == reason
    if reason:
        assert got["tokentrail.input"] == REQUEST.decode()
        assert got["tokentrail.output"] == ("Hello!" if status == 200 else '{"error": {"message": "bad"}}')


def test_disconnected_stream_span_is_an_error_with_estimated_tokens() -> None:
    call = make_call(
        streamed=True,
        body=b"",
        chunks=[b'data: {"choices":[{"delta":{"content":"Hello big"}}]}\n\n'],
        failure=CLIENT_DISCONNECTED,
        failure_message="gone",
        ttft_s=0.002,
    )
    span = span_of(call, "off")
    got = {a.key: a.value for a in span.attributes}
    assert span.status.code == 2 and span.status.message == "gone"
    assert got["error.type"].string_value == CLIENT_DISCONNECTED
    assert got["tokentrail.tokens_estimated"].bool_value
    assert (got["gen_ai.usage.input_tokens"].int_value, got["gen_ai.usage.output_tokens"].int_value) == (2, 2)
    assert got["tokentrail.ttft_ms"].double_value == 2.0


def test_calls_over_the_buffer_are_dropped_and_counted(server: ServerThread, project: str) -> None:
    recorder = Recorder(server.runtime, "errors", max_calls=2)
    for _ in range(3):
        recorder.add(make_call(project))
    assert recorder.stats.dropped == 1
    assert server.runtime.counters.totals.get("gateway_dropped", 0) >= 1
    recorder.stop()  # flushes what it holds before stopping
    assert recorder.stats.recorded == 2
    assert len(spans(server, project, 2)) == 2
    recorder.add(make_call(project))  # after stop: dropped, never silently lost
    assert recorder.stats.dropped == 2
    assert len(server.query(SPANS, {"p": project})) == 2


def test_a_call_that_cannot_be_encoded_does_not_cost_the_others(server: ServerThread, project: str) -> None:
    recorder = Recorder(server.runtime, "errors")
    recorder.add(make_call(project, status="not-a-status"))  # type: ignore[arg-type]
    recorder.add(make_call(project))
    assert recorder.flush() == 1
    assert recorder.stats.dropped == 1
    assert len(spans(server, project, 1)) == 1
