"""Small statistics for verdicts: mean, sd, interpolation, Welch's and the paired t-test.

scipy would be a 40 MB dependency for one distribution function, so the Student t CDF is
computed here from the regularised incomplete beta function (Numerical Recipes' continued
fraction), checked against tabulated values in the tests.

A test never answers from a NaN: non-finite values are left out of the spread, and a test
whose numbers are not all finite gives no answer (None) rather than a made-up p-value.
Nor does a test without spread: seeds that all give the same value (to rounding) say nothing
about noise, so a zero standard error is "no estimate", never p = 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

SPREAD_FLOOR = 1e-6
"""A spread below this fraction of the values' size is rounding (float32 results, a trainer
that ignores its seed), not seed noise: it gives no noise estimate."""


def finite(values: Sequence[float]) -> list[float]:
    return [v for v in values if math.isfinite(v)]


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def sd(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1) of the finite values; 0 for fewer than two."""
    values = finite(values)
    if len(values) < 2:
        return 0.0
    m = mean(values)
    return math.sqrt(sum((v - m) * (v - m) for v in values) / (len(values) - 1))


def has_spread(values: Sequence[float], scale: Sequence[float] = ()) -> bool:
    """Whether the finite ``values`` vary by more than rounding of numbers the size of
    ``values`` and ``scale`` (the seeds' values when ``values`` are their differences)."""
    values = finite(values)
    size = max((abs(v) for v in finite([*values, *scale])), default=0.0)
    spread = sd(values)
    return math.isfinite(spread) and spread > SPREAD_FLOOR * size


def interpolate(points: Sequence[tuple[float, float]], x: float) -> float | None:
    """y at ``x`` on the piecewise-linear curve through sorted ``points``; None outside it."""
    if not points or x < points[0][0] or x > points[-1][0]:
        return None
    for (x0, y0), (x1, y1) in pairwise(points):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * ((x - x0) / (x1 - x0))  # no overflow
    return points[-1][1]


def _beta_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, eps = 1e-300, 3e-16
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    log_front += a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Inverse of :func:`t_cdf` by bisection (p in (0, 1))."""
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


@dataclass(frozen=True)
class TTest:
    """A two-sided test of ``mean(b) - mean(a)``; ``half_width`` is the (1 - alpha) interval."""

    delta: float
    p_value: float
    half_width: float
    df: float


def welch(a: Sequence[float], b: Sequence[float], alpha: float) -> TTest | None:
    """Welch's unequal-variance t-test on the finite values; None with fewer than two a side,
    or when neither side has any spread."""
    a, b = finite(a), finite(b)
    if len(a) < 2 or len(b) < 2 or not (has_spread(a) or has_spread(b)):
        return None
    # Products, not ** (which raises OverflowError): an overflow becomes inf, then no answer.
    va, vb = sd(a) * sd(a) / len(a), sd(b) * sd(b) / len(b)
    se = math.sqrt(va + vb)
    df_den = (va * va / (len(a) - 1) if va else 0.0) + (vb * vb / (len(b) - 1) if vb else 0.0)
    df = (va + vb) * (va + vb) / df_den if df_den else float(len(a) + len(b) - 2)
    return _test(mean(b) - mean(a), se, df, alpha)


def paired(a: Sequence[float], b: Sequence[float], alpha: float) -> TTest | None:
    """The paired t-test on ``b[i] - a[i]`` (the same seed on both sides): pairs with a
    non-finite value are left out; None with fewer than two pairs, or when every pair differs
    by the same amount (no spread of the differences, no noise estimate)."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if math.isfinite(x) and math.isfinite(y)]
    diffs = finite([y - x for x, y in pairs])
    if len(diffs) < 2 or len(diffs) < len(pairs):
        return None
    if not has_spread(diffs, scale=[v for pair in pairs for v in pair]):
        return None
    se = sd(diffs) / math.sqrt(len(diffs))
    return _test(mean(diffs), se, float(len(diffs) - 1), alpha)


def with_reference_noise(
    a: Sequence[float],
    b: Sequence[float],
    reference: Sequence[float],
    alpha: float,
) -> TTest | None:
    """A t-test whose spread comes from another sample's seeds (one side has a single seed);
    None when ``reference`` has fewer than two finite values or no spread."""
    a, b, reference = finite(a), finite(b), finite(reference)
    if not a or not b or len(reference) < 2 or not has_spread(reference):
        return None
    se = sd(reference) * math.sqrt(1 / len(a) + 1 / len(b))
    return _test(mean(b) - mean(a), se, float(len(reference) - 1), alpha)


def _test(delta: float, se: float, df: float, alpha: float) -> TTest | None:
    if not all(math.isfinite(x) for x in (delta, se, df)) or se <= 0.0 or df <= 0.0:
        return None  # a zero standard error is no noise estimate, never p = 0
    p = 2.0 * (1.0 - t_cdf(abs(delta) / se, df))
    half = t_quantile(1.0 - alpha / 2.0, df) * se
    if not (math.isfinite(p) and math.isfinite(half)):
        return None
    return TTest(delta, min(1.0, max(0.0, p)), half, df)
