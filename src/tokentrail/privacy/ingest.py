"""The server's privacy step, as every ingest path calls it: a ``Scrubber`` for one request (the
configured redactor, the capture policy in force, the request's project and source).

Set up on first use per store from the settings (``redact``, ``redact_patterns``,
``redact_national_ids``, ``capture_policy``, ``gateway_capture``); no other module holds state.
"""

from __future__ import annotations

import threading
from typing import Any

from tokentrail.privacy import policy as capture
from tokentrail.privacy import redact
from tokentrail.privacy.walk import MIN_CHARS, Scrubber
from tokentrail.storage.backend import Store

_setup: dict[int, tuple[Any, redact.Redactor, bool, int]] = {}
_lock = threading.Lock()


def _configured(store: Store, settings: Any) -> tuple[redact.Redactor, bool, int, capture.PolicyCache]:
    key = id(store)
    got = _setup.get(key)
    if got is None or got[0] is not settings:
        with _lock:
            mode = str(getattr(settings, "redact", "on")).strip().lower()
            redactor = redact.configure(getattr(settings, "redact_patterns", ""),
                                        getattr(settings, "redact_national_ids", None), mode == "presidio")
            min_chars = 1 if getattr(settings, "redact_patterns", "") or mode == "presidio" else MIN_CHARS
            capture.configure(store, getattr(settings, "capture_policy", "always"),
                              getattr(settings, "gateway_capture", "errors"))
            got = (settings, redactor, mode != "off", min_chars)
            _setup[key] = got
    return got[1], got[2], got[3], capture.cache_for(store)


def check_settings(settings: Any) -> None:
    """Raise ValueError for a bad ``redact*`` or ``capture_policy`` setting (at server start)."""
    mode = str(settings.redact).strip().lower()
    if mode not in ("on", "off", "presidio"):
        raise ValueError(f"redact must be on, off or presidio, not {settings.redact!r}")
    redact.make(settings.redact_patterns, settings.redact_national_ids, mode == "presidio")
    capture.Rule.parse(settings.capture_policy)


def scrubber(store: Store, settings: Any, project: str, source: str = "otlp") -> Scrubber:
    """The privacy step of one request of ``project`` ("" = named by the data) from ``source``."""
    redactor, on, min_chars, cache = _configured(store, settings)
    policy = cache.current()
    default_project = getattr(settings, "default_project", "default")
    if not policy.redact_for(project or default_project, on):
        redactor_used = None
    else:
        redactor_used = redactor
    return Scrubber(redactor_used, policy, project=project, source=source, default_project=default_project,
                    min_chars=min_chars)


def settings_for(store: Store) -> Any:
    """The settings a server set this store up with; else the environment's (``tokentrail ingest``)."""
    got = _setup.get(id(store))
    if got is not None:
        return got[0]
    from tokentrail.config import Settings

    return Settings.load()


def load_at_start(store: Store, settings: Any) -> None:
    """Set up redaction and load the stored capture rules before the first request (at server start)."""
    _configured(store, settings)[3].refresh()
