"""Robust statistics for anomaly rules: median and MAD (one outlier in the baseline moves them
little), a robust z-score with floors (a flat baseline would otherwise make any wiggle infinite),
and burn rates."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence

MAD_SCALE = 1.4826  # MAD of a normal distribution x this = its standard deviation


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def mad(values: Sequence[float], center: float | None = None) -> float:
    if not values:
        return 0.0
    c = median(values) if center is None else center
    return median([abs(v - c) for v in values])


def robust_z(value: float, baseline: Sequence[float], *, rel_floor: float = 0.05, abs_floor: float = 1e-9
             ) -> tuple[float, float, float]:
    """(z, median, scale): how many robust standard deviations ``value`` is from the baseline's median.
    The scale is at least ``rel_floor`` of the median (a 5% move is never "6 sigmas" because the
    baseline happened to be flat) and at least ``abs_floor``."""
    m = median(baseline)
    scale = max(MAD_SCALE * mad(baseline, m), rel_floor * abs(m), abs_floor)
    return (value - m) / scale, m, scale


def poisson_silence_p(expected: float) -> float:
    """Probability of seeing no call at all when ``expected`` were expected (Poisson)."""
    return math.exp(-expected) if expected > 0 else 1.0


def burn_rate(bad: float, total: float, objective: float) -> float | None:
    """Error-budget burn rate: the bad fraction over the allowed bad fraction (1 = exactly on budget)."""
    if total <= 0:
        return None
    return (bad / total) / (1.0 - objective)
