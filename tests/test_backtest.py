"""Rolling-origin backtests: folds never train on data after their cut-off."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forecaster import config
from forecaster.cli.main import main
from forecaster.errors import ConfigError, DataError, ExitCode
from forecaster.models.catalog import default_baselines
from forecaster.workflows import backtest

from conftest import FAST


def test_fold_splits_expand_and_tile_the_test_part():
    folds = backtest.fold_splits(1000, folds=4, lookback=48, horizon=24, val=0.15, test=0.2)
    assert [f.val_end for f in folds] == [800, 850, 900, 950]  # cut-offs
    assert [f.n for f in folds] == [850, 900, 950, 1000]  # each scores only its block
    assert all(a.train_end < b.train_end for a, b in zip(folds, folds[1:]))  # expanding
    for f in folds:
        assert f.first_targets("test").min() >= f.val_end and f.first_targets("test").max() + 24 <= f.n
    with pytest.raises(DataError, match="blocks of 10 rows, fewer than the horizon 24"):
        backtest.fold_splits(1000, folds=20, lookback=48, horizon=24, val=0.15, test=0.2)
    with pytest.raises(ConfigError, match="--folds: expected an integer >= 1"):
        backtest.fold_splits(1000, folds=0, lookback=48, horizon=24, val=0.15, test=0.2)


def test_folds_never_train_on_data_after_their_cutoff(tmp_path, series_csv, monkeypatch):
    seen = []
    real = backtest.train_cell

    def spy(prep, cfg, cell, **kwargs):
        item = prep.single
        sp = item.split
        seen.append(sp)
        train_targets_end = max(sp.starts("train")) + sp.lookback + sp.horizon
        val_targets_end = max(sp.starts("val")) + sp.lookback + sp.horizon
        assert train_targets_end <= sp.train_end <= sp.val_end and val_targets_end <= sp.val_end
        assert prep.scaled.shape[0] == sp.n  # rows after the fold's block are not even held
        raw = item.series.frame.to_numpy()[: sp.train_end]
        np.testing.assert_allclose(item.scaler.mean_, raw.mean(axis=0))  # scaler from before the cut-off
        return real(prep, cfg, cell, **kwargs)

    monkeypatch.setattr(backtest, "train_cell", spy)
    cfg = config.resolve(overrides={
        "data.path": str(series_csv), "data.target": "y", "window.lookback": 12, "window.horizon": 4,
        "window.test": 0.3, "model.units": [4], "training.epochs": 1,
    })
    result = backtest.backtest(cfg, cell="gru", folds=3)
    assert [sp.val_end for sp in seen] == [168, 192, 216]
    assert [f.train_rows for f in result.folds] == [sp.train_end for sp in seen]
    summary = result.summary()
    assert set(summary) == {"gru", *default_baselines()} and summary["gru"]["mase"] is not None


def test_backtest_cli_refit_and_fixed(tmp_path, series_csv, capsys):
    models = tmp_path / "m"
    assert main(["train", "--cell", "gru", "--data", str(series_csv), "--target", "y", "--test", "0.3",
                 "--models-dir", str(models), *FAST]) == ExitCode.OK
    capsys.readouterr()
    assert main(["backtest", "--model", "series", "--models-dir", str(models), "--folds", "2", "--json"]) == 0
    refit = json.loads(capsys.readouterr().out)
    assert refit["refit"] is True and len(refit["folds"]) == 2
    for name, scores in refit["folds"][0]["scores"].items():  # every row's intervals, measured per fold
        assert 0 <= scores["coverage_80"] <= scores["coverage_95"] <= 1, name
    assert main(["backtest", "--model", "series", "--models-dir", str(models), "--folds", "2", "--no-refit"]) == 0
    out = capsys.readouterr().out
    assert "mean over folds" in out and "saved:" in out and "gru: MAE" in out and "80% covered" in out
    (run,) = (models / "series" / "runs").iterdir()
    fixed = json.loads((run / "backtest-2folds-fixed.json").read_text())
    # same data and split: the folds are the model's own test part, never seen in training
    assert fixed["refit"] is False and not any(f["overlaps_training"] for f in fixed["folds"])
    # a shorter file moves the folds back into the model's training/validation period: flagged
    shorter = tmp_path / "shorter.csv"
    shorter.write_text("\n".join(series_csv.read_text().splitlines()[:201]) + "\n")
    assert main(["backtest", "--model", "series", "--models-dir", str(models), "--folds", "2", "--no-refit",
                 "--data", str(shorter), "--quiet"]) == 0
    assert "lie inside the saved model's training/validation data" in capsys.readouterr().out
    fixed = json.loads((run / "backtest-2folds-fixed.json").read_text())
    assert fixed["folds"][0]["overlaps_training"] is True
    capsys.readouterr()
    assert main(["backtest", "--model", str(run / "ets"), "--folds", "2"]) == ExitCode.USAGE
    assert "ets is a statistical row; backtest refits a network" in capsys.readouterr().err


def test_baselines_are_fitted_once_per_fold_for_every_cell_and_seed(tmp_path, series_csv, monkeypatch):
    calls = []
    real = backtest.score_baselines

    def spy(prep, *args, **kwargs):
        calls.append(prep.single.split)
        return real(prep, *args, **kwargs)

    monkeypatch.setattr(backtest, "score_baselines", spy)
    cfg = config.resolve(overrides={
        "data.path": str(series_csv), "data.target": "y", "window.lookback": 12, "window.horizon": 4,
        "window.test": 0.3, "model.units": [4], "training.epochs": 1, "model.linear": False,
    })
    results = backtest.cells_backtest(cfg, cells=["gru", "mlp"], folds=2, seeds=[1, 2])
    assert len(calls) == 2 and calls[0] != calls[1]  # one per fold, not per cell x seed x fold (8)
    first, last = results["gru"][0].folds, results["mlp"][1].folds
    assert [f.scores["naive"] for f in first] == [f.scores["naive"] for f in last]
