"""A week of synthetic, noisy, seasonal LLM traffic (daily cycle, weekend dip), written straight
into a store with its costs (the real price table) and rollups (the real rollup code), plus the
incidents the alert rules must catch. Everything is seeded: the same week every run.

Routes and models: ``chat`` (gpt-4o-mini / gpt-4o), ``classify_intent`` (gpt-4o-mini), ``summarize``
(claude-3-5-haiku mostly, claude-sonnet-4 sometimes), ``agent`` (gpt-4o with 2-4 tool calls per session).
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from tokentrail.pricing import PriceBook
from tokentrail.pricing.store import recompute_costs, sync_prices
from tokentrail.query import rollups
from tokentrail.storage.backend import Store
from tokentrail.storage.rollup_tables import ROLLUP_TABLES
from tokentrail.storage.schema import SPANS

ROUTES = {  # route -> (share of calls, [(model, share)], mean output tokens, mean input tokens)
    "chat": (0.40, [("gpt-4o-mini", 0.7), ("gpt-4o", 0.3)], 300, 900),
    "classify_intent": (0.25, [("gpt-4o-mini", 1.0)], 12, 400),
    "summarize": (0.20, [("claude-3-5-haiku", 0.75), ("claude-sonnet-4", 0.25)], 150, 2500),
    "agent": (0.15, [("gpt-4o", 1.0)], 200, 1500),
}
PROVIDER = {"gpt-4o-mini": "openai", "gpt-4o": "openai", "claude-3-5-haiku": "anthropic",
            "claude-sonnet-4": "anthropic"}
USERS = 60
RELEASE = "2026.11.30"


def end_of_data() -> datetime:
    """The moment the synthetic week ends (the evaluations' "now"): the latest 15:00 UTC on a Tuesday to
    Friday before now, so the incidents happen at the same point of the daily and weekly cycle on every
    run, whatever the time the tests run (a silent model at 04:00 on a Sunday is a different test)."""
    t = datetime.now(UTC).replace(hour=15, minute=0, second=0, microsecond=0)
    while t > datetime.now(UTC) - timedelta(minutes=1) or t.weekday() not in (1, 2, 3, 4):
        t -= timedelta(days=1)
    return t


def rate_per_minute(t: datetime, base: float) -> float:
    """Calls per minute at ``t``: a daily cycle (low at 04:00 UTC, high at 16:00) and a weekend dip."""
    hour = t.hour + t.minute / 60
    daily = 1.0 + 0.7 * math.sin((hour - 10) / 24 * 2 * math.pi)
    weekend = 0.45 if t.weekday() >= 5 else 1.0
    return base * daily * weekend


@dataclass
class Calls:
    rows: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in SPANS.column_names})

    def add(self, project: str, t: datetime, route: str, model: str, *, user: str, session: str,
            input_tokens: int, output_tokens: int, duration_ms: float, ttft_ms: float | None = None,
            status: str = "ok", kind: str = "llm", release: str = RELEASE, environment: str = "production",
            customer: str = "", trace_id: str = "", parent: str = "", cache_hit: bool = False,
            schema_valid: bool | None = None) -> str:
        r = self.rows
        trace_id = trace_id or uuid.uuid4().hex
        span_id = uuid.uuid4().hex[:16]
        values = {
            "project": project, "trace_id": trace_id, "span_id": span_id, "parent_span_id": parent,
            "name": f"{route} {model}" if kind == "llm" else f"tool {route}", "kind": kind,
            "start_time": t.replace(tzinfo=None), "end_time": (t + timedelta(milliseconds=duration_ms)).replace(tzinfo=None),
            "duration_ms": duration_ms, "ttft_ms": ttft_ms,
            "provider": PROVIDER.get(model, "") if kind == "llm" else "", "operation": "chat" if kind == "llm" else "",
            "request_model": model if kind == "llm" else "", "response_model": model if kind == "llm" else "",
            "input_tokens": input_tokens, "output_tokens": output_tokens, "cached_input_tokens": 0,
            "cache_write_tokens": 0, "reasoning_tokens": 0, "tokens_estimated": False,
            "input_cost": None, "output_cost": None, "total_cost": None, "price_version": "",
            "status": status, "error_type": "InternalServerError" if status == "error" else "",
            "error_message": "", "http_status": 500 if status == "error" else 200,
            "finish_reason": "stop" if status == "ok" else "", "streamed": ttft_ms is not None,
            "cache_hit": cache_hit, "schema_valid": schema_valid, "user_id": user, "session_id": session,
            "route": route, "customer": customer or f"cust-{int(user.split('-')[-1]) % 12}",
            "environment": environment, "release": release, "service": "shop", "tags": [], "attributes": {},
            "source": "sdk", "ingested_at": datetime.now(UTC).replace(tzinfo=None),
        }
        for c, v in values.items():
            r[c].append(v)
        return trace_id

    def table(self) -> pa.Table:
        types = {"start_time": pa.timestamp("us"), "end_time": pa.timestamp("us"), "ingested_at": pa.timestamp("ms"),
                 "ttft_ms": pa.float64(), "duration_ms": pa.float64(), "input_cost": pa.float64(),
                 "output_cost": pa.float64(), "total_cost": pa.float64(), "tags": pa.list_(pa.string()),
                 "attributes": pa.map_(pa.string(), pa.string()), "schema_valid": pa.bool_(),
                 "tokens_estimated": pa.bool_(), "streamed": pa.bool_(), "cache_hit": pa.bool_(),
                 "http_status": pa.uint16()}
        for c in ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens", "reasoning_tokens"):
            types[c] = pa.uint32()
        return pa.table({c: pa.array(v, types.get(c, pa.string())) for c, v in self.rows.items()})


def week(project: str, end: datetime, *, seed: int = 7, days: int = 9, base: float = 4.0,
         mutate: Any = None) -> Calls:
    """``days`` of normal traffic ending at ``end``. ``mutate(t, call) -> call | None`` may change or drop
    each call (incidents that alter normal traffic: a release, a silent model, a cost jump)."""
    rng = np.random.default_rng(seed)
    calls = Calls()
    route_names = list(ROUTES)
    route_p = np.array([ROUTES[r][0] for r in route_names])
    user_w = rng.lognormal(0.0, 0.5, USERS)
    user_w /= user_w.sum()
    t = end - timedelta(days=days)
    while t < end:
        n = rng.poisson(rate_per_minute(t, base))
        for _ in range(n):
            at = t + timedelta(seconds=float(rng.uniform(0, 60)))
            route = route_names[rng.choice(len(route_names), p=route_p)]
            share, models, out_mean, in_mean = ROUTES[route]
            model = models[rng.choice(len(models), p=[m[1] for m in models])][0]
            u = int(rng.choice(USERS, p=user_w))
            call = {"route": route, "model": model, "user": f"user-{u}",
                    "session": f"s-{u}-{at:%Y%m%d%H}", "input_tokens": int(rng.lognormal(math.log(in_mean), 0.35)),
                    "output_tokens": max(1, int(rng.lognormal(math.log(out_mean), 0.4))),
                    "duration_ms": float(rng.lognormal(math.log(900), 0.4)),
                    "ttft_ms": float(rng.lognormal(math.log(350), 0.3)) if route == "chat" else None,
                    "status": "error" if rng.random() < 0.01 else "ok", "release": RELEASE,
                    "cache_hit": route == "classify_intent" and rng.random() < 0.3,
                    "schema_valid": (rng.random() < 0.97) if route == "classify_intent" else None}
            if mutate is not None:
                call = mutate(at, call, rng)
                if call is None:
                    continue
            trace = calls.add(project, at, **call)
            if route == "agent":  # 2-4 tool calls under each agent call
                for k in range(int(rng.integers(2, 5))):
                    calls.add(project, at + timedelta(milliseconds=100 * (k + 1)), "agent", "", kind="tool",
                              user=call["user"], session=call["session"], input_tokens=0, output_tokens=0,
                              duration_ms=float(rng.lognormal(math.log(120), 0.3)), trace_id=trace)
        t += timedelta(minutes=1)
    return calls


def load(store: Store, calls: Calls, project: str, since: datetime, until: datetime) -> None:
    """Insert, price with the real price table, and build the rollups, as the server would."""
    store.insert_arrow("spans", calls.table())
    book = PriceBook(None)
    sync_prices(store, book)
    recompute_costs(store, book, project, since - timedelta(hours=1), until + timedelta(hours=1))
    store.command(f"OPTIMIZE TABLE {store.database}.spans FINAL")
    minutes = store.query(f"SELECT DISTINCT toStartOfMinute(start_time) AS m FROM {store.database}.spans "
                          "WHERE project = {p:String}", {"p": project})
    days = rollups.refresh(store, {(project, datetime.fromisoformat(r["m"])) for r in minutes})
    rollups.refresh_user_days(store, days)
    for table in ROLLUP_TABLES:
        store.command(f"OPTIMIZE TABLE {store.database}.{table.name} FINAL")
