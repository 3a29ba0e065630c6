"""Read numbers the way the UI shows them to people ($1.2k, 13.9k, 4.61%, 14.8 s, 679 ms)."""

from __future__ import annotations

import re

_NUMBER = re.compile(r"^(<)?\$?(-?[\d,]*\.?\d+)\s*(k|M|B|%|ms|s|min)?$")
_SCALE = {None: 1.0, "k": 1e3, "M": 1e6, "B": 1e9, "%": 0.01, "ms": 1.0, "s": 1000.0, "min": 60_000.0}


def parse_shown(text: str) -> tuple[float, float]:
    """The value a displayed number stands for, and how far the truth may be from it (rounding)."""
    m = _NUMBER.match(text.strip())
    assert m, f"not a number as the UI shows them: {text!r}"
    less_than, digits, unit = m.groups()
    scale = _SCALE[unit]
    value = float(digits.replace(",", "")) * scale
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    tolerance = 0.5 * 10 ** -decimals * scale * 1.0001
    if less_than:
        return value / 2, value / 2
    return value, tolerance


def assert_shows(text: str, expected: float | int | None) -> None:
    """The displayed ``text`` is ``expected`` rounded for humans."""
    assert expected is not None, f"the API has no value but the page shows {text!r}"
    value, tolerance = parse_shown(text)
    assert abs(value - expected) <= tolerance, f"page shows {text!r}, API says {expected}"
