"""Run a third-party instrumentation library against the fake provider and a real tokentrail server,
then check the stored rows scenario by scenario (issue #11).

Each ``test_<lib>.py`` runs its library ONCE (module-scoped ``library_run``: a subprocess, since
instrumentation patches globally) and parametrizes :func:`check` over the scenarios, with a table of
what that library sends (``Sends``): where it sends nothing, the test asserts the documented absence.

Truth from the fake provider: chat prompt 9 / completion 10 tokens (13 with 3 reasoning, 4 cached),
embeddings 4; Anthropic cached = input 3 + cache read 4 + cache write 2 = 9.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fake_llm.scenarios import dated
from tests.support import ServerThread

ROOT = Path(__file__).resolve().parents[2]
USER, SESSION = "user-123", "session-abc"
OPENAI, EMBEDDING, ANTHROPIC = "gpt-4o-mini", "text-embedding-3-small", "claude-haiku-4-5"
CHAT_PROMPT, CHAT_REPLY = "Say hello to tokentrail", "deterministic reply"
FIRST_TOKEN_MS = 150  # capture.py's streams: "slow-first-token:150"
OPENAI_SCENARIOS = ["openai_chat", "openai_chat_stream", "openai_chat_cached", "openai_tool_call",
                    "openai_embeddings", "openai_error_429"]
ANTHROPIC_SCENARIOS = ["anthropic_message", "anthropic_stream", "anthropic_cached", "anthropic_error_429"]
# a module each library needs (the tests skip, with this reason, when it is missing: run tests/interop/install.sh)
IMPORTS = {"openinference": ["openinference.instrumentation.openai", "openinference.instrumentation.anthropic"],
           "traceloop": ["traceloop.sdk"], "openlit": ["openlit"],
           "otel-openai-v2": ["opentelemetry.instrumentation.openai_v2"],
           "otel-openai-v2-latest": ["opentelemetry.instrumentation.openai_v2"],
           "langfuse": ["langfuse", "openinference.instrumentation.anthropic"]}


def require(lib: str) -> None:
    missing = [m for m in IMPORTS[lib] if importlib.util.find_spec(m.split(".")[0]) is None
               or _missing(m)]
    if missing:
        pytest.skip(f"{lib} is not installed ({', '.join(missing)}): run tests/interop/install.sh")


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except ModuleNotFoundError:
        return True


@dataclass
class Sends:
    """What a library records (True/False per feature); the checks follow it."""

    user_session: bool = True
    content: bool = True  # prompt/completion on the span (or in log records, when the server takes them)
    error_content: bool = True  # the prompt of a failed call
    embedding_content: bool = True
    streamed_flag: bool = True  # the stream is recognisable (a flag, a TTFT ...)
    openai_ttft: bool = True
    anthropic_ttft: bool = True
    cached_tokens: bool = True
    reasoning_tokens: bool = True
    stream_finish: bool = True
    chat_finish: bool = True
    anthropic_finish: str = "end_turn"  # OpenLLMetry maps it to "stop"
    tool_finish: str = "tool_calls"  # OpenLLMetry maps it to the semconv value "tool_call"
    anthropic_error_attributes: bool = True  # openlit's Anthropic error span is empty
    response_model: bool = True  # the model the provider answered (a dated snapshot)
    request_model: bool = True  # the model the app asked for (else only the answered one is known: both columns)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Run:
    lib: str
    server: ServerThread
    windows: dict[str, list[int]]
    errors: dict[str, str]
    versions: dict[str, str]

    def rows(self, scenario: str) -> list[dict[str, Any]]:
        lo, hi = self.windows[scenario]
        return self.server.query(
            "SELECT *, finish, toUnixTimestamp64Nano(start_time) AS start_ns FROM tokentrail.spans FINAL "
            "WHERE toUnixTimestamp64Nano(start_time) BETWEEN {lo:Int64} AND {hi:Int64} ORDER BY start_time",
            {"lo": lo, "hi": hi})

    def content(self, row: dict[str, Any]) -> dict[str, str]:
        found = self.server.contents("trace_id = {t:String} AND span_id = {s:String}",
                                     {"t": row["trace_id"], "s": row["span_id"]})
        return {"input": found[0]["input"], "output": found[0]["output"]} if found else {"input": "", "output": ""}


def calls(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows counted as LLM calls."""
    return [r for r in rows if r["kind"] in ("llm", "embedding")]


def check(run: Run, scenario: str, sends: Sends) -> None:
    """Assert the stored rows of one scenario (see the module docstring for the truth)."""
    assert scenario not in run.errors, run.errors[scenario]
    rows = run.rows(scenario)
    counted = calls(rows)
    assert len(counted) == (2 if scenario == "openai_tool_call" else 1), [
        (r["name"], r["kind"], r["span_id"], r["parent_span_id"]) for r in rows]
    row = counted[0]
    anthropic = scenario.startswith("anthropic")
    error = scenario.endswith("_429")
    # an Anthropic call also has the anthropic SDK's own span: stored, but counted in the library's span
    native = [r for r in rows if r["name"] == "anthropic.messages.create"]
    if anthropic and (sends.anthropic_error_attributes or not error):
        assert len(native) == 1 and native[0]["kind"] == "other"
        assert native[0]["attributes"]["tokentrail.counted_in"] == row["span_id"]
        assert (native[0]["input_tokens"], native[0]["total_cost"]) == (0, None)
    # model, provider, operation
    # the model the app asked for, and the dated snapshot the (fake) provider answered with: never swapped
    model = EMBEDDING if scenario == "openai_embeddings" else ANTHROPIC if anthropic else OPENAI
    answered = dated(model) if not error else ""
    requested = model if sends.request_model or anthropic or error else answered
    assert (row["request_model"], row["response_model"]) == (requested, answered if sends.response_model else "")
    assert row["provider"] == ("anthropic" if anthropic else "openai")
    assert row["kind"] == ("embedding" if scenario == "openai_embeddings" else "llm")
    assert row["operation"] == ("embeddings" if scenario == "openai_embeddings" else "chat")
    assert row["duration_ms"] > 0
    # outcome
    if error:
        assert (row["status"], row["http_status"]) == ("error", 429)
        expected_type = "RateLimitError" if sends.anthropic_error_attributes or not anthropic else "rate_limit_error"
        assert row["error_type"] == expected_type
        if sends.anthropic_error_attributes or not anthropic:  # the anthropic SDK's span has no message
            assert "429" in row["error_message"]
        assert (row["input_tokens"], row["output_tokens"], row["total_cost"]) == (0, 0, 0)
    else:
        assert row["status"] == "ok" and row["error_type"] == ""
        assert row["total_cost"] is not None and row["total_cost"] > 0
    # tokens
    if scenario == "openai_embeddings":
        assert (row["input_tokens"], row["output_tokens"]) == (4, 0)
    elif scenario == "openai_chat_cached":
        assert (row["input_tokens"], row["output_tokens"]) == (9, 13)
        assert row["cached_input_tokens"] == (4 if sends.cached_tokens else 0)
        assert row["reasoning_tokens"] == (3 if sends.reasoning_tokens else 0)
    elif scenario == "anthropic_cached":
        assert (row["input_tokens"], row["output_tokens"]) == (9, 10)  # input includes the cache
        assert (row["cached_input_tokens"], row["cache_write_tokens"]) == (4, 2)
        assert row["attributes"]["tokentrail.usage_rule"] in ("reported", "input+cache_read+cache_write")
    elif scenario == "openai_tool_call":
        assert [(r["input_tokens"], r["output_tokens"]) for r in counted] == [(6, 10), (10, 10)]
    elif not error:
        assert row["input_tokens"] == 9 and row["output_tokens"] in (10, 11)  # traceloop counts 11 on a stream
    # streaming and TTFT
    stream = scenario.endswith("_stream")
    assert row["streamed"] is (stream and sends.streamed_flag)
    ttft = sends.anthropic_ttft if anthropic else sends.openai_ttft
    if stream and ttft:
        # the fake provider holds the first token for FIRST_TOKEN_MS: no real TTFT is shorter
        assert row["ttft_ms"] is not None and FIRST_TOKEN_MS <= row["ttft_ms"] <= row["duration_ms"], row["ttft_ms"]
    else:
        assert row["ttft_ms"] is None
    if stream:
        assert row["duration_ms"] >= FIRST_TOKEN_MS
    # finish reason: the raw value as the library sent it, and the canonical one whatever the library
    if error:
        assert (row["finish_reason"], row["finish"]) == ("", "error")
    elif scenario != "openai_embeddings":
        wanted = sends.anthropic_finish if anthropic else "stop"
        if scenario == "openai_tool_call":
            assert [(r["finish_reason"], r["finish"]) for r in counted] == (
                [(sends.tool_finish, "tool_calls"), ("stop", "stop")] if sends.chat_finish else [("", ""), ("", "")])
        elif (stream and not sends.stream_finish) or (not stream and not sends.chat_finish):
            assert (row["finish_reason"], row["finish"]) == ("", "")
        else:
            assert (row["finish_reason"], row["finish"]) == (wanted, "stop")
    # user and session
    if sends.user_session and (sends.anthropic_error_attributes or not (anthropic and error)):
        assert (row["user_id"], row["session_id"]) == (USER, SESSION)
    else:
        assert (row["user_id"], row["session_id"]) == ("", "")
    # content
    content = run.content(row)
    if scenario == "openai_embeddings":
        assert ("hello world" in content["input"]) is sends.embedding_content
    elif error:
        assert (CHAT_PROMPT[:9] in content["input"]) is (sends.error_content and sends.anthropic_error_attributes)
        assert content["output"] == ""
    elif scenario in ("openai_chat", "openai_chat_stream", "anthropic_message", "anthropic_stream"):
        assert (CHAT_PROMPT in content["input"]) is sends.content, content
        assert (CHAT_REPLY in content["output"]) is sends.content, content
    if sends.content:
        assert not any(k.startswith(("llm.input_messages", "llm.output_messages", "embedding.embeddings"))
                       for k in row["attributes"])


def serves(server: ServerThread, path: str) -> bool:
    """Whether the server has ``path`` (a POST that is not answered 404)."""
    r = httpx.post(server.url + path, content=b"", headers={"content-type": "application/x-protobuf"})
    return r.status_code != 404
