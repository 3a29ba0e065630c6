"""Dashboard page speed, unfiltered and under every filter: p50/p95 of each page's queries (all
of them, as the UI asks) over N generated calls spread over D days (default 10M over 30 days), for
the last 24 h, 7 days and D days, with no filter, each single filter (user, customer, session, route,
model, release, environment, status, tag) and a few pairs; the traces list also with a text search over
captured content (a common word, a rare order id) and with a score filter. Prints one JSON line: each page's p50/p95
per range and filter, the slowest page of each filter, and stored bytes per call (all tables).

    python bench/pages.py [--calls 10000000] [--days 30] [--runs 5] [--data DIR]
                          [--filters none,user,customer+route] [--ranges 24h,30d] [--pages cost,users]
    python bench/pages.py --quick --data DIR     # 1M calls, 3 runs: the bench runner's size

``--data DIR`` keeps the generated store there and reuses it on the next run (10M calls take
about 20 minutes to generate on a 2-core box).
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

from tokentrail.errors import BadRequest  # noqa: E402
from tokentrail.privacy import search  # noqa: E402
from tokentrail.query import cost, metrics, quality, traces, users  # noqa: E402
from tokentrail.query.filters import Filters  # noqa: E402
from tokentrail.storage.backend import Store  # noqa: E402

# one value of each filter, as gen_calls makes them (20,000 users, 300 customers, 10 sessions a user)
VALUES = {"user": "user-4242", "customer": "cust-142", "session": "sess-4242-7", "route": "support-chat",
          "model": "gpt-4o", "release": "2026.11.4", "environment": "staging", "status": "error", "tag": "demo"}
SINGLE = ("none", *VALUES)
PAIRS = ("user+route", "customer+model", "customer+environment", "session+route", "route+model",
         "environment+status", "release+tag")


def pages(store: Store, f: Filters) -> dict[str, Callable[[], object]]:
    """Each page's queries, as the web UI asks for them (ui/static/js/pages/*.js), one after
    another (the browser sends them concurrently; on two cores this is close)."""
    day = 86400
    wide = Filters(project=f.project, since=min(f.since, f.end - timedelta(days=84)))  # the cost page's 12 weeks

    def chrome() -> None:  # the filter bar, on every page
        quality.filter_values(store, f)

    def overview() -> None:
        chrome()
        metrics.summary(store, f, ["requests", "cost_usd", "errors", "rate_limited", "timeouts", metrics.PEOPLE])
        metrics.timeseries(store, f, ["requests", "cost_usd", "errors", "rate_limited", "timeouts", "latency_ms",
                                      "ttft_ms", "tpot_ms"], total=True)
        metrics.breakdown(store, f, "model", 4, "errors", ["requests", "errors", "rate_limited", "timeouts"])
        metrics.breakdown(store, f, "provider", 50, "requests", ["requests", "errors", "latency_ms", "ttft_ms"])

    def cost_page() -> None:
        chrome()
        metrics.summary(store, f, ["requests", "cost_usd"])
        cost.budget(store, f.project, 100.0)
        metrics.timeseries(store, wide, ["cost_usd", "requests"], step=day)
        metrics.timeseries(store, f, ["cost_usd", "requests"], group_by="route", top=6)
        for by in ("route", "model", "user", "customer"):
            metrics.breakdown(store, f, by, 10, "cost_usd", ["requests", "cost_usd", "unpriced"])

    def usage() -> None:
        chrome()
        metrics.summary(store, f, ["requests", "input_tokens", "output_tokens", "cached_input_tokens", "streamed",
                                   metrics.PEOPLE])
        metrics.timeseries(store, f, ["requests", "input_tokens", "output_tokens"])
        for by in ("route", "model"):
            metrics.timeseries(store, f, ["requests"], group_by=by, top=7)
            metrics.breakdown(store, f, by, 15, "requests",
                              ["requests", "input_tokens", "output_tokens", "latency_ms", "errors"])

    def quality_page() -> None:  # GET /api/quality (server/routes/dashboards.py), then the rates chart
        chrome()
        quality.output_length(store, f)
        quality.finish_reasons(store, f)
        _, _, lows = quality.score_panels(store, f, metrics.auto_interval(f.hours))
        quality.redactions(store, f)
        quality.low_scores(store, f, lows=lows)
        metrics.summary(store, f, metrics.QUALITY_SUMMARY)
        metrics.timeseries(store, f, ["requests", "schema_checked", "schema_valid", "cache_hits"])

    def searched(q: str) -> None:
        """The traces list with a text search, as the API answers it: the traces, then where each matched."""
        chrome()
        found = traces.search(store, f, 50, text=search.content_match(None, q))
        search.snippets(store, None, f.project, found["traces"], q)

    return {
        "overview": overview, "cost": cost_page, "usage": usage, "quality": quality_page,
        "traces": lambda: (chrome(), traces.search(store, f, 50)),
        # the traces list's text search (a word in 1/8 of captured prompts, then one order id) and score filter
        "traces_search": lambda: searched("refund"),
        "traces_search_rare": lambda: searched("ord-4242424"),
        "traces_scored": lambda: (chrome(), traces.search(store, f, 50, scored=traces.ScoreFilter(
            name="helpfulness", source="eval", max=0.25))),
        "sessions": lambda: (chrome(), metrics.summary(store, f, ["requests"]), traces.sessions(store, f, 50)),
        "users": lambda: (chrome(), metrics.summary(store, f, ["requests"]),
                          users.leaderboard(store, f, "user", "cost", 100)),
    }


def _filters(label: str, since: datetime) -> Filters:
    equals = {} if label == "none" else {name: VALUES[name] for name in label.split("+")}
    return Filters(since=since, equals=equals)


def bytes_per_call(store: Store, calls: int) -> dict[str, object]:
    rows = store.query("SELECT table, sum(bytes_on_disk) AS b FROM system.parts "
                       "WHERE database = {d:String} AND active GROUP BY table ORDER BY b DESC", {"d": store.database})
    sizes = {r["table"]: int(r["b"]) for r in rows}
    return {"bytes_per_call_spans": round(sizes.get("spans", 0) / calls, 1),
            "bytes_per_call_all_tables": round(sum(sizes.values()) / calls, 1),
            "bytes_per_call_by_table": {t: round(b / calls, 1) for t, b in sizes.items() if b / calls >= 0.1}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--data", type=Path, default=None, help="keep the generated store here and reuse it")
    ap.add_argument("--quick", action="store_true", help="1M calls, 3 runs")
    ap.add_argument("--filters", default=",".join(SINGLE + PAIRS),
                    help="comma-separated: none, a filter name, or a pair like customer+route")
    ap.add_argument("--ranges", default="24h,7d,30d", help="of 24h, 7d and 30d (the last is --days)")
    ap.add_argument("--pages", default="", help="comma-separated page names (default: all)")
    args = ap.parse_args()
    if args.quick:
        args.calls, args.runs = 1_000_000, 3
    labels = [x for x in args.filters.split(",") if x]
    unknown = [x for x in labels if x != "none" and any(n not in VALUES for n in x.split("+"))]
    if unknown:
        ap.error(f"unknown filter(s) {', '.join(unknown)}; known: none, {', '.join(VALUES)}")
    store = open_generated(args.data, args.calls, args.days)
    now = datetime.now(UTC)
    spans = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=args.days)}
    wanted_pages = [p for p in args.pages.split(",") if p]
    out: dict[str, dict[str, dict[str, dict[str, object]]]] = {}
    slowest: dict[str, dict[str, object]] = {}
    for range_label in [r for r in args.ranges.split(",") if r]:
        for label in labels:
            row: dict[str, dict[str, object]] = {}
            try:
                f = _filters(label, now - spans[range_label])
            except BadRequest as e:  # a filter this build does not know
                out.setdefault(range_label, {})[label] = {"error": str(e)}  # type: ignore[dict-item]
                continue
            for name, fn in pages(store, f).items():
                if wanted_pages and name not in wanted_pages:
                    continue
                try:
                    row[name] = timed(fn, args.runs)
                except BadRequest as e:  # a filter this build does not know
                    row[name] = {"error": str(e)}
            out.setdefault(range_label, {})[label] = row
            worst = max(((p, v["p50_ms"]) for p, v in row.items() if "p50_ms" in v), key=lambda x: x[1],
                        default=None)
            if worst is not None:
                key = f"{label} {range_label}"
                slowest[key] = {"page": worst[0], "p50_ms": worst[1]}
            print(json.dumps({"range": range_label, "filter": label, "p50_ms": {p: v.get("p50_ms", v.get("error"))
                                                                               for p, v in row.items()}}),
                  file=sys.stderr, flush=True)
    sizes = bytes_per_call(store, args.calls)
    store.close()
    over = sorted((k for k, v in slowest.items() if float(v["p50_ms"]) > 300), key=lambda k: -slowest[k]["p50_ms"])
    print(json.dumps({"bench": "pages", "calls": args.calls, "days": args.days, "runs": args.runs, **sizes,
                      "filter_values": VALUES, "pages_over_300ms": over, "slowest_page": slowest, "pages": out}))


if __name__ == "__main__":
    main()
