"""Alert rules: one pydantic model per kind, from the config file or the API, all scoped by project
and optional filters (route, model, customer, user, environment).

Kinds (``kind``):

- ``budget``: spend per day / week / month above ``threshold_usd`` or above ``percent_of_expected``
  of the trailing average, with a projection that fires before the period ends; with ``per`` =
  ``user`` / ``customer``: one subject spending ``factor`` x the median subject over ``window``.
- ``cost_jump``: each ``group_by`` value's (route's) cost over ``window`` vs its own trailing baseline.
- ``burn_rate``: an availability or latency (total or TTFT) SLO, multiwindow multi-burn-rate with the SRE
  workbook's defaults (page 14.4x over 1 h AND 5 min, page 6x over 6 h AND 30 min, ticket 1x over 3 d
  AND 6 h, for a 30-day budget).
- ``anomaly``: a metric per group against a robust (median / MAD) seasonal baseline.
- ``silent_model``: a model that had traffic stops getting any.
- ``unpriced_model``: a model is called that has no known price.
- ``rate_drop``: schema-valid rate or cache-hit rate falls below its baseline.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
FILTER_KEYS = ("route", "model", "customer", "user", "environment", "provider", "release")


def parse_duration(value: str | int | float) -> timedelta:
    """``"90s"``, ``"5m"``, ``"6h"``, ``"3d"``, ``"1w"`` (or seconds as a number)."""
    if isinstance(value, int | float):
        return timedelta(seconds=float(value))
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"{value!r} is not a duration like 90s, 5m, 6h, 3d or 1w")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def format_duration(td: timedelta) -> str:
    s = int(td.total_seconds())
    for unit, n in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if s and s % n == 0:
            return f"{s // n}{unit}"
    return f"{s}s"


Duration = Annotated[str, Field(pattern=_DURATION.pattern)]


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    project: str = "default"
    filters: dict[str, str] = Field(default_factory=dict)
    severity: Literal["page", "ticket", "info"] = "ticket"
    for_: Duration = Field("0m", alias="for")
    repeat_interval: Duration = "4h"
    receivers: list[str] = Field(default_factory=list)
    enabled: bool = True
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("name must be 1-100 letters, digits, '_', '.', ':' or '-'")
        return v

    @field_validator("filters")
    @classmethod
    def _filters(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [k for k in v if k not in FILTER_KEYS]
        if bad:
            raise ValueError(f"cannot filter on {', '.join(bad)}; use {', '.join(FILTER_KEYS)}")
        return v

    @property
    def for_duration(self) -> timedelta:
        return parse_duration(self.for_)

    @property
    def repeat(self) -> timedelta:
        return parse_duration(self.repeat_interval)

    def equals(self) -> dict[str, str]:
        """The filters in query/filters.py's names."""
        return dict(self.filters)


class BudgetRule(_Base):
    kind: Literal["budget"] = "budget"
    period: Literal["day", "week", "month"] = "day"
    threshold_usd: float | None = Field(None, gt=0)
    percent_of_expected: float | None = Field(None, gt=0)  # 120 = fire above 120% of the trailing average
    project_spend: bool = True  # fire on the projection for the whole period, not only on spend so far
    per: Literal["", "user", "customer"] = ""
    factor: float = Field(10.0, gt=1)   # per user/customer: this many times the median subject
    window: Duration = "24h"            # per user/customer: rolling window
    min_usd: float = Field(0.0, ge=0)   # per user/customer: ignore subjects below this spend
    metric: Literal["cost_usd", "tokens"] = "cost_usd"  # per user/customer: what is compared


class CostJumpRule(_Base):
    kind: Literal["cost_jump"] = "cost_jump"
    # the groups the hourly rollup keeps (the baseline spans days): a customer's cost jump is a per-customer
    # budget (budget, per = "customer") or an anomaly grouped by customer
    group_by: Literal["route", "model", "environment", ""] = "route"
    window: Duration = "24h"
    baseline_days: int = Field(7, ge=1, le=60)
    percent: float = Field(30.0, gt=0)   # fire when cost is this % above the baseline
    min_usd: float = Field(1.0, ge=0)    # ignore groups spending less than this in the window


class BurnWindow(BaseModel):
    long: Duration
    short: Duration
    factor: float = Field(gt=0)
    severity: Literal["page", "ticket", "info"]


# The SRE workbook's multiwindow, multi-burn-rate alerts for a 30-day budget
SRE_WINDOWS = (BurnWindow(long="1h", short="5m", factor=14.4, severity="page"),
               BurnWindow(long="6h", short="30m", factor=6.0, severity="page"),
               BurnWindow(long="3d", short="6h", factor=1.0, severity="ticket"))


class BurnRateRule(_Base):
    kind: Literal["burn_rate"] = "burn_rate"
    slo: Literal["availability", "latency", "ttft"] = "availability"
    objective: float = Field(0.99, gt=0, lt=1)     # 0.99 = 99% good
    threshold_ms: float | None = Field(None, gt=0)  # latency / ttft: a call slower than this is bad
    windows: list[BurnWindow] = Field(default_factory=lambda: list(SRE_WINDOWS))
    min_requests: int = Field(10, ge=0)             # no verdict on fewer calls than this in the short window

    @model_validator(mode="after")
    def _threshold(self) -> BurnRateRule:
        if self.slo in ("latency", "ttft") and self.threshold_ms is None:
            raise ValueError("a latency or ttft SLO needs threshold_ms")
        return self


ANOMALY_METRICS = ("output_tokens_per_call", "error_rate", "tokens", "tool_calls_per_session", "requests",
                   "ttft_p95", "latency_p95", "cost_usd")


class AnomalyRule(_Base):
    kind: Literal["anomaly"] = "anomaly"
    metric: Literal["output_tokens_per_call", "error_rate", "tokens", "tool_calls_per_session", "requests",
                    "ttft_p95", "latency_p95", "cost_usd"]
    group_by: Literal["", "route", "model", "user", "customer", "environment", "session"] = ""
    window: Duration = "1h"
    baseline_days: int = Field(7, ge=1, le=60)
    seasonal: bool = True          # baseline: the same hours of the previous days (daily cycle)
    threshold: float = Field(6.0, gt=0)   # robust z-score (MADs) to fire
    direction: Literal["up", "down", "both"] = "up"
    min_requests: int = Field(20, ge=0)   # no verdict on fewer calls than this in the window
    min_change: float = Field(0.25, ge=0)  # and the value must differ from the baseline by this fraction
    top: int = Field(20, ge=1, le=200)    # groups examined per evaluation


class SilentModelRule(_Base):
    kind: Literal["silent_model"] = "silent_model"
    window: Duration = "30m"
    baseline: Duration = "24h"
    min_expected: float = Field(20.0, gt=0)  # fire only when at least this many calls were expected in window


class UnpricedModelRule(_Base):
    kind: Literal["unpriced_model"] = "unpriced_model"
    window: Duration = "1h"


class RateDropRule(_Base):
    kind: Literal["rate_drop"] = "rate_drop"
    metric: Literal["schema_valid_rate", "cache_hit_rate"]
    group_by: Literal["", "route", "model"] = ""
    window: Duration = "1h"
    baseline_days: int = Field(7, ge=1, le=60)
    drop_points: float = Field(10.0, gt=0, le=100)   # fire when the rate falls this many percentage points
    min_requests: int = Field(20, ge=0)


Rule = Annotated[BudgetRule | CostJumpRule | BurnRateRule | AnomalyRule | SilentModelRule | UnpricedModelRule
                 | RateDropRule, Field(discriminator="kind")]
KINDS = ("budget", "cost_jump", "burn_rate", "anomaly", "silent_model", "unpriced_model", "rate_drop")
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Rule)


def parse_rule(data: dict[str, Any]) -> Any:
    """One rule from a dict; raises pydantic.ValidationError saying what is wrong."""
    return _ADAPTER.validate_python(data)


def rule_dict(rule: Any) -> dict[str, Any]:
    return rule.model_dump(by_alias=True, mode="json")
