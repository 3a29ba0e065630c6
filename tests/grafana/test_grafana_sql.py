"""The macro expander behaves as the Grafana ClickHouse plugin documents it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.grafana.grafana_sql import ALL, Request, expand, round_interval

FROM = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TO = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def req(**variables: str | list[str]) -> Request:
    return Request(FROM, TO, dict(variables), timedelta(minutes=5))


def test_time_macros_become_unix_second_bounds() -> None:
    lo, hi = int(FROM.timestamp()), int(TO.timestamp())
    assert expand("WHERE $__timeFilter(minute)", req()) == \
        f"WHERE minute >= toDateTime({lo}) AND minute <= toDateTime({hi})"
    assert expand("$__fromTime, $__toTime, $__fromTime_ms", req()) == \
        f"toDateTime({lo}), toDateTime({hi}), fromUnixTimestamp64Milli({lo * 1000})"
    assert expand("$__dateFilter(day)", req()) == "day >= toDate('2026-03-01') AND day <= toDate('2026-03-02')"


def test_interval_macros_use_the_query_interval_in_seconds() -> None:
    assert expand("$__timeInterval(minute) AS time, x / $__interval_s", req()) == \
        "toStartOfInterval(toDateTime(minute), INTERVAL 300 second) AS time, x / 300"
    assert expand("$__timeInterval(toDateTime($__fromTime))", req()) == \
        f"toStartOfInterval(toDateTime(toDateTime(toDateTime({int(FROM.timestamp())}))), INTERVAL 300 second)"


def test_conditional_all_drops_the_condition_when_all_is_selected() -> None:
    sql = "WHERE $__conditionalAll(route IN (${route:singlequote}), $route) AND x"
    assert expand(sql, req(route=[ALL])) == "WHERE 1=1 AND x"
    assert expand(sql, req(route=["a", "b"])) == "WHERE route IN ('a','b') AND x"


def test_conditional_all_keeps_nested_calls_in_its_condition() -> None:
    sql = "$__conditionalAll(if(a != '', a, b) IN (${m:singlequote}), $m)"
    assert expand(sql, req(m=["x"])) == "if(a != '', a, b) IN ('x')"
    assert expand(sql, req(m=[ALL])) == "1=1"


def test_variable_formats_quote_and_escape_like_grafana() -> None:
    r = req(p="it's", many=["a'b", "c"])
    assert expand("${p:singlequote} ${p:sqlstring} $p ${many} ${many:csv}", r) == \
        "'it\\'s' 'it''s' it's 'a'b','c' a'b,c"


def test_all_outside_conditional_all_is_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        expand("route IN (${route:singlequote})", req(route=[ALL]))


def test_unknown_names_are_left_for_the_engine() -> None:
    assert expand("$__unknown(x) $nope", req()) == "$__unknown(x) $nope"


@pytest.mark.parametrize("range_ms,points,expected", [
    (24 * 3600 * 1000, 1000, 60_000),
    (7 * 24 * 3600 * 1000, 1000, 600_000),
    (3600 * 1000, 1000, 5_000),
])
def test_interval_is_rounded_like_grafana(range_ms: int, points: int, expected: int) -> None:
    assert round_interval(range_ms / points) == expected


def test_panel_interval_and_relative_time_override_the_request() -> None:
    now = datetime(2026, 3, 31, tzinfo=UTC)
    panel = {"gridPos": {"w": 24}, "interval": "1m", "timeFrom": "30d"}
    r = req().for_panel(panel, now)
    assert (r.time_from, r.time_to) == (now - timedelta(days=30), now)
    assert r.interval == timedelta(minutes=20)  # 30 days over 1,920 points, rounded
    short = Request(TO - timedelta(hours=1), TO).for_panel({"gridPos": {"w": 8}, "interval": "1m"})
    assert short.interval == timedelta(minutes=1)
