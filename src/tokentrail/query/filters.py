"""The common WHERE clause of span queries: project, time range and dimension filters,
for raw spans or for the per-minute rollup (whichever can answer the question)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tokentrail.errors import BadRequest

# filter name -> (raw spans expression, rollup_minute column or None when the rollup lacks it)
DIMENSIONS: dict[str, tuple[str, str | None]] = {
    "route": ("route", "route"),
    "model": ("if(response_model != '', response_model, request_model)", "model"),
    "provider": ("provider", "provider"),
    "environment": ("environment", "environment"),
    "release": ("release", "release"),
    "status": ("status", "status"),
    "kind": ("kind", "kind"),
    "error_type": ("error_type", "error_type"),
    "http_status": ("toString(http_status)", "toString(http_status)"),
    "user": ("user_id", None),
    "session": ("session_id", None),
    "customer": ("customer", None),
    "source": ("source", None),
}
FILTERABLE = tuple(DIMENSIONS)
RAW_MAX_HOURS = 26.0  # up to about a day, raw spans answer directly; longer ranges read the rollups
MINUTE_MAX_HOURS = 4 * 24.0  # up to 4 days the per-minute rollup; beyond, the per-hour one
HOUR_MAX_HOURS = 14 * 24.0  # beyond two weeks, the per-day rollup
ROLLUP_TIME = {"rollup_minute": ("minute", "toStartOfMinute"), "rollup_hour": ("hour", "toStartOfHour"),
               "rollup_day": ("day", "toStartOfDay")}
LLM_KINDS = ("llm", "embedding")


def array_param(values: list[str]) -> str:
    """An Array(String) query parameter in the engine's literal syntax."""
    return "[" + ",".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values) + "]"


def _naive_utc(t: datetime) -> str:
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return t.replace(tzinfo=None).isoformat(sep=" ")


@dataclass
class Filters:
    project: str = "default"
    since: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(hours=24))
    until: datetime | None = None
    equals: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.equals:
            if name not in DIMENSIONS:
                raise BadRequest(f"cannot filter on {name!r}; use one of {', '.join(FILTERABLE)}")
        if self.since.tzinfo is None:
            self.since = self.since.replace(tzinfo=UTC)
        if self.until is not None and self.until.tzinfo is None:
            self.until = self.until.replace(tzinfo=UTC)

    @property
    def end(self) -> datetime:
        return self.until or datetime.now(UTC)

    @property
    def hours(self) -> float:
        return (self.end - self.since).total_seconds() / 3600

    def rollup_possible(self) -> bool:
        """No filter needs a column only raw spans have."""
        return all(DIMENSIONS[k][1] for k in self.equals)

    def use_rollup(self) -> bool:
        """Long ranges read the rollup, unless a filter needs a column only raw spans have."""
        return self.hours > RAW_MAX_HOURS and self.rollup_possible()

    def rollup_table(self) -> str:
        """``rollup_minute``, or for ranges over a few days ``rollup_hour``, over two weeks
        ``rollup_day`` (whose first hour or day may start before ``since``: they are whole)."""
        if self.hours > HOUR_MAX_HOURS:
            return "rollup_day"
        return "rollup_hour" if self.hours > MINUTE_MAX_HOURS else "rollup_minute"

    def rollup_time(self) -> str:
        return ROLLUP_TIME[self.rollup_table()][0]

    def unfiltered(self) -> Filters:
        """Same project and time range, no dimension filters."""
        return Filters(project=self.project, since=self.since, until=self.until)

    def where(self, rollup: bool = False, llm_only: bool = True) -> tuple[str, dict[str, Any]]:
        """SQL condition and its bound parameters (never glued into the SQL text), for raw
        spans or for ``rollup_table()``."""
        if not rollup:
            time_col, since = "start_time", "{since:DateTime64(6)}"
        else:
            time_col, trunc = ROLLUP_TIME[self.rollup_table()]
            since = f"{trunc}({{since:DateTime64(6)}})"
        time_type = "DateTime64(6)"
        parts = ["project = {project:String}", f"{time_col} >= {since}"]
        params: dict[str, Any] = {"project": self.project, "since": _naive_utc(self.since)}
        if self.until is not None:
            parts.append(f"{time_col} < {{until:{time_type}}}")
            params["until"] = _naive_utc(self.until)
        if llm_only and "kind" not in self.equals:
            parts.append("kind IN ('llm', 'embedding')")
        for i, (name, value) in enumerate(sorted(self.equals.items())):
            raw, rolled = DIMENSIONS[name]
            parts.append(f"{rolled if rollup else raw} = {{f{i}:String}}")
            params[f"f{i}"] = value
        return " AND ".join(parts), params
