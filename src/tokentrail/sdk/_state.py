"""The SDK's global state and its lifecycle: init (idempotent), flush, shutdown, stats, fork.

The instrumentation wrappers read ``STATE.exporter`` on every call: ``None`` means "not
recording" (not initialized, disabled, or shut down) and the call goes straight through.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Any

from tokentrail.sdk import _config
from tokentrail.sdk._guard import ERRORS, internal_error

log = logging.getLogger("tokentrail")


class State:
    def __init__(self) -> None:
        self.config: _config.Config | None = None
        self.policy: Any = None
        self.exporter: Any = None
        self.settings: dict[str, Any] = {}
        self.app_spans: Any = None


STATE = State()
_LOCK = threading.RLock()
_HOOKS = {"atexit": False, "fork": False}


_UNSET: Any = object()


def init(*, endpoint: str | None = None, api_key: str | None = None, project: str | None = None,
         service_name: str | None = None, environment: str | None = None, release: str | None = None,
         capture: str | None = None, capture_rate: float | None = None, capture_routes: dict[str, str] | None = None,
         capture_max_chars: int | None = None, redact: Any = _UNSET, export: str | None = None,
         files_dir: str | None = None, files_options: dict[str, Any] | None = None,
         files_rotate_mb: float | None = None, files_rotate_seconds: float | None = None,
         spool_dir: str | None = None, spool_max_mb: float | None = None, queue_size: int | None = None,
         batch_size: int | None = None, flush_seconds: float | None = None, memory_mb: float | None = None,
         timeout_seconds: float | None = None, compression: str | None = None,
         max_backoff_seconds: float | None = None,
         headers: dict[str, str] | None = None, instrument: Any = None, propagate_threads: bool | None = None,
         app_spans: Any = None, enabled: bool | None = None, **unknown: Any) -> None:
    """Configure and start the SDK; arguments left out come from the environment, then the defaults.

    Every argument, its environment variable and default: ``tokentrail.sdk._config.PARAMS``
    (the table in docs/sdk.md). Calling it again with the same settings does nothing; with other
    settings the SDK restarts with them. It never raises: bad values and unknown arguments
    are logged, and the defaults are used.
    """
    given = {k: v for k, v in locals().items() if v is not None and v is not _UNSET and k != "unknown"}
    given.update(unknown)  # reported as unknown by _config.load, never a TypeError
    if redact is None:
        given["redact"] = None  # explicitly off
    _init(**given)


def _init(**settings: Any) -> None:
    try:
        from tokentrail.sdk._records import LAST_CALL

        LAST_CALL.set(None)
        config = _config.load(**settings)
        with _LOCK:
            if config == STATE.config and (STATE.exporter is not None or not config.enabled):
                return
            _stop(timeout=5.0)
            STATE.settings = dict(settings)
            STATE.config = config
            if not config.enabled:
                return
            _start(config)
    except Exception:
        internal_error("tokentrail.init()")


def _start(config: _config.Config) -> None:
    from tokentrail.sdk._capture import Policy
    from tokentrail.sdk._context import propagate_to_threads
    from tokentrail.sdk._export import Exporter

    STATE.policy = Policy(config.capture, config.capture_rate, dict(config.capture_routes),
                          config.capture_max_chars, config.redact)
    if config.export != "none":
        sink = _make_sink(config)
        exporter = Exporter(config, sink, STATE.policy)
        exporter.start()
        STATE.exporter = exporter
    _instrument(config.instrument)
    if config.propagate_threads:
        propagate_to_threads()
    if config.app_spans and STATE.exporter is not None:
        from tokentrail.sdk._otel import export_app_spans

        STATE.app_spans = export_app_spans(None if config.app_spans is True else config.app_spans)
    if not _HOOKS["atexit"]:
        atexit.register(_at_exit)
        _HOOKS["atexit"] = True
    if not _HOOKS["fork"] and hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _HOOKS["fork"] = True


def _make_sink(config: _config.Config) -> Any:
    if config.export == "files":
        from tokentrail.sdk._files import FileSink

        return FileSink(config)
    from tokentrail.sdk._otlp import OtlpSink

    return OtlpSink(config)


def _instrument(providers: tuple[str, ...]) -> None:
    """Instrument each client library now if the app imported it, else when it does (never import it here)."""
    from tokentrail.sdk.instrument import PROVIDERS, instrument
    from tokentrail.sdk.instrument._imports import when_imported

    for provider in providers:
        if provider not in PROVIDERS:
            log.warning("tokentrail: no instrumentation for %r (known: %s)", provider, ", ".join(PROVIDERS))
            continue
        when_imported(provider, lambda _module, p=provider: instrument(p))


def _stop(timeout: float) -> bool:
    exporter, STATE.exporter = STATE.exporter, None
    if STATE.app_spans is not None:
        STATE.app_spans.detach()
        STATE.app_spans = None
    if exporter is None:
        return True
    return exporter.shutdown(timeout)


def flush(timeout: float = 5.0) -> bool:
    """Send what was recorded so far; True when all of it was delivered within ``timeout`` seconds."""
    try:
        exporter = STATE.exporter
        return True if exporter is None else exporter.flush(timeout)
    except Exception:
        internal_error("tokentrail.flush()")
        return False


def shutdown(timeout: float = 5.0) -> bool:
    """Flush, stop the export thread and stop recording (the clients stay patched, as pass-through)."""
    try:
        with _LOCK:
            STATE.config = None
            return _stop(timeout)
    except Exception:
        internal_error("tokentrail.shutdown()")
        return False


def stats() -> dict[str, Any]:
    """Counters of the SDK: queued, exported, dropped (by cause), spooled, internal errors ..."""
    exporter = STATE.exporter
    if exporter is None:
        return {"enabled": False, "internal_errors": ERRORS.count, "last_internal_error": ERRORS.last}
    return {"enabled": True, **exporter.stats()}


def _at_exit() -> None:
    try:
        _stop(timeout=3.0)
    except Exception:
        internal_error("exit", reraise=False)


def _after_fork_in_child() -> None:
    """A forked child has no export thread: start a fresh one (with new ids) for the same settings."""
    from tokentrail.sdk._records import reseed_ids

    reseed_ids()
    global _LOCK
    _LOCK = threading.RLock()
    if STATE.exporter is not None:
        STATE.exporter = None
        STATE.config = None
        _init(**STATE.settings)
