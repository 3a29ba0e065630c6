"""Query speed over N generated calls spread over D days (default 10M over 30 days).

    python bench/query.py [--calls 10000000] [--days 30] [--runs 15] [--data DIR]

Prints one JSON line: p50/p95 ms of each named query, and stored bytes per call.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gen_calls import open_generated, timed  # noqa: E402

from tokentrail.query import stats  # noqa: E402
from tokentrail.query.filters import Filters  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--data", type=Path, default=None, help="reuse a generated store")
    args = ap.parse_args()
    t0 = time.perf_counter()
    store = open_generated(args.data, args.calls, args.days)
    gen_s = time.perf_counter() - t0
    now = datetime.now(UTC)
    last_day = Filters(since=now - timedelta(hours=24))
    month = Filters(since=now - timedelta(days=args.days))
    results = {
        "tokens_per_request_by_route_24h": timed(lambda: stats.by_route(store, last_day), args.runs),
        "cost_by_route_30d": timed(lambda: stats.by_route(store, month), args.runs),
        "totals_30d": timed(lambda: stats.totals(store, month), args.runs),
    }
    size = store.query("SELECT sum(bytes_on_disk) AS b, sum(rows) AS r FROM system.parts "
                       "WHERE database = 'tokentrail' AND table = 'spans' AND active")[0]
    store.close()
    print(json.dumps({"bench": "query", "calls": args.calls, "days": args.days, "generate_s": round(gen_s, 1),
                      "bytes_per_call": round(size["b"] / max(1, size["r"]), 1), "queries": results}))


if __name__ == "__main__":
    main()
