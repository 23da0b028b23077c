"""The t distribution against tabulated values (the verdicts rest on it)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orgtui.ledger import stats


@pytest.mark.parametrize(
    ("p", "df", "quantile"),
    [
        (0.975, 1, 12.706),
        (0.975, 2, 4.303),
        (0.975, 4, 2.776),
        (0.975, 10, 2.228),
        (0.95, 5, 2.015),
        (0.995, 3, 5.841),
        (0.975, 1000, 1.962),
    ],
)
def test_t_quantiles_match_the_table(p, df, quantile):
    assert stats.t_quantile(p, df) == pytest.approx(quantile, abs=1e-3)
    assert stats.t_cdf(quantile, df) == pytest.approx(p, abs=1e-4)


def test_t_cdf_is_symmetric():
    assert stats.t_cdf(0.0, 7) == pytest.approx(0.5)
    assert stats.t_cdf(-1.5, 7) == pytest.approx(1 - stats.t_cdf(1.5, 7))


def test_welch_on_a_textbook_example():
    test = stats.welch([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], alpha=0.05)
    assert test.delta == 3.0
    assert test.df == pytest.approx(4.0)
    assert test.p_value == pytest.approx(0.02131, abs=1e-4)
    assert test.half_width == pytest.approx(2.776 * (2 / 3) ** 0.5, abs=1e-3)


def test_identical_seeds_give_no_noise_estimate():
    assert stats.welch([1.0, 1.0], [1.0, 1.0], 0.05) is None
    assert stats.welch([1.0, 1.0], [1.000001, 1.000001], 0.05) is None


def test_interpolation_never_extrapolates():
    curve = [(1.0, 4.0), (3.0, 2.0)]
    assert stats.interpolate(curve, 2.0) == 3.0
    assert stats.interpolate(curve, 0.5) is None
    assert stats.interpolate(curve, 3.5) is None


values = st.lists(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.floats(min_value=0.5, max_value=5.0),
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(a=values, b=values, reference=values)
def test_no_p_value_from_nan_and_noise_from_finite_values_only(a, b, reference):
    tests = [
        stats.welch(a, b, 0.05),
        stats.with_reference_noise(a, b, reference, 0.05),
        stats.paired(a[: len(b)], b[: len(a)], 0.05),
    ]
    for test in tests:
        if test is None:
            continue
        assert all(math.isfinite(x) for x in (test.delta, test.p_value, test.half_width))
        assert 0.0 <= test.p_value <= 1.0 and test.half_width >= 0.0
    assert stats.sd(a) >= 0.0  # never NaN: NaN fails every comparison


def test_nan_seeds_are_left_out_of_the_noise():
    clean = stats.welch([1.0, 2.0, 3.0], [4.0, 5.0, 6.0], 0.05)
    dirty = stats.welch([1.0, math.nan, 2.0, 3.0], [4.0, 5.0, math.inf, 6.0], 0.05)
    assert dirty == clean
    assert stats.welch([math.nan, math.nan], [1.0, 2.0], 0.05) is None
    assert stats.sd([1.0, math.nan, 3.0]) == stats.sd([1.0, 3.0])


def test_interpolation_between_huge_flops_stays_finite():
    curve = [(0.0, 1e6), (1e300, 0.0)]
    assert stats.interpolate(curve, 5e299) == pytest.approx(5e5)
