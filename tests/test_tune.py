"""Tuning at an equal budget (issue 29): ``forecast compare --tune N``, ``workflows.tune``.

Tiny on purpose: a 200-point hourly series, 2-4 trials of 2 epochs.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster import config
from forecaster.cli.main import main
from forecaster.errors import ConfigError, ExitCode
from forecaster.evaluation.verdict import judge
from forecaster.workflows import compare, tune
from forecaster.workflows.train import prepare_run
from forecaster.workflows.tune_output import trials_table

from conftest import FAST, make_frame, small_cfg

pytest.importorskip("optuna")


def tuned_cfg(data: Path, models: Path, trials: int, **extra: object) -> config.RunConfig:
    return small_cfg(data, models, **{"tune.trials": trials, "output.tensorboard": False, **extra})


def counted(study) -> int:
    return len(tune._counted(study))


def test_every_cell_gets_the_same_budget_of_counted_trials(tmp_path, write_csv):
    data = write_csv(make_frame(200))
    cfg = tuned_cfg(data, tmp_path / "models", 2)
    prep = prepare_run(cfg)
    done = tune.tune_cells(cfg, prep, ["lstm", "gru"], run_dir=tmp_path / "models/s/runs/r1")
    assert [t.name for t in done] == ["lstm-tuned", "gru-tuned"]
    assert [counted(t.study) for t in done] == [2, 2] == [t.counted for t in done]
    for t in done:
        table = trials_table(t.study)
        assert len(table) == 2 and set(table["state"]) <= {"complete", "pruned"}
        assert {"val_loss", "pruned", "epochs", "seconds", "param_units", "param_lookback"} <= set(table.columns)
        best = table.loc[table["val_loss"].idxmin()]
        assert t.result.fit.best_val_loss == pytest.approx(best["val_loss"], rel=1e-6)  # the row is the best trial
        assert t.result.scores["mase"] is not None  # scored on the test part, once


def test_the_test_part_plays_no_role_in_the_choice(tmp_path, write_csv):
    """Poison the test rows: the same trials, validation losses and chosen parameters; only the test score moves."""
    frame = make_frame(200)
    poisoned = frame.copy()
    test_rows = poisoned.index[-int(0.15 * len(frame)) :]
    poisoned.loc[test_rows, "y"] = poisoned.loc[test_rows, "y"] * 50 + 1000
    results = []
    for name, f in (("clean.csv", frame), ("poisoned.csv", poisoned)):
        cfg = tuned_cfg(write_csv(f, name), tmp_path / "models", 3)
        prep = prepare_run(cfg)
        (t,) = tune.tune_cells(cfg, prep, ["gru"], run_dir=tmp_path / "models" / name / "runs/r")
        results.append(t)
    clean, bad = (trials_table(t.study) for t in results)
    params = [c for c in clean.columns if c.startswith("param_")]
    pd.testing.assert_frame_equal(clean[params], bad[params])
    np.testing.assert_allclose(clean["val_loss"], bad["val_loss"], rtol=1e-6)
    assert results[0].study.best_trial.params == results[1].study.best_trial.params
    assert results[1].result.scores["mase"] > 5 * results[0].result.scores["mase"]  # the poison was there


def test_an_interrupted_tuning_resumes_to_its_budget(tmp_path, write_csv, monkeypatch):
    from forecaster.models.network.model import NetworkModel

    data = write_csv(make_frame(200))
    cfg = tuned_cfg(data, tmp_path / "models", 4)
    prep = prepare_run(cfg)
    run_dir = tmp_path / "models/s/runs/r"
    real_fit, calls = NetworkModel.fit, []

    def fit_then_interrupt(self, p):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_fit(self, p)

    monkeypatch.setattr(NetworkModel, "fit", fit_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        tune.tune_cells(cfg, prep, ["lstm"], run_dir=run_dir)
    import optuna

    study = optuna.load_study(study_name="lstm", storage=f"sqlite:///{tune.tuning_dir(run_dir) / tune.STUDY_FILE}")
    first = [(t.number, t.params) for t in study.trials if t.state.name == "COMPLETE"]
    assert len(first) == 2 and counted(study) == 2
    study.ask()  # a trial a kill left running: it is not counted either
    with pytest.raises(ConfigError, match="other data, cells or settings"):
        tune.tune_cells(cfg, prep, ["gru"], run_dir=run_dir, resume=True)

    monkeypatch.setattr(NetworkModel, "fit", real_fit)
    (t,) = tune.tune_cells(cfg, prep, ["lstm"], run_dir=run_dir, resume=True)
    assert t.counted == 4  # continued to its budget, not restarted
    kept = [(tr.number, tr.params) for tr in t.study.trials if tr.number in dict(first)]
    assert kept == first
    table = trials_table(t.study)
    assert len(table) == 6 and table["counted"].sum() == 4  # two interrupted trials, not counted


def test_resume_needs_a_study_and_a_budget(tmp_path, write_csv):
    cfg = tuned_cfg(write_csv(make_frame(200)), tmp_path / "models", 2)
    with pytest.raises(ConfigError, match="no interrupted tuning"):
        tune.tune_cells(cfg, prepare_run(cfg), ["lstm"], run_dir=tmp_path / "models/s/runs/r", resume=True)
    plain = small_cfg(tmp_path / "x.csv", tmp_path / "models")
    with pytest.raises(ConfigError, match="--resume: continues an interrupted tuning"):
        compare.compare(plain, cells=["lstm"], resume=True)


def test_a_second_tuning_of_the_same_name_is_refused_and_leaves_the_first_ones_study(tmp_path):
    run_dir = tmp_path / "models/s/runs/r"
    study = tune.tuning_dir(run_dir) / tune.STUDY_FILE
    with tune.tuning_lock(run_dir):
        study.parent.mkdir(parents=True)
        study.write_bytes(b"the first tuning's study")
        with pytest.raises(ConfigError, match=r"--tune: another tuning of s is running"), tune.tuning_lock(run_dir):
            pass
        assert study.read_bytes() == b"the first tuning's study"
    with tune.tuning_lock(run_dir):  # released: the next tuning of the name goes ahead
        pass


@pytest.mark.parametrize(("extra", "kwargs", "message"), [
    ({"model.per_series": True, "data.id_col": "store"}, {}, "--per-series"),
    ({}, {"backtest": 2}, "--backtest"),
    ({}, {"executor": "ray", "ray_address": "auto"}, "drop --ray-address auto"),
    ({}, {"strategies": ["direct", "recursive"]}, "one horizon strategy"),
])
def test_what_tuning_does_not_support_is_refused_before_training(tmp_path, extra, kwargs, message):
    cfg = small_cfg(tmp_path / "x.csv", tmp_path / "models", **{"tune.trials": 2, **extra})
    with pytest.raises(ConfigError, match=message):
        compare.compare(cfg, cells=["lstm"], **kwargs)


def test_tune_flags_are_compare_settings(tmp_path):
    from forecaster.cli.flags import tune_overrides
    from forecaster.cli.main import build_parser

    args = build_parser().parse_args(["compare", "--tune", "5", "--tune-time", "60", "--resume"])
    assert tune_overrides(args)["tune.trials"] == 5 and args.resume
    cfg = config.resolve(args.config, tune_overrides(args))
    assert (cfg.tune.trials, cfg.tune.time) == (5, 60.0)
    assert main(["compare", "--tune", "-1"]) == ExitCode.USAGE
    assert main(["train", "--tune", "3"]) == ExitCode.USAGE  # compare only


def test_fc_train_refuses_the_tuning_keywords():
    import forecaster as fc

    with pytest.raises(Exception, match="unexpected keyword argument 'tune'"):
        fc.train(make_frame(200), target="y", tune=3)


def test_the_default_settings_are_the_first_trial_where_they_fit_the_space():
    space = tune._space("gru", config.RunConfig(), [48, 72])
    assert tune.default_params(config.RunConfig(), space, 48) == {
        "units": 64, "layers": 1, "learning_rate": 1e-3, "dropout": 0.0, "batch_size": 512, "linear": True,
        "lookback": 48}
    odd = config.resolve(overrides={"model.units": [8]})
    assert tune.default_params(odd, space, 48) is None


def test_the_verdict_answers_lstm_vs_gru_at_each_ones_tuned_best():
    """The paired test of the verdict, on the tuned pair too: here LSTM-TUNED is clearly lower than GRU-TUNED."""
    rng = np.random.default_rng(29)
    common = rng.normal(0, 0.15, 300)

    def losses(mean: float, seed: int) -> np.ndarray:
        out = 0.5 + common + np.random.default_rng(seed).normal(0, 0.02, 300)
        return (out - out.mean() + mean)[None]

    means = {"lstm": 0.90, "gru": 0.85, "lstm-tuned": 0.60, "gru-tuned": 0.70}
    rows = [{"name": n, "kind": "model", "mase": m, "train_seconds": 10.0, "params": 1000} for n, m in means.items()]
    v = judge(rows, {n: losses(m, k) for k, (n, m) in enumerate(means.items())}, lag=3)
    assert "LSTM vs GRU, each tuned at an equal budget: LSTM-TUNED 0.600 vs GRU-TUNED 0.700, p < 0.001: " \
           "LSTM-TUNED is significantly lower." in v.text
    assert "LSTM vs GRU: GRU 0.850 vs LSTM 0.900" in v.text  # the defaults' answer, beside it


def test_compare_tune_saves_servable_rows_and_a_config_that_reproduces_them(tmp_path, series_csv, capsys):
    models = tmp_path / "models"
    code = main(["compare", "--data", str(series_csv), "--target", "y", "--cells", "gru", "--tune", "2",
                 "--models-dir", str(models), "--baselines", "linear", "--no-tensorboard", "--json", *FAST])
    assert code == ExitCode.OK
    out = json.loads(capsys.readouterr().out)
    run = Path(out["run_dir"])
    names = [r["name"] for r in out["leaderboard"]]
    assert {"gru", "gru-tuned", "linear"} <= set(names)
    row = next(r for r in out["leaderboard"] if r["name"] == "gru-tuned")
    assert row["tune_trials"] == 2 and out["conditions"]["tuning"]["budget_per_cell"] == "2 trials"
    assert (run / "tuning.db").is_file() and not (models / "series" / "tuning").exists()  # nothing left to resume
    with open(run / "gru-tuned" / "trials.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 2
    assert list((run / "plots").glob("tune-history-gru-tuned.png"))

    again = tmp_path / "again"
    assert main(["train", "--config", str(run / "gru-tuned" / "config.yaml"), "--models-dir", str(again),
                 "--quiet"]) == ExitCode.OK
    (retrained,) = (again / "series" / "runs").iterdir()
    tuned_metrics = json.loads((run / "gru-tuned" / "metrics.json").read_text())
    new_metrics = json.loads((retrained / "gru" / "metrics.json").read_text())
    assert new_metrics["best_val_loss"] == pytest.approx(tuned_metrics["best_val_loss"], rel=1e-6)
    assert new_metrics["test"]["mase"] == pytest.approx(tuned_metrics["test"]["mase"], rel=1e-6)
    a = pd.read_csv(run / "gru-tuned" / "forecast.csv")
    b = pd.read_csv(retrained / "gru" / "forecast.csv")
    np.testing.assert_allclose(a["yhat"], b["yhat"], rtol=1e-6)

    capsys.readouterr()
    assert main(["predict", "--model", str(run / "gru-tuned")]) == ExitCode.OK
    assert "yhat" in capsys.readouterr().out


def test_a_panel_gets_its_tuned_row_scored_per_series(tmp_path):
    panel = Path(__file__).resolve().parent / "golden" / "panel.csv"
    cfg = config.resolve(overrides={"data.path": str(panel), "data.id_col": "store", "data.target": "y",
                                    "window.horizon": 4, "training.epochs": 2, "model.baselines": ["linear"],
                                    "output.models_dir": str(tmp_path), "output.tensorboard": False,
                                    "tune.trials": 2})
    res = compare.compare(cfg, cells=["gru"])
    row = next(r for r in res.rows if r["name"] == "gru-tuned")
    assert row["series"] == 3 and row["mase_median"] is not None
    table = pd.read_csv(res.run_dir / "series_metrics.csv")
    assert sorted(table.loc[table["name"] == "gru-tuned", "store"]) == ["a", "b", "c"]
    assert (res.run_dir / "gru-tuned" / "manifest.json").is_file()


@pytest.mark.slow
def test_a_killed_compare_tune_resumes_where_it_stopped(tmp_path, series_csv):
    """SIGKILL during the tuning, then ``--resume``: the trials done are kept and counted, the run completes."""
    import contextlib
    import signal
    import sqlite3
    import subprocess
    import sys
    import time
    from datetime import datetime

    import optuna

    models = tmp_path / "models"
    argv = [sys.executable, "-m", "forecaster", "compare", "--data", str(series_csv), "--target", "y",
            "--cells", "lstm", "--tune", "4", "--models-dir", str(models), "--baselines", "linear",
            "--no-tensorboard", *FAST]
    db = models / "series" / "tuning" / tune.STUDY_FILE
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done: list = []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if db.is_file():
            # read-only, never optuna.load_study: that creates missing tables, racing the run's own creation
            # ("table alembic_version already exists" in the run)
            try:
                with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
                    done = con.execute("SELECT number, datetime_start FROM trials WHERE state = 'COMPLETE'").fetchall()
            except sqlite3.Error:  # the file exists before its tables: try again
                done = []
            if len(done) >= 2:
                break
        time.sleep(0.2)
    assert proc.poll() is None, f"compare ended before it could be killed: {proc.stderr.read() if proc.stderr else ''}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (models / "series" / "runs").exists() or not list((models / "series" / "runs").glob("2*"))
    kept = {number: datetime.fromisoformat(started) for number, started in done}

    again = subprocess.run([*argv, "--resume", "--json"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    out = json.loads(again.stdout)
    assert out["conditions"]["tuning"]["trials_counted"] == {"lstm-tuned": 4}
    run = Path(out["run_dir"])
    with open(run / "lstm-tuned" / "trials.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert sum(r["counted"] == "True" for r in table) == 4
    saved = optuna.load_study(study_name="lstm", storage=f"sqlite:///{run / 'tuning.db'}")
    for number, started in kept.items():  # the trials before the kill are the same trials, not run again
        assert saved.trials[number].datetime_start == started and saved.trials[number].state.name == "COMPLETE"


@pytest.mark.slow  # a local Ray cluster (~10 s), then each cell's study as one task
def test_ray_tuning_gives_the_sequential_trials_for_a_seed(tmp_path, write_csv, ray_session):
    cfg = tuned_cfg(write_csv(make_frame(200)), tmp_path / "models", 3)
    prep = prepare_run(cfg)
    here = tune.tune_cells(cfg, prep, ["lstm", "gru"], run_dir=tmp_path / "models/a/runs/r")
    there = tune.tune_cells(cfg, prep, ["lstm", "gru"], run_dir=tmp_path / "models/b/runs/r", executor="ray")
    for a, b in zip(here, there, strict=True):
        assert (a.name, a.counted) == (b.name, b.counted)
        ta, tb = trials_table(a.study), trials_table(b.study)
        params = [c for c in ta.columns if c.startswith("param_")]
        pd.testing.assert_frame_equal(ta[["state", *params]], tb[["state", *params]])
        # one TensorFlow thread per Ray task against two here: float sums in another order, nothing more
        np.testing.assert_allclose(ta["val_loss"], tb["val_loss"], rtol=1e-3)
        assert b.result.scores["mase"] == pytest.approx(a.result.scores["mase"], rel=1e-3)
        assert b.result.model is not None and b.cfg == a.cfg  # the best model came back, loaded
