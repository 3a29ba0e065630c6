"""Dashboard page speed: p50/p95 of each page's queries (all of them, as the UI asks)
over N generated calls spread over D days (default 10M over 30 days), for the last
24 h, 7 days and 30 days. Prints one JSON line; also stored bytes per call.

    python bench/pages.py [--calls 10000000] [--days 30] [--runs 9] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from gen_calls import open_generated, timed  # noqa: E402

from tokentrail.query import cost, metrics, quality, traces, users  # noqa: E402
from tokentrail.query.filters import Filters  # noqa: E402
from tokentrail.storage.backend import Store  # noqa: E402


def pages(store: Store, f: Filters) -> dict[str, Callable[[], object]]:
    """Each page's queries, as the web UI asks for them (ui/static/js/pages/*.js), one after
    another (the browser sends them concurrently; on two cores this is close)."""
    day = 86400
    wide = Filters(project=f.project, since=min(f.since, f.end - timedelta(days=84)))  # the cost page's 12 weeks

    def chrome() -> None:  # the filter bar, on every page
        quality.filter_values(store, f)

    def overview() -> None:
        chrome()
        metrics.summary(store, f)
        metrics.timeseries(store, f, ["requests", "cost_usd", "errors", "rate_limited", "timeouts", "latency_ms",
                                      "ttft_ms", "tpot_ms"])
        metrics.breakdown(store, f, "model", 4, "errors", ["requests", "errors", "rate_limited", "timeouts"])
        metrics.breakdown(store, f, "provider", 50, "requests", ["requests", "errors", "latency_ms", "ttft_ms"])

    def cost_page() -> None:
        chrome()
        metrics.summary(store, f)
        cost.budget(store, f.project, 100.0)
        metrics.timeseries(store, wide, ["cost_usd", "requests"], step=day)
        metrics.timeseries(store, f, ["cost_usd", "requests"], group_by="route", top=6)
        for by in ("route", "model", "user", "customer"):
            metrics.breakdown(store, f, by, 10, "cost_usd", ["requests", "cost_usd", "unpriced"])

    def usage() -> None:
        chrome()
        metrics.summary(store, f)
        metrics.timeseries(store, f, ["requests", "input_tokens", "output_tokens"])
        for by in ("route", "model"):
            metrics.timeseries(store, f, ["requests"], group_by=by, top=7)
            metrics.breakdown(store, f, by, 15, "requests",
                              ["requests", "input_tokens", "output_tokens", "latency_ms", "errors"])

    def quality_page() -> None:
        chrome()
        quality.output_length(store, f)
        quality.feedback(store, f)
        quality.scores_over_time(store, f, metrics.auto_interval(f.hours))
        metrics.summary(store, f)
        metrics.timeseries(store, f, ["requests", "schema_checked", "schema_valid", "cache_hits"])

    return {
        "overview": overview, "cost": cost_page, "usage": usage, "quality": quality_page,
        "traces": lambda: (chrome(), traces.search(store, f, 50)),
        "sessions": lambda: (chrome(), traces.sessions(store, f, 50)),
        "users": lambda: (chrome(), users.leaderboard(store, f, "user", "cost", 100)),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--data", type=Path, default=None, help="reuse a generated store")
    args = ap.parse_args()
    store = open_generated(args.data, args.calls, args.days)
    now = datetime.now(UTC)
    out: dict[str, dict[str, dict[str, float]]] = {}
    ranges = [("24h", now - timedelta(hours=24)), ("7d", now - timedelta(days=7)),
              (f"{args.days}d", now - timedelta(days=args.days))]
    for label, since in ranges:
        f = Filters(since=since)
        out[label] = {name: timed(fn, args.runs) for name, fn in pages(store, f).items()}
    size = store.query("SELECT table, sum(bytes_on_disk) AS b, sum(rows) AS r FROM system.parts "
                       "WHERE database = 'tokentrail' AND active GROUP BY table")
    sizes = {r["table"]: r["b"] for r in size}
    calls = args.calls
    store.close()
    print(json.dumps({"bench": "pages", "calls": calls, "days": args.days,
                      "bytes_per_call_spans": round(sizes.get("spans", 0) / calls, 1),
                      "bytes_per_call_all_tables": round(sum(sizes.values()) / calls, 1), "pages": out}))


if __name__ == "__main__":
    main()
