"""Configuration as one declarative table: name, environment variable, type, default, help.

CLI flags and the configuration reference (docs/reference/configuration.md) are generated from
``PARAMS``, so the names cannot drift. Precedence: CLI flag > environment variable > default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Param:
    name: str
    type: type
    default: Any
    help: str

    @property
    def env(self) -> str:
        return "TOKENTRAIL_" + self.name.upper()


PARAMS: tuple[Param, ...] = (
    Param("data_dir", Path, Path(".tokentrail"), "Local data directory (embedded store, spool)."),
    Param("storage_url", str, "", "Store: chdb://PATH (default: DATA_DIR/db) or http(s)://user:pass@host:8123/db."),
    Param("host", str, "127.0.0.1", "Address the server listens on."),
    Param("port", int, 4318, "Port of the server (4318 is the OTLP/HTTP default)."),
    Param("url", str, "", "URL of a running server, for commands that go through it (default: http://HOST:PORT)."),
    Param("prices_file", str, "", "Your price file (JSON or TOML), reloaded on change without restart."),
    Param("retention_spans_days", int, 30, "Days raw span rows are kept (0 = forever)."),
    Param("retention_contents_days", int, 7, "Days prompt/response content is kept (0 = forever)."),
    Param("retention_scores_days", int, 365, "Days scores and feedback are kept (0 = forever)."),
    Param("retention_user_rollups_days", int, 365, "Days the per-user and per-session daily rollups are kept: they "
          "hold user and session ids (0 = forever). The other rollups hold no ids and are kept forever."),
    Param("retention_rollups_days", int, 0, "Days the aggregate rollups (per minute, hour and day: no user, "
          "session or customer ids) are kept (0 = forever, the default: they outlive the raw rows)."),
    Param("retention_audit_days", int, 365, "Days audit log rows (content reads, key and policy changes, exports, "
          "purges) are kept (0 = forever)."),
    Param("session_hours", float, 12.0, "Hours a UI sign-in lasts before the user signs in again (the session "
          "cookie's lifetime; signing out ends it sooner)."),
    Param("spool_fsync", bool, True, "fsync the ingest spool before acknowledging (off: survives a process kill, not a power loss)."),
    Param("spool_max_mb", int, 1024, "Ingest backlog above which requests get 503 + Retry-After."),
    Param("ingest_max_batch_items", int, 10_000, "Most calls one native batch request may hold (more: 413)."),
    Param("ingest_max_value_bytes", int, 1 << 20, "Longest attribute or content value stored, in bytes: a longer "
          "one is cut and ends with '…[truncated]', its span gets the attribute tokentrail.truncated (the keys cut) "
          "and is counted (truncated_spans)."),
    Param("batch_seconds", float, 5.0, "Longest time an acknowledged span waits before a reader sees it (its batch "
          "is inserted): light traffic waits up to this long so that one insert holds many calls (an insert "
          "has a large fixed cost), a burst goes in at once; a flush never waits."),
    Param("batch_seconds_unwatched", float, 300.0, "While nobody reads (no API, UI, Grafana or /metrics read for "
          "5 minutes), the batching deadline may grow up to this long, so a trickle of calls costs one insert every "
          "few minutes instead of one every batch_seconds; the next read has every acknowledged call inserted "
          "before it is answered, and an alert round does the same. Never below batch_seconds."),
    Param("default_project", str, "default", "Project of data that names none."),
    Param("query_timeout", float, 30.0, "Seconds a read request may wait for the store before it is answered "
          "503 + Retry-After (0 = wait without limit)."),
    Param("rollup_seconds", float, 5.0, "How often per-minute rollups catch up with new data."),
    Param("budget_daily_usd", float, 0.0, "Daily spend budget shown against cost (0 = none)."),
    Param("gateway_config", str, "", "Gateway upstreams file (TOML or JSON): names, base URLs, formats, "
          "optional per-project provider keys. Built in: openai, anthropic."),
    Param("gateway_capture", str, "errors", "Gateway content capture: off, errors (failed calls and calls "
          "sent with X-Tokentrail-Capture: true) or always."),
    Param("gateway_cache_mb", int, 64, "Memory for the gateway's opt-in response cache "
          "(X-Tokentrail-Cache: true); 0 = off."),
    Param("gateway_cache_ttl", float, 3600.0, "Seconds a cached gateway response is served."),
    Param("gateway_timeout", float, 600.0, "Seconds the gateway waits for upstream data (first byte, next "
          "chunk) before it answers 504."),
    Param("langfuse_keys", str, "", "Langfuse SDK key pairs accepted on /api/public/otel (Basic auth), each "
          "mapped to a project: 'pk-lf-...:sk-lf-...=PROJECT', comma separated, or @FILE with one pair a line."),
    Param("insecure", bool, False, "Serve on a non-loopback address with no API key made (everyone who reaches "
          "the port may do everything). Without it such a start is refused."),
    Param("allowed_hosts", str, "", "Host header names the server answers to, comma separated (others: 421; "
          "stops DNS rebinding). Default: localhost, 127.0.0.1, ::1 and the listen address; '*' = any."),
    Param("cors_origins", str, "", "Browser origins allowed to call the API cross-site (CORS), comma separated; "
          "default none: no CORS headers, cross-site POSTs refused."),
    Param("metrics_token", str, "", "Bearer token Prometheus may send to /metrics (its authorization / "
          "bearer_token setting) instead of an API key with the metrics scope."),
    Param("content_key", str, "", "Key of prompt/response content encrypted at rest (AES-256-GCM): base64 of 32 "
          "bytes, or @FILE with one 'KEYID:BASE64' line per key (the first encrypts, all decrypt), or 'off'. "
          "Default: DATA_DIR/content.key, made on first start (mode 0600). See docs/encryption.md."),
    Param("redact", str, "on", "PII redaction before storage on every ingest path: on, off, or presidio (the rules "
          "plus names and addresses; needs the tokentrail[presidio] extra). See docs/privacy.md."),
    Param("redact_patterns", str, "", "Extra redaction patterns: NAME=REGEX, one a line (or a JSON object), or @FILE "
          "holding them; a match becomes <NAME>."),
    Param("redact_national_ids", str, "us_ssn,us_ssn_bare,uk_nino", "National ids redacted, comma separated: us_ssn, "
          "us_ssn_bare, uk_nino, ca_sin, br_cpf, es_dni, in_aadhaar, nl_bsn, fr_nir (or none)."),
    Param("capture_policy", str, "always", "Default content capture policy of the server: always (keep the content "
          "clients send), errors, off, or sampled:RATE (share of traces); errors and flagged calls are kept unless "
          "off. Changed at run time per project and route: tokentrail capture-policy."),
    Param("alerts_file", str, "", "Alert rules and receivers (TOML or JSON; see docs/alerts.md), reloaded on change. "
          "Rules made through the API / CLI / UI live in the store."),
    Param("alerts_interval", float, 60.0, "Seconds between alert evaluation rounds (0 = no evaluator)."),
    Param("retention_alerts_days", int, 180, "Days alert history and notification deliveries are kept (0 = forever)."),
)

PARAMS_BY_NAME = {p.name: p for p in PARAMS}
# the rollups holding no user, session or customer id (setting retention_rollups_days)
AGGREGATE_ROLLUPS = ("rollup_minute", "rollup_hour", "rollup_day", "rollup_hour_totals", "rollup_day_totals")


def _convert(param: Param, raw: Any) -> Any:
    if param.type is bool and isinstance(raw, str):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return param.type(raw)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    storage_url: str
    host: str
    port: int
    url: str
    prices_file: str
    retention_spans_days: int
    retention_contents_days: int
    retention_scores_days: int
    retention_user_rollups_days: int
    retention_rollups_days: int
    retention_audit_days: int
    session_hours: float
    spool_fsync: bool
    spool_max_mb: int
    ingest_max_batch_items: int
    ingest_max_value_bytes: int
    batch_seconds: float
    batch_seconds_unwatched: float
    default_project: str
    query_timeout: float
    rollup_seconds: float
    budget_daily_usd: float
    gateway_config: str
    gateway_capture: str
    gateway_cache_mb: int
    gateway_cache_ttl: float
    gateway_timeout: float
    langfuse_keys: str
    insecure: bool
    allowed_hosts: str
    cors_origins: str
    metrics_token: str
    content_key: str
    redact: str
    redact_patterns: str
    redact_national_ids: str
    capture_policy: str
    alerts_file: str
    alerts_interval: float
    retention_alerts_days: int

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        values: dict[str, Any] = {}
        for p in PARAMS:
            raw = overrides.get(p.name)
            if raw is None:
                raw = os.environ.get(p.env)
            if raw is None or raw == "" and p.type is not str:
                raw = p.default
            values[p.name] = _convert(p, raw)
        if not values["storage_url"]:
            values["storage_url"] = f"chdb://{Path(values['data_dir']).expanduser().resolve() / 'db'}"
        if not values["url"]:
            host = "127.0.0.1" if values["host"] in ("0.0.0.0", "::") else values["host"]
            values["url"] = f"http://{host}:{values['port']}"
        return cls(**values)

    @property
    def spool_dir(self) -> Path:
        return Path(self.data_dir).expanduser().resolve() / "spool"

    @property
    def retention(self) -> dict[str, int]:
        return {"spans": self.retention_spans_days, "contents": self.retention_contents_days,
                "spans_by_user": self.retention_spans_days,
                "scores": self.retention_scores_days, "rollup_day_user": self.retention_user_rollups_days,
                "rollup_day_session": self.retention_user_rollups_days, "audit_log": self.retention_audit_days,
                "alert_events": self.retention_alerts_days, "alert_deliveries": self.retention_alerts_days,
                "ui_sessions": 1,  # a day after a session's expiry its row goes
                **{name: self.retention_rollups_days for name in AGGREGATE_ROLLUPS}}


assert [f.name for f in fields(Settings)] == [p.name for p in PARAMS], "Settings and PARAMS must match"
