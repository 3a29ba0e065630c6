"""The span times ingest accepts: a span outside them is refused on its own, with the reason.

Not before 2000-01-01 (1 ns, or a timestamp in the wrong unit, is a bug, not a call) and not more
than a day ahead of the server's clock (2^63 ns, year 2300): such spans could never be shown by
any time range. A span that starts before the raw-span retention would be deleted on arrival; it
is refused too and counted apart (``expired_span``), so old data never vanishes silently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

EARLIEST_NS = 946_684_800 * 10**9  # 2000-01-01T00:00:00Z
MAX_FUTURE_NS = 86_400 * 10**9  # one day ahead of the server's clock
DAY_NS = 86_400 * 10**9

EXPIRED = "expired"
OUT_OF_RANGE = "out_of_range"


@dataclass(frozen=True)
class TimeWindow:
    earliest_ns: int  # before this: out of range
    kept_from_ns: int  # before this (and not out of range): past the retention
    latest_ns: int
    retention_days: int = 0

    @classmethod
    def now(cls, retention_days: int = 0) -> TimeWindow:
        now = time.time_ns()
        kept_from = max(EARLIEST_NS, now - retention_days * DAY_NS) if retention_days > 0 else EARLIEST_NS
        return cls(EARLIEST_NS, kept_from, now + MAX_FUTURE_NS, retention_days)

    def problem(self, start_ns: int, end_ns: int = 0) -> tuple[str, str] | None:
        """(kind, message) when a span starting at ``start_ns`` (ending at ``end_ns``) is refused."""
        if start_ns < self.earliest_ns or start_ns > self.latest_ns or end_ns > self.latest_ns:
            return OUT_OF_RANGE, ("start and end times must be between 2000-01-01 and one day after the server's "
                                  "clock (unix nanoseconds)")
        if start_ns < self.kept_from_ns:
            return EXPIRED, (f"starts before the span retention ({self.retention_days} days): it would be "
                             "deleted on arrival")
        return None
