"""Default price rows from the data bundled with the `genai-prices` package.

For each provider below (first-party labs first, then hosts), each model's id and its simple aliases
(the literal strings of its equals / starts-with / contains / ends-with match clauses) become price keys via
`normalize_model`. When one key comes from several names, the model genai-prices itself matches for the
name that needed no normalization wins ("gpt-4o" over "gpt-4o-2024-05-13"); across providers the first
provider in `PROVIDERS` wins. Tiered prices contribute their base tier; of time-of-day prices (off-peak
discounts, peak surcharges) the one in effect for most of the day is taken; start-date prices become
extra rows with that `effective_from`. Other price variants (batch, flex, priority tiers) are not used.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from decimal import Decimal

from genai_prices import types
from genai_prices.data import providers as bundled_providers

from .models import normalize_model
from .table import EPOCH, PriceRow

PROVIDERS = (
    "openai", "anthropic", "google", "mistral", "deepseek", "x-ai", "cohere", "meta", "moonshotai", "zai",
    "perplexity", "groq", "together", "fireworks", "cerebras", "aws", "azure",
)  # fmt: skip

# A key must look like a whole model name, not a match fragment such as "ft:gpt-4o-2024-" or "claude-x@".
_WHOLE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9._:-]*[a-z0-9])?$")
# Keys that self-hosted deployments use too; "chat-latest" (an OpenAI alias) normalizes to "chat".
_TOO_GENERIC = frozenset({"chat"})


def genai_price_rows() -> list[PriceRow]:
    by_id = {provider.id: provider for provider in bundled_providers}
    rows: list[PriceRow] = []
    taken: set[str] = set()
    for provider_id in PROVIDERS:
        if (provider := by_id.get(provider_id)) is None:
            continue
        for key, model_rows in _provider_rows(provider).items():
            if key not in taken:
                taken.add(key)
                rows.extend(model_rows)
    return rows


def _provider_rows(provider: types.Provider) -> dict[str, list[PriceRow]]:
    """Price rows of one provider by key, choosing per key as described in the module docstring."""
    best: dict[str, tuple[int, list[PriceRow]]] = {}
    for model in provider.models:
        for name in (model.id, *_aliases(model.match)):
            key = normalize_model(name)
            if not _WHOLE_NAME.match(key) or key in _TOO_GENERIC:
                continue
            rank = 0 if name.lower() == key else 1
            if key in best and best[key][0] <= rank:
                continue
            owner = next((m for m in provider.models if m.is_match(name)), model)
            if rows := _model_rows(key, provider.id, owner):
                best[key] = rank, rows
    return {key: rows for key, (_, rows) in best.items()}


def _aliases(clause: types.MatchLogic) -> Iterator[str]:
    """Literal model names in a match rule; regex and AND clauses are not simple aliases."""
    if isinstance(clause, types.ClauseOr):
        for inner in clause.or_:
            yield from _aliases(inner)
    elif isinstance(clause, types.ClauseEquals):
        yield clause.equals
    elif isinstance(clause, types.ClauseStartsWith):
        yield clause.starts_with
    elif isinstance(clause, types.ClauseContains):
        yield clause.contains
    elif isinstance(clause, types.ClauseEndsWith):
        yield clause.ends_with


def _model_rows(key: str, provider_id: str, model: types.ModelInfo) -> list[PriceRow]:
    """One row per effective date of the model's token prices (later entries win, as in genai-prices)."""
    if isinstance(model.prices, types.ModelPrice):
        timeline = [(EPOCH, model.prices)]
    else:
        windows = [
            (c.constraint, c.prices)
            for c in model.prices
            if isinstance(c.constraint, types.TimeOfDateConstraint)
        ]
        timeline = []
        for index, conditional in enumerate(model.prices):
            constraint = conditional.constraint
            if isinstance(constraint, types.TimeOfDateConstraint):
                continue
            # genai-prices falls back to the first entry before any start date, so it applies from EPOCH.
            start = constraint.start_date if index and constraint is not None else EPOCH
            timeline.append((start, _most_of_the_day(conditional.prices, windows)))
    by_date: dict[datetime.date, PriceRow] = {}
    for start, price in timeline:
        if (row := _row(key, provider_id, start, price)) is not None:
            by_date[start] = row
    return list(by_date.values())


def _most_of_the_day(
    price: types.ModelPrice, windows: list[tuple[types.TimeOfDateConstraint, types.ModelPrice]]
) -> types.ModelPrice:
    """The price in effect for most of the day: off-peak discounts and peak surcharges are not the base."""
    share = {repr(price): 24 * 60}  # minutes of the day, by price
    prices = {repr(price): price}
    for window, window_price in windows:
        length = (_minute(window.end_time) - _minute(window.start_time)) % (24 * 60)
        share[repr(price)] -= length
        share[repr(window_price)] = share.get(repr(window_price), 0) + length
        prices[repr(window_price)] = window_price
    return prices[max(share, key=share.__getitem__)]


def _minute(time: datetime.time) -> int:
    return time.hour * 60 + time.minute


def _row(key: str, provider_id: str, start: datetime.date, price: types.ModelPrice) -> PriceRow | None:
    input_price = _base(price.input_mtok)
    if input_price is None:  # priced per second, per image, ...: not a token price
        return None
    output_price = _base(price.output_mtok)
    return PriceRow(
        model_key=key,
        provider=provider_id,
        effective_from=start,
        input=input_price,
        output=0.0 if output_price is None else output_price,  # embeddings: input-only
        cached_input=_base(price.cache_read_mtok),
        cache_write=_base(price.cache_write_mtok),
    )


def _base(price: Decimal | types.TieredPrices | None) -> float | None:
    if isinstance(price, types.TieredPrices):
        return float(price.base)
    return None if price is None else float(price)
