"""Recurrent cells against their linear start: the stopping rule, a signal they must learn, the lookback choice."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from forecaster.data.seasons import choose_lookback, lookback_candidates
from forecaster.evaluation import scoring
from forecaster.models.linear import Linear
from forecaster.models.network import model as network
from forecaster.models.network.residual import ResidualBase
from forecaster.models.network.training import batch_for, block_se
from forecaster.workflows.train import prepare_run as prepare
from forecaster.workflows.train import train_cell

from conftest import small_cfg

# traced: these fits run tens of epochs, where eager execution is slower (40 s vs 7 s for the nonlinear one)
pytestmark = pytest.mark.graph


def _frame(y: np.ndarray, freq: str = "D") -> pd.DataFrame:
    return pd.DataFrame({"date": pd.date_range("2000-01-01", periods=len(y), freq=freq), "y": np.round(y, 5)})


def logistic(n: int, seed: int = 0) -> np.ndarray:
    """A noisy logistic map: each value is a parabola of the last one, which no linear map of the window fits."""
    rng = np.random.default_rng(seed)
    y = np.empty(n)
    y[0] = 0.3
    for t in range(1, n):
        y[t] = np.clip(3.8 * y[t - 1] * (1 - y[t - 1]) + rng.normal(0, 0.01), 0.001, 0.999)
    return y


def test_a_cell_with_nothing_to_learn_is_stopped_and_forecasts_as_the_linear_row(tmp_path, write_csv):
    rng = np.random.default_rng(1)
    y = np.zeros(700)
    for t in range(1, len(y)):  # a linear AR(1): the least-squares start is already the best forecast
        y[t] = 0.8 * y[t - 1] + rng.normal()
    cfg = small_cfg(write_csv(_frame(y)), tmp_path / "m", **{
        "window.lookback": 8, "window.horizon": 2, "training.epochs": 20, "training.gain_epochs": 2,
        "forecast.levels": []})
    prep = prepare(cfg)
    result = train_cell(prep, cfg, "lstm")
    fit = result.fit
    assert fit.stop_reason is not None and fit.stop_reason.startswith("no gain over the linear start after 2 epochs (")
    assert fit.best_epoch == 0 and fit.epochs_run == 2 and fit.gain_z is not None and fit.gain_z > -2
    assert fit.best_val_loss == pytest.approx(result.base.start.val_loss, rel=1e-4)  # the start: the linear row
    linear = scoring.predict_part(Linear().fit(prep).on(prep.single), prep.single, "test")
    np.testing.assert_allclose(result.test_pred, linear, rtol=1e-4, atol=1e-4)


def test_cells_learn_a_nonlinear_signal_the_linear_row_cannot_fit(tmp_path, write_csv):
    cfg = small_cfg(write_csv(_frame(logistic(900))), tmp_path / "m", **{
        "window.lookback": 6, "window.horizon": 2, "model.units": [16], "training.epochs": 30,
        "training.patience": 5, "forecast.levels": []})
    prep = prepare(cfg)
    linear = scoring.score_row(Linear(), prep).scores["mase"]
    result = train_cell(prep, cfg, "gru")
    fit = result.fit
    assert fit.stop_reason is None and fit.best_epoch > cfg.training.gain_epochs
    assert fit.gain_z is not None and fit.gain_z <= -2  # beat its start beyond noise at the gain check
    assert fit.best_val_loss < 0.7 * fit.start_val_loss
    assert result.scores["mase"] < 0.85 * linear


def test_the_stop_is_said_in_the_leaderboard_and_the_verdict(tmp_path, write_csv):
    from forecaster.workflows.compare import compare

    rng = np.random.default_rng(2)
    y = np.cumsum(rng.normal(size=500))  # a random walk: nothing beyond its linear start
    cfg = small_cfg(write_csv(_frame(y)), tmp_path / "m", **{
        "window.lookback": 8, "window.horizon": 2, "training.epochs": 10, "training.gain_epochs": 1,
        "model.baselines": ["naive", "seasonal_naive", "linear"], "forecast.levels": [], "output.tensorboard": False})
    res = compare(cfg, cells=["lstm"], report=False)
    row = next(r for r in res.rows if r["name"] == "lstm")
    assert row["stopped"].startswith("no gain over the linear start after 1 epochs (")
    assert "LSTM: no gain over the linear start after 1 epochs (" in res.verdict
    assert "it forecasts as the linear row" in res.verdict
    import json

    metrics = json.loads((res.run_dir / "lstm" / "metrics.json").read_text())
    assert metrics["stop_reason"] == row["stopped"] and metrics["best_epoch"] == 0
    assert metrics["start_val_loss"] == pytest.approx(metrics["best_val_loss"])


def test_the_lookback_is_the_candidate_whose_linear_row_validates_best(tmp_path, write_csv):
    rng = np.random.default_rng(3)
    n = 24 * 7 * 10
    week = rng.normal(size=168)  # a weekly pattern with no daily one: only a window holding last week sees it
    y = np.tile(week, n // 168) + rng.normal(0, 0.2, n)
    cfg = small_cfg(write_csv(_frame(y, "h")), tmp_path / "m", **{"window.lookback": None, "window.horizon": 24})
    prep = prepare(cfg)
    assert set(prep.lookback_scores) == {48, 192}  # the floor and the week plus the horizon
    assert prep.split.lookback == 192 and prep.lookback_scores[192] < 0.5 * prep.lookback_scores[48]

    walk = np.cumsum(rng.normal(size=n))  # no cycle, no memory beyond the last value: a longer window adds nothing
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, path=str(write_csv(_frame(walk, "h"), "rw.csv"))))
    short = prepare(cfg)
    assert short.split.lookback == 48 and short.lookback_scores[48] <= 1.005 * min(short.lookback_scores.values())


def test_lookback_candidates_and_ties_prefer_the_shorter():
    assert lookback_candidates((24, 168), 24, 6000) == [48, 192]
    assert lookback_candidates((52,), 24, 1500) == [48, 76, 104]
    assert choose_lookback({48: 1.0, 76: 0.999, 104: 0.9}) == 104
    assert choose_lookback({48: 1.0, 76: 0.999}) == 48  # within 0.5 %: the cheaper window


def test_small_training_sets_get_smaller_batches_and_noise_is_measured_by_blocks():
    assert batch_for(512, 100_000, 16) == 512 and batch_for(512, 4000, 16) == 250 and batch_for(512, 100, 16) == 64
    assert batch_for(512, 4000, 1) == 512
    # windows that share targets: block means, not single windows, are the independent draws
    d = np.repeat([1.0, -1.0, 1.0, -1.0], 5)
    assert block_se(d, 5) == pytest.approx(np.std([1, -1, 1, -1], ddof=1) / 2)
    assert np.isnan(block_se(d, 20))


def test_recurrent_cells_read_the_recent_steps_and_the_linear_path_the_whole_window():
    from forecaster.models.network.cells import build_model

    base = ResidualBase("naive", None, 1.0, linear=(np.zeros((60, 3), "float32"), np.zeros(3, "float32")))
    model = build_model(cell="lstm", lookback=60, n_features=1, horizon=3, units=(4,), base=base, recurrent_steps=24)
    assert model.get_layer("recent_steps").output.shape[1] == 24
    assert model.get_layer("linear").kernel.shape == (60, 3) and not model.get_layer("linear").trainable
    x = np.random.default_rng(0).normal(size=(5, 60, 1)).astype("float32")
    np.testing.assert_allclose(model.predict(x, verbose=0), np.repeat(x[:, -1:, 0], 3, axis=1), atol=1e-6)  # starts as its base
    assert network.recurrent_steps(None, 360, 48) == 96 and network.recurrent_steps(12, 360, 48) == 12
