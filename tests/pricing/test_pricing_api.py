"""The public surface of tokentrail.pricing is a decision: __all__ lists it and nothing else is needed."""

from __future__ import annotations

import tokentrail.pricing as pricing


def test_public_names_are_exported() -> None:
    assert sorted(pricing.__all__) == [
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
    assert all(hasattr(pricing, name) for name in pricing.__all__)


def test_pricing_error_is_a_value_error() -> None:
    assert issubclass(pricing.PricingError, ValueError)
