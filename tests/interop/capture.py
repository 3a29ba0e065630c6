"""Capture what third-party GenAI instrumentation libraries export over OTLP (issue #11, interoperability).

Usage (one library per process: instrumentors patch globally and set global OTel providers)::

    python -m tests.interop.capture <lib> <outdir>      # e.g. openinference /tmp/interop/capture/openinference

It starts the fake LLM provider (tests.fake_llm) and an OTLP receiver (tests.interop.receiver) in-process, runs
:func:`run_scenarios` for the library with its exporter pointed at the receiver, and writes one
``<outdir>/<scenario>.json`` (readable: flat attributes, hex ids) plus ``<scenario>.raw.json`` (MessageToDict)
per scenario. Later the same :func:`run_scenarios` can be pointed at a real tokentrail server instead.

Libraries (``LIBS``): openinference, traceloop, openlit, otel-openai-v2 (semconv 1.30 legacy path),
otel-openai-v2-latest (OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental), langfuse.
Every library is configured with prompt/completion content capture ON and with no call home (no internet).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

USER_ID = "user-123"
SESSION_ID = "session-abc"
OPENAI_MODEL = "gpt-4o-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
ANTHROPIC_MODEL = "claude-haiku-4-5"
SCENARIO_HEADER = (
    "X-Fake-Scenario"  # tests.fake_llm.SCENARIO_HEADER (not imported: keep this module standalone)
)

# Environment applied (setdefault) before a library is imported/initialised.
COMMON_ENV = {
    "OTEL_METRIC_EXPORT_INTERVAL": "600000",  # metrics are flushed explicitly after each scenario
    "OTEL_BSP_SCHEDULE_DELAY": "200",
    "OTEL_BLRP_SCHEDULE_DELAY": "200",
}
LIB_ENV: dict[str, dict[str, str]] = {
    "openinference": {},  # content is captured by default (OPENINFERENCE_HIDE_* unset)
    "traceloop": {
        "TRACELOOP_TELEMETRY": "false",
        "TRACELOOP_TRACE_CONTENT": "true",
        "TRACELOOP_METRICS_ENABLED": "true",
        "TRACELOOP_LOGGING_ENABLED": "false",
    },
    "openlit": {"OPENLIT_DISABLE_TELEMETRY": "true"},
    "otel-openai-v2": {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"},
    "otel-openai-v2-latest": {
        "OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "span_and_event",
    },
    "langfuse": {"LANGFUSE_TRACING_ENVIRONMENT": "interop"},
}
LIB_PACKAGES: dict[str, list[str]] = {
    "openinference": [
        "openinference-instrumentation",
        "openinference-instrumentation-openai",
        "openinference-instrumentation-anthropic",
        "openinference-semantic-conventions",
    ],
    "traceloop": [
        "traceloop-sdk",
        "opentelemetry-instrumentation-openai",
        "opentelemetry-instrumentation-anthropic",
        "opentelemetry-semantic-conventions-ai",
    ],
    "openlit": ["openlit"],
    "otel-openai-v2": ["opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai"],
    "otel-openai-v2-latest": ["opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai"],
    "langfuse": ["langfuse", "openinference-instrumentation-anthropic"],
}
COMMON_PACKAGES = [
    "openai",
    "anthropic",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-exporter-otlp-proto-http",
]


def package_versions(lib: str) -> dict[str, str]:
    versions = {}
    for name in [*LIB_PACKAGES.get(lib, []), *COMMON_PACKAGES]:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def apply_env(lib: str) -> None:
    for key, value in {**COMMON_ENV, **LIB_ENV[lib]}.items():
        os.environ.setdefault(key, value)


# -- per-library setup ----------------------------------------------------------------------------------


@dataclass
class LibHandle:
    """What the scenarios need from an instrumented library."""

    name: str
    supports_anthropic: bool = True
    # user/session propagation the library's own way (a context manager factory)
    user_session: Callable[[str, str], contextlib.AbstractContextManager[Any]] = lambda u, s: (
        contextlib.nullcontext()
    )
    # runs one whole scenario, e.g. inside a traceloop workflow or a langfuse root span; default: just call it
    run_scenario: Callable[[str, Callable[[], None]], None] = lambda name, fn: fn()
    openai_client: Callable[[str], Any] | None = None
    flush: Callable[[], None] = lambda: None
    shutdown: Callable[[], None] = lambda: None
    notes: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # scenario -> exception raised under this library


def _default_openai_client(base_url: str) -> Any:
    import openai

    return openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)


def _flush_global_providers() -> None:
    from opentelemetry import _logs, metrics, trace

    for provider in (trace.get_tracer_provider(), _logs.get_logger_provider(), metrics.get_meter_provider()):
        force_flush = getattr(provider, "force_flush", None)
        if force_flush is not None:
            force_flush()


def _shutdown_global_providers() -> None:
    from opentelemetry import _logs, metrics, trace

    for provider in (trace.get_tracer_provider(), _logs.get_logger_provider(), metrics.get_meter_provider()):
        shutdown = getattr(provider, "shutdown", None)
        if shutdown is not None:
            shutdown()


def _otel_sdk(
    service_name: str, otlp_endpoint: str, *, logs: bool = True, metrics_: bool = True
) -> dict[str, Any]:
    """Plain OTel SDK pipeline (OTLP/HTTP protobuf) to otlp_endpoint, installed as the global providers."""
    from opentelemetry import _logs, metrics, trace
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": service_name})
    providers: dict[str, Any] = {}
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint}/v1/traces"))
    )
    trace.set_tracer_provider(tracer_provider)
    providers["tracer_provider"] = tracer_provider
    if logs:
        logger_provider = LoggerProvider(resource=resource)
        logger_provider.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=f"{otlp_endpoint}/v1/logs"))
        )
        _logs.set_logger_provider(logger_provider)
        providers["logger_provider"] = logger_provider
    if metrics_:
        reader = PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{otlp_endpoint}/v1/metrics"))
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        metrics.set_meter_provider(meter_provider)
        providers["meter_provider"] = meter_provider
    return providers


def setup_openinference(otlp_endpoint: str) -> LibHandle:
    from openinference.instrumentation import using_attributes
    from openinference.instrumentation.anthropic import AnthropicInstrumentor
    from openinference.instrumentation.openai import OpenAIInstrumentor

    providers = _otel_sdk("interop-openinference", otlp_endpoint, logs=False, metrics_=False)
    OpenAIInstrumentor().instrument(tracer_provider=providers["tracer_provider"])
    AnthropicInstrumentor().instrument(tracer_provider=providers["tracer_provider"])
    return LibHandle(
        name="openinference",
        user_session=lambda u, s: using_attributes(user_id=u, session_id=s),
        flush=_flush_global_providers,
        shutdown=_shutdown_global_providers,
    )


def setup_traceloop(otlp_endpoint: str) -> LibHandle:
    from traceloop.sdk import Instruments, Traceloop
    from traceloop.sdk.decorators import workflow

    Traceloop.init(
        app_name="interop-traceloop",
        api_endpoint=otlp_endpoint,  # http:// -> OTLP/HTTP exporter to <endpoint>/v1/traces (+ /v1/metrics)
        disable_batch=True,
        telemetry_enabled=False,
        instruments={Instruments.OPENAI, Instruments.ANTHROPIC},
        resource_attributes={"deployment.environment": "interop"},
    )

    def run_scenario(name: str, fn: Callable[[], None]) -> None:
        # traceloop users wrap their LLM calls in @workflow / @task: a root "<name>.workflow" span
        workflow(name=name)(fn)()

    @contextlib.contextmanager
    def user_session(user: str, session: str) -> Iterator[None]:
        Traceloop.set_association_properties({"user_id": user, "session_id": session})
        yield

    def flush() -> None:
        from traceloop.sdk.tracing.tracing import TracerWrapper

        TracerWrapper().flush()
        _flush_global_providers()

    return LibHandle(
        name="traceloop",
        user_session=user_session,
        run_scenario=run_scenario,
        flush=flush,
        shutdown=_shutdown_global_providers,
    )


def setup_openlit(otlp_endpoint: str) -> LibHandle:
    import openlit

    pricing = {
        "chat": {
            OPENAI_MODEL: {"promptPrice": 0.00015, "completionPrice": 0.0006},
            ANTHROPIC_MODEL: {"promptPrice": 0.001, "completionPrice": 0.005},
        },
        "embeddings": {EMBEDDING_MODEL: 0.00002},
    }
    pricing_file = Path(tempfile.mkdtemp(prefix="openlit-")) / "pricing.json"
    pricing_file.write_text(json.dumps(pricing))
    openlit.init(
        application_name="interop-openlit",
        environment="interop",
        otlp_endpoint=otlp_endpoint,
        disable_batch=True,
        capture_message_content=True,
        pricing_json=str(pricing_file),  # default fetches pricing.json from the internet at init
    )
    return LibHandle(
        name="openlit",
        user_session=lambda u, s: openlit.using_attributes({"user.id": u, "session.id": s}),
        flush=_flush_global_providers,
        shutdown=_shutdown_global_providers,
    )


def _setup_otel_openai_v2(otlp_endpoint: str, name: str) -> LibHandle:
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

    providers = _otel_sdk(f"interop-{name}", otlp_endpoint)
    OpenAIInstrumentor().instrument(**providers)
    return LibHandle(
        name=name,
        supports_anthropic=False,  # no Anthropic instrumentation in opentelemetry-python-contrib's genai set here
        flush=_flush_global_providers,
        shutdown=_shutdown_global_providers,
        notes=["no user/session API: user/session are not recorded"],
    )


def setup_otel_openai_v2(otlp_endpoint: str) -> LibHandle:
    return _setup_otel_openai_v2(otlp_endpoint, "otel-openai-v2")


def setup_otel_openai_v2_latest(otlp_endpoint: str) -> LibHandle:
    return _setup_otel_openai_v2(otlp_endpoint, "otel-openai-v2-latest")


def setup_langfuse(otlp_endpoint: str) -> LibHandle:
    from langfuse import Langfuse, propagate_attributes
    from openinference.instrumentation.anthropic import AnthropicInstrumentor

    client = Langfuse(
        public_key="pk-lf-interop",
        secret_key="sk-lf-interop",
        base_url=otlp_endpoint,  # exports to <base_url>/api/public/otel/v1/traces with Basic auth
        flush_at=1,
        flush_interval=0.2,
    )
    # Langfuse has no Anthropic wrapper of its own; its docs point to OpenInference/OTel instrumentors, whose
    # spans Langfuse's span filter exports (scope "openinference..." is a known LLM instrumentation scope).
    from opentelemetry import trace

    AnthropicInstrumentor().instrument(tracer_provider=trace.get_tracer_provider())

    def openai_client(base_url: str) -> Any:
        from langfuse.openai import OpenAI  # drop-in wrapper: the Langfuse way to trace OpenAI

        return OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)

    def run_scenario(name: str, fn: Callable[[], None]) -> None:
        with client.start_as_current_observation(name=name, as_type="span"):
            fn()

    def flush() -> None:
        client.flush()

    def shutdown() -> None:
        client.shutdown()

    return LibHandle(
        name="langfuse",
        user_session=lambda u, s: propagate_attributes(user_id=u, session_id=s),
        run_scenario=run_scenario,
        openai_client=openai_client,
        flush=flush,
        shutdown=shutdown,
    )


LIBS: dict[str, Callable[[str], LibHandle]] = {
    "openinference": setup_openinference,
    "traceloop": setup_traceloop,
    "openlit": setup_openlit,
    "otel-openai-v2": setup_otel_openai_v2,
    "otel-openai-v2-latest": setup_otel_openai_v2_latest,
    "langfuse": setup_langfuse,
}


# -- scenarios ------------------------------------------------------------------------------------------

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
CHAT_MESSAGES = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "Say hello to tokentrail"},
]


@dataclass
class Clients:
    openai: Any
    anthropic: Any


def sc_openai_chat(c: Clients) -> None:
    c.openai.chat.completions.create(
        model=OPENAI_MODEL, messages=CHAT_MESSAGES, temperature=0.2, max_tokens=50, top_p=0.9
    )


def sc_openai_chat_stream(c: Clients) -> None:
    stream = c.openai.chat.completions.create(
        model=OPENAI_MODEL,
        messages=CHAT_MESSAGES,
        temperature=0.2,
        max_tokens=50,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={SCENARIO_HEADER: "chunks:3 slow-first-token:150"},
    )
    for _chunk in stream:
        pass


def sc_openai_chat_cached(c: Clients) -> None:
    c.openai.chat.completions.create(
        model=OPENAI_MODEL, messages=CHAT_MESSAGES, extra_headers={SCENARIO_HEADER: "cached:4 reasoning:3"}
    )


def sc_openai_tool_call(c: Clients) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "What is the weather in Paris?"}]
    first = c.openai.chat.completions.create(
        model=OPENAI_MODEL, messages=messages, tools=[WEATHER_TOOL], tool_choice="auto"
    )
    call = first.choices[0].message.tool_calls[0]
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21, "sky": "clear"}'})
    c.openai.chat.completions.create(model=OPENAI_MODEL, messages=messages, tools=[WEATHER_TOOL])


def sc_openai_embeddings(c: Clients) -> None:
    c.openai.embeddings.create(model=EMBEDDING_MODEL, input=["hello world", "tokentrail interop"])


def sc_openai_error_429(c: Clients) -> None:
    import openai

    try:
        c.openai.chat.completions.create(
            model=OPENAI_MODEL, messages=CHAT_MESSAGES, extra_headers={SCENARIO_HEADER: "error-429"}
        )
    except openai.RateLimitError:
        pass
    else:  # pragma: no cover - the fake always answers 429 here
        raise AssertionError("expected a 429")


def sc_anthropic_message(c: Clients) -> None:
    c.anthropic.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=100,
        stop_sequences=["END"],  # anthropic 2.x's Messages.create has no temperature/top_p any more
        system="You are a terse assistant.",
        messages=[{"role": "user", "content": "Say hello to tokentrail"}],
    )


def sc_anthropic_stream(c: Clients) -> None:
    stream = c.anthropic.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=100,
        system="You are a terse assistant.",
        messages=[{"role": "user", "content": "Say hello to tokentrail"}],
        stream=True,
        extra_headers={SCENARIO_HEADER: "chunks:3 slow-first-token:150"},
    )
    for _event in stream:
        pass


def sc_anthropic_cached(c: Clients) -> None:
    c.anthropic.messages.create(
        model=ANTHROPIC_MODEL,
        max_tokens=100,
        system="You are a terse assistant.",
        messages=[{"role": "user", "content": "Say hello to tokentrail"}],
        extra_headers={SCENARIO_HEADER: "cached:4 cache-write:2"},
    )


def sc_anthropic_error_429(c: Clients) -> None:
    import anthropic

    try:
        c.anthropic.messages.create(
            model=ANTHROPIC_MODEL,
            max_tokens=100,
            messages=[{"role": "user", "content": "Say hello"}],
            extra_headers={SCENARIO_HEADER: "error-429"},
        )
    except anthropic.RateLimitError:
        pass
    else:  # pragma: no cover
        raise AssertionError("expected a 429")


OPENAI_SCENARIOS: dict[str, Callable[[Clients], None]] = {
    "openai_chat": sc_openai_chat,
    "openai_chat_stream": sc_openai_chat_stream,
    "openai_chat_cached": sc_openai_chat_cached,
    "openai_tool_call": sc_openai_tool_call,
    "openai_embeddings": sc_openai_embeddings,
    "openai_error_429": sc_openai_error_429,
}
ANTHROPIC_SCENARIOS: dict[str, Callable[[Clients], None]] = {
    "anthropic_message": sc_anthropic_message,
    "anthropic_stream": sc_anthropic_stream,
    "anthropic_cached": sc_anthropic_cached,
    "anthropic_error_429": sc_anthropic_error_429,
}


def run_scenarios(
    lib: str,
    openai_base_url: str,
    anthropic_base_url: str,
    otlp_endpoint: str,
    *,
    after_scenario: Callable[[str], None] | None = None,
    only: list[str] | None = None,
) -> LibHandle:
    """Instrument with ``lib``, export to ``otlp_endpoint`` and run every scenario (user/session set).

    The library's pipeline is flushed after each scenario, then ``after_scenario(name)`` is called (with
    ``"_setup"`` first, for anything exported at init). Call in a fresh process: instrumentation is global.
    Returns the handle (already shut down).
    """
    import anthropic

    apply_env(lib)
    handle = LIBS[lib](otlp_endpoint)
    handle.flush()
    if after_scenario:
        after_scenario("_setup")
    clients = Clients(
        openai=(handle.openai_client or _default_openai_client)(openai_base_url),
        anthropic=anthropic.Anthropic(base_url=anthropic_base_url, api_key="sk-ant-test", max_retries=0),
    )
    scenarios = dict(OPENAI_SCENARIOS)
    if handle.supports_anthropic:
        scenarios.update(ANTHROPIC_SCENARIOS)
    errors = handle.errors
    for name, scenario in scenarios.items():
        if only and name not in only:
            continue

        def body(scenario: Callable[[Clients], None] = scenario) -> None:
            with handle.user_session(USER_ID, SESSION_ID):
                scenario(clients)

        try:
            handle.run_scenario(name, body)
        except Exception as exc:  # keep going: a library failing one scenario is a finding, not a crash
            errors[name] = f"{type(exc).__name__}: {exc}"
            logging.getLogger(__name__).exception("scenario %s failed under %s", name, lib)
        handle.flush()
        if after_scenario:
            after_scenario(name)
    handle.shutdown()
    if after_scenario:
        after_scenario("_shutdown")
    return handle


# -- command line: fake provider + receiver + dump -----------------------------------------------------


def export_to(lib: str, otlp_endpoint: str, windows_file: Path) -> int:
    """Run every scenario of ``lib`` against an in-process fake provider, exporting to a real server at
    ``otlp_endpoint``; write ``{scenario: [start_ns, end_ns]}`` (wall clock around each scenario, flush included)
    to ``windows_file`` so a test can tell which stored spans belong to which scenario."""
    import time

    from tests.fake_llm import start_fake_llm

    windows: dict[str, list[int]] = {}
    last = [time.time_ns()]

    def mark(scenario: str) -> None:
        now = time.time_ns()
        if not scenario.startswith("_"):
            windows[scenario] = [last[0], now]
        last[0] = now

    with start_fake_llm() as fake:
        handle = run_scenarios(lib, fake.openai_base_url, fake.anthropic_base_url, otlp_endpoint, after_scenario=mark)
    windows_file.write_text(json.dumps({"windows": windows, "errors": handle.errors, "versions": package_versions(lib)}))
    return 1 if handle.errors else 0


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[0] == "--export":  # python -m tests.interop.capture --export <lib> <url> <windows.json>
        apply_env(argv[1])
        return export_to(argv[1], argv[2], Path(argv[3]))
    if len(argv) < 2 or argv[0] not in LIBS:
        print(
            f"usage: python -m tests.interop.capture <{'|'.join(LIBS)}> <outdir> [scenario ...]",
            file=sys.stderr,
        )
        return 2
    lib, outdir, only = argv[0], Path(argv[1]), argv[2:] or None
    apply_env(lib)  # before any library import: some read their env at import time

    from tests.fake_llm import start_fake_llm
    from tests.interop.receiver import OTLPReceiver, simplify

    outdir.mkdir(parents=True, exist_ok=True)
    versions = package_versions(lib)
    env = {k: os.environ[k] for k in {**COMMON_ENV, **LIB_ENV[lib]}}
    with start_fake_llm() as fake, OTLPReceiver() as receiver:

        def dump(scenario: str) -> None:
            exports = receiver.take()
            provider_requests = [
                {"path": r["path"], "headers": r["headers"], "json": r["json"]} for r in fake.requests
            ]
            fake.reset()
            if scenario.startswith("_") and not exports:
                return
            readable = {
                "lib": lib,
                "scenario": scenario,
                "versions": versions,
                "env": env,
                "user_id": USER_ID,
                "session_id": SESSION_ID,
                "exports": [simplify(r) for r in exports],
                "provider_requests": provider_requests,
            }
            (outdir / f"{scenario}.json").write_text(json.dumps(readable, indent=2, default=str))
            raw = [{k: v for k, v in r.items()} for r in exports]
            (outdir / f"{scenario}.raw.json").write_text(json.dumps(raw, indent=2, default=str))
            counts = {}
            for r in exports:
                counts[r.get("signal") or r["path"]] = counts.get(r.get("signal") or r["path"], 0) + 1
            print(f"[{lib}] {scenario}: {counts}", flush=True)

        handle = run_scenarios(
            lib,
            fake.openai_base_url,
            fake.anthropic_base_url,
            receiver.endpoint,
            after_scenario=dump,
            only=only,
        )
    (outdir / "_run.json").write_text(
        json.dumps(
            {"lib": lib, "versions": versions, "env": env, "errors": handle.errors, "notes": handle.notes},
            indent=2,
        )
    )
    return 1 if handle.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
