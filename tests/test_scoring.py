"""One scoring path and one model contract for every row of a leaderboard."""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.artifacts.cell import load_cell, load_for_serving
from forecaster.data.prepared import prepare
from forecaster.evaluation import metrics, scoring
from forecaster.models import baselines
from forecaster.models.contract import Capabilities, Model
from forecaster.models.network import model as network
from forecaster.workflows import pipeline

from conftest import small_cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    from conftest import make_frame

    root = tmp_path_factory.mktemp("scoring")
    data = root / "series.csv"
    make_frame(300).to_csv(data, index=False)
    cfg = small_cfg(data, root / "models", **{"data.covariates": ["x"], "model.linear": True})
    return cfg, pipeline.train(cfg, cells=["gru"])


def test_the_one_path_reproduces_the_former_keras_predict_scores(trained):
    """Former path: ``model.predict`` over the test tf.data windows, inverse-scaled, then metrics.score."""
    cfg, run = trained
    cell = run.cells[0]
    prep = prepare(cfg)
    old_pred = prep.scaler.inverse_target(cell.model.predict(prep.dataset("test", batch_size=32), verbose=0))
    old = metrics.score(prep.test_targets, old_pred, insample=prep.insample, season=prep.season)
    np.testing.assert_allclose(cell.test_pred, old_pred, rtol=1e-5, atol=1e-6)
    for key in ("mae", "rmse", "smape", "mase"):
        assert cell.scores[key] == pytest.approx(old[key], rel=1e-6)


def test_saved_cell_scores_like_the_trained_one_through_the_same_function(trained):
    cfg, run = trained
    prep = prepare(cfg)
    saved = run.cells[0].scores
    for loaded in (load_cell(run.run_dir / "gru"), load_for_serving(run.run_dir / "gru")):  # Keras, ONNX
        rescored = scoring.score_model(loaded, prep)
        assert rescored["mase"] == pytest.approx(saved["mase"], rel=1e-5)


def test_every_leaderboard_model_honours_the_contract(trained):
    cfg, run = trained
    prep = prepare(cfg)
    models: list[object] = [*baselines.default_baselines(), run.cells[0].network, load_cell(run.run_dir / "gru")]
    origins = prep.origins("test")[:5]
    for model in models:
        assert isinstance(model, Model), model
        assert isinstance(model.capabilities, Capabilities) and model.kind in ("model", "baseline")
        model.fit(prep)
        pred = model.predict(prep.values, origins, prep.split.horizon)
        assert pred.shape == (5, prep.split.horizon) and np.isfinite(pred).all()
        # only rows before each origin are used: poisoning the rest changes nothing
        poisoned = prep.values.copy()
        poisoned[origins[0]:] = 1e6
        np.testing.assert_allclose(model.predict(poisoned, origins[:1], prep.split.horizon), pred[:1], rtol=1e-6)
    assert run.cells[0].network.capabilities.uses_covariates and not baselines.Naive().capabilities.uses_covariates


def test_a_failing_model_becomes_a_row_with_its_reason(trained):
    cfg, _ = trained
    prep = prepare(cfg)

    class Broken(baselines.Naive):
        name = "broken"

        def fit(self, prep):
            raise ValueError("series too short for this model\nsecond line")

    rows = scoring.fit_and_score([Broken(), baselines.Naive()], prep)
    assert [r.name for r in rows] == ["broken", "naive"]
    assert rows[0].error == "series too short for this model" and rows[0].scores["mase"] is None
    assert rows[0].scores["error"] == "broken failed: series too short for this model"
    assert rows[1].error is None and rows[1].scores["mase"] > 0 and rows[1].fit_seconds is not None
    base = pipeline.baseline_scores(prep, [Broken(), baselines.SeasonalNaive()])
    assert list(base) == ["broken", "seasonal_naive"]


def test_network_model_fit_is_the_train_cell_fit(trained):
    cfg, run = trained
    prep = prepare(cfg)
    net = network.NetworkModel("gru", cfg).fit(prep)  # same seed, same windows: the same model
    np.testing.assert_allclose(scoring.predict_part(net, prep), run.cells[0].test_pred, rtol=1e-5, atol=1e-6)


def test_linear_row_is_the_networks_linear_start_alone(tmp_path, write_csv):
    """The ``linear`` baseline forecasts what a residual network with its head silenced forecasts."""
    import pandas as pd

    from forecaster.models.network.cells import build_model

    t = np.arange(600, dtype=np.float64)
    y = np.sin(2 * np.pi * t / 24) + 0.002 * t - 1e-5 * (t - 300) ** 2  # seasonal naive misses the drift
    data = write_csv(pd.DataFrame({"date": pd.date_range("2024-01-01", periods=600, freq="h"), "y": y}))
    cfg = small_cfg(data, tmp_path / "m", **{"window.lookback": 48, "window.horizon": 12})
    prep = prepare(cfg)
    linear = baselines.Linear().fit(prep)
    pred = scoring.predict_part(linear, prep)
    snaive = scoring.predict_part(baselines.SeasonalNaive().fit(prep), prep)
    truth = prep.test_targets
    assert np.abs(truth - pred).mean() < 0.2 * np.abs(truth - snaive).mean()

    model = build_model(cell="gru", lookback=48, n_features=1, horizon=12, units=(4,), base=linear.base_)
    head = model.get_layer("forecast")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    x = prep.scaler.transform(np.stack([prep.values[o - 48 : o] for o in prep.origins("test")]))
    np.testing.assert_allclose(prep.scaler.inverse_target(model.predict(x, verbose=0)), pred, rtol=1e-4, atol=1e-4)
