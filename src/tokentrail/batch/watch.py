"""Running ingest again and again: ``--every 15m`` (a schedule) or ``--watch`` (every few seconds)."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

WATCH_SECONDS = 10.0
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """'15m' -> 900.0; also '30s', '2h', '1d', '1h30m' and plain seconds ('90')."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhd]?)", text.strip().lower())
    if not parts or re.sub(r"[\d.\s smhd]", "", text.lower()):
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 15m, 1h)")
    seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError("the interval must be more than 0 seconds")
    return seconds


def repeat(run: Callable[[], object], every: float, stop: threading.Event | None = None) -> None:
    """Call ``run`` now and then every ``every`` seconds (from the start of one run to the
    next; a run longer than the interval is followed at once by the next) until ``stop``."""
    stop = stop or threading.Event()
    while not stop.is_set():
        started = time.monotonic()
        run()
        stop.wait(max(0.0, every - (time.monotonic() - started)))
