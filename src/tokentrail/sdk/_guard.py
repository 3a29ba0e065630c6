"""The SDK's one guarded boundary: its own errors are logged and counted, never raised into the app.

Under pytest (``PYTEST_CURRENT_TEST`` is set) errors on the app's thread are re-raised,
so a bug in the SDK fails a test instead of hiding (the logfire rule). Errors in the
export thread are never re-raised (that would kill the thread): they are counted in
``stats()["internal_errors"]`` and the last one is kept in ``stats()["last_error"]``.
"""

from __future__ import annotations

import logging
import os
import time

log = logging.getLogger("tokentrail")


class _Errors:
    count = 0
    last = ""
    _last_logged = 0.0


ERRORS = _Errors()


def internal_error(where: str, reraise: bool = True) -> None:
    """Call inside ``except Exception``: count and log the error; re-raise it under pytest."""
    ERRORS.count += 1
    import sys

    exc = sys.exc_info()[1]
    ERRORS.last = f"{where}: {type(exc).__name__}: {exc}"
    now = time.monotonic()
    if now - ERRORS._last_logged > 10 or reraise and _under_pytest():  # at most one log line per 10 s
        ERRORS._last_logged = now
        log.warning("tokentrail: internal error in %s (the app is not affected)", where, exc_info=True)
    if reraise and _under_pytest():
        raise


def _under_pytest() -> bool:
    return "PYTEST_CURRENT_TEST" in os.environ and os.environ.get("TOKENTRAIL_RAISE_INTERNAL_ERRORS", "1") != "0"
