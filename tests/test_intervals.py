"""Conformal prediction intervals: calibrated on validation windows only, measured on test, served by predict."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pandas as pd
import pytest

from forecaster import config
from forecaster.cli.main import main
from forecaster.data.prepared import prepare
from forecaster.errors import ArtifactError, ConfigError, ExitCode
from forecaster.evaluation import intervals, scoring
from forecaster.models.local import PerSeries
from forecaster.models.naive import Naive, SeasonalNaive

from conftest import FAST, small_cfg

Z80 = 1.2815515655446004  # the standard normal's 90th percentile: an 80 % central interval is +-Z80 sigma


def _csv(tmp_path, y, name="series.csv"):
    path = tmp_path / name
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=len(y), freq="h"), "y": y}).to_csv(path, index=False)
    return path


def test_coverage_on_a_series_with_known_noise_is_near_nominal(tmp_path):
    """Seasonal cycle + iid N(0, 1): seasonal naive's error is the difference of two draws, N(0, 2)."""
    rng = np.random.default_rng(3)
    t = np.arange(6000)
    data = _csv(tmp_path, 10 + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1.0, len(t)))
    prep = prepare(small_cfg(data, tmp_path / "m", **{"window.val": 0.3, "window.test": 0.3}))
    row = scoring.score_row(PerSeries(SeasonalNaive), prep, levels=(80, 95))
    assert abs(row.scores["coverage_80"] - 0.80) < 0.03 and abs(row.scores["coverage_95"] - 0.95) < 0.02
    # the radius is the error distribution's quantile: Z80 * sqrt(2) for the difference of two N(0, 1)
    np.testing.assert_allclose(row.calibration.radius_of(80), Z80 * np.sqrt(2), rtol=0.1)
    assert row.scores["width_80"] == pytest.approx(2 * Z80 * np.sqrt(2), rel=0.1)
    assert row.scores["intervals"]["80"]["coverage_gap"] == pytest.approx(row.scores["coverage_80"] - 0.8)
    assert row.scores["winkler_95"] > row.scores["width_95"]  # misses are penalised


def test_intervals_widen_with_the_horizon_when_the_errors_do(tmp_path):
    """A random walk forecast by naive: the step-k error has sd sqrt(k), and so has the radius."""
    y = np.cumsum(np.random.default_rng(5).normal(0, 1.0, 4000)) + 100
    prep = prepare(small_cfg(_csv(tmp_path, y), tmp_path / "m", **{"window.horizon": 9, "window.val": 0.3}))
    cal = scoring.score_row(PerSeries(Naive), prep, levels=(80,)).calibration
    r = np.asarray(cal.radius_of(80))
    assert np.all(np.diff(r[[0, 3, 8]]) > 0)
    assert r[8] / r[0] == pytest.approx(3.0, rel=0.25)  # sqrt(9)


class _Recorder:
    """A model that remembers where it was asked to forecast."""

    name, kind = "recorder", "baseline"
    capabilities = Naive().capabilities

    def __init__(self):
        self.origins = []

    def fit(self, prep):
        return self

    def on(self, item):
        return self

    def predict(self, values, origins, horizon):
        self.origins.append(np.asarray(origins))
        return np.repeat(values[np.asarray(origins) - 1, :1], horizon, axis=1)


def test_calibration_never_sees_the_test_part(tmp_path, series_csv):
    prep = prepare(small_cfg(series_csv, tmp_path / "m"))
    model = _Recorder()
    cal = scoring.score_row(model, prep, levels=(80, 95)).calibration
    _test, asked = model.origins  # forecast at the test origins, then calibrated at the validation ones
    item = prep.single
    sp = item.split
    assert asked.min() >= sp.train_end and asked.max() + sp.horizon <= sp.val_end  # validation windows only
    # changing every test value changes nothing in the calibration
    values = item.values.copy()
    values[sp.val_end:, 0] += 1000.0
    changed = dataclasses.replace(prep, items=(dataclasses.replace(item, values=values, y=values[:, 0]),))
    assert scoring.score_row(_Recorder(), changed, levels=(80, 95)).calibration == cal


def test_conformal_rank_and_too_few_windows():
    assert intervals.min_windows(95) == 19 and intervals.min_windows(80) == 4 and intervals.min_windows(50) == 1
    errors = np.arange(1.0, 11.0)[:, None]  # 10 windows, one step: errors 1..10
    cal = intervals.calibrate(errors, np.zeros_like(errors), (80, 95))
    assert cal.radius_of(80) == (9.0,)  # rank ceil(11 * 0.8) = 9
    assert cal.radius_of(95) == (10.0,)  # rank 11 > 10: the largest error, without its guarantee
    assert cal.guaranteed(80) and not cal.guaranteed(95)
    (warning,) = cal.warnings()
    assert "95% interval is calibrated on 10 validation window(s), fewer than the 19" in warning
    with pytest.raises(ValueError, match="not finite"):
        intervals.calibrate(errors, np.full_like(errors, np.nan), (80,))


def test_a_calibration_round_trips_and_a_tampered_one_is_refused():
    cal = intervals.calibrate(np.random.default_rng(0).normal(size=(50, 3)), np.zeros((50, 3)), (95, 80))
    assert cal.levels == (80, 95)
    assert intervals.Calibration.from_dict(json.loads(json.dumps(cal.to_dict())), horizon=3) == cal
    raw = cal.to_dict()
    for broken, match in [
        ({**raw, "levels": [80, 100]}, "'levels' must be ascending integers in 1..99"),
        ({**raw, "n_windows": "50"}, "'n_windows' must be an integer >= 1"),
        ({**raw, "radius": {**raw["radius"], "80": [1.0, -1.0, 1.0]}}, "finite numbers >= 0"),
        ({**raw, "radius": {**raw["radius"], "80": [1.0, float("inf"), 1.0]}}, "finite numbers >= 0"),
        ({**raw, "radius": {"80": raw["radius"]["95"], "95": raw["radius"]["80"]}}, "higher level has a narrower"),
        ({**raw, "method": "gaussian"}, "not a calibration of method"),
    ]:
        with pytest.raises(ArtifactError, match=match):
            intervals.Calibration.from_dict(broken, source="calibration.json", horizon=3)
    with pytest.raises(ArtifactError, match="must be 4 finite numbers"):
        intervals.Calibration.from_dict(raw, source="calibration.json", horizon=4)


def test_levels_are_configured_and_checked():
    assert config.resolve(overrides={"forecast.levels": "90"}).forecast.levels == (90,)
    assert config.resolve(overrides={"forecast.levels": "none"}).forecast.levels == ()
    assert config.resolve().forecast.levels == (80, 95)
    for bad in ("100", "0", "80,80"):
        with pytest.raises(ConfigError, match=r"--levels \(forecast.levels\): expected distinct integer percentages"):
            config.resolve(overrides={"forecast.levels": bad})


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from conftest import make_frame

    root = tmp_path_factory.mktemp("intervals")
    data = root / "series.csv"
    make_frame(300).to_csv(data, index=False)
    assert main(["train", "--data", str(data), "--target", "y", "--models-dir", str(root / "m"), "--cell", "mlp",
                 "--baselines", "naive,seasonal_naive,ets", *FAST]) == ExitCode.OK
    (run_dir,) = (root / "m" / "series" / "runs").iterdir()
    return run_dir


def test_every_row_reports_its_measured_coverage(run):
    board = json.loads((run / "leaderboard.json").read_text())
    for row in board["rows"]:
        assert 0 <= row["coverage_80"] <= row["coverage_95"] <= 1, row["name"]
        assert 0 < row["width_80"] < row["width_95"] and row["winkler_95"] >= row["width_95"]
    header = (run / "leaderboard.csv").read_text().splitlines()[0].split(",")
    assert {"coverage_80", "width_80", "winkler_80", "coverage_95"} <= set(header)
    metrics = json.loads((run / "mlp" / "metrics.json").read_text())
    assert metrics["test"]["intervals"]["n_calibration_windows"] == len(prepare(
        config.from_dict(__import__("yaml").safe_load((run / "config.yaml").read_text()))).single.origins("val"))


def test_the_saved_calibration_is_what_onnx_predict_serves(run, capsys):
    from forecaster.artifacts.cell import load_for_serving, read_calibration

    assert load_for_serving(run / "mlp").backend == "onnx"  # the network is served without TensorFlow
    for cell in ("mlp", "ets"):
        saved = intervals.Calibration.from_dict(json.loads((run / cell / "calibration.json").read_text()))
        capsys.readouterr()
        assert main(["predict", "--model", str(run / cell), "--horizon", "3"]) == ExitCode.OK
        out = pd.read_csv(io.StringIO(capsys.readouterr().out))
        assert list(out.columns) == ["timestamp", "yhat", "lo-80", "hi-80", "lo-95", "hi-95"]
        for level in (80, 95):  # the CSV holds 6 significant digits: 4 decimals here
            r = saved.radius_of(level)[:3]
            np.testing.assert_allclose(out[f"hi-{level}"] - out["yhat"], r, rtol=0, atol=2e-4)
            np.testing.assert_allclose(out["yhat"] - out[f"lo-{level}"], r, rtol=0, atol=2e-4)
        assert read_calibration(run / cell, json.loads((run / cell / "manifest.json").read_text())) == saved
    forecast_csv = pd.read_csv(run / "mlp" / "forecast.csv")  # the training-time forecast carries the bands too
    np.testing.assert_allclose(forecast_csv["hi-80"] - forecast_csv["yhat"], saved_radius(run, 80), rtol=1e-9)


def saved_radius(run, level):
    return json.loads((run / "mlp" / "calibration.json").read_text())["radius"][str(level)]


def test_predict_levels_choose_refuse_and_turn_off(run, capsys):
    capsys.readouterr()
    assert main(["predict", "--model", str(run / "mlp"), "--levels", "95", "--format", "json"]) == ExitCode.OK
    record = json.loads(capsys.readouterr().out)["forecast"][0]
    assert set(record) == {"timestamp", "yhat", "lo-95", "hi-95"} and record["lo-95"] < record["yhat"] < record["hi-95"]
    assert main(["predict", "--model", str(run / "mlp"), "--levels", "none"]) == ExitCode.OK
    assert capsys.readouterr().out.splitlines()[0] == "timestamp,yhat"
    assert main(["predict", "--model", str(run / "mlp"), "--levels", "90"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--levels: 90 is not calibrated for" in err and "(it has 80, 95)" in err
    assert main(["predict", "--model", str(run / "mlp"), "--levels", "80,abc"]) == ExitCode.USAGE
    assert "--levels: expected integer percentages in 1..99 such as 80,95 (or none), got 'abc'" in capsys.readouterr().err


def test_a_tampered_calibration_is_refused(tmp_path, run, capsys):
    import shutil

    from conftest import rehash

    cell = tmp_path / "mlp"
    shutil.copytree(run / "mlp", cell)
    raw = json.loads((cell / "calibration.json").read_text())
    raw["radius"]["80"][0] = -5.0
    (cell / "calibration.json").write_text(json.dumps(raw))
    capsys.readouterr()
    assert main(["predict", "--model", str(cell)]) == ExitCode.ARTIFACT  # not re-hashed: corrupt
    assert "calibration.json: corrupt (checksum differs" in capsys.readouterr().err
    rehash(cell)  # re-hashed: the values themselves are checked
    assert main(["predict", "--model", str(cell)]) == ExitCode.ARTIFACT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'radius' of level 80 must be 4 finite numbers >= 0" in err
    (cell / "calibration.json").unlink()  # deleted: the manifest still lists it
    assert main(["predict", "--model", str(cell)]) == ExitCode.ARTIFACT
    assert "calibration.json: missing from the saved run" in capsys.readouterr().err


def test_training_without_levels_saves_point_forecasts_only(tmp_path, series_csv, capsys):
    models = tmp_path / "m"
    assert main(["train", "--data", str(series_csv), "--target", "y", "--models-dir", str(models), "--cell", "mlp",
                 "--baselines", "naive", "--levels", "none", *FAST]) == ExitCode.OK
    (run_dir,) = (models / "series" / "runs").iterdir()
    assert not (run_dir / "mlp" / "calibration.json").exists()
    assert "coverage_80" not in json.loads((run_dir / "leaderboard.json").read_text())["rows"][0]
    capsys.readouterr()
    assert main(["predict", "--model", str(run_dir / "mlp")]) == ExitCode.OK
    assert capsys.readouterr().out.splitlines()[0] == "timestamp,yhat"
    assert main(["predict", "--model", str(run_dir / "mlp"), "--levels", "80"]) == ExitCode.USAGE
    assert "has no interval calibration" in capsys.readouterr().err
