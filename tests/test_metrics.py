"""Metrics and baselines checked by hand on tiny arrays."""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.data import seasons
from forecaster.evaluation import metrics
from forecaster.models.naive import naive, seasonal_naive
from forecaster.models.network.residual import residual_base


def test_metrics_by_hand():
    y = np.array([[2.0, 4.0], [6.0, 8.0]])
    p = np.array([[3.0, 4.0], [5.0, 10.0]])
    assert metrics.mae(y, p) == pytest.approx((1 + 0 + 1 + 2) / 4)
    assert metrics.rmse(y, p) == pytest.approx(np.sqrt((1 + 0 + 1 + 4) / 4))
    assert metrics.mape(y, p) == pytest.approx(100 * (1 / 2 + 0 + 1 / 6 + 2 / 8) / 4)
    assert metrics.smape(y, p) == pytest.approx(100 * (2 / 5 + 0 + 2 / 11 + 4 / 18) / 4)
    assert metrics.per_step_mae(y, p) == [1.0, 1.0]
    insample = np.array([1.0, 2.0, 4.0, 7.0])  # lag-2 diffs: 3, 5 -> scale 4
    assert metrics.mase(y, p, insample=insample, season=2) == pytest.approx(1.0 / 4.0)


def test_mape_with_zero_actuals_is_missing_with_a_warning():
    with pytest.warns(metrics.MetricWarning, match="MAPE is undefined: 1 actual value"):
        assert metrics.mape(np.array([0.0, 1.0]), np.array([1.0, 1.0])) is None


def test_mase_of_constant_training_series_is_missing():
    with pytest.warns(metrics.MetricWarning, match="MASE is undefined"):
        assert metrics.mase(np.ones(3), np.ones(3), insample=np.ones(10), season=2) is None


@pytest.mark.parametrize(
    ("freq", "season"),
    [("30min", 48), ("h", 24), ("15min", 96), ("D", 7), ("W-SUN", 52), ("MS", 12), ("ME", 12), ("QS", 4), ("YS", 1)],
)
def test_infer_season(freq, season):
    assert seasons.infer_season(freq) == season


def test_baselines_by_hand():
    y = np.array([1.0, 2.0, 3.0, 10.0, 20.0, 30.0, 0.0])
    first = np.array([3, 5])
    np.testing.assert_array_equal(naive(y, first, 2), [[3.0, 3.0], [20.0, 20.0]])
    # season 3: window at row 3 repeats rows 0,1,2; at row 5 repeats rows 2,3 then (step 2) row 4
    np.testing.assert_array_equal(
        seasonal_naive(y, first, 3, season=3), [[1.0, 2.0, 3.0], [3.0, 10.0, 20.0]]
    )
    # horizon longer than the season wraps to the same phase
    np.testing.assert_array_equal(seasonal_naive(y, np.array([4]), 4, season=2), [[3.0, 10.0, 3.0, 10.0]])
    with pytest.raises(ValueError, match="more rows of history"):
        seasonal_naive(y, np.array([1]), 2, season=3)


def test_residual_base_picks_the_better_baseline_on_the_given_windows():
    rng = np.random.default_rng(0)
    t = np.arange(400)
    cycle = np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.05, t.size)
    first = np.arange(48, 380)
    b = residual_base(cycle, first, 6, season=24, lookback=48)
    expected = np.sqrt(np.mean((seasonal_naive(cycle, first, 6, season=24)
                                - cycle[first[:, None] + np.arange(6)]) ** 2))
    assert (b.name, b.season) == ("seasonal_naive", 24) and b.scale == pytest.approx(expected)
    # the period does not fit in the lookback: naive, whatever the errors
    assert residual_base(cycle, first, 6, season=24, lookback=12).name == "naive"
    # a random walk: the last value is the better forecast
    walk = np.cumsum(rng.normal(size=t.size))
    b = residual_base(walk, first, 6, season=24, lookback=48)
    expected = np.sqrt(np.mean((walk[first - 1][:, None] - walk[first[:, None] + np.arange(6)]) ** 2))
    assert (b.name, b.season) == ("naive", None) and b.scale == pytest.approx(expected)
    # a constant part: no error to measure by, scale 1
    assert residual_base(np.ones(100), np.arange(10, 90), 3, season=4, lookback=8).scale == 1.0
