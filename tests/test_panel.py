"""Many series in one file: loading, per-series preparation, windows, known covariates, calendar, predict."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster import config
from forecaster.cli.main import main
from forecaster.data.features import calendar_features, input_values
from forecaster.data.load import load_panel
from forecaster.data.prepared import prepare, skipped_note
from forecaster.errors import DataError

from conftest import FAST, small_cfg


def panel_frame(lengths=(120, 150, 100, 20), starts_h=(0, 10, 30, 0), seed=0, code=False) -> pd.DataFrame:
    """A long-format hourly panel: series ``s0..`` of the given lengths and (ragged) starts.

    With ``code`` every value of series ``k`` lies in ``[1000 k, 1000 k + 999]``, so a window that
    read two series would hold values of two thousands.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for k, (n, start) in enumerate(zip(lengths, starts_h)):
        t = np.arange(n)
        if code:
            y = 1000 * k + 500 + 100 * np.sin(2 * np.pi * t / 24) + rng.uniform(-10, 10, n)
        else:
            y = (k + 1) * 10 + (k + 1) * 3 * np.sin(2 * np.pi * (t + start) / 24) + rng.normal(0, 0.3, n)
        frames.append(pd.DataFrame({"date": pd.date_range(pd.Timestamp("2024-01-01") + pd.Timedelta(hours=start),
                                                          periods=n, freq="h"),
                                    "store": f"s{k}", "y": y.round(3)}))
    return pd.concat(frames, ignore_index=True)


def panel_cfg(path: Path, models: Path, **extra: object) -> config.RunConfig:
    return small_cfg(path, models, **{"data.id_col": "store", "model.baselines": ["naive", "seasonal_naive", "linear"],
                                      **extra})


def test_ragged_panel_loads_each_series_on_the_shared_grid(write_csv):
    panel = load_panel(write_csv(panel_frame()), id_col="store", target="y")
    assert panel.ids == ["s0", "s1", "s2", "s3"]
    assert [len(s.frame) for s in panel.series] == [120, 150, 100, 20]
    assert [s.frame.index[0] for s in panel.series][1] == pd.Timestamp("2024-01-01 10:00")
    assert all(s.freq == "h" and s.series_id == sid for s, sid in zip(panel.series, panel.ids))


def test_interleaved_rows_are_grouped_by_series(write_csv):
    frame = panel_frame(lengths=(60, 60), starts_h=(0, 0)).sort_values(["date", "store"])
    panel = load_panel(write_csv(frame), id_col="store", target="y")
    expected = frame[frame.store == "s1"]["y"].to_numpy()
    np.testing.assert_array_equal(panel.series[1].frame["y"].to_numpy(), expected)


def test_too_short_series_is_skipped_and_named(write_csv, tmp_path):
    pp = prepare(panel_cfg(write_csv(panel_frame()), tmp_path))
    assert pp.ids == ["s0", "s1", "s2"]
    assert [sid for sid, _ in pp.skipped] == ["s3"]
    note = skipped_note(pp)
    assert note is not None and note.startswith("1 series skipped") and note.endswith(": s3") and "20 rows" in note


def test_no_series_long_enough_is_one_clear_error(write_csv, tmp_path):
    with pytest.raises(DataError, match=r"no series is long enough for lookback 12 and horizon 4 \(2 series: s0, s1"):
        prepare(panel_cfg(write_csv(panel_frame(lengths=(20, 25), starts_h=(0, 0))), tmp_path))


def test_each_series_scaler_is_fitted_on_its_own_training_rows_only(write_csv, tmp_path):
    frame = panel_frame(lengths=(120, 150), starts_h=(0, 5))
    pp = prepare(panel_cfg(write_csv(frame), tmp_path))
    for item, sid in zip(pp.items, ["s0", "s1"]):
        y = frame.loc[frame.store == sid, "y"].to_numpy()
        train = y[: item.split.train_end]
        assert item.scaler.mean_[0] == pytest.approx(train.mean())
        assert item.scaler.scale_[0] == pytest.approx(train.std())
    # the test part of s1 changed beyond recognition: no scaler moves
    changed = frame.copy()
    rows = changed.index[changed.store == "s1"][pp.items[1].split.train_end:]
    changed.loc[rows, "y"] = 1e6
    again = prepare(panel_cfg(write_csv(changed, "changed.csv"), tmp_path))
    for a, b in zip(pp.items, again.items):
        np.testing.assert_array_equal(a.scaler.mean_, b.scaler.mean_)


def test_windows_never_cross_two_series(write_csv, tmp_path):
    pp = prepare(panel_cfg(write_csv(panel_frame(lengths=(90, 70, 80), starts_h=(0, 3, 7), code=True)), tmp_path,
                                 **{"data.missing": "error"}))
    lb, h = pp.split.lookback, pp.split.horizon
    offsets = pp.split.offsets
    for part in ("train", "val", "test"):
        starts = pp.split.starts(part)
        k = np.searchsorted(offsets, starts, side="right") - 1
        assert (starts + lb + h <= offsets[k + 1]).all(), part
    # the streamed dataset itself, on a column that holds each row's series number: constant in every window
    from forecaster.data.windows import make_dataset

    series_of_row = np.repeat(np.arange(3), np.diff(offsets)).astype(np.float32)
    seen = 0
    for x, y in make_dataset(series_of_row[:, None], pp.split.starts("train"), lookback=lb, horizon=h,
                             batch_size=64, shuffle=True, seed=1):
        x, y = x.numpy()[:, :, 0], y.numpy()
        assert (x == x[:, :1]).all() and (y == x[:, :1]).all()
        seen += len(x)
    assert seen == len(pp.split.starts("train"))
    # and on the real values: every window's values lie in one series' thousand
    raw = np.concatenate([pp.items[k].scaler.inverse_target(pp.scaled[offsets[k]:offsets[k + 1], 0]) for k in range(3)])
    windows = np.asarray(pp.split.starts("train"))[:, None] + np.arange(lb + h)[None, :]
    thousands = np.floor(raw[windows] / 1000)
    assert (thousands == thousands[:, :1]).all()


def test_known_covariates_are_aligned_to_the_step_they_describe(write_csv, tmp_path):
    rng = np.random.default_rng(3)
    n = 200
    promo = rng.integers(0, 2, n).astype(float)
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n, freq="D"), "y": 10 + 5 * promo +
                          rng.normal(0, 0.1, n), "promo": promo})
    cfg = small_cfg(write_csv(frame), tmp_path, **{"data.known_covariates": ["promo"], "window.lookback": 8,
                                                     "window.horizon": 4})
    prep = prepare(cfg).single
    assert prep.columns == ["y", "promo"]
    h = 4
    for o in prep.origins("test")[:20]:
        # the window's last h rows carry promo at the h steps it forecasts
        np.testing.assert_array_equal(prep.values[o - h : o, 1], promo[o : o + h])
    # the end of the series: the lead rows are unknown until --future gives them
    assert np.isnan(prep.values[-h:, 1]).all()


def test_known_covariates_let_a_linear_model_see_the_future_promotion(write_csv, tmp_path):
    from forecaster.evaluation.scoring import score_row
    from forecaster.models.linear import Linear
    from forecaster.models.local import PerSeries
    from forecaster.models.naive import Naive

    rng = np.random.default_rng(4)
    n = 400
    promo = rng.integers(0, 2, n).astype(float)
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n, freq="D"),
                          "y": 10 + 5 * promo + rng.normal(0, 0.2, n), "promo": promo})
    path = write_csv(frame)
    known = prepare(small_cfg(path, tmp_path, **{"data.known_covariates": ["promo"], "window.lookback": 8}))
    past = prepare(small_cfg(path, tmp_path, **{"data.covariates": ["promo"], "window.lookback": 8}))
    mase_known = score_row(Linear(), known).scores["mase"]
    mase_past = score_row(Linear(), past).scores["mase"]
    assert mase_known < 0.2 < score_row(PerSeries(Naive), known).scores["mase"]
    assert mase_past > 3 * mase_known  # as a past covariate it cannot tell the next days' promotions


def test_calendar_features_equal_a_hand_computation():
    idx = pd.DatetimeIndex(["2024-01-03 06:00", "2024-07-01 18:00"])  # a Wednesday; a Monday (2024 is a leap year)
    cal = calendar_features(idx, "h")
    day = np.array([6 / 24, 18 / 24])
    week = (np.array([2, 0]) + day) / 7
    year = np.array([2, 182]) / 366
    for name, c in (("day", day), ("week", week), ("year", year)):
        np.testing.assert_allclose(cal[f"calendar_{name}_sin"], np.sin(2 * np.pi * c), atol=1e-12)
        np.testing.assert_allclose(cal[f"calendar_{name}_cos"], np.cos(2 * np.pi * c), atol=1e-12)
    monthly = calendar_features(pd.date_range("2024-01-01", periods=12, freq="MS"), "MS")
    np.testing.assert_allclose(monthly["calendar_year_sin"], np.sin(2 * np.pi * np.arange(12) / 12), atol=1e-12)
    with pytest.raises(DataError, match="no calendar cycle"):
        calendar_features(pd.date_range("2000-01-01", periods=3, freq="YS"), "YS")


def test_calendar_inputs_are_led_by_the_horizon(write_csv, tmp_path):
    frame = panel_frame(lengths=(100,), starts_h=(0,)).drop(columns="store")
    s = prepare(small_cfg(write_csv(frame), tmp_path, **{"data.calendar": True})).single.series
    values = input_values(s, 4, calendar=True)
    ahead = calendar_features(s.frame.index + pd.Timedelta(hours=4), "h")
    np.testing.assert_allclose(values[:, 1:], ahead.to_numpy(), atol=1e-12)  # known at every row, no NaN


@pytest.mark.parametrize(("edit", "message"), [
    (lambda f: pd.concat([f, f[f.store == "s1"].iloc[[5]]]).sort_values(["store", "date"], kind="stable"),
     r"series 's1': column 'date': duplicate timestamp"),
    (lambda f: f.assign(store=f.store.where(f.index != 7, None)), r"column 'store' \(--id-col\): line 9 has no series id"),
    (lambda f: f.assign(y=f.y.astype(object).where(f.index != 130, "n/a")),
     r"series 's1': column 'y': missing value at line 132 \(2024-01-01 20:00:00\)"),
    (lambda f: f.assign(y=f.y.astype(object).where(f.index != 130, "abc")), r"column 'y' \(--target\): line 132 value 'abc'"),
])
def test_bad_rows_are_reported_per_series(write_csv, edit, message):
    with pytest.raises(DataError, match=message):
        load_panel(write_csv(edit(panel_frame())), id_col="store", target="y")


def test_series_on_another_frequency_is_named(write_csv):
    frame = panel_frame(lengths=(100, 60), starts_h=(0, 0))
    daily = frame.store == "s1"
    frame.loc[daily, "date"] = pd.date_range("2024-01-01", periods=int(daily.sum()), freq="D")
    with pytest.raises(DataError, match=r"series 's1': its 60 rows span 1,417 steps of 'h', the panel's frequency "
                                        r"\(inferred on series 's0'; every series must share one frequency\)"):
        load_panel(write_csv(frame), id_col="store", target="y")


def test_panel_train_predict_every_series_with_its_own_timestamps(write_csv, tmp_path, capsys):
    frame = panel_frame(lengths=(120, 150, 100, 20), starts_h=(0, 10, 30, 0))
    path = write_csv(frame)
    models = tmp_path / "models"
    rc = main(["train", "--data", str(path), "--id-col", "store", "--target", "y", "--lookback", "12", "--horizon", "4",
               "--units", "8", "--epochs", "2", "--cell", "gru", "--models-dir", str(models), "--quiet",
               "--baselines", "naive,seasonal_naive,linear", "--json"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    run = Path(payload["run_dir"])
    rows = {r["name"]: r for r in payload["leaderboard"]}
    assert rows["gru"]["series"] == 3 and rows["gru"]["mase_median"] is not None and rows["gru"]["mase"] > 0
    per = pd.read_csv(run / "series_metrics.csv")
    assert set(per["store"]) == {"s0", "s1", "s2"} and set(per["name"]) == {"gru", "naive", "seasonal_naive", "linear"}
    gru = per[per.name == "gru"]
    assert rows["gru"]["mase"] == pytest.approx(gru["mase"].mean())
    assert (run / "report.html").exists() is False  # train writes no report; compare does

    out = tmp_path / "fc.csv"
    assert main(["predict", "--model", str(run / "gru"), "--output", str(out)]) == 0
    fc = pd.read_csv(out, parse_dates=["timestamp"])
    assert list(fc.columns[:3]) == ["store", "timestamp", "yhat"] and {"lo-80", "hi-95"} <= set(fc.columns)
    assert fc.groupby("store").size().to_dict() == {"s0": 4, "s1": 4, "s2": 4}
    for sid, group in fc.groupby("store"):
        last = frame[frame.store == sid]["date"].max()
        assert list(group["timestamp"]) == list(pd.date_range(last, periods=5, freq="h")[1:])
    assert "1 series left out (not in the training data): s3" in capsys.readouterr().err

    # one series alone matches its rows of the batched call
    assert main(["predict", "--model", str(run / "gru"), "--series", "s1", "--output", str(tmp_path / "one.csv")]) == 0
    one = pd.read_csv(tmp_path / "one.csv")
    np.testing.assert_allclose(one["yhat"], fc[fc.store == "s1"]["yhat"], rtol=1e-5)
    assert main(["predict", "--model", str(run / "gru"), "--series", "nope"]) == 3
    assert "--series: 'nope' is not a series of" in capsys.readouterr().err


def test_panel_compare_reports_pooled_and_per_series(write_csv, tmp_path, capsys):
    path = write_csv(panel_frame(lengths=(120, 130, 110), starts_h=(0, 4, 9)))
    rc = main(["compare", "--data", str(path), "--id-col", "store", "--target", "y", "--lookback", "12", "--horizon", "4",
               "--units", "8", "--epochs", "2", "--cells", "gru,mlp", "--models-dir", str(tmp_path / "m"), "--quiet",
               "--baselines", "naive,seasonal_naive,linear", "--json"])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    run = Path(payload["run_dir"])
    assert "series by series, each series an independent block" in payload["verdict"]["text"]
    assert payload["verdict"]["recommended"] in {r["name"] for r in payload["leaderboard"]}
    html = (run / "report.html").read_text()
    assert "Per series: MASE of" in html and "series_mase.png" in html and html.count("data:image/png;base64,") == 2
    board = json.loads((run / "leaderboard.json").read_text())
    assert board["series"] == 3 and board["id_col"] == "store"
    assert {r["name"] for r in board["rows"] if r.get("inference_backend")} == {"gru", "mlp"}  # timed as served


def test_panel_compare_ranks_by_the_pooled_backtest(write_csv, tmp_path, capsys):
    path = write_csv(panel_frame(lengths=(160, 170, 150), starts_h=(0, 4, 9)))
    rc = main(["compare", "--data", str(path), "--id-col", "store", "--target", "y", "--cells", "mlp", "--backtest", "2",
               "--test", "0.3", "--models-dir", str(tmp_path / "m"), "--baselines", "naive,seasonal_naive",
               "--no-tensorboard", "--json", *FAST])
    assert rc == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["conditions"]["backtest_folds"] == 2 and "backtest MASE" in payload["conditions"]["ranked_by"]
    rows = {r["name"]: r for r in payload["leaderboard"]}
    assert all(rows[n]["backtest_mase"] is not None for n in ("mlp", "naive", "seasonal_naive"))
    ranked = [r["backtest_mase"] for r in payload["leaderboard"]]
    assert ranked == sorted(ranked)
    saved = json.loads((Path(payload["run_dir"]) / "backtest.json").read_text())
    assert len(saved["mlp"][0]["folds"]) == 2


def test_known_covariates_need_future_values_to_predict(write_csv, tmp_path, capsys):
    rng = np.random.default_rng(5)
    n = 160
    promo = rng.integers(0, 2, n + 4).astype(float)
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n, freq="D"),
                          "y": 10 + 5 * promo[:n] + rng.normal(0, 0.2, n), "promo": promo[:n]})
    path = write_csv(frame)
    models = tmp_path / "models"
    assert main(["train", "--data", str(path), "--target", "y", "--known-covariates", "promo", "--lookback", "8",
                 "--horizon", "4", "--units", "8", "--epochs", "2", "--cell", "mlp", "--models-dir", str(models),
                 "--quiet", "--baselines", "naive"]) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(models / "series")]) == 2
    assert "--future: " in capsys.readouterr().err
    future = pd.DataFrame({"date": pd.date_range(frame.date.iloc[-1], periods=5, freq="D")[1:], "promo": promo[n:]})
    short = write_csv(future.iloc[:3], "short.csv")
    assert main(["predict", "--model", str(models / "series"), "--future", str(short)]) == 3
    err = capsys.readouterr().err
    assert "short.csv: no value of 'promo' at " in err and str(future.date.iloc[3].date()) in err
    full = write_csv(future, "future.csv")
    assert main(["predict", "--model", str(models / "series"), "--future", str(full), "--output",
                 str(tmp_path / "fc.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "fc.csv")) == 4


def test_a_panel_backtest_cuts_each_series_at_its_own_origins(write_csv, tmp_path):
    """Fold k of a panel scores each series exactly as a backtest of that series alone would (here the
    naive row, whose forecasts need no fit), pooled as the mean over series; a series too short
    for the folds is skipped in every fold."""
    from forecaster.data.load import load
    from forecaster.workflows import backtest as bt

    frame = panel_frame(lengths=(160, 200, 130, 25), starts_h=(0, 10, 30, 0))
    cfg = panel_cfg(write_csv(frame), tmp_path, **{"window.test": 0.3, "model.baselines": ["naive", "seasonal_naive"]})
    said: list[str] = []
    folds = bt._folds(cfg, load(cfg), 3, said.append, "backtest")
    assert "1 series skipped" in said[0] and "s3" in said[0]
    for k, fd in enumerate(folds):
        assert [p.series.series_id for p in fd.prep.items] == ["s0", "s1", "s2"]
        alone = []
        for p in fd.prep.items:  # the same series in a file of its own, backtested alone
            one = write_csv(frame[frame.store == p.series.series_id].drop(columns="store"), f"{p.series.series_id}.csv")
            single = small_cfg(one, tmp_path, **{"window.test": 0.3, "model.baselines": ["naive"]})
            own = bt._folds(single, load(single), 3, lambda _m: None, "alone")[k]
            assert p.split.val_end == own.prep.single.split.val_end and p.split.n == own.prep.single.split.n
            np.testing.assert_allclose(p.scaler.mean_, own.prep.single.scaler.mean_)  # fitted before the cut-off only
            alone.append(own.base["naive"]["mase"])
        assert fd.base["naive"]["mase"] == pytest.approx(np.mean(alone), rel=1e-9)
        assert fd.base["naive"]["series"] == 3


def test_panel_backtest_refits_per_fold_from_the_cli(write_csv, tmp_path, capsys):
    path = write_csv(panel_frame(lengths=(160, 170), starts_h=(0, 5)))
    models = tmp_path / "m"
    assert main(["train", "--data", str(path), "--id-col", "store", "--target", "y", "--cell", "mlp", "--models-dir",
                 str(models), "--baselines", "naive", "--no-tensorboard", "--test", "0.3", *FAST]) == 0
    capsys.readouterr()
    assert main(["backtest", "--model", str(models / "series"), "--folds", "2", "--json", "--quiet"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [f["fold"] for f in payload["folds"]] == [1, 2] and payload["refit"] is True
    assert all(f["scores"]["mlp"]["mase"] is not None and f["scores"]["naive"]["mase"] is not None
               for f in payload["folds"])
    assert payload["folds"][0]["cutoff"] < payload["folds"][1]["cutoff"]
    assert main(["backtest", "--model", str(models / "series"), "--folds", "2", "--no-refit"]) == 2
    assert "--no-refit: " in capsys.readouterr().err


def test_retrain_on_a_panel_gates_on_the_pooled_score_and_a_new_series_promotes(write_csv, tmp_path):
    from forecaster.registry.retrain import retrain
    from forecaster.registry.store import Registry

    frame = panel_frame(lengths=(150, 150, 140), starts_h=(0, 0, 10))
    path = write_csv(frame)
    cfg = panel_cfg(path, tmp_path / "models", **{"model.cell": "gru", "model.units": [4], "output.name": "shops",
                                                   "schedule.min_new_rows": 0})
    first = retrain(cfg)
    assert first.outcome == "promoted", first.reason
    reg = Registry(tmp_path / "models", "shops")
    champ = reg.inspect(reg.champion())
    assert champ.manifest["data"]["id_col"] == "store" and champ.manifest["data"]["series"] == 3
    again = retrain(cfg)  # the same data: the champion re-scored per series on the same holdout ties
    assert again.outcome == "kept" and again.champion_score == pytest.approx(again.challenger_score, rel=1e-4)
    assert again.challenger_score == pytest.approx(first.challenger_score, rel=1e-6)
    grown = pd.concat([frame, panel_frame(lengths=(150,), starts_h=(0,), seed=9).assign(store="s9")])
    write_csv(grown, path.name)
    third = retrain(cfg)
    assert third.outcome == "promoted" and "not trained on series 's9'" in third.reason


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: {**d, "ids": ["a", "a"]}, "ids must be distinct strings"),
    (lambda d: {**d, "mean": d["mean"][:1]}, "ids, mean and scale differ in length"),
    (lambda d: {**d, "scale": [[1.0], [0.0]]}, "not finite positive numbers"),
    (lambda d: {k: v for k, v in d.items() if k != "ids"}, "not a valid per-series scaler"),
])
def test_a_tampered_per_series_scaler_is_refused(edit, message):
    from forecaster.data.scaling import Scaler, SeriesScalers, read_scaler
    from forecaster.errors import ArtifactError

    good = SeriesScalers(["a", "b"], [Scaler(["y"]).fit(np.array([[1.0], [3.0]])),
                                      Scaler(["y"]).fit(np.array([[10.0], [30.0]]))]).to_dict()
    assert read_scaler(good).of("b").mean_.tolist() == [20.0]
    with pytest.raises(ArtifactError, match=message):
        read_scaler(edit(good), "cell/scaler.json")


def test_series_ids_are_kept_as_written(write_csv):
    frame = panel_frame(lengths=(60, 60, 60), starts_h=(0, 0, 0)).assign(
        store=lambda f: f.store.map({"s0": "001", "s1": "010", "s2": "1"}))
    panel = load_panel(write_csv(frame), id_col="store", target="y")
    assert panel.ids == ["001", "010", "1"]  # not 1, 10, 1 (two series merged)


@pytest.mark.parametrize("single", [True, False])
def test_a_cell_failing_on_every_seed_is_a_row_and_the_run_completes(write_csv, tmp_path, monkeypatch, single):
    from forecaster.errors import TrainingError
    from forecaster.workflows import compare
    from forecaster.workflows import train as train_flow

    def failing(original):
        def train(data, cfg, cell, **kw):
            if cell == "gru":
                raise TrainingError("gru diverged (loss is NaN)")
            return original(data, cfg, cell, **kw)
        return train

    monkeypatch.setattr(train_flow, "train_cell", failing(train_flow.train_cell))
    if single:
        path = write_csv(panel_frame(lengths=(200,), starts_h=(0,)).drop(columns="store"))
        cfg = small_cfg(path, tmp_path / "m", **{"model.baselines": ["naive"]})
    else:
        cfg = panel_cfg(write_csv(panel_frame(lengths=(120, 130), starts_h=(0, 0))), tmp_path / "m",
                        **{"model.baselines": ["naive"]})
    result = compare.compare(cfg, cells=["mlp", "gru"], report=False)
    rows = {r["name"]: r for r in result.rows}
    assert rows["gru"]["error"] == "seed 42 failed: gru diverged (loss is NaN)" and rows["gru"]["mase"] is None
    assert rows["mlp"]["mase"] is not None
    assert (result.run_dir / "mlp" / "manifest.json").is_file() and not (result.run_dir / "gru").exists()


def test_recursive_strategy_is_refused_with_calendar_or_known_inputs(write_csv, tmp_path):
    from forecaster.errors import ConfigError
    from forecaster.workflows import compare

    path = write_csv(panel_frame(lengths=(200,), starts_h=(0,)).drop(columns="store"))
    cfg = small_cfg(path, tmp_path / "m", **{"data.calendar": True})
    with pytest.raises(ConfigError, match="--strategies: recursive forecasts from the target alone"):
        compare.compare(cfg, cells=["mlp"], strategies=["direct", "recursive"], report=False)


def test_panel_settings_errors_are_not_reported_as_short_series(write_csv, tmp_path):
    path = write_csv(panel_frame(lengths=(120, 130), starts_h=(0, 0)))
    with pytest.raises(DataError, match="lookback 2 is shorter than the horizon 4; known covariates and calendar"):
        prepare(panel_cfg(path, tmp_path, **{"data.calendar": True, "window.lookback": 2}))


def test_a_statistical_row_needs_no_future_values(tmp_path):
    from forecaster.artifacts.statistical import LoadedStatistical
    from forecaster.workflows.predict import read_future

    row = LoadedStatistical(path=tmp_path, spec={"name": "theta"}, manifest={"data": {"known": ["promo"]}})
    assert read_future(row, None) is None  # it forecasts from the target alone


def test_new_rows_are_counted_per_series_on_a_ragged_panel(write_csv):
    from forecaster.registry.gate import check_new_data

    before = panel_frame(lengths=(100, 150), starts_h=(0, 0))
    manifest = {"window": {"freq": "h", "horizon": 4},
                "data": {"id_col": "store", "target": "y", "covariates": [], "known": [],
                         "last": str(before.date.max()),
                         "series_last": {sid: str(g.date.max()) for sid, g in before.groupby("store")}}}
    grown = panel_frame(lengths=(130, 150), starts_h=(0, 0))  # s0 grew by 30 rows, all before s1's end
    panel = load_panel(write_csv(grown), id_col="store", target="y")
    assert check_new_data(panel, manifest, min_new_rows=10, horizon=4) is None
    same = load_panel(write_csv(before, "same.csv"), id_col="store", target="y")
    reason = check_new_data(same, manifest, min_new_rows=10, horizon=4)
    assert reason == "0 new rows after the end of each series in the champion's data; need at least 10"


def _with_size(frame: pd.DataFrame) -> pd.DataFrame:
    sizes = {"s0": 100.0, "s1": 250.0, "s2": 400.0, "s3": 50.0}
    return frame.assign(size=frame["store"].map(sizes))


def test_static_covariates_are_scaled_across_series_not_within_each(write_csv, tmp_path):
    frame = _with_size(panel_frame(lengths=(120, 150, 100, 20), starts_h=(0, 10, 30, 0)))  # s3 is too short
    cfg = panel_cfg(write_csv(frame.assign(size=frame["size"].where(frame["store"] != "s3", 5000.0))), tmp_path,
                    **{"data.static_covariates": ["size"]})
    pp = prepare(cfg)
    assert pp.ids == ["s0", "s1", "s2"] and all(p.columns == ["y", "size"] for p in pp.items)
    sizes = np.array([100.0, 250.0, 400.0])  # the skipped series' 5000 takes no part
    for p in pp.items:  # every series' scaler holds the statistics over the series, not its own (which would give 0)
        assert p.scaler.mean_[1] == pytest.approx(sizes.mean()) and p.scaler.scale_[1] == pytest.approx(sizes.std())
    scaled = [float(np.unique(p.scaled[:, 1])[0]) for p in pp.items]
    np.testing.assert_allclose(scaled, (sizes - sizes.mean()) / sizes.std(), rtol=1e-6)
    assert all(np.unique(p.scaled[:, 1]).size == 1 for p in pp.items)


def test_a_static_covariate_that_varies_within_a_series_is_named(write_csv):
    frame = _with_size(panel_frame(lengths=(60, 60), starts_h=(0, 0)))
    frame.loc[frame.index[70], "size"] = 999.0  # row 70: the 11th row of s1
    with pytest.raises(DataError, match=r"series 's1': column 'size' \(--static-covariates\): line 72 holds 999 "
                                        r"after 250 on earlier rows; a static covariate has one value per series"):
        load_panel(write_csv(frame), id_col="store", target="y", static=["size"])


def test_static_covariates_need_a_panel(write_csv, capsys):
    path = write_csv(_with_size(panel_frame(lengths=(120,), starts_h=(0,))).drop(columns="store"))
    assert main(["train", "--data", str(path), "--target", "y", "--static-covariates", "size", *FAST]) == 2
    assert "(data.static_covariates): expected none unless data.id_col" in capsys.readouterr().err


def test_a_model_with_static_covariates_is_saved_and_served(write_csv, tmp_path, capsys):
    path = write_csv(_with_size(panel_frame(lengths=(120, 150, 100), starts_h=(0, 10, 30))))
    models = tmp_path / "m"
    assert main(["train", "--data", str(path), "--id-col", "store", "--target", "y", "--static-covariates", "size",
                 "--cell", "mlp", "--baselines", "naive", "--no-tensorboard", "--models-dir", str(models), "--json",
                 *FAST]) == 0
    run = Path(json.loads(capsys.readouterr().out)["run_dir"])
    manifest = json.loads((run / "mlp" / "manifest.json").read_text())
    assert manifest["data"]["static"] == ["size"] and manifest["data"]["covariates"] == []
    out = tmp_path / "fc.csv"
    assert main(["predict", "--model", str(run), "--output", str(out)]) == 0
    np.testing.assert_allclose(pd.read_csv(out)["yhat"], pd.read_csv(run / "mlp" / "forecast.csv")["yhat"], rtol=1e-4)


def _with_region(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(region=frame["store"].map({"s0": "north", "s1": "south", "s2": "north", "s3": "west"}))


def test_a_text_static_covariate_is_one_column_per_category(write_csv, tmp_path):
    frame = _with_region(panel_frame(lengths=(120, 150, 100), starts_h=(0, 10, 30)))
    frame.loc[130, "region"] = None  # an empty cell of s1 takes its series' category
    panel = load_panel(write_csv(frame), id_col="store", target="y", static=["region"])
    assert panel.static_levels == {"region": ("north", "south")} and panel.static_columns == ("region",)
    assert panel.first.columns == ["y", "region=north", "region=south"]
    onehot = [s.frame[["region=north", "region=south"]].drop_duplicates().to_numpy().tolist() for s in panel.series]
    assert onehot == [[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]]] and panel.series[1].n_filled == 0
    # a saved model's categories: one it never saw is all zeros
    again = load_panel(write_csv(frame.assign(region=frame["region"].replace("south", "west")), "new.csv"),
                       id_col="store", target="y", static=["region"], static_levels={"region": ["north", "south"]})
    assert again.series[1].frame[["region=north", "region=south"]].eq(0.0).all().all()
    with pytest.raises(DataError, match=r"series 's1': column 'region' \(--static-covariates\): line \d+ holds "
                                        r"'west' after 'south' on earlier rows"):
        bad = frame.copy()
        bad.loc[140, "region"] = "west"
        load_panel(write_csv(bad, "bad.csv"), id_col="store", target="y", static=["region"])


def test_a_numeric_static_column_with_a_bad_cell_is_not_read_as_categories(write_csv):
    frame = _with_size(panel_frame(lengths=(60, 60), starts_h=(0, 0))).astype({"size": object})
    frame.loc[3, "size"] = "1OO"
    with pytest.raises(DataError, match=r"column 'size' \(--static-covariates\): line 5 value '1OO' is not a number"):
        load_panel(write_csv(frame), id_col="store", target="y", static=["size"])


def test_a_model_with_a_text_static_covariate_serves_a_new_category(write_csv, tmp_path, capsys):
    frame = _with_region(panel_frame(lengths=(120, 150, 100), starts_h=(0, 10, 30)))
    path = write_csv(frame)
    models = tmp_path / "m"
    assert main(["train", "--data", str(path), "--id-col", "store", "--target", "y", "--static-covariates", "region",
                 "--cell", "mlp", "--baselines", "naive", "--no-tensorboard", "--models-dir", str(models), "--json",
                 *FAST]) == 0
    run = Path(json.loads(capsys.readouterr().out)["run_dir"])
    data = json.loads((run / "mlp" / "manifest.json").read_text())["data"]
    assert data["static"] == ["region=north", "region=south"] and data["static_levels"] == {"region": ["north", "south"]}
    out = tmp_path / "fc.csv"
    assert main(["predict", "--model", str(run), "--output", str(out)]) == 0
    np.testing.assert_allclose(pd.read_csv(out)["yhat"], pd.read_csv(run / "mlp" / "forecast.csv")["yhat"], rtol=1e-4)
    moved = write_csv(frame.assign(region=frame["region"].replace("south", "east")), "moved.csv")
    assert main(["predict", "--model", str(run), "--data", str(moved), "--output", str(out)]) == 0
    assert len(pd.read_csv(out)) == 12  # s1's unseen category is all zeros: still served


def test_a_static_covariates_empty_cell_takes_its_series_value(write_csv):
    frame = _with_size(panel_frame(lengths=(60, 60), starts_h=(0, 0)))
    frame.loc[[0, 5], "size"] = np.nan  # s0's first and sixth rows
    panel = load_panel(write_csv(frame), id_col="store", target="y", static=["size"])
    assert (panel.series[0].frame["size"] == 100.0).all() and panel.series[0].n_filled == 0


def test_the_verdict_does_not_rank_a_row_scored_on_fewer_series():
    from forecaster.evaluation.verdict import judge

    rows = [{"name": "gru", "kind": "model", "mase": 0.5, "series": 3},
            {"name": "lstm", "kind": "model", "mase": 0.2, "series": 2},  # its mean leaves out the hardest series
            {"name": "naive", "kind": "baseline", "mase": 0.8, "series": 3},
            {"name": "ets", "kind": "baseline", "mase": 0.1, "series": 1}]
    rng = np.random.default_rng(0)
    blocks = np.repeat(np.arange(3), 20)
    losses = {r["name"]: (r["mase"] + rng.normal(0, 0.01, 60))[None] for r in rows}
    v = judge(rows, losses, lag=3, blocks=blocks, subject="these series")
    assert v.recommended == "gru" and {t.a for t in v.tests} | {t.b for t in v.tests} == {"gru", "naive"}
    assert "Not ranked (scored on fewer series, a mean over others): LSTM (2 of 3), ets (1 of 3)." in v.text


def test_a_retrain_keeps_the_champions_categories(write_csv, tmp_path):
    from forecaster.registry.retrain import retrain

    frame = _with_region(panel_frame(lengths=(150, 150, 140), starts_h=(0, 0, 10)))
    path = write_csv(frame)
    cfg = panel_cfg(path, tmp_path / "models", **{"model.cell": "mlp", "output.name": "shops", "schedule.min_new_rows": 0,
                                                   "data.static_covariates": ["region"], "output.tensorboard": False})
    assert retrain(cfg).outcome == "promoted"
    write_csv(frame.assign(region=frame["region"].replace("south", "east")), path.name)  # a category it never saw
    again = retrain(cfg)
    assert again.outcome in ("kept", "promoted") and again.challenger_score is not None and again.champion_score


@pytest.mark.parametrize(("edit", "kwargs", "message"), [
    (lambda f: f.assign(size=f["store"].map({"s0": "1,200", "s1": "3,400"})), {"static": ["size"]},
     r"column 'size' \(--static-covariates\): line 2 value '1,200' is not a number .*thousands separators"),
    (lambda f: f.assign(region=f["store"].map({"s0": "north", "s1": None})), {"static": ["region"]},
     r"series 's1': column 'region' \(--static-covariates\) is empty on every row of the series"),
    (lambda f: f.assign(region=f["store"].map({"s0": "north", "s1": "south"}), **{"region=north": 1.0}),
     {"static": ["region"], "covariates": ["region=north"]}, r"input column 'region=north' would be made twice"),
    (lambda f: f.assign(region=f["store"].map({"s0": "north", "s1": "south"})), {"static": ["region"],
     "static_levels": {}}, r"column 'region' \(--static-covariates\) holds text categories \('north', \.\.\.\), but the "
                           r"saved model reads it as numbers or not at all"),
])
def test_static_columns_that_cannot_be_read_as_meant_are_named(write_csv, edit, kwargs, message):
    frame = edit(panel_frame(lengths=(60, 60), starts_h=(0, 0)))
    with pytest.raises(DataError, match=message):
        load_panel(write_csv(frame), id_col="store", target="y", **kwargs)
