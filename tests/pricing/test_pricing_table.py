"""The price table: defaults from genai-prices, the user's price file on top, and the table's version."""

from __future__ import annotations

import datetime
import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from genai_prices import types as gp

from tokentrail.pricing import EPOCH, PriceRow, PricingError, load_price_rows, normalize_model, price_version
from tokentrail.pricing._genai import _model_rows
from tokentrail.pricing.table import default_price_rows


def rows_for(rows: list[PriceRow] | tuple[PriceRow, ...], model: str) -> list[PriceRow]:
    key = normalize_model(model)
    return [row for row in rows if row.model_key == key]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- defaults -------------------------------------------------------------------------------------------

POPULAR = [
    "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3", "o4-mini", "text-embedding-3-small",
    "claude-3-5-sonnet", "claude-3-5-haiku", "claude-3-7-sonnet", "claude-sonnet-4", "claude-sonnet-4-5",
    "claude-haiku-4-5", "claude-3-opus", "claude-opus-4", "claude-opus-4-1",
    "gemini-1.5-pro", "gemini-2.0-flash", "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite",
    "mistral-large-latest", "mistral-small-latest", "codestral-latest", "open-mistral-nemo",
    "groq/llama-3.1-8b-instant", "llama-3.3-70b-versatile", "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "us.meta.llama3-1-70b-instruct-v1:0",
    "deepseek-chat", "grok-3",
]  # fmt: skip


@pytest.mark.parametrize("model", POPULAR)
def test_defaults_price_popular_models(model: str) -> None:
    rows = rows_for(default_price_rows(), model)
    assert rows, f"no default price for {model}"
    assert all(row.input > 0 and row.output >= 0 and row.source == "default" for row in rows)


@pytest.mark.parametrize(
    ("dated", "base"),
    [("gpt-4o-mini-2024-07-18", "gpt-4o-mini"), ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet")],
)
def test_dated_variant_is_priced_like_its_base_model(dated: str, base: str) -> None:
    assert rows_for(default_price_rows(), dated) == rows_for(default_price_rows(), base) != []


def test_defaults_take_provider_prices_including_cache() -> None:
    (row,) = rows_for(default_price_rows(), "claude-3-5-sonnet")
    prices = (row.provider, row.input, row.output, row.cached_input, row.cache_write)
    assert prices == ("anthropic", 3.0, 15.0, 0.3, 3.75)
    assert rows_for(default_price_rows(), "gpt-4o")[-1].provider == "openai"


def test_unknown_model_has_no_row() -> None:
    assert rows_for(default_price_rows(), "acme/no-such-model-9000") == []


def test_default_rows_are_unique_and_start_at_epoch() -> None:
    rows = default_price_rows()
    keys = [(row.model_key, row.effective_from) for row in rows]
    assert len(keys) == len(set(keys))
    first_dates = {}
    for row in rows:
        first_dates.setdefault(row.model_key, row.effective_from)
    assert set(first_dates.values()) == {EPOCH}  # every span date finds a price


def test_a_genai_price_change_becomes_a_dated_row() -> None:
    dates_per_model: dict[str, list[datetime.date]] = {}
    for row in default_price_rows():
        dates_per_model.setdefault(row.model_key, []).append(row.effective_from)
    assert any(len(dates) > 1 for dates in dates_per_model.values())


def test_conditional_genai_prices_take_the_base_tier_and_the_standard_time_of_day() -> None:
    def price(input_mtok: object, output: str) -> gp.ModelPrice:
        return gp.ModelPrice(input_mtok=input_mtok, output_mtok=Decimal(output))

    model = gp.ModelInfo(
        id="m",
        match=gp.ClauseEquals(equals="m"),
        prices=[
            gp.ConditionalPrice(prices=price(Decimal("1"), "2")),
            gp.ConditionalPrice(
                constraint=gp.StartDateConstraint(start_date=datetime.date(2025, 6, 1)),
                prices=price(
                    gp.TieredPrices(base=Decimal("3"), tiers=[gp.Tier(start=200_000, price=Decimal("6"))]),
                    "4",
                ),
            ),
            # A 2-hour off-peak discount is not the standard price.
            gp.ConditionalPrice(
                constraint=gp.TimeOfDateConstraint(start_time=datetime.time(1), end_time=datetime.time(3)),
                prices=price(Decimal("0.5"), "1"),
            ),
        ],
    )
    rows = _model_rows("m", "p", model)
    assert [(row.effective_from, row.input, row.output) for row in rows] == [
        (EPOCH, 1.0, 2.0),
        (datetime.date(2025, 6, 1), 3.0, 4.0),
    ]


# --- the user file --------------------------------------------------------------------------------------


def test_user_json_file_overrides_a_default_and_adds_a_model(tmp_path: Path) -> None:
    user = write(
        tmp_path / "prices.json",
        json.dumps(
            {
                "prices": [
                    {"model": "gpt-4o-mini", "input": 0.1, "output": 0.4},
                    {
                        "model": "acme/house-model-7b",
                        "provider": "self-hosted",
                        "input": 0.01,
                        "output": 0.02,
                    },
                ]
            }
        ),
    )
    rows = load_price_rows(user)
    assert rows_for(rows, "gpt-4o-mini") == [
        PriceRow("gpt-4o-mini", "openai", EPOCH, 0.1, 0.4, None, None, "user")  # provider kept from default
    ]
    assert rows_for(rows, "house-model-7b") == [
        PriceRow("house-model-7b", "self-hosted", EPOCH, 0.01, 0.02, None, None, "user")
    ]
    assert rows_for(rows, "gpt-4o") == rows_for(default_price_rows(), "gpt-4o")


def test_user_toml_file_with_a_price_change(tmp_path: Path) -> None:
    user = write(
        tmp_path / "prices.toml",
        """
        [[prices]]
        model = "house-model"
        input = 1.0
        output = 2.0
        cached_input = 0.1
        cache_write = 1.25

        [[prices]]
        model = "house-model"
        input = 0.5
        output = 1.0
        effective_from = 2025-03-01
        """,
    )
    assert rows_for(load_price_rows(user), "house-model") == [
        PriceRow("house-model", "", EPOCH, 1.0, 2.0, 0.1, 1.25, "user"),
        PriceRow("house-model", "", datetime.date(2025, 3, 1), 0.5, 1.0, None, None, "user"),
    ]


def test_user_row_replaces_default_rows_from_its_date_on(tmp_path: Path) -> None:
    keys = sorted({row.model_key for row in default_price_rows()})
    changing = next(key for key in keys if len(rows_for(default_price_rows(), key)) > 1)
    defaults = rows_for(default_price_rows(), changing)
    user_date = defaults[1].effective_from
    user = write(
        tmp_path / "prices.json",
        json.dumps([{"model": changing, "input": 9, "output": 9, "effective_from": user_date.isoformat()}]),
    )
    rows = rows_for(load_price_rows(user), changing)
    assert rows == [defaults[0], PriceRow(changing, defaults[0].provider, user_date, 9.0, 9.0, source="user")]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("p.json", "{not json", "invalid JSON"),
        ("p.toml", "model = ", "invalid TOML"),
        ("p.yaml", "prices: []", "must end in .json or .toml"),
        ("p.json", '{"models": []}', "under the key 'prices'"),
        ("p.json", '[{"model": "m", "input": 1}]', "entry 0 ('m'): missing required key(s) output"),
        ("p.json", '[{"model": "m", "input": 1, "output": 2, "ouput": 3}]', "unknown key(s) ouput"),
        ("p.json", '[{"model": "m", "input": -1, "output": 2}]', "'input' must be a non-negative number"),
        ("p.json", '[{"model": "m", "input": "1", "output": 2}]', "'input' must be a non-negative number"),
        ("p.json", '[{"model": "m", "input": 1, "output": 2, "cached_input": true}]', "'cached_input'"),
        ("p.json", '[{"model": "", "input": 1, "output": 2}]', "'model' must be a non-empty model name"),
        ("p.json", '[{"model": "m", "input": 1, "output": 2, "effective_from": "soon"}]', "'effective_from'"),
        ("p.json", '[{"model": "m", "input": 1, "output": 2}, "x"]', "entry 1: expected a table/object"),
        (
            "p.toml",
            '[[prices]]\nmodel = "m"\ninput = 1\noutput = 2\n[[prices]]\nmodel = "M-latest"\ninput = 3\noutput = 4\n',
            "entry 1 ('M-latest'): duplicates entry 0",
        ),
    ],
)
def test_bad_user_file_raises_a_pricing_error_naming_file_and_entry(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(PricingError) as caught:
        load_price_rows(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_missing_user_file_is_a_pricing_error(tmp_path: Path) -> None:
    with pytest.raises(PricingError, match="cannot read"):
        load_price_rows(tmp_path / "absent.toml")


# --- version --------------------------------------------------------------------------------------------


def test_price_version_is_short_stable_and_order_independent() -> None:
    rows = list(default_price_rows())
    version = price_version(rows)
    assert len(version) == 12 and int(version, 16) >= 0
    assert price_version(reversed(rows)) == version


def test_price_version_changes_when_a_price_changes() -> None:
    rows = list(default_price_rows())
    assert price_version([replace(rows[0], output=rows[0].output + 1), *rows[1:]]) != price_version(rows)
