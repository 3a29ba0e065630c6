"""Dashboard page speed: p50/p95 of each page's queries (all of them, as the UI asks)
over N generated calls spread over D days (default 10M over 30 days), for the last
24 h and the last 30 days. Prints one JSON line; also stored bytes per call.

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
    def overview() -> None:
        metrics.summary(store, f)
        metrics.timeseries(store, f, ["requests", "cost_usd", "errors", "rate_limited", "timeouts", "latency_ms",
                                      "ttft_ms", "tpot_ms"])
        metrics.breakdown(store, f, "error_type", 10, "requests")

    def cost_page() -> None:
        cost.daily(store, f)
        cost.weekly(store, f)
        cost.budget(store, f.project, 100.0)
        for by in ("route", "model"):
            metrics.breakdown(store, f, by)
        users.leaderboard(store, f, "user", "cost", 20)
        users.leaderboard(store, f, "customer", "cost", 20)

    def usage() -> None:
        metrics.timeseries(store, f, ["requests", "input_tokens", "output_tokens"], group_by="route")
        metrics.breakdown(store, f, "model", 20, "requests")

    def quality_page() -> None:
        quality.output_length(store, f)
        quality.feedback(store, f)
        metrics.summary(store, f)

    return {
        "overview": overview, "cost": cost_page, "usage": usage, "quality": quality_page,
        "traces": lambda: traces.search(store, f, 50),
        "sessions": lambda: traces.sessions(store, f, 50),
        "users": lambda: users.leaderboard(store, f, "user", "cost", 50),
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
    for label, since in (("24h", now - timedelta(hours=24)), (f"{args.days}d", now - timedelta(days=args.days))):
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
