"""cost_usd and its SQL twin cost_sql: same numbers, and NULL (never 0) for an unknown model."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from tokentrail.pricing import (
    EPOCH,
    PriceRow,
    cost_sql,
    cost_usd,
    load_price_rows,
    model_key_sql,
    normalize_model,
)

Query = Callable[..., list[dict[str, Any]]]

ROWS = [
    PriceRow("anthropic-like", "p", EPOCH, 3.0, 15.0, cached_input=0.3, cache_write=3.75),
    PriceRow("openai-like", "p", EPOCH, 2.5, 10.0, cached_input=1.25),
    PriceRow("no-cache-prices", "p", EPOCH, 0.15, 0.6),
    PriceRow("embedding", "p", EPOCH, 0.02, 0.0),
]
# (input incl. cached and cache-write, output, cached, cache-write)
TOKENS = [
    (0, 0, 0, 0),
    (1000, 500, 0, 0),
    (1000, 500, 600, 0),
    (1000, 500, 300, 200),
    (123_457, 98_765, 100_000, 23_457),
    (10, 5, 20, 0),  # inconsistent counts: the uncached part is clamped at 0
    (10**9, 10**8, 0, 0),
]


def test_cost_usd_prices_uncached_cached_and_cache_write_input_separately() -> None:
    row = PriceRow("m", "p", EPOCH, input=3.0, output=15.0, cached_input=0.3, cache_write=3.75)
    costs = cost_usd(row, 1_000_000, 100_000, cached_input_tokens=500_000, cache_write_tokens=200_000)
    input_cost, output_cost, total = costs
    assert input_cost == pytest.approx(0.3 * 3.0 + 0.5 * 0.3 + 0.2 * 3.75)
    assert output_cost == pytest.approx(1.5)
    assert total == pytest.approx(input_cost + output_cost)


def test_cost_usd_falls_back_to_the_input_price_without_cache_prices() -> None:
    row = PriceRow("m", "p", EPOCH, input=2.0, output=8.0)
    assert cost_usd(row, 1_000_000, 0, cached_input_tokens=400_000, cache_write_tokens=100_000)[0] == 2.0


def test_cost_sql_agrees_with_cost_usd_in_clickhouse(clickhouse: Query) -> None:
    cases = [{"i": i, **asdict(row), "tokens": tokens} for i, (row, tokens) in enumerate(_grid())]
    result = clickhouse(_cost_query(), cases=json.dumps(cases, default=str))
    assert len(result) == len(cases)
    for case, got in zip(_grid(), result, strict=True):
        row, (input_tokens, output_tokens, cached, written) = case
        expected = cost_usd(row, input_tokens, output_tokens, cached, written)
        assert (got["input_cost"], got["output_cost"], got["total"]) == pytest.approx(expected, rel=1e-12), (
            case
        )


def test_cost_sql_is_null_for_an_unknown_model_never_zero(clickhouse: Query) -> None:
    cases = [
        {
            "i": 0,
            "input": None,
            "output": None,
            "cached_input": None,
            "cache_write": None,
            "tokens": [10, 0, 0, 0],
        }
    ]
    (got,) = clickhouse(_cost_query(), cases=json.dumps(cases))
    assert got == {"i": 0, "input_cost": None, "output_cost": None, "total": None}


def test_spans_join_the_price_in_effect_on_their_day(tmp_path: Path, clickhouse: Query) -> None:
    """The intended use: normalize the span's model in SQL, ASOF-join the prices, compute the cost."""
    user_file = tmp_path / "prices.toml"
    user_file.write_text(
        '[[prices]]\nmodel = "house-model"\ninput = 1.0\noutput = 2.0\n'
        '[[prices]]\nmodel = "house-model"\ninput = 0.5\noutput = 1.0\neffective_from = 2025-03-01\n'
    )
    prices = load_price_rows(user_file)
    spans = [
        {"i": 0, "model": "acme/house-model-latest", "day": "2025-02-28", "tokens": [1000, 100, 0, 0]},
        {"i": 1, "model": "house-model", "day": "2025-03-01", "tokens": [1000, 100, 0, 0]},
        {
            "i": 2,
            "model": "openai/gpt-4o-mini-2024-07-18",
            "day": "2025-05-01",
            "tokens": [2000, 300, 1024, 0],
        },
        {"i": 3, "model": "acme/unknown-model", "day": "2025-05-01", "tokens": [2000, 300, 0, 0]},
    ]
    input_cost, output_cost, total = cost_sql("s.t[1]", "s.t[2]", "s.t[3]", "s.t[4]")
    sql = f"""
        SELECT s.i AS i, {input_cost} AS input_cost, {output_cost} AS output_cost, {total} AS total
        FROM (
            SELECT JSONExtract(j, 'i', 'UInt32') AS i, {model_key_sql("JSONExtractString(j, 'model')")} AS key,
                   toDate(JSONExtractString(j, 'day')) AS day, JSONExtract(j, 'tokens', 'Array(UInt64)') AS t
            FROM (SELECT arrayJoin(JSONExtractArrayRaw({{spans:String}})) AS j)
        ) AS s
        ASOF LEFT JOIN ({_PRICES_SUBQUERY}) AS p ON s.key = p.model_key AND s.day >= p.effective_from
        ORDER BY i
        SETTINGS join_use_nulls = 1
    """
    got = clickhouse(
        sql, spans=json.dumps(spans), prices=json.dumps([asdict(r) for r in prices], default=str)
    )
    for span, result in zip(spans, got, strict=True):
        row = _price_on(prices, span["model"], datetime.date.fromisoformat(span["day"]))
        expected = (None, None, None) if row is None else cost_usd(row, *span["tokens"])
        assert (result["input_cost"], result["output_cost"], result["total"]) == pytest.approx(expected), span
    assert [result["total"] is None for result in got] == [False, False, False, True]
    assert got[0]["total"] == pytest.approx(2 * got[1]["total"])  # the price halved on 2025-03-01


_PRICES_SUBQUERY = """
    SELECT JSONExtractString(r, 'model_key') AS model_key, toDate(JSONExtractString(r, 'effective_from')) AS effective_from,
           JSONExtract(r, 'input', 'Float64') AS input, JSONExtract(r, 'output', 'Float64') AS output,
           JSONExtract(r, 'cached_input', 'Nullable(Float64)') AS cached_input,
           JSONExtract(r, 'cache_write', 'Nullable(Float64)') AS cache_write
    FROM (SELECT arrayJoin(JSONExtractArrayRaw({prices:String})) AS r)
"""


def _grid() -> list[tuple[PriceRow, tuple[int, int, int, int]]]:
    return [(row, tokens) for row in ROWS for tokens in TOKENS]


def _cost_query() -> str:
    input_cost, output_cost, total = cost_sql("tokens[1]", "tokens[2]", "tokens[3]", "tokens[4]")
    return f"""
        SELECT i, {input_cost} AS input_cost, {output_cost} AS output_cost, {total} AS total
        FROM (
            SELECT JSONExtract(c, 'i', 'UInt32') AS i, JSONExtract(c, 'tokens', 'Array(UInt64)') AS tokens,
                   JSONExtract(c, 'input', 'Nullable(Float64)') AS input,
                   JSONExtract(c, 'output', 'Nullable(Float64)') AS output,
                   JSONExtract(c, 'cached_input', 'Nullable(Float64)') AS cached_input,
                   JSONExtract(c, 'cache_write', 'Nullable(Float64)') AS cache_write
            FROM (SELECT arrayJoin(JSONExtractArrayRaw({{cases:String}})) AS c)
        )
        ORDER BY i
    """


def _price_on(rows: list[PriceRow], model: str, day: datetime.date) -> PriceRow | None:
    candidates = [
        row for row in rows if row.model_key == normalize_model(model) and row.effective_from <= day
    ]
    return max(candidates, key=lambda row: row.effective_from, default=None)
