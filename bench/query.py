"""Query speed over N generated calls spread over D days (default 10M over 30 days).

    python bench/query.py [--calls 10000000] [--days 30] [--runs 15] [--data DIR]

Prints one JSON line: p50/p95 ms of each named query, and stored bytes per call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gen_calls import generate  # noqa: E402

from tokentrail.query import stats  # noqa: E402
from tokentrail.query.filters import Filters  # noqa: E402
from tokentrail.storage.backend import open_store  # noqa: E402


def timed(fn, runs: int) -> dict[str, float]:
    fn()  # warm
    ms = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1000)
    ms.sort()
    return {"p50_ms": round(statistics.median(ms), 1), "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--data", type=Path, default=None, help="reuse a generated store")
    args = ap.parse_args()
    data = args.data or Path(tempfile.mkdtemp()) / "db"
    store = open_store(f"chdb://{data}")
    have = store.query("SELECT count() AS n FROM system.tables WHERE database = 'tokentrail' AND name = 'spans'")
    n = store.query("SELECT count() AS n FROM tokentrail.spans")[0]["n"] if have[0]["n"] else 0
    t0 = time.perf_counter()
    if n != args.calls:
        if n:
            store.command("TRUNCATE TABLE tokentrail.spans")
        generate(store, args.calls, args.days)
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
