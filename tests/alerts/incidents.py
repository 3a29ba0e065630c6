"""The incidents injected into the synthetic week, each with the rule that must catch it, how long
it may take, and the truth the explainer must rank first."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tests.alerts.traffic import Calls

M = timedelta(minutes=1)

# the rule set every project is evaluated with (the quiet week must stay quiet under all of them)
RULES: list[dict[str, Any]] = [
    {"kind": "anomaly", "name": "tokens-spike", "metric": "tokens", "group_by": "route", "window": "10m"},
    {"kind": "anomaly", "name": "error-rate", "metric": "error_rate", "group_by": "model", "window": "30m"},
    {"kind": "anomaly", "name": "output-length", "metric": "output_tokens_per_call", "group_by": "route",
     "window": "1h", "direction": "both"},
    {"kind": "silent_model", "name": "silent-model", "window": "30m"},
    {"kind": "budget", "name": "user-10x", "per": "user", "metric": "tokens", "window": "6h", "factor": 10},
    {"kind": "anomaly", "name": "tool-loop", "metric": "tool_calls_per_session", "window": "15m"},
    {"kind": "cost_jump", "name": "route-cost", "group_by": "route", "window": "24h", "percent": 30},
    {"kind": "burn_rate", "name": "availability", "objective": 0.98},
    {"kind": "budget", "name": "daily-budget", "period": "day", "percent_of_expected": 150},
    {"kind": "unpriced_model", "name": "unpriced"},
]


@dataclass
class Incident:
    name: str
    rule: str                 # the rule that must fire
    start: timedelta          # before the end of data
    within: timedelta         # detection deadline after the start
    step: timedelta           # evaluation step while looking for it
    truth: dict[str, str]     # labels the explainer must rank first (any of them)
    mutate: Callable[..., Any] | None = None
    extra: Callable[[Calls, str, datetime], None] | None = None


def _retry_loop(calls: Calls, project: str, end: datetime) -> None:
    t0 = end - timedelta(minutes=25)
    session, trace = "s-retry", uuid.uuid4().hex
    for i in range(200):  # 200 x 2,010 tokens = 402,000 tokens in 10 minutes
        calls.add(project, t0 + timedelta(seconds=3 * i), "chat", "gpt-4o-mini", user="user-3", session=session,
                  input_tokens=2000, output_tokens=10, duration_ms=800, trace_id=trace)


def _tool_loop(calls: Calls, project: str, end: datetime) -> None:
    t0 = end - timedelta(minutes=20)
    trace = calls.add(project, t0, "agent", "gpt-4o", user="user-11", session="s-loop", input_tokens=1500,
                      output_tokens=50, duration_ms=1200)
    for i in range(80):
        calls.add(project, t0 + timedelta(seconds=7 * i), "agent", "", kind="tool", user="user-11",
                  session="s-loop", input_tokens=0, output_tokens=0, duration_ms=150, trace_id=trace)


def _heavy_user(calls: Calls, project: str, end: datetime) -> None:
    t0 = end - timedelta(hours=6)
    for i in range(180):  # ~360k tokens over 6 hours, 10x+ the median user
        calls.add(project, t0 + timedelta(minutes=2 * i), "summarize", "claude-3-5-haiku", user="user-7",
                  session=f"s-heavy-{i // 30}", input_tokens=1900, output_tokens=100, duration_ms=2000)


def _after(end: datetime, start: timedelta) -> Callable[[datetime], bool]:
    return lambda t: t >= end - start


def silent(end: datetime) -> Callable[..., Any]:
    def mutate(t: datetime, call: dict[str, Any], rng: Any) -> dict[str, Any] | None:
        return None if call["model"] == "claude-3-5-haiku" and t >= end - timedelta(minutes=60) else call
    return mutate


def release(end: datetime) -> Callable[..., Any]:
    def mutate(t: datetime, call: dict[str, Any], rng: Any) -> dict[str, Any]:
        if t >= end - timedelta(minutes=90):
            call["release"] = "2026.12.07"
            if call["route"] == "summarize":
                call["output_tokens"] = int(call["output_tokens"] * 2.5)
        return call
    return mutate


def errors(end: datetime) -> Callable[..., Any]:
    def mutate(t: datetime, call: dict[str, Any], rng: Any) -> dict[str, Any]:
        if call["model"] == "gpt-4o" and t >= end - timedelta(minutes=40) and rng.random() < 0.4:
            call["status"] = "error"
        return call
    return mutate


def cost_jump(end: datetime) -> Callable[..., Any]:
    def mutate(t: datetime, call: dict[str, Any], rng: Any) -> dict[str, Any]:
        if call["route"] == "summarize" and t >= end - timedelta(hours=24):
            call["input_tokens"] = int(call["input_tokens"] * 1.8)
        return call
    return mutate


def incidents(end: datetime) -> list[Incident]:
    return [
        Incident("retry_loop", "tokens-spike", timedelta(minutes=25), timedelta(minutes=10), 2 * M,
                 {"user": "user-3", "route": "chat"}, extra=_retry_loop),
        Incident("silent_model", "silent-model", timedelta(minutes=60), timedelta(minutes=45), 5 * M,
                 {"model": "claude-3-5-haiku"}, mutate=silent(end)),
        Incident("output_shift", "output-length", timedelta(minutes=90), timedelta(minutes=60), 5 * M,
                 {"release": "2026.12.07", "route": "summarize"}, mutate=release(end)),
        Incident("error_spike", "error-rate", timedelta(minutes=40), timedelta(minutes=30), 2 * M,
                 {"model": "gpt-4o"}, mutate=errors(end)),
        Incident("heavy_user", "user-10x", timedelta(hours=6), timedelta(hours=6), 30 * M,
                 {"user": "user-7"}, extra=_heavy_user),
        Incident("tool_loop", "tool-loop", timedelta(minutes=20), timedelta(minutes=15), 2 * M,
                 {"session": "s-loop", "user": "user-11"}, extra=_tool_loop),
        Incident("cost_jump", "route-cost", timedelta(hours=24), timedelta(hours=24), 60 * M,
                 {"route": "summarize"}, mutate=cost_jump(end)),
    ]
