"""The dashboard API: numbers agree across views and sources (raw spans vs rollups),
re-sent data never double counts, and bad parameters get a JSON 400."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import ServerThread, running_server
from tokentrail.demo.send import send_backfill
from tokentrail.demo.traffic import Traffic

P = "dash"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with running_server(tmp_path_factory.mktemp("dash")) as server:
        send_backfill(server.url, traces=1500, days=3, project=P)
        body = next(Traffic(seed=99).requests(50, span_seconds=600))
        for _ in range(2):  # the same batch twice: must count once everywhere
            server.client.post("/v1/traces", content=body, headers={"content-type": "application/x-protobuf",
                                                                     "x-tokentrail-project": P})
            server.flush()
        yield server


def get(server: ServerThread, path: str, **params: object) -> dict:
    r = server.client.get(path, params={"project": P, **params})
    assert r.status_code == 200, r.text
    return r.json()


def raw_count(server: ServerThread, since: datetime, until: datetime, **equals: str) -> dict:
    extra = "".join(f" AND {k} = {{{k}:String}}" for k in equals)
    return server.query(f"""
        SELECT count() AS requests, round(sum(coalesce(total_cost, 0)), 6) AS cost, sum(input_tokens) AS tokens
        FROM tokentrail.spans FINAL WHERE project = {{p:String}} AND kind IN ('llm', 'embedding')
          AND start_time >= {{a:DateTime64(6)}} AND start_time < {{b:DateTime64(6)}}{extra}""",
                        {"p": P, "a": since.isoformat(sep=" ")[:26], "b": until.isoformat(sep=" ")[:26], **equals})[0]


def test_summary_equals_the_sum_of_its_breakdown(demo: ServerThread) -> None:
    s = get(demo, "/api/metrics/summary", range="24h")
    rows = get(demo, "/api/metrics/breakdown", range="24h", by="route", limit=100)["rows"]
    assert s["source"] == "raw" and s["requests"] > 100
    assert sum(r["requests"] for r in rows) == s["requests"]
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(s["cost_usd"], rel=1e-6)
    assert sum(r["rate_limited"] for r in rows) == s["rate_limited"]
    assert s["latency_ms"]["p50"] <= s["latency_ms"]["p95"] <= s["latency_ms"]["p99"]
    assert s["ttft_ms"]["p50"] is not None and s["error_rate"] == pytest.approx(s["errors"] / s["requests"], abs=1e-4)


@pytest.mark.parametrize("rng", ["24h", "7d"])  # raw spans, rollups
def test_a_summary_of_some_metrics_equals_those_of_the_whole_summary(demo: ServerThread, rng: str) -> None:
    whole = get(demo, "/api/metrics/summary", range=rng)
    cost = get(demo, "/api/metrics/summary", range=rng, metric="requests,cost_usd")
    # the unpriced count comes with the cost (the cost per call counts priced calls only), no sketch is merged
    assert set(cost) == {"requests", "cost_usd", "unpriced", "cost_per_1k_requests", "source"}
    assert cost == {k: whole[k] for k in cost}
    usage = get(demo, "/api/metrics/summary", range=rng, metric="requests,streamed,users")
    assert usage["streamed_rate"] == whole["streamed_rate"] and "latency_ms" not in usage
    assert ("users" in usage) == ("users" in whole) == (rng == "24h")  # distinct people: raw ranges only
    assert {k: usage[k] for k in usage} == {k: whole[k] for k in usage}
    q = get(demo, "/api/quality", range=rng)["summary"]
    assert "latency_ms" not in q and q == {k: whole[k] for k in q}
    assert {"schema_valid_rate", "cache_hit_rate", "requests", "input_tokens", "cached_input_tokens"} <= set(q)


@pytest.mark.parametrize("rng", ["24h", "4d", "20d"])  # raw spans, the hourly rollup, the daily one
@pytest.mark.parametrize("route", [None, "support-chat"])
def test_a_timeseries_total_equals_the_summary(demo: ServerThread, rng: str, route: str | None) -> None:
    """The overview takes its latency percentiles from the timeseries' total (one pass merges each sketch once)."""
    extra = {"route": route} if route else {}
    names = "requests,cost_usd,errors,rate_limited,timeouts,latency_ms,ttft_ms,tpot_ms,error_rate"
    ts = get(demo, "/api/metrics/timeseries", range=rng, metric=names, total="true", **extra)
    whole = get(demo, "/api/metrics/summary", range=rng, **extra)
    assert whole["requests"] > 0
    for n in names.split(","):
        assert ts["total"][n] == (pytest.approx(whole[n], rel=1e-9) if n == "cost_usd" else whole[n]), n
    series = ts["series"][0]["metrics"]
    assert sum(series["requests"]) == whole["requests"]
    assert "total" not in get(demo, "/api/metrics/timeseries", range=rng, metric="requests", **extra)
    none = get(demo, "/api/metrics/timeseries", range=rng, metric=names, total="true", route="no-such-route")
    assert none["total"]["requests"] == 0 and none["total"]["latency_ms"] == {"p50": None, "p95": None, "p99": None}


def test_rollup_answers_long_ranges_with_the_same_numbers_as_raw(demo: ServerThread) -> None:
    until = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    since = until - timedelta(hours=60)
    for extra in ({}, {"route": "support-chat"}, {"environment": "production"}):  # totals, hour, totals
        s = get(demo, "/api/metrics/summary", since=since.isoformat(), until=until.isoformat(), **extra)
        assert s["source"] == "rollup"
        raw = raw_count(demo, since.replace(tzinfo=None), until.replace(tzinfo=None), **extra)
        assert s["requests"] == raw["requests"] and s["requests"] > 0, extra
        assert s["input_tokens"] == raw["tokens"]
        # both are rounded to 6 decimals: sums in another order may round one unit apart
        assert s["cost_usd"] == pytest.approx(raw["cost"], rel=1e-6, abs=1.01e-6)
    # a range starting mid-hour counts its first hour whole
    mid = get(demo, "/api/metrics/summary", since=(since + timedelta(minutes=30)).isoformat(), until=until.isoformat())
    assert mid["requests"] == raw_count(demo, since.replace(tzinfo=None), until.replace(tzinfo=None))["requests"]


def test_long_range_breakdowns_quality_and_sessions_equal_raw(demo: ServerThread) -> None:
    """The coarse rollups (totals, users per day, sessions per day, output buckets) give what
    the spans give, over a range whose first day is whole."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since, until = today - timedelta(days=3), datetime.now(UTC) + timedelta(minutes=5)
    rng = {"since": since.isoformat(), "until": until.isoformat()}
    a, b = since.replace(tzinfo=None), until.replace(tzinfo=None)
    raw = demo.query("""
        SELECT user_id, count() AS requests, sum(coalesce(total_cost, 0)) AS cost FROM tokentrail.spans FINAL
        WHERE project = {p:String} AND kind IN ('llm', 'embedding') AND user_id != ''
          AND start_time >= {a:DateTime64(6)} AND start_time < {b:DateTime64(6)}
        GROUP BY user_id ORDER BY cost DESC LIMIT 5""", {"p": P, "a": str(a), "b": str(b)})
    doc = get(demo, "/api/metrics/breakdown", by="user", limit=5, metric="requests,cost_usd,latency_ms", **rng)
    assert doc["source"] == "rollup"
    assert [(r["key"], r["requests"]) for r in doc["rows"]] == [(r["user_id"], r["requests"]) for r in raw]
    assert doc["rows"][0]["latency_ms"] is None  # not kept per user: absent, not made up
    by_provider = get(demo, "/api/metrics/breakdown", by="provider", metric="requests,latency_ms", **rng)
    assert set(by_provider["rows"][0]) >= {"key", "requests", "latency_ms", "cost_usd"}
    assert "ttft_ms" not in by_provider["rows"][0]
    values = get(demo, "/api/filters/values", **rng)
    assert "support-chat" in values["route"] and values["model"] and values["environment"]
    hist = get(demo, "/api/quality", **rng)["output_length"]
    raw_ok = demo.query("""SELECT count() AS n FROM tokentrail.spans FINAL WHERE project = {p:String}
        AND kind = 'llm' AND status = 'ok' AND start_time >= {a:DateTime64(6)} AND start_time < {b:DateTime64(6)}""",
                        {"p": P, "a": str(a), "b": str(b)})[0]["n"]
    assert sum(h["count"] for h in hist) == raw_ok > 0
    sessions = get(demo, "/api/sessions", limit=20, **rng)["sessions"]
    assert sessions
    for s in sessions[:5]:
        one = demo.query("""
            SELECT uniq(trace_id) AS turns, countIf(kind IN ('llm', 'embedding')) AS llm_calls,
                   round(sum(coalesce(total_cost, 0)), 6) AS cost FROM tokentrail.spans FINAL
            WHERE project = {p:String} AND session_id = {s:String}
              AND start_time >= {a:DateTime64(6)} AND start_time < {b:DateTime64(6)}""",
                         {"p": P, "s": s["session_id"], "a": str(a), "b": str(b)})[0]
        assert (s["turns"], s["llm_calls"]) == (one["turns"], one["llm_calls"])
        assert s["cost_usd"] == pytest.approx(one["cost"], abs=1e-6)


def test_timeseries_adds_up_to_the_summary(demo: ServerThread) -> None:
    for rng in ("6h", "3d"):
        s = get(demo, "/api/metrics/summary", range=rng)
        ts = get(demo, "/api/metrics/timeseries", range=rng, metric="requests,cost_usd,latency_ms", group_by="model")
        assert len(ts["timestamps"]) == len(ts["series"][0]["metrics"]["requests"])
        total = sum(sum(x["metrics"]["requests"]) for x in ts["series"])
        assert total == s["requests"], rng
        assert "latency_ms_p95" in ts["series"][0]["metrics"]


def test_resent_batch_counts_once_in_rollups_and_users(demo: ServerThread) -> None:
    rolled = demo.query("SELECT sum(requests) AS n FROM tokentrail.rollup_minute FINAL WHERE project = {p:String}",
                        {"p": P})[0]["n"]
    raw = demo.query("SELECT count() AS n FROM tokentrail.spans FINAL WHERE project = {p:String}", {"p": P})[0]["n"]
    assert rolled == raw
    by_user_rollup = get(demo, "/api/users", range="4d", limit=1000)
    by_user_raw = get(demo, "/api/users", range="24h", limit=1000)
    assert by_user_rollup["source"] == "rollup" and by_user_raw["source"] == "raw"
    assert sum(r["requests"] for r in by_user_rollup["rows"]) == get(demo, "/api/metrics/summary", range="4d")["requests"]


def test_cost_view_has_days_weeks_and_budget(demo: ServerThread) -> None:
    doc = get(demo, "/api/cost", range="7d")
    assert len(doc["daily"]) >= 3
    assert sum(d["requests"] for d in doc["daily"]) == get(demo, "/api/metrics/summary", range="7d")["requests"]
    assert doc["budget"]["month_to_date_usd"] >= 0


def test_trace_detail_is_a_tree_with_offsets_and_content(demo: ServerThread) -> None:
    traces = get(demo, "/api/traces", range="3d", route="support-chat", limit=50)["traces"]
    assert traces and all(t["route"] == "support-chat" for t in traces)
    with_tool = next(t for t in traces if t["spans"] >= 3)
    doc = get(demo, f"/api/traces/{with_tool['trace_id']}")
    spans = doc["spans"]
    assert len(spans) == with_tool["spans"]
    assert spans[0]["depth"] == 0 and spans[0]["offset_ms"] == 0
    assert all(s["depth"] == 1 for s in spans[1:])
    assert [s["offset_ms"] for s in spans[1:]] == sorted(s["offset_ms"] for s in spans[1:])
    assert doc["content_permitted"] is True


def test_session_turns_are_in_order(demo: ServerThread) -> None:
    sessions = get(demo, "/api/sessions", range="3d", limit=20)["sessions"]
    busiest = max(sessions, key=lambda s: s["turns"])
    turns = get(demo, f"/api/sessions/{busiest['session_id']}")["turns"]
    assert len(turns) >= busiest["turns"]
    assert [t["start_time"] for t in turns] == sorted(t["start_time"] for t in turns)


def test_quality_has_feedback_and_output_lengths(demo: ServerThread) -> None:
    doc = get(demo, "/api/quality", range="3d")
    assert sum(b["count"] for b in doc["output_length"]) > 0
    fb = {f["name"]: f for f in doc["feedback"]}
    assert fb["user-feedback"]["count"] > 0
    assert set(fb["user-feedback"]["labels"]) <= {"thumbs-up", "thumbs-down"}
    assert doc["summary"]["schema_valid_rate"] is not None


def test_prometheus_metrics_have_bounded_labels(demo: ServerThread) -> None:
    text = demo.client.get("/metrics").text
    assert "tokentrail_spans_total{" in text and "tokentrail_latency_seconds_bucket{" in text
    assert "tokentrail_cost_usd_total{" in text and "tokentrail_ingest_backlog_bytes" in text
    import re

    labels = {name for line in text.splitlines() if not line.startswith("#")
              for name in re.findall(r'([a-z_]+)="', line)}
    assert labels <= {"project", "route", "model", "provider", "kind", "status", "le", "reason"}


@pytest.mark.parametrize("path,params,needle", [
    ("/api/metrics/summary", {"range": "abc"}, "range"),
    ("/api/metrics/summary", {"since": "yesterday"}, "ISO"),
    ("/api/metrics/summary", {"metric": "requests,latency_p50"}, "unknown metric(s) latency_p50"),
    ("/api/metrics/breakdown", {"by": "password"}, "break down"),
    ("/api/metrics/timeseries", {"metric": "nope"}, "unknown metric"),
    ("/api/traces/xyz", {}, "32 hex"),
    ("/api/traces", {"limit": "0"}, "limit"),
])
def test_bad_parameters_get_a_json_400(demo: ServerThread, path: str, params: dict, needle: str) -> None:
    r = demo.client.get(path, params=params)
    assert r.status_code in (400, 422)
    assert needle in r.json()["error"]


@pytest.mark.parametrize("days,table", [(6, "rollup_hour"), (20, "rollup_day")])
def test_hour_and_day_rollups_agree_with_raw(demo: ServerThread, days: int, table: str) -> None:
    s = get(demo, "/api/metrics/summary", range=f"{days}d")
    assert s["source"] == "rollup"
    raw = raw_count(demo, datetime(2000, 1, 1), datetime(2100, 1, 1))  # the demo data is all within 4 days
    assert (s["requests"], s["input_tokens"]) == (raw["requests"], raw["tokens"])
    assert s["cost_usd"] == pytest.approx(raw["cost"], rel=1e-6)
    rows = demo.query(f"SELECT sum(requests) AS n FROM tokentrail.{table} FINAL WHERE project = {{p:String}} "
                      "AND kind IN ('llm', 'embedding')", {"p": P})
    assert rows[0]["n"] == raw["requests"]
    daily = get(demo, "/api/cost", range=f"{days}d")["daily"]
    assert sum(d["requests"] for d in daily) == raw["requests"]


@pytest.mark.parametrize("days", [0.5, 3], ids=["raw", "rollup"])
def test_users_pages_add_up_to_the_whole_list(demo: ServerThread, days: float) -> None:
    rng = {"range": "12h" if days < 1 else "3d"}
    whole = get(demo, "/api/users", by="user", order="requests", limit=1000, **rng)
    assert len(whole["rows"]) > 10
    pages = [get(demo, "/api/users", by="user", order="requests", limit=7, offset=o, **rng)["rows"]
             for o in range(0, len(whole["rows"]) + 7, 7)]
    assert [r["key"] for p in pages for r in p] == [r["key"] for r in whole["rows"]]
    assert pages[-1] == []
