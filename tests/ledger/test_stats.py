"""The t distribution against tabulated values (the verdicts rest on it)."""

from __future__ import annotations

import pytest

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


def test_identical_seeds_give_no_spread():
    assert stats.welch([1.0, 1.0], [1.0, 1.0], 0.05).p_value == 1.0


def test_interpolation_never_extrapolates():
    curve = [(1.0, 4.0), (3.0, 2.0)]
    assert stats.interpolate(curve, 2.0) == 3.0
    assert stats.interpolate(curve, 0.5) is None
    assert stats.interpolate(curve, 3.5) is None
