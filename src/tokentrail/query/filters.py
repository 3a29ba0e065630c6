"""The common WHERE clause of span queries: project, time range and dimension filters."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

FILTERABLE = ("route", "request_model", "response_model", "provider", "user_id", "session_id", "customer",
              "environment", "release", "status", "kind", "source")


@dataclass
class Filters:
    project: str = "default"
    since: datetime = field(default_factory=lambda: datetime.now(UTC) - timedelta(hours=24))
    until: datetime | None = None
    equals: dict[str, str] = field(default_factory=dict)

    def where(self) -> tuple[str, dict[str, Any]]:
        """SQL condition and its bound parameters (never glued into the SQL text)."""
        parts = ["project = {project:String}", "start_time >= {since:DateTime64(6)}"]
        params: dict[str, Any] = {"project": self.project, "since": _naive_utc(self.since)}
        if self.until is not None:
            parts.append("start_time < {until:DateTime64(6)}")
            params["until"] = _naive_utc(self.until)
        for i, (col, value) in enumerate(sorted(self.equals.items())):
            if col not in FILTERABLE:
                raise ValueError(f"cannot filter on {col!r}; one of {', '.join(FILTERABLE)}")
            parts.append(f"{col} = {{f{i}:String}}")
            params[f"f{i}"] = value
        return " AND ".join(parts), params


def _naive_utc(t: datetime) -> str:
    if t.tzinfo is not None:
        t = t.astimezone(UTC)
    return t.replace(tzinfo=None).isoformat(sep=" ")
