"""The verdict on fixed loss matrices: one paired test for every pair, the cheapest row no row beats.

Each case is a small, seeded matrix of per-origin losses (rows x origins, or seeds x origins) whose
answer is known by construction: a clear winner, a tie settled by cost, a baseline that wins, seeds
that disagree, windows that overlap, a panel of a few series, a coverage shortfall.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecaster.evaluation.verdict import cheaper, cost_key, judge, paired_test

RNG = np.random.default_rng(26)
N = 300  # test origins
COMMON = RNG.normal(0, 0.15, N)  # what every row finds hard or easy at each origin (the pairing removes it)


def row(name: str, kind: str, mase: float, seconds: float, **extra: object) -> dict:
    cost = {"train_seconds": seconds} if kind == "model" else {"fit_seconds": seconds, "predict_seconds": 0.0}
    return {"name": name, "kind": kind, "mase": mase, **cost, **extra}


def losses(mean: float, noise: float = 0.02, seed: int = 0) -> np.ndarray:
    """One seed's per-origin losses: the shared difficulty plus the row's own noise, centred on ``mean``."""
    own = np.random.default_rng(seed).normal(0, noise, N)
    out = 0.5 + COMMON + own
    return (out - out.mean() + mean)[None]


def test_a_clear_winner_is_recommended_and_every_other_row_is_significantly_worse():
    rows = [row("gru", "model", 0.40, 60.0, params=5000), row("ets", "baseline", 0.50, 1.0),
            row("naive", "baseline", 1.20, 0.01)]
    mats = {"gru": losses(0.40, seed=1), "ets": losses(0.50, seed=2), "naive": losses(1.20, seed=3)}
    v = judge(rows, mats, lag=23)
    assert (v.recommended, v.best, v.equal_to) == ("gru", "gru", [])
    assert v.text.startswith("Use GRU: GRU has the lowest MASE (0.400) and is significantly lower than every other "
                             "row at the 5% level (the nearest, ets 0.500, p < 0.001).")
    assert "Significantly worse than GRU at the 5% level: ets 0.500 (p < 0.001), naive 1.200 (p < 0.001)." in v.text
    assert all(t.significant for t in v.tests) and len(v.tests) == 3  # every pair
    assert v.to_dict()["recommended"] == "gru" and v.to_dict()["tests"][0]["a"] == "gru"


def test_a_tie_goes_to_the_cheapest_row_and_says_why():
    rows = [row("lstm", "model", 0.5010, 95.0, params=17000), row("gru", "model", 0.5020, 80.0, params=13000),
            row("linear", "baseline", 0.5030, 0.4), row("seasonal_naive", "baseline", 1.20, 0.01)]
    mats = {"lstm": losses(0.5010, noise=0.05, seed=1), "gru": losses(0.5020, noise=0.05, seed=2),
            "linear": losses(0.5030, noise=0.05, seed=3), "seasonal_naive": losses(1.2, seed=4)}
    v = judge(rows, mats, lag=23)
    assert v.best == "lstm" and v.recommended == "linear" and sorted(v.equal_to) == ["gru", "lstm"]
    assert v.text.startswith("Use linear: no row is significantly better than linear (MASE 0.503) at the 5% level, "
                             "not even the lowest, LSTM 0.501 (p ")
    assert "it is the cheapest of the 3 rows no row beats: linear (0.4 s) to fit and forecast against LSTM (95.0 s)" \
        in v.text
    assert "Significantly worse than LSTM at the 5% level: seasonal naive 1.200 (p < 0.001)." in v.text
    assert "LSTM vs GRU: LSTM 0.501 vs GRU 0.502, p " in v.text and ": not significantly different." in v.text


def test_a_baseline_that_wins_is_recommended_over_every_network():
    rows = [row("gru", "model", 0.62, 60.0, params=5000), row("mlp", "model", 0.63, 20.0, params=3000),
            row("ets", "baseline", 0.50, 3.0), row("naive", "baseline", 1.10, 0.01)]
    mats = {"gru": losses(0.62, seed=1), "mlp": losses(0.63, seed=2), "ets": losses(0.50, seed=3),
            "naive": losses(1.10, seed=4)}
    v = judge(rows, mats, lag=23)
    assert v.recommended == "ets" and v.equal_to == []
    assert "Significantly worse than ets at the 5% level: GRU 0.620 (p < 0.001), MLP 0.630 (p < 0.001)" in v.text


def test_seeds_that_disagree_are_not_told_apart_and_the_cheaper_cell_is_used():
    # per seed, the GRU is clearly better on one seed and clearly worse on the other: pooled, 0.01 apart
    gru = np.concatenate([losses(0.45, seed=1), losses(0.57, seed=2)])
    lstm = np.concatenate([losses(0.52, seed=3), losses(0.52, seed=4)])
    rows = [row("gru", "model", 0.51, 70.0, params=13000), row("lstm", "model", 0.52, 30.0, params=17000),
            row("naive", "baseline", 1.2, 0.01)]
    mats = {"gru": gru, "lstm": lstm, "naive": losses(1.2, seed=5)}
    v = judge(rows, mats, lag=23)
    assert v.recommended == "lstm" and v.equal_to == ["gru"]  # 30 s against 70 s
    assert "mean of its 2 seeds, and their seed-to-seed spread is part of the test" in v.text
    # the same means with the seed spread left out (one line per cell): the origins alone call it significant
    alone = paired_test(gru.mean(axis=0), lstm.mean(axis=0), lag=23)
    assert alone.significant and not paired_test(gru, lstm, lag=23).significant


def test_overlapping_windows_widen_the_test():
    """Autocorrelated differences (a slow wave, as overlapping windows give): with the Newey-West lags and the
    HLN correction the difference is not significant; read as independent origins it would be."""
    wave = 0.05 * np.sin(np.arange(N) / 8.0)
    a, b = 0.5 + COMMON + wave + 0.006, 0.5 + COMMON
    assert paired_test(a, b, lag=0).significant
    assert not paired_test(a, b, lag=23).significant


def test_a_panel_test_counts_every_origin_of_every_series():
    """Three series: a row 5x worse on each is significantly worse (a test over the 3 series' means alone has
    2 degrees of freedom and would not tell); the pooled difference is the mean of the series' differences."""
    blocks = np.repeat(np.arange(3), 20)
    rng = np.random.default_rng(3)
    good = np.concatenate([rng.normal(m, 0.1, 20) for m in (0.9, 0.6, 0.6)])
    bad = np.concatenate([rng.normal(m, 0.5, 20) for m in (3.2, 4.6, 7.2)])
    t = paired_test(bad, good, lag=5, blocks=blocks)
    assert t.significant and t.lower() == "b" and t.n == 60
    means = [bad[blocks == k].mean() - good[blocks == k].mean() for k in range(3)]
    assert t.mean_difference == pytest.approx(np.mean(means))
    series_means = np.array(means)
    from scipy import stats

    assert stats.ttest_1samp(series_means, 0).pvalue > 0.05  # what a test over series alone would say


def test_a_row_short_of_nominal_coverage_is_flagged_with_what_to_do():
    rows = [row("gru", "model", 0.40, 60.0, coverage_80=0.62, coverage_95=0.93),
            row("ets", "baseline", 0.50, 1.0, coverage_80=0.79, coverage_95=0.95)]
    v = judge(rows, {"gru": losses(0.40, seed=1), "ets": losses(0.50, seed=2)}, lag=23, coverage_tolerance=0.05)
    assert [(f["row"], f["level"]) for f in v.coverage] == [("gru", 80)]
    assert ("Too narrow: for GRU the 80% interval covered 62.0%, short of nominal by more than 5 points "
            "(--coverage-shortfall)") in v.text and "a larger --val" in v.text
    looser = judge(rows, {"gru": losses(0.40, seed=1), "ets": losses(0.50, seed=2)}, lag=23, coverage_tolerance=0.2)
    assert looser.coverage == [] and "Too narrow" not in looser.text


def test_a_panel_row_whose_median_series_is_short_is_flagged_though_its_pooled_coverage_holds():
    rows = [row("ets", "baseline", 0.25, 2.0, coverage_80=0.81, coverage_80_median=0.70, coverage_80_min=0.06,
                coverage_80_min_series="utilities"),
            row("naive", "baseline", 0.52, 0.01, coverage_80=0.79, coverage_80_median=0.80, coverage_80_min=0.4,
                coverage_80_min_series="mining")]
    v = judge(rows, {"ets": losses(0.25, seed=1), "naive": losses(0.52, seed=2)}, lag=23)
    assert [(f["row"], f["on"]) for f in v.coverage] == [("ets", "median series")]
    assert "80% covered 81.0% (median series 70.0%, worst series utilities 6.0%)" in v.text
    assert "Too narrow: for ets the 80% interval covered 70.0% of the median series" in v.text


def test_the_level_is_a_setting_of_the_test():
    rows = [row("gru", "model", 0.500, 60.0), row("linear", "baseline", 0.503, 0.4)]
    mats = {"gru": losses(0.500, noise=0.05, seed=1), "linear": losses(0.503, noise=0.05, seed=2)}
    p = judge(rows, mats, lag=23).tests[0].p_value
    assert 0.05 < p < 0.5, p  # equal at 5 %: the cheaper linear row
    assert judge(rows, mats, lag=23).recommended == "linear"
    strict = judge(rows, mats, lag=23, level=0.5)  # a level above p (0.29): the GRU is significantly better
    assert strict.recommended == "gru" and strict.level == 0.5 and "at the 50% level" in strict.text


def test_backtest_folds_are_the_units():
    rows = [row("gru", "model", 0.40, 60.0, backtest_mase=0.40), row("naive", "baseline", 1.0, 0.01, backtest_mase=1.0)]
    folds = {"gru": np.array([[0.38, 0.41, 0.41]]), "naive": np.array([[0.98, 1.03, 0.99]])}
    v = judge(rows, folds, unit="folds", key="backtest_mase")
    assert v.recommended == "gru" and v.tests[0].n == 3 and v.tests[0].df == pytest.approx(2)
    assert "paired over the 3 backtest folds" in v.text and "backtest MASE" in v.text


def test_no_ranked_row_is_a_verdict_without_a_recommendation():
    v = judge([{"name": "gru", "kind": "model", "mase": None}], {})
    assert v.recommended is None and v.text.startswith("No row produced a MASE")


def test_costs_order_by_factor_two_steps_then_simplicity():
    naive = {"name": "naive", "kind": "baseline", "fit_seconds": 0.01}
    snaive = {"name": "seasonal_naive", "kind": "baseline", "fit_seconds": 0.002}
    ets = {"name": "ets", "kind": "baseline", "fit_seconds": 0.3}
    gru = {"name": "gru", "kind": "model", "train_seconds": 0.3, "params": 900}
    assert sorted([gru, ets, snaive, naive], key=cost_key) == [naive, snaive, ets, gru]  # all under 0.5 s
    assert cost_key({**ets, "fit_seconds": 30.0}) > cost_key(gru)
    assert cheaper(naive, gru) and not cheaper(gru, {**gru, "train_seconds": 0.5})  # timing noise is not cheaper


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.3, 1.5), min_size=2, max_size=6), st.integers(0, 10_000), st.sampled_from([0.01, 0.05, 0.2]))
def test_the_recommended_row_is_never_significantly_worse_than_another(means, seed, level):
    """Whatever the losses: no row is significantly better than the recommended one, the rows in the running are
    pairwise equal, and each test in the verdict is the one its sentence reports (one rule for every pair)."""
    rng = np.random.default_rng(seed)
    names = [f"r{i}" for i in range(len(means))]
    rows = [{"name": n, "kind": "baseline", "mase": m, "fit_seconds": float(rng.uniform(0.01, 100))}
            for n, m in zip(names, means)]
    mats = {n: (m + rng.normal(0, 0.3, 80))[None] for n, m in zip(names, means)}
    for r in rows:
        r["mase"] = float(mats[r["name"]].mean())
    v = judge(rows, mats, lag=5, level=level)
    running = [v.recommended, *v.equal_to]
    for t in v.tests:
        if t.a in running and t.b in running:
            assert not t.significant
        if v.recommended in (t.a, t.b):
            assert t.lower() in (None, v.recommended)
    assert math.isclose(min(r["mase"] for r in rows), next(r["mase"] for r in rows if r["name"] == v.best))
