"""The public surface is a decision: __all__, init's arguments = the settings table, idempotent patching."""

from __future__ import annotations

import inspect

import anthropic
import openai

import tokentrail
from tests.sdk.conftest import Init, spans
from tests.support import ServerThread
from tokentrail.sdk import _config, _state
from tokentrail.sdk.instrument._wrapper import MARKER

PUBLIC = ["Validation", "context", "current_trace_id", "feedback", "flush", "init", "instrument_anthropic",
          "instrument_openai", "last_call", "observe", "redact_pii", "set_capture", "shutdown", "stats", "validate"]


def test_public_names_are_exactly_the_documented_ones() -> None:
    assert sorted(tokentrail.__all__) == PUBLIC
    assert all(hasattr(tokentrail, name) for name in PUBLIC)


def test_init_arguments_are_the_settings_table() -> None:
    params = [p for p in inspect.signature(tokentrail.init).parameters.values() if p.kind is p.KEYWORD_ONLY]
    assert [p.name for p in params] == [p.name for p in _config.PARAMS]
    table = _config.markdown_table()
    for p in _config.PARAMS:
        assert f"`{p.name}`" in table and all(env in table for env in p.env)


def test_settings_come_from_arguments_then_environment_then_defaults(monkeypatch) -> None:
    monkeypatch.setenv("TOKENTRAIL_PROJECT", "from-env")
    monkeypatch.setenv("TOKENTRAIL_CAPTURE_RATE", "0.5")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "svc-from-otel")
    monkeypatch.setenv("TOKENTRAIL_HEADERS", "x-team=search, x-env=dev")
    config = _config.load(capture_rate=0.25)
    assert (config.project, config.capture_rate, config.service_name) == ("from-env", 0.25, "svc-from-otel")
    assert config.headers == {"x-team": "search", "x-env": "dev"}
    assert config.export_headers()["x-tokentrail-project"] == "from-env"
    assert _config.load().endpoint == "http://127.0.0.1:4318"


def test_instrumenting_twice_is_a_no_op_and_undo_restores_the_client() -> None:
    from tokentrail.sdk.instrument import uninstrument_all

    original = openai.OpenAI.request
    uninstrument_all()  # init() in an earlier test may have patched the clients
    before = openai.OpenAI.request
    handle = tokentrail.instrument_openai()
    assert hasattr(openai.OpenAI.request, MARKER) and hasattr(openai.AsyncOpenAI.request, MARKER)
    assert tokentrail.instrument_openai().targets == []  # nothing more to do
    handle.uninstrument()
    assert openai.OpenAI.request is before and not hasattr(before, MARKER)
    if hasattr(original, MARKER):
        tokentrail.instrument_openai()


def test_one_client_instance_can_be_instrumented_alone(sdk: Init, fake_llm, server: ServerThread,
                                                       project: str) -> None:
    sdk(instrument=[])
    from tokentrail.sdk.instrument import uninstrument_all

    uninstrument_all()
    watched = anthropic.Anthropic(base_url=fake_llm.base_url, api_key="k", max_retries=0)
    other = anthropic.Anthropic(base_url=fake_llm.base_url, api_key="k", max_retries=0)
    with tokentrail.instrument_anthropic(watched):
        for client in (watched, other):
            client.messages.create(model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": "x"}])
    assert len(spans(server, project, 1)) == 1
    assert not hasattr(watched.request, MARKER)


def test_init_is_idempotent_and_disabled_records_nothing(sdk: Init, oai: openai.OpenAI, server: ServerThread,
                                                         project: str) -> None:
    sdk()
    exporter = _state.STATE.exporter
    sdk()
    assert _state.STATE.exporter is exporter  # same settings: nothing restarted
    sdk(enabled=False)
    oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert tokentrail.stats()["enabled"] is False
    sdk()
    oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert len(spans(server, project, 1)) == 1


def test_everything_is_a_no_op_before_init(oai: openai.OpenAI) -> None:
    tokentrail.shutdown()
    with tokentrail.context(user_id="u"), tokentrail.observe("tool", name="t") as step:
        step.set_attribute("k", "v")
        oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    assert tokentrail.feedback(1, trace_id="0" * 32) is None
    assert tokentrail.validate('{"a": 1}', {"type": "object"}).valid
    assert tokentrail.flush() is True and tokentrail.stats()["enabled"] is False
