"""One scoring path and one model contract for every row of a leaderboard."""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.artifacts.cell import load_cell, load_for_serving
from forecaster.data.prepared import prepare
from forecaster.evaluation import metrics, scoring
from forecaster.models import catalog
from forecaster.models.contract import Capabilities, Forecaster, Model
from forecaster.models.linear import Linear
from forecaster.models.local import PerSeries
from forecaster.models.naive import Naive, SeasonalNaive
from forecaster.models.network import model as network
from forecaster.workflows.train import score_baselines, train

from conftest import small_cfg


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    from conftest import make_frame

    root = tmp_path_factory.mktemp("scoring")
    data = root / "series.csv"
    make_frame(300).to_csv(data, index=False)
    cfg = small_cfg(data, root / "models", **{"data.covariates": ["x"], "model.linear": True})
    return cfg, train(cfg, cells=["gru"])


def test_the_one_path_reproduces_the_former_keras_predict_scores(trained):
    """Former path: ``model.predict`` over the test tf.data windows, inverse-scaled, then metrics.score."""
    cfg, run = trained
    cell = run.cells[0]
    prep = prepare(cfg)
    item = prep.single
    old_pred = item.scaler.inverse_target(cell.model.predict(prep.dataset("test", batch_size=32), verbose=0))
    old = metrics.score(item.test_targets, old_pred, insample=item.insample, season=item.season)
    np.testing.assert_allclose(cell.test_pred, old_pred, rtol=1e-5, atol=1e-6)
    for key in ("mae", "rmse", "smape", "mase"):
        assert cell.scores[key] == pytest.approx(old[key], rel=1e-6)


def test_saved_cell_scores_like_the_trained_one_through_the_same_function(trained):
    cfg, run = trained
    prep = prepare(cfg)
    saved = run.cells[0].scores
    for loaded in (load_cell(run.run_dir / "gru"), load_for_serving(run.run_dir / "gru")):  # Keras, ONNX
        rescored = scoring.score_row(loaded, prep, fit=False).scores
        assert rescored["mase"] == pytest.approx(saved["mase"], rel=1e-5)


def test_every_leaderboard_model_honours_the_contract(trained):
    cfg, run = trained
    prep = prepare(cfg)
    item = prep.single
    models: list[object] = [*catalog.line_up(("naive", "seasonal_naive", "linear")), run.cells[0].network,
                            load_cell(run.run_dir / "gru")]
    origins = item.origins("test")[:5]
    for model in models:
        assert isinstance(model, Model), model
        assert isinstance(model.capabilities, Capabilities) and model.kind in ("model", "baseline")
        if not model.capabilities.network:
            model.fit(prep)
        forecaster = model.on(item)
        assert isinstance(forecaster, Forecaster)
        pred = forecaster.predict(item.values, origins, item.split.horizon)
        assert pred.shape == (5, item.split.horizon) and np.isfinite(pred).all()
        # only rows before each origin are used: poisoning the rest changes nothing
        poisoned = item.values.copy()
        poisoned[origins[0]:] = 1e6
        np.testing.assert_allclose(forecaster.predict(poisoned, origins[:1], item.split.horizon), pred[:1], rtol=1e-6)
    assert run.cells[0].network.capabilities.uses_covariates and not Naive().capabilities.uses_covariates
    assert run.cells[0].network.capabilities.global_fit and Linear().capabilities.global_fit
    assert not PerSeries(Naive).capabilities.global_fit


def test_a_failing_model_becomes_a_row_with_its_reason(trained):
    cfg, _ = trained
    prep = prepare(cfg)

    class Broken(Naive):
        name = "broken"

        def fit(self, prep):
            raise ValueError("series too short for this model\nsecond line")

    broken, naive = scoring.score_row(PerSeries(Broken), prep), scoring.score_row(PerSeries(Naive), prep)
    assert broken.name == "broken" and broken.scores["mase"] is None
    assert broken.error == "broken failed: series too short for this model"
    assert broken.errors == [(None, "series too short for this model")]
    assert naive.error is None and naive.scores["mase"] > 0 and naive.scores["fit_seconds"] is not None
    lined = score_baselines(prep, cfg)  # the run's whole line-up, a row each in the catalog's order
    assert [s.name for s in lined] == list(catalog.default_baselines())


def test_network_model_fit_is_the_train_cell_fit(trained):
    cfg, run = trained
    prep = prepare(cfg)
    net = network.NetworkModel("gru", cfg).fit(prep)  # same seed, same windows: the same model
    np.testing.assert_allclose(scoring.predict_part(net.on(prep.single), prep.single), run.cells[0].test_pred,
                               rtol=1e-5, atol=1e-6)


def test_linear_row_is_the_networks_linear_start_alone(tmp_path, write_csv):
    """The ``linear`` baseline forecasts what a residual network with its head silenced forecasts."""
    import pandas as pd

    from forecaster.models.network.cells import build_model

    t = np.arange(600, dtype=np.float64)
    y = np.sin(2 * np.pi * t / 24) + 0.002 * t - 1e-5 * (t - 300) ** 2  # seasonal naive misses the drift
    data = write_csv(pd.DataFrame({"date": pd.date_range("2024-01-01", periods=600, freq="h"), "y": y}))
    cfg = small_cfg(data, tmp_path / "m", **{"window.lookback": 48, "window.horizon": 12})
    prep = prepare(cfg)
    item = prep.single
    linear = Linear().fit(prep)
    pred = scoring.predict_part(linear.on(item), item)
    snaive = scoring.predict_part(SeasonalNaive().fit(prep).on(item), item)
    truth = item.test_targets
    assert np.abs(truth - pred).mean() < 0.2 * np.abs(truth - snaive).mean()

    model = build_model(cell="gru", lookback=48, n_features=1, horizon=12, units=(4,), base=linear.base_)
    head = model.get_layer("forecast")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    x = item.scaler.transform(np.stack([item.values[o - 48 : o] for o in item.origins("test")]))
    np.testing.assert_allclose(item.scaler.inverse_target(model.predict(x, verbose=0)), pred, rtol=1e-4, atol=1e-4)
