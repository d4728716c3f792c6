"""Every row of a leaderboard is saved and served by name (issue 25, item 6): naive, seasonal naive and the
linear map get their own folders, on one series and on a panel, and what they serve is what was scored."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from forecaster.cli.main import main
from forecaster.errors import ExitCode

from conftest import FAST, make_frame, rehash

BASELINES = "naive,seasonal_naive,linear"


def _future(frame: pd.DataFrame, steps: int, id_col: str | None = None) -> pd.DataFrame:
    """The next ``steps`` hours of covariate ``x`` after the end of each series of ``frame``."""
    groups = frame.groupby(id_col) if id_col else [(None, frame)]
    rows = []
    for sid, g in groups:
        when = pd.date_range(g["date"].iloc[-1], periods=steps + 1, freq="h")[1:]
        part = pd.DataFrame({"date": when, "x": np.cos(2 * np.pi * np.arange(steps) / 24)})
        rows.append(part.assign(**{id_col: sid}) if id_col else part)
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One hourly series with a known covariate and calendar inputs, every baseline saved beside an mlp."""
    root = tmp_path_factory.mktemp("baseline_rows")
    frame = make_frame(n=240)
    data = root / "series.csv"
    frame.to_csv(data, index=False)
    future = root / "future.csv"
    _future(frame, 4).to_csv(future, index=False)
    assert main(["train", "--data", str(data), "--target", "y", "--known-covariates", "x", "--calendar",
                 "--models-dir", str(root / "m"), "--cell", "mlp", "--baselines", BASELINES, *FAST]) == ExitCode.OK
    (run,) = (root / "m" / "series" / "runs").iterdir()
    return {"root": root, "frame": frame, "data": data, "future": future, "run": run}


def _predict(capsys: pytest.CaptureFixture[str], *argv: str) -> pd.DataFrame:
    assert main(["predict", *argv, "--format", "json"]) == ExitCode.OK, capsys.readouterr().err
    return pd.DataFrame(json.loads(capsys.readouterr().out)["forecast"])


def test_every_baseline_row_has_a_folder_and_serves_by_name(single, capsys):
    run, y = single["run"], single["frame"]["y"].to_numpy()
    board = {r["name"]: r for r in json.loads((run / "leaderboard.json").read_text())["rows"]}
    for name in BASELINES.split(","):
        manifest = json.loads((run / name / "manifest.json").read_text())
        assert manifest["kind"] == "baseline" and manifest["cell"] == name and board[name].get("mase") is not None
    naive = _predict(capsys, "--model", str(run / "naive"))
    assert naive["yhat"].tolist() == pytest.approx([y[-1]] * 4)  # the last value, repeated
    seasonal = _predict(capsys, "--model", str(run / "seasonal_naive"))
    assert seasonal["yhat"].tolist() == pytest.approx(y[-24:-20].tolist())  # the same hours a day earlier
    assert {"lo-80", "hi-95"} <= set(naive.columns)  # their calibrated intervals are saved and served too
    # the linear map reads the known covariate after the end: it needs --future, as the networks do
    assert main(["predict", "--model", str(run / "linear")]) == ExitCode.USAGE
    assert "uses known covariates (x)" in capsys.readouterr().err
    linear = _predict(capsys, "--model", str(run / "linear"), "--future", str(single["future"]))
    assert len(linear) == 4 and np.isfinite(linear["yhat"]).all()
    # a row that reads the target alone says so, and serves, when given covariates it does not use
    assert main(["predict", "--model", str(run / "naive"), "--future", str(single["future"])]) == ExitCode.OK
    assert "naive reads the target alone; the file was not used" in capsys.readouterr().err


def test_a_saved_baseline_scores_what_the_leaderboard_scored(single):
    """Loaded back and scored on the run's own test windows, each saved row gives the leaderboard's numbers."""
    from forecaster import config
    from forecaster.evaluation.scoring import score_row
    from forecaster.workflows.predict import load_model
    from forecaster.workflows.train import prepare_run

    run = single["run"]
    cfg = config.from_dict(__import__("yaml").safe_load((run / "config.yaml").read_text()))
    prep = prepare_run(cfg)
    board = {r["name"]: r for r in json.loads((run / "leaderboard.json").read_text())["rows"]}
    for name in BASELINES.split(","):
        scored = score_row(load_model(run / name), prep, fit=False)
        assert scored.error is None
        for metric in ("mae", "rmse", "mase"):
            assert scored.scores[metric] == pytest.approx(board[name][metric], rel=1e-6), (name, metric)


def test_a_panels_baseline_rows_serve_each_series(tmp_path, capsys):
    frames = [make_frame(n=n, seed=k).assign(store=f"s{k}") for k, n in enumerate((200, 180, 220))]
    panel = pd.concat(frames, ignore_index=True)
    data = tmp_path / "panel.csv"
    panel.to_csv(data, index=False)
    assert main(["train", "--data", str(data), "--target", "y", "--id-col", "store", "--models-dir",
                 str(tmp_path / "m"), "--cell", "mlp", "--baselines", BASELINES, *FAST]) == ExitCode.OK
    (run,) = (tmp_path / "m" / "panel" / "runs").iterdir()
    capsys.readouterr()
    for name in BASELINES.split(","):
        out = _predict(capsys, "--model", str(run / name))
        assert out.groupby("store").size().to_dict() == {"s0": 4, "s1": 4, "s2": 4}
        assert np.isfinite(out[["yhat", "lo-80", "hi-80"]].to_numpy()).all()
    naive = _predict(capsys, "--model", str(run / "naive"), "--series", "s1")
    assert naive["yhat"].tolist() == pytest.approx([frames[1]["y"].iloc[-1]] * 4)
    spec = json.loads((run / "seasonal_naive" / "spec.json").read_text())
    assert spec == {"name": "seasonal_naive", "season": 24, "series": ["s0", "s1", "s2"]}


def _tamper(run: Path, tmp_path: Path, row: str, file: str, change: Any) -> Path:
    cell = tmp_path / row
    shutil.copytree(run / row, cell)
    body = json.loads((cell / file).read_text())
    change(body)
    (cell / file).write_text(json.dumps(body))
    rehash(cell)
    return cell


@pytest.mark.parametrize(("row", "file", "change", "said"), [
    ("linear", "spec.json", lambda s: s.update(kernel=[row[:-1] for row in s["kernel"]]),
     "and 'bias' (4,) do not fit lookback 12"),
    ("linear", "spec.json", lambda s: s.update(lookback=6, kernel=s["kernel"][:len(s["kernel"]) // 2]),
     "spec.json's lookback 6 is not manifest.json's 12"),
    ("linear", "spec.json", lambda s: s.update(bias=s["bias"][:3], kernel=[r[:3] for r in s["kernel"]]),
     "spec.json's map forecasts 3 steps, but manifest.json's horizon is 4"),
    ("linear", "scaler.json", lambda s: s.update(columns=s["columns"][::-1]),
     "scaler.json scales the columns"),
    ("seasonal_naive", "spec.json", lambda s: s.update(season=12), "season 12 is not manifest.json's 24"),
    ("seasonal_naive", "spec.json", lambda s: s.update(name="prophet"), "not a baseline row's folder"),
    ("naive", "manifest.json", lambda m: m.update(kind="oracle"), "'kind' must be absent (a network) or one of"),
], ids=["kernel-width", "lookback", "horizon", "scaler-columns", "season", "name", "kind"])
def test_a_tampered_baseline_row_is_refused(single, tmp_path, capsys, row, file, change, said):
    cell = _tamper(single["run"], tmp_path, row, file, change)
    code = main(["predict", "--model", str(cell), "--future", str(single["future"])])
    err = capsys.readouterr().err
    assert code == ExitCode.ARTIFACT and said in err and err.count("\n") == 1, err


def test_a_model_name_serves_a_baseline_row_that_beat_every_network(tmp_path, capsys):
    """A random walk: a baseline beats the network, and the model name serves that row itself."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"date": pd.date_range("2024-01-01", periods=300, freq="h"),
                          "y": (100 + np.cumsum(rng.normal(0, 1, 300))).round(3)})
    data = tmp_path / "walk.csv"
    frame.to_csv(data, index=False)
    assert main(["train", "--data", str(data), "--models-dir", str(tmp_path / "m"), "--cell", "mlp",
                 "--baselines", "naive", "--epochs", "1", "--lookback", "12", "--horizon", "4", "--units", "8",
                 "--levels", "none", "--quiet"]) == ExitCode.OK
    (run,) = (tmp_path / "m" / "walk" / "runs").iterdir()
    capsys.readouterr()
    rows = {r["name"]: r["mase"] for r in json.loads((run / "leaderboard.json").read_text())["rows"]}
    best = min(rows, key=rows.__getitem__)
    assert best != "mlp", rows  # one epoch on a random walk: a baseline row wins
    assert main(["predict", "--model", str(tmp_path / "m" / "walk")]) == ExitCode.OK
    assert f"serving {run / best}" in capsys.readouterr().err
    by_name = _predict(capsys, "--model", str(tmp_path / "m" / "walk"))
    assert by_name.equals(_predict(capsys, "--model", str(run / best)))
