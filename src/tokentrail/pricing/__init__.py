"""Pricing: the price table (shipped defaults plus a user file), model-name keys, and cost formulas.

Costs are computed inside ClickHouse at insert time by joining spans to a `prices` table built from
`PriceBook.rows`; `model_key_sql` and `cost_sql` are the SQL twins of `normalize_model` and `cost_usd`.
"""

from .cost import cost_sql, cost_usd
from .models import model_key_sql, normalize_model
from .reload import PriceBook
from .table import EPOCH, PriceRow, PricingError, load_price_rows, price_version

__all__ = [
    "EPOCH",
    "PriceBook",
    "PriceRow",
    "PricingError",
    "cost_sql",
    "cost_usd",
    "load_price_rows",
    "model_key_sql",
    "normalize_model",
    "price_version",
]
