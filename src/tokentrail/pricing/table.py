"""The price table: shipped defaults plus the user's price file, as rows for the ClickHouse `prices` table.

A user price file is JSON or TOML listing entries under a `prices` key (a JSON file may also be a bare
list)::

    [[prices]]
    model = "gpt-4o"             # any spelling; stored as normalize_model(model)
    input = 2.0                  # USD per 1M input tokens
    output = 8.0                 # USD per 1M output tokens
    cached_input = 0.5           # optional, defaults to input
    cache_write = 2.5            # optional, defaults to input
    provider = "openai"          # optional, defaults to the provider of the default row, else ""
    effective_from = 2025-06-01  # optional date, defaults to 1970-01-01 (always)

A user row replaces the default rows of the same model from its `effective_from` on; earlier default rows
are kept, so history before the user's first date still prices as before.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path
from typing import Literal

from .models import normalize_model

EPOCH = datetime.date(1970, 1, 1)
"""effective_from of a price that has always applied (ClickHouse `Date` starts here)."""

_REQUIRED = ("model", "input", "output")
_OPTIONAL = ("provider", "cached_input", "cache_write", "effective_from")

Source = Literal["default", "user"]


class PricingError(ValueError):
    """A price file that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class PriceRow:
    """One row of the `prices` table. Prices are USD per 1M tokens."""

    model_key: str
    provider: str
    effective_from: datetime.date
    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    source: Source = "default"


def load_price_rows(user_file: Path | None = None) -> list[PriceRow]:
    """Return the default rows merged with the rows of `user_file`, sorted by model_key and date."""
    defaults = default_price_rows()
    if user_file is None:
        return list(defaults)
    return merge_rows(defaults, read_price_file(user_file))


def merge_rows(defaults: Iterable[PriceRow], user_rows: Iterable[PriceRow]) -> list[PriceRow]:
    """Overlay user rows on defaults: per model, a user row hides default rows dated on or after it."""
    defaults = list(defaults)
    provider_of = {row.model_key: row.provider for row in defaults}
    user_rows = [
        replace(row, provider=row.provider or provider_of.get(row.model_key, "")) for row in user_rows
    ]
    user_start: dict[str, datetime.date] = {}
    for row in user_rows:
        user_start[row.model_key] = min(row.effective_from, user_start.get(row.model_key, row.effective_from))
    kept = [row for row in defaults if row.effective_from < user_start.get(row.model_key, datetime.date.max)]
    return sorted(kept + user_rows, key=_sort_key)


def price_version(rows: Iterable[PriceRow]) -> str:
    """A short hash identifying the content of a price table, independent of row order."""
    canonical = sorted((asdict(row) for row in rows), key=lambda r: (r["model_key"], r["effective_from"]))
    payload = json.dumps(canonical, default=str, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


@cache
def default_price_rows() -> tuple[PriceRow, ...]:
    """The shipped defaults: genai-prices data, plus `defaults_extra.json` for models it lacks."""
    # Imported here: genai-prices' data module is large and only needed once per process.
    from ._genai import genai_price_rows

    rows = {(row.model_key, row.effective_from): row for row in genai_price_rows()}
    known = {row.model_key for row in rows.values()}
    for row in read_price_file(Path(__file__).with_name("defaults_extra.json"), source="default"):
        if row.model_key not in known:
            rows[row.model_key, row.effective_from] = row
    return tuple(sorted(rows.values(), key=_sort_key))


def read_price_file(path: Path, source: Source = "user") -> list[PriceRow]:
    """Parse a .json or .toml price file into rows; raise PricingError naming the file and entry."""
    entries = _read_entries(path)
    rows: list[PriceRow] = []
    seen: dict[tuple[str, datetime.date], int] = {}
    for index, entry in enumerate(entries):
        where = f"{path}: entry {index}"
        if isinstance(entry, Mapping) and isinstance(entry.get("model"), str):
            where += f" ({entry['model']!r})"
        row = _row_from_entry(entry, where, source)
        if (row.model_key, row.effective_from) in seen:
            first = seen[row.model_key, row.effective_from]
            raise PricingError(
                f"{where}: duplicates entry {first} (same model {row.model_key!r} and effective_from)"
            )
        seen[row.model_key, row.effective_from] = index
        rows.append(row)
    return rows


def _read_entries(path: Path) -> list[object]:
    suffix = path.suffix.lower()
    if suffix not in (".json", ".toml"):
        raise PricingError(f"{path}: price file must end in .json or .toml")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PricingError(f"{path}: cannot read price file: {exc}") from exc
    try:
        data = json.loads(text) if suffix == ".json" else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PricingError(f"{path}: invalid {suffix[1:].upper()}: {exc}") from exc
    if isinstance(data, Mapping) and set(data) <= {"prices"}:
        data = data.get("prices", [])
    if not isinstance(data, list):
        raise PricingError(f"{path}: expected a list of entries under the key 'prices'")
    return data


def _row_from_entry(entry: object, where: str, source: Source) -> PriceRow:
    if not isinstance(entry, Mapping):
        raise PricingError(f"{where}: expected a table/object, got {type(entry).__name__}")
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        raise PricingError(f"{where}: missing required key(s) {', '.join(missing)}")
    unknown = sorted(str(key) for key in entry if key not in _REQUIRED + _OPTIONAL)
    if unknown:
        allowed = ", ".join(_REQUIRED + _OPTIONAL)
        raise PricingError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {allowed})")
    model = entry["model"]
    if not isinstance(model, str) or not normalize_model(model):
        raise PricingError(f"{where}: 'model' must be a non-empty model name, got {model!r}")
    provider = entry.get("provider", "")
    if not isinstance(provider, str):
        raise PricingError(f"{where}: 'provider' must be a string, got {provider!r}")
    return PriceRow(
        model_key=normalize_model(model),
        provider=provider.strip(),
        effective_from=_date(entry.get("effective_from"), where),
        input=_price(entry["input"], "input", where),
        output=_price(entry["output"], "output", where),
        cached_input=_optional_price(entry.get("cached_input"), "cached_input", where),
        cache_write=_optional_price(entry.get("cache_write"), "cache_write", where),
        source=source,
    )


def _price(value: object, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise PricingError(
            f"{where}: '{name}' must be a non-negative number (USD per 1M tokens), got {value!r}"
        )
    return float(value)


def _optional_price(value: object, name: str, where: str) -> float | None:
    return None if value is None else _price(value, name, where)


def _date(value: object, where: str) -> datetime.date:
    if value is None:
        return EPOCH
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.date.fromisoformat(value)
        except ValueError:
            parsed = None
    else:
        parsed = None
    if parsed is None or parsed < EPOCH:
        raise PricingError(
            f"{where}: 'effective_from' must be a date YYYY-MM-DD from 1970-01-01, got {value!r}"
        )
    return parsed


def _sort_key(row: PriceRow) -> tuple[str, datetime.date]:
    return row.model_key, row.effective_from
