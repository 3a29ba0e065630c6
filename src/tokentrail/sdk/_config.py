"""The SDK's settings as one declarative table: name, environment variables, type, default, help.

``init(**kwargs)`` > environment variable > default. A bad value never raises: it is
logged and the default is used (the SDK must not break the app over its own config).
``markdown_table()`` renders the table of docs/sdk.md, so docs and env names cannot drift.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

log = logging.getLogger("tokentrail")

CAPTURE_MODES = ("off", "sampled", "always")
EXPORTS = ("server", "files", "none")


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # str, int, float, bool, choice, list, headers, object
    default: Any
    help: str
    env: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()


def _env(*names: str) -> tuple[str, ...]:
    return names


PARAMS: tuple[Param, ...] = (
    Param("endpoint", "str", "http://127.0.0.1:4318", "Base URL of the tokentrail server (spans go to ENDPOINT/v1/traces).",
          _env("TOKENTRAIL_ENDPOINT", "TOKENTRAIL_URL")),
    Param("api_key", "str", "", "Sent as `Authorization: Bearer KEY`.", _env("TOKENTRAIL_API_KEY")),
    Param("project", "str", "", "Project the data belongs to (header `X-Tokentrail-Project`; empty: server default).",
          _env("TOKENTRAIL_PROJECT")),
    Param("service_name", "str", "", "`service.name` of the spans (default: OTEL_SERVICE_NAME, else the script name).",
          _env("TOKENTRAIL_SERVICE_NAME", "OTEL_SERVICE_NAME")),
    Param("environment", "str", "", "`deployment.environment.name`, e.g. production.", _env("TOKENTRAIL_ENVIRONMENT")),
    Param("release", "str", "", "`service.version`: the app's release.", _env("TOKENTRAIL_RELEASE")),
    Param("capture", "choice", "sampled", "Prompt/response capture: off, sampled (CAPTURE_RATE of calls plus every "
          "error) or always. Errors are captured unless off.", _env("TOKENTRAIL_CAPTURE"), CAPTURE_MODES),
    Param("capture_rate", "float", 0.01, "Share of calls captured when CAPTURE is sampled (0..1).",
          _env("TOKENTRAIL_CAPTURE_RATE")),
    Param("capture_routes", "object", {}, "Per-route capture mode, e.g. {\"support-chat\": \"always\"} "
          "(also `tokentrail.set_capture(mode, route=...)` at run time)."),
    Param("capture_max_chars", "int", 20000, "Captured input and output are each cut to this many characters.",
          _env("TOKENTRAIL_CAPTURE_MAX_CHARS")),
    Param("redact", "object", "default", "Redaction hook `f(text) -> text` run on captured content before it leaves "
          "the process; \"default\" is the server's rule set (e-mails, phones, cards, IBANs, national ids, IPs, "
          "secrets -> <EMAIL>, <CARD> ...: docs/privacy.md); None turns it off.",
          _env("TOKENTRAIL_REDACT")),
    Param("export", "choice", "server", "Where spans go: server (OTLP/HTTP protobuf), files (JSON lines for "
          "`tokentrail ingest`) or none.", _env("TOKENTRAIL_EXPORT"), EXPORTS),
    Param("files_dir", "str", "", "Directory or fsspec URL (s3://bucket/prefix) for EXPORT=files.",
          _env("TOKENTRAIL_FILES_DIR")),
    Param("files_options", "object", {}, "fsspec storage options for FILES_DIR (e.g. endpoint_url, key, secret)."),
    Param("files_rotate_mb", "float", 64.0, "A log file is closed (and uploaded) at this size ...",
          _env("TOKENTRAIL_FILES_ROTATE_MB")),
    Param("files_rotate_seconds", "float", 300.0, "... or at this age.", _env("TOKENTRAIL_FILES_ROTATE_SECONDS")),
    Param("spool_dir", "str", "", "Directory for an on-disk spool of batches while the server is unreachable "
          "(empty: keep them in memory only).", _env("TOKENTRAIL_SDK_SPOOL_DIR")),
    Param("spool_max_mb", "float", 256.0, "Largest spool; the oldest batches are dropped (and counted) past it.",
          _env("TOKENTRAIL_SDK_SPOOL_MAX_MB")),
    Param("queue_size", "int", 4096, "Calls waiting for the export thread; past it the oldest are dropped (counted).",
          _env("TOKENTRAIL_SDK_QUEUE_SIZE")),
    Param("batch_size", "int", 256, "Spans per export request.", _env("TOKENTRAIL_SDK_BATCH_SIZE")),
    Param("flush_seconds", "float", 1.0, "Longest time a finished call waits before it is exported.",
          _env("TOKENTRAIL_SDK_FLUSH_SECONDS")),
    Param("memory_mb", "float", 32.0, "Encoded batches kept in memory while the server is unreachable (without a "
          "spool); the oldest are dropped (counted) past it.", _env("TOKENTRAIL_SDK_MEMORY_MB")),
    Param("timeout_seconds", "float", 10.0, "Timeout of one export request.", _env("TOKENTRAIL_SDK_TIMEOUT")),
    Param("compression", "choice", "gzip", "Export request bodies: gzip (about 10x smaller for 256 calls, "
          "compressed in the export thread) or none.", _env("TOKENTRAIL_SDK_COMPRESSION"), ("gzip", "none")),
    Param("max_backoff_seconds", "float", 10.0, "Longest wait between retries while the server is down.",
          _env("TOKENTRAIL_SDK_MAX_BACKOFF")),
    Param("headers", "headers", {}, "Extra HTTP headers for the server (env: `k=v,k2=v2`).",
          _env("TOKENTRAIL_HEADERS")),
    Param("instrument", "list", ("openai", "anthropic"), "Client libraries to instrument, now or when the app "
          "imports them (never imported by tokentrail). Env: comma list, or none.", _env("TOKENTRAIL_INSTRUMENT")),
    Param("propagate_threads", "bool", True, "Copy the context (tokentrail.context and the OTel span) into threads "
          "started with threading.Thread or ThreadPoolExecutor.submit.", _env("TOKENTRAIL_PROPAGATE_THREADS")),
    Param("app_spans", "object", False, "Also export the app's own OpenTelemetry spans to tokentrail: True adds a "
          "span processor to the global TracerProvider (installing one if the app has none); or pass the "
          "TracerProvider to use.", _env("TOKENTRAIL_APP_SPANS")),
    Param("enabled", "bool", True, "False: init() does nothing and calls are not recorded.", _env("TOKENTRAIL_ENABLED")),
)

PARAMS_BY_NAME = {p.name: p for p in PARAMS}


@dataclass(frozen=True)
class Config:
    endpoint: str
    api_key: str
    project: str
    service_name: str
    environment: str
    release: str
    capture: str
    capture_rate: float
    capture_routes: Mapping[str, str]
    capture_max_chars: int
    redact: Callable[[str], str] | None
    export: str
    files_dir: str
    files_options: Mapping[str, Any]
    files_rotate_mb: float
    files_rotate_seconds: float
    spool_dir: str
    spool_max_mb: float
    queue_size: int
    batch_size: int
    flush_seconds: float
    memory_mb: float
    timeout_seconds: float
    compression: str
    max_backoff_seconds: float
    headers: Mapping[str, str]
    instrument: tuple[str, ...]
    propagate_threads: bool
    app_spans: Any
    enabled: bool
    problems: tuple[str, ...] = field(default=(), compare=False)

    def export_headers(self) -> dict[str, str]:
        out = {"content-type": "application/x-protobuf", **self.headers}
        if self.project:
            out["x-tokentrail-project"] = self.project
        if self.api_key:
            out["authorization"] = f"Bearer {self.api_key}"
        return out


def _convert(p: Param, raw: Any) -> Any:
    if p.type == "str":
        return "" if raw is None else str(raw)
    if p.type == "int":
        value = int(raw)
        if value <= 0:
            raise ValueError("must be positive")
        return value
    if p.type == "float":
        value = float(raw)
        if value < 0 or (p.name == "capture_rate" and value > 1):
            raise ValueError("out of range")
        return value
    if p.type == "bool":
        if isinstance(raw, str):
            low = raw.strip().lower()
            if low not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
                raise ValueError("not a boolean")
            return low in ("1", "true", "yes", "on")
        return bool(raw)
    if p.type == "choice":
        value = str(raw).strip().lower()
        if value not in p.choices:
            raise ValueError(f"one of {', '.join(p.choices)}")
        return value
    if p.type == "list":
        items = raw.split(",") if isinstance(raw, str) else list(raw)
        return tuple(str(x).strip().lower() for x in items if str(x).strip() and str(x).strip().lower() != "none")
    if p.type == "headers":
        if isinstance(raw, str):
            pairs = [item.partition("=") for item in raw.split(",") if item.strip()]
            return {k.strip().lower(): v.strip() for k, _, v in pairs}
        return {str(k).lower(): str(v) for k, v in dict(raw).items()}
    return _convert_object(p, raw)


def _convert_object(p: Param, raw: Any) -> Any:
    if p.name == "redact":
        from tokentrail.sdk._capture import redact_pii

        if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("none", "off", "")):
            return None
        if isinstance(raw, str) and raw.strip().lower() == "default":
            return redact_pii
        if not callable(raw):
            raise ValueError("a callable, 'default' or None")
        return raw
    if p.name == "app_spans":
        if isinstance(raw, str):
            return _convert(Param("app_spans", "bool", False, ""), raw)
        return raw if hasattr(raw, "add_span_processor") else bool(raw)
    if p.name == "capture_routes":
        routes = {str(k): str(v).lower() for k, v in dict(raw).items()}
        bad = [m for m in routes.values() if m not in CAPTURE_MODES]
        if bad:
            raise ValueError(f"modes must be one of {', '.join(CAPTURE_MODES)}")
        return routes
    return dict(raw)


def load(**overrides: Any) -> Config:
    """Resolve every parameter; unknown keywords and bad values are reported in ``problems``."""
    values: dict[str, Any] = {}
    problems: list[str] = [f"unknown init() argument {k!r}" for k in overrides if k not in PARAMS_BY_NAME]
    for p in PARAMS:
        raw = overrides.get(p.name)
        source = "argument"
        if p.name == "redact" and p.name in overrides and raw is None:
            values[p.name] = None  # explicitly off
            continue
        if raw is None:
            raw = next((os.environ[e] for e in p.env if os.environ.get(e)), None)
            source = "environment"
        if raw is None:
            values[p.name] = p.default if p.type != "object" else _convert_object(p, p.default)
            continue
        try:
            values[p.name] = _convert(p, raw)
        except (TypeError, ValueError) as e:
            problems.append(f"{p.name}={raw!r} ({source}) ignored: {e}; using {p.default!r}")
            values[p.name] = p.default if p.type != "object" else _convert_object(p, p.default)
    values["endpoint"] = (values["endpoint"] or PARAMS_BY_NAME["endpoint"].default).rstrip("/")
    if not values["service_name"]:
        import sys

        values["service_name"] = os.path.basename(sys.argv[0] or "") or "python-app"
    if values["export"] == "files" and not values["files_dir"]:
        problems.append("export='files' needs files_dir; using export='none'")
        values["export"] = "none"
    for problem in problems:
        log.warning("tokentrail: %s", problem)
    return Config(**values, problems=tuple(problems))


def markdown_table() -> str:
    """The settings table of docs/sdk.md (generated, so the env names cannot drift)."""
    rows = ["| init() argument | environment | default | meaning |", "|---|---|---|---|"]
    for p in PARAMS:
        env = ", ".join(f"`{e}`" for e in p.env) or "-"
        default = ",".join(p.default) if isinstance(p.default, tuple) else p.default
        shown = f"`{default}`" if default not in ("", {}) else "(none)"
        rows.append(f"| `{p.name}` | {env} | {shown} | {p.help} |")
    return "\n".join(rows)


assert [f.name for f in fields(Config)][:-1] == [p.name for p in PARAMS], "Config and PARAMS must match"
