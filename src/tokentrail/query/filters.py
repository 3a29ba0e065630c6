"""The common WHERE clause of span queries: project, time range and dimension filters,
for raw spans or for the per-minute rollup (whichever can answer the question)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tokentrail.errors import BadRequest
from tokentrail.pricing.models import model_key_sql, normalize_model

MODEL = "if(response_model != '', response_model, request_model)"  # the rollups' ``model``
# filter name -> (raw spans expression, rollup_minute column or None when the rollup lacks it)
DIMENSIONS: dict[str, tuple[str, str | None]] = {
    "route": ("route", "route"),
    "model": (MODEL, "model"),
    # a model's family: its price key (pricing/models.py), so gpt-4o-mini-2024-07-18, openai/gpt-4o-mini and
    # gpt-4o-mini are one family "gpt-4o-mini"; a filter value is normalized too. Computed at read time on
    # LowCardinality columns, i.e. once per distinct model name (their dictionaries), not per row: hence
    # the key of each column, not of MODEL (a plain String: 7x slower on raw spans)
    "model_family": (f"if(response_model != '', {model_key_sql('response_model')}, {model_key_sql('request_model')})",
                     model_key_sql("model")),
    "provider": ("provider", "provider"),
    "environment": ("environment", "environment"),
    "release": ("release", "release"),
    "status": ("status", "status"),
    "kind": ("kind", "kind"),
    "error_type": ("error_type", "error_type"),
    "http_status": ("toString(http_status)", "toString(http_status)"),
    "finish": ("finish", None),  # canonical finish reason (ingest/finish.py)
    "user": ("user_id", None),
    "session": ("session_id", None),
    "customer": ("customer", None),
    "source": ("source", None),
    "tag": ("tags", "tags"),  # a filter only (has the tag), never a group: a call has several
}
FILTERABLE = tuple(DIMENSIONS)
FILTER_ONLY = frozenset({"tag"})
# filters that pick a few callers: spans_by_user (sorted by customer, user, session) answers them
PEOPLE_FILTERS = frozenset({"user", "customer", "session"})
RAW_MAX_HOURS = 26.0  # up to about a day, raw spans answer directly; longer ranges read the rollups
HOUR_MAX_HOURS = 14 * 24.0  # up to two weeks the per-hour rollup; beyond, the per-day one
ROLLUP_TIME = {"rollup_minute": ("minute", "toStartOfMinute"), "rollup_hour": ("hour", "toStartOfHour"),
               "rollup_day": ("day", "toStartOfDay"), "rollup_hour_totals": ("hour", "toStartOfHour"),
               "rollup_day_totals": ("day", "toStartOfDay")}
# dimensions the coarse "totals" rollups keep (see storage/rollup_tables.py)
TOTALS_FILTERS = frozenset({"kind", "provider", "environment", "status", "http_status", "error_type"})
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
    # minutes of this project touched by inserts whose rollup rows are not refreshed yet: reads of a
    # rollup compute those periods on the fly (``rollup_source``), so they never disagree with the spans
    pending: frozenset[datetime] = frozenset()
    # days of this project whose per-user / per-session daily rollup rows are not refreshed yet
    stale_days: frozenset[datetime] = frozenset()

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

    def rollup_table(self, dims: tuple[str, ...] = ()) -> str:
        """The smallest rollup that can answer: ``rollup_minute`` for about a day, ``rollup_hour``
        up to two weeks, ``rollup_day`` beyond (whose first hour or day may start before
        ``since``: they are whole); the hour and day "totals" when neither the filters nor the
        dimensions ``dims`` (a group-by) need route, model or release."""
        if self.hours <= RAW_MAX_HOURS:
            return "rollup_minute"
        grain = "rollup_day" if self.hours > HOUR_MAX_HOURS else "rollup_hour"
        return f"{grain}_totals" if set(self.equals) | set(dims) <= TOTALS_FILTERS else grain

    def rollup_source(self, database: str, dims: tuple[str, ...] = (), table: str | None = None) -> str:
        """FROM-clause source of ``rollup_table(dims)`` (or ``table``), exact at this moment (see
        ``query/rollups.py exact_source``); ``{project:String}`` is the project parameter."""
        from tokentrail.query.rollups import exact_source

        return exact_source(database, table or self.rollup_table(dims), "{project:String}", self.pending)

    def day_source(self, database: str, table: str) -> str:
        """FROM-clause source of the daily ``rollup_day_user`` or ``rollup_day_session``, exact at this
        moment (``query/rollups.py exact_day_source``); ``{project:String}`` is the project parameter."""
        from tokentrail.query.rollups import exact_day_source

        return exact_day_source(database, table, "{project:String}", self.stale_days)

    def by_person(self) -> bool:
        """A user, customer or session filter: a few granules of spans_by_user hold every matching span."""
        return bool(PEOPLE_FILTERS & set(self.equals))

    def span_source(self, database: str, llm_only: bool = True, people: bool | None = None) -> str:
        """FROM-clause source of a raw-span query (the columns of ``storage/rollup_tables.py
        SPANS_BY_USER``, under the spans' names): ``spans_by_user`` when a user, customer or session filter
        picks a few of its granules (or ``people``: a user or customer group-by, whose narrow columns it
        holds for every LLM call), else the spans. Exact at this moment like the rollups (``pending``)."""
        from tokentrail.query.rollups import exact_people_source

        wanted = self.by_person() if people is None else people
        if wanted and (llm_only or self.by_person()):
            return exact_people_source(database, "{project:String}", self.pending)
        return f"{database}.spans FINAL"

    def rollup_time(self, dims: tuple[str, ...] = ()) -> str:
        return ROLLUP_TIME[self.rollup_table(dims)][0]

    def unfiltered(self) -> Filters:
        """Same project and time range, no dimension filters."""
        return Filters(project=self.project, since=self.since, until=self.until, pending=self.pending,
                       stale_days=self.stale_days)

    def where(self, rollup: bool = False, llm_only: bool = True,
              dims: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
        """SQL condition and its bound parameters (never glued into the SQL text), for raw
        spans or for ``rollup_table(dims)``."""
        if not rollup:
            time_col, since = "start_time", "{since:DateTime64(6)}"
        else:
            time_col, trunc = ROLLUP_TIME[self.rollup_table(dims)]
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
            if name == "tag":
                parts.append(f"has(tags, {{f{i}:String}})")
            elif name == "model" and not rollup:
                # MODEL's if() makes a String per row; each side compared alone stays on the LowCardinality
                # columns' dictionaries (a month of 10M calls: 150-240 -> 90 ms)
                parts.append(f"(response_model = {{f{i}:String}} OR (response_model = '' "
                             f"AND request_model = {{f{i}:String}}))")
            else:
                parts.append(f"{rolled if rollup else raw} = {{f{i}:String}}")
            params[f"f{i}"] = normalize_model(value) if name == "model_family" else value
        return " AND ".join(parts), params
