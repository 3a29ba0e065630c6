"""Dates for test data, relative to today.

Stored data expires (spans after 30 days, content after 7 by default), so a test that stamps its data
with a fixed date starts failing when the calendar passes it. Tests stamp their data from here instead:
``DAY`` is two days ago (UTC), so ``DAY`` and the day after it are inside every default retention window.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

DAY = (datetime.now(UTC) - timedelta(days=2)).date()


def day(offset: int = 0) -> str:
    """``DAY`` plus ``offset`` days, as ``YYYY-MM-DD``."""
    return (DAY + timedelta(days=offset)).isoformat()


# 15:32:11 UTC on the day after DAY, in Unix seconds
EPOCH = int(datetime.combine(DAY + timedelta(days=1), time(15, 32, 11), UTC).timestamp())
