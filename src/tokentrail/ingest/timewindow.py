"""The span times ingest accepts: a span outside them is refused on its own, with the reason.

Not before 2000-01-01 (1 ns, or a timestamp in the wrong unit, is a bug, not a call) and not more
than a day ahead of the server's clock (2^63 ns, year 2300): such spans could never be shown by
any time range. A span that starts before the raw-span retention would be deleted on arrival; it
is refused too and counted apart (``expired_span``), so old data never vanishes silently. A span
kept whose prompt/response content starts before the content retention is stored without it
(the content expires on arrival): counted as ``expired_content`` and said in the answer.
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
    content_kept_from_ns: int = EARLIEST_NS  # content of a span starting before this expires on arrival
    content_retention_days: int = 0

    @classmethod
    def now(cls, retention_days: int = 0, content_retention_days: int = 0) -> TimeWindow:
        now = time.time_ns()
        return cls(EARLIEST_NS, _kept_from(now, retention_days), now + MAX_FUTURE_NS, retention_days,
                   _kept_from(now, content_retention_days), content_retention_days)

    def content_expired(self, start_ns: int) -> bool:
        return start_ns < self.content_kept_from_ns

    def problem(self, start_ns: int, end_ns: int = 0) -> tuple[str, str] | None:
        """(kind, message) when a span starting at ``start_ns`` (ending at ``end_ns``) is refused."""
        if start_ns < self.earliest_ns or start_ns > self.latest_ns or end_ns > self.latest_ns:
            return OUT_OF_RANGE, ("start and end times must be between 2000-01-01 and one day after the server's "
                                  "clock (unix nanoseconds)")
        if start_ns < self.kept_from_ns:
            return EXPIRED, (f"starts before the span retention ({self.retention_days} days): it would be "
                             "deleted on arrival")
        return None


def _kept_from(now: int, days: int) -> int:
    return max(EARLIEST_NS, now - days * DAY_NS) if days > 0 else EARLIEST_NS
