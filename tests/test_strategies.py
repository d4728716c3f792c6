"""Direct and recursive horizon strategies."""

from __future__ import annotations

import numpy as np
import pytest

from forecaster import config
from forecaster.artifacts.cell import load_cell
from forecaster.cli.main import main
from forecaster.errors import ConfigError, ExitCode
from forecaster.models.network.strategies import rollout
from forecaster.workflows.predict import forecast, load_for_predict
from forecaster.workflows.train import train

from conftest import FAST


def test_rollout_feeds_predictions_back():
    calls = []

    def net(x):
        calls.append(x.copy())
        return x[:, -1, :1] * 2.0  # next = 2 * last

    out = rollout(net, np.array([[[1.0], [3.0]]], dtype=np.float32), 3)
    np.testing.assert_array_equal(out, [[6.0, 12.0, 24.0]])
    np.testing.assert_array_equal(calls[2][0, :, 0], [6.0, 12.0])  # the window slid over its own predictions


def test_recursive_and_direct_agree_for_horizon_one(tmp_path, series_csv):
    def run(strategy):
        cfg = config.resolve(overrides={
            "data.path": str(series_csv), "data.target": "y", "window.lookback": 12, "window.horizon": 1,
            "model.units": [4], "training.epochs": 2, "model.strategy": strategy,
            "output.models_dir": str(tmp_path / strategy),
        })
        return train(cfg, cells=["gru"])

    direct, recursive = run("direct"), run("recursive")
    assert direct.cells[0].test_pred.shape == recursive.cells[0].test_pred.shape == (36, 1)  # 36 test rows, one window each
    np.testing.assert_allclose(direct.cells[0].test_pred, recursive.cells[0].test_pred, rtol=1e-6)
    assert direct.leaderboard[0]["mase"] == pytest.approx(recursive.leaderboard[0]["mase"], rel=1e-6)


def test_recursive_run_saves_predicts_and_compares(tmp_path, series_csv, capsys):
    models = tmp_path / "m"
    assert main(["train", "--cell", "gru", "--strategy", "recursive", "--data", str(series_csv), "--target", "y",
                 "--models-dir", str(models), *FAST]) == ExitCode.OK
    (run,) = (models / "series" / "runs").iterdir()
    cell = run / "gru-recursive"
    loaded = load_cell(cell)
    assert loaded.model.output_shape == (None, 1) and loaded.horizon == 4
    out = forecast(loaded, load_for_predict(loaded))
    saved = np.loadtxt(cell / "forecast.csv", delimiter=",", skiprows=1, usecols=1)
    np.testing.assert_allclose(out["yhat"].to_numpy(), saved, rtol=1e-6)
    capsys.readouterr()
    assert main(["compare", "--data", str(series_csv), "--target", "y", "--cells", "gru",
                 "--strategies", "direct,recursive", "--models-dir", str(models), "--quiet", *FAST]) == 0
    assert "gru-recursive" in capsys.readouterr().out


def test_recursive_with_covariates_is_refused():
    with pytest.raises(ConfigError, match="--strategy \\(model.strategy\\): expected 'direct' when covariates"):
        config.resolve(overrides={"model.strategy": "recursive", "data.covariates": ["x"]})
