"""A panel's intervals hold per series: each series' radii scale by its own in-sample naive MAE (the MASE
scale), coverage is measured per series as well as pooled, and a target never negative in training gets
no bound below 0, said in the output.

The panel has a smooth series (106, falling 0.01 a day, a whisper of noise: its whole-history spread is
8x its day-to-day steps), a noisy one around 1000, and a count near 0 that an unclipped interval would
take below 0.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from forecaster.cli.main import main
from forecaster.errors import ExitCode
from forecaster.evaluation import metrics
from forecaster.evaluation.intervals import Calibration
from forecaster.evaluation.scoring import local_scale, score_row
from forecaster.models.linear import Linear
from forecaster.workflows.train import future

from conftest import small_cfg

N = 200


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    t = np.arange(N)
    series = {
        "smooth": 106 - 0.01 * t + rng.normal(0, 0.005, N),
        "noisy": 1000 + 100 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 60, N),
        "count": rng.poisson(0.6, N).astype(float),
    }
    dates = pd.date_range("2023-01-01", periods=N, freq="D")
    return pd.concat([pd.DataFrame({"date": dates, "sector": k, "employees": v.round(4)}) for k, v in series.items()],
                     ignore_index=True)


@pytest.fixture(scope="module")
def panel_csv(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("intervals") / "panel.csv"
    _frame().to_csv(path, index=False)
    return path


def _prep(path, tmp_path, **extra):
    from forecaster.workflows.train import prepare_run

    cfg = small_cfg(path, tmp_path / "m", **{"data.id_col": "sector", "data.target": "employees", "window.lookback": 14,
                                             "window.horizon": 7, **extra})
    return cfg, prepare_run(cfg)


def test_a_smooth_series_gets_an_interval_in_proportion_to_its_own_scale(panel_csv, tmp_path):
    _, prep = _prep(panel_csv, tmp_path)
    scored = score_row(Linear(), prep, levels=(80, 95))
    cal = scored.calibration
    assert cal is not None and cal.scaled and cal.scale_unit == "mase"
    items = {str(p.series_id): p for p in prep.items}
    scales = dict(cal.scales)
    for sid, item in items.items():  # each series' scale is its own MASE scale (in-sample seasonal naive MAE)
        assert scales[sid] == pytest.approx(metrics.mase_scale(item.insample, item.season)) == local_scale(item)
    smooth = items["smooth"]
    std = float(smooth.scaler.scale_[0])  # what the radii were multiplied by before: the training rows' spread
    assert std > 5 * scales["smooth"]
    fc = future(prep, scored.model, cal)
    one = fc[fc["sector"] == "smooth"]
    width = (one["hi-95"] - one["lo-95"]).to_numpy()
    np.testing.assert_allclose(width, 2 * np.array(cal.radius_of(95)) * scales["smooth"])  # its own scale
    noisy = fc[fc["sector"] == "noisy"]
    np.testing.assert_allclose((noisy["hi-95"] - noisy["lo-95"]).to_numpy() / width, scales["noisy"] / scales["smooth"])
    assert width.max() < 2 * np.array(cal.radius_of(95)).max() * std / 5  # far narrower than the spread would give
    assert one["lo-95"].min() > 103 and one["hi-95"].max() < 105  # around its 104, not [-35, 232]
    # coverage per series as well as pooled: each series' own, their median and the worst series
    per = {str(p.series_id): s for p, s in zip(prep.items, scored.per_series)}
    assert all(0 <= per[sid]["coverage_80"] <= 1 for sid in per)
    worst = min(per, key=lambda sid: per[sid]["coverage_80"])
    assert scored.scores["coverage_80_min"] == per[worst]["coverage_80"]
    assert scored.scores["coverage_80_min_series"] == worst
    assert scored.scores["coverage_80_median"] == pytest.approx(np.median([s["coverage_80"] for s in per.values()]))


def test_no_bound_below_zero_on_a_panel_never_negative_in_training(panel_csv, tmp_path):
    _, prep = _prep(panel_csv, tmp_path)
    floored = score_row(Linear(), prep, levels=(80, 95))
    free = score_row(Linear(), prep, levels=(80, 95), nonnegative=False)
    assert floored.calibration.nonnegative and not free.calibration.nonnegative
    assert "no bound below 0" in floored.scores["intervals"]["nonnegative"]
    unclipped = future(prep, free.model, free.calibration)
    assert (unclipped["lo-95"] < 0).any()  # the count series' interval would reach below 0
    clipped = future(prep, floored.model, floored.calibration)
    assert (clipped[[c for c in clipped.columns if c.startswith(("lo-", "hi-"))]] >= 0).all().all()
    np.testing.assert_allclose(clipped["yhat"], unclipped["yhat"])  # the point forecast is untouched
    # a target with a negative value in training keeps its bounds, unless declared non-negative
    declared = score_row(Linear(), prep, levels=(80,), nonnegative=True)
    assert declared.calibration.nonnegative
    saved = Calibration.from_dict(json.loads(json.dumps(floored.calibration.to_dict())))
    assert saved == floored.calibration  # calibration.json round trip with the new fields
    old = {k: v for k, v in floored.calibration.to_dict().items() if k not in ("nonnegative", "scale_unit")}
    assert not Calibration.from_dict(old).nonnegative  # a run saved before: bounds as they were


def test_predict_states_the_floor_and_the_leaderboard_carries_coverage_per_series(panel_csv, tmp_path, capsys):
    models = tmp_path / "m"
    assert main(["train", "--data", str(panel_csv), "--id-col", "sector", "--target", "employees", "--cell", "mlp",
                 "--lookback", "14", "--horizon", "7", "--epochs", "1", "--units", "4", "--baselines", "naive,linear",
                 "--models-dir", str(models), "--name", "jobs", "--quiet", "--no-tensorboard"]) == ExitCode.OK
    (run,) = (models / "jobs" / "runs").iterdir()
    board = json.loads((run / "leaderboard.json").read_text())
    mlp = next(r for r in board["rows"] if r["name"] == "mlp")
    assert {"coverage_80_min", "coverage_80_min_series", "coverage_80_median"} <= set(mlp)
    series = pd.read_csv(run / "series_metrics.csv")
    assert {"coverage_80", "coverage_95"} <= set(series.columns)
    assert series.loc[series["name"] == "mlp", "coverage_80"].min() == pytest.approx(mlp["coverage_80_min"])
    assert "coverage_80_min" in (run / "leaderboard.csv").read_text().splitlines()[0]
    capsys.readouterr()
    assert main(["predict", "--model", str(run / "mlp"), "--format", "json"]) == ExitCode.OK
    out, err = capsys.readouterr()
    payload = json.loads(out)
    assert payload["nonnegative"].startswith("no bound below 0")
    assert "forecast: note: intervals have no bound below 0" in err
    rows = [r for block in payload["forecast"] for r in (block.get("forecast", [block]))]
    lows = [v for r in rows for k, v in r.items() if k.startswith("lo-")]
    assert lows and min(lows) >= 0
    assert main(["predict", "--model", str(run / "mlp"), "--format", "csv"]) == ExitCode.OK
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert (frame["lo-80"] >= 0).all() and (frame["lo-95"] >= 0).all()
