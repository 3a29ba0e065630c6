"""Cost of one call from its token counts and a price row, in Python and as the equivalent ClickHouse SQL.

Convention: `input_tokens` INCLUDES cached and cache-write tokens. The uncached remainder is priced at
`input`, cached tokens at `cached_input` (else `input`), cache-write tokens at `cache_write` (else `input`),
output tokens at `output`. Prices are USD per 1M tokens. In SQL an unknown model (NULL prices) gives a
NULL cost, never 0.
"""

from __future__ import annotations

from .table import PriceRow

_PER = 1_000_000


def cost_usd(
    row: PriceRow,
    input_tokens: int,
    output_tokens: int,
    cached_input_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> tuple[float, float, float]:
    """Return (input_cost, output_cost, total) in USD."""
    uncached = max(0, input_tokens - cached_input_tokens - cache_write_tokens)
    cached_price = row.input if row.cached_input is None else row.cached_input
    write_price = row.input if row.cache_write is None else row.cache_write
    input_cost = (
        float(uncached) * row.input
        + float(cached_input_tokens) * cached_price
        + float(cache_write_tokens) * write_price
    ) / _PER
    output_cost = float(output_tokens) * row.output / _PER
    return input_cost, output_cost, input_cost + output_cost


def cost_sql(
    input_tokens: str,
    output_tokens: str,
    cached_input_tokens: str = "0",
    cache_write_tokens: str = "0",
    *,
    input_price: str = "input",
    output_price: str = "output",
    cached_input_price: str = "cached_input",
    cache_write_price: str = "cache_write",
) -> tuple[str, str, str]:
    """Return ClickHouse expressions (input_cost, output_cost, total) over the given columns/expressions.

    Token arguments are integer expressions; price arguments are Nullable(Float64) expressions, named by
    default like the `PriceRow` fields.
    """
    tokens_in, tokens_out = f"toFloat64({input_tokens})", f"toFloat64({output_tokens})"
    cached, written = f"toFloat64({cached_input_tokens})", f"toFloat64({cache_write_tokens})"
    input_cost = (
        f"((greatest(0, {tokens_in} - {cached} - {written}) * {input_price}"
        f" + {cached} * coalesce({cached_input_price}, {input_price})"
        f" + {written} * coalesce({cache_write_price}, {input_price})) / {_PER})"
    )
    output_cost = f"({tokens_out} * {output_price} / {_PER})"
    return input_cost, output_cost, f"({input_cost} + {output_cost})"
