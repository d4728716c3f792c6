"""The Python API (``import forecaster as fc``): every call on tiny frames, its numbers against the CLI's.

The trainings are module-scoped (one comparison, one panel run, one run from a Series, one CLI run,
one backtest; 2 epochs, 8 units each), so the file runs in well under a minute.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import forecaster as fc
from forecaster.api import python_message, recommended_row
from forecaster.cli.main import main
from forecaster.errors import ExitCode

from conftest import FAST, ROOT, make_frame

#: Two epochs rarely beat a baseline: the warnings that say so are expected here (their text is tested in test_cli.py;
#: the verdict's, forecasting from a row the run does not recommend, in test_compare_says_how_sure_as_compare_json_does).
pytestmark = [pytest.mark.filterwarnings("ignore:.* lost to the .* baseline:forecaster.api.ForecasterWarning"),
              pytest.mark.filterwarnings("ignore:.* the run recommends .*:forecaster.api.ForecasterWarning")]

TINY = {"target": "y", "horizon": 4, "lookback": 12, "units": 8, "epochs": 2, "batch_size": 32}


@contextmanager
def captured_fds() -> Iterator[dict[str, str]]:
    """What the process writes on file descriptors 1 and 2 inside the block (C++ logs included), and the Python
    warnings raised there."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryFile() as stdout, tempfile.TemporaryFile() as stderr:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(stdout.fileno(), 1)
        os.dup2(stderr.fileno(), 2)
        text_out, text_err = io.StringIO(), io.StringIO()  # what Python prints (pytest replaces sys.stdout)
        try:
            with warnings.catch_warnings(record=True) as caught, redirect_stdout(text_out), redirect_stderr(text_err):
                warnings.simplefilter("always")
                yield out
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            for name, f in (("stdout", stdout), ("stderr", stderr)):
                f.seek(0)
                out[name] = f.read().decode(errors="replace")
            out["stdout"] += text_out.getvalue()
            out["stderr"] += text_err.getvalue()
            out["warnings"] = [w for w in caught if not issubclass(w.category, fc.ForecasterWarning)]


def panel_frame(seed: int = 0) -> pd.DataFrame:
    """Two stores, 240 hours each, with a known promotion that lifts sales by 3."""
    parts = []
    for k, store in enumerate(("north", "south")):
        frame = make_frame(seed=seed + k)
        promo = (np.arange(len(frame)) % 24 >= 18).astype(float)
        parts.append(pd.DataFrame({"store": store, "date": frame["date"], "sales": frame["y"] + 3 * promo + 5 * k,
                                   "promo": promo}))
    return pd.concat(parts, ignore_index=True)


def future_promos(panel: pd.DataFrame, steps: int = 4) -> pd.DataFrame:
    last = panel["date"].max()
    times = pd.date_range(last + pd.Timedelta(hours=1), periods=steps, freq="h")
    return pd.DataFrame([{"store": s, "date": t, "promo": 1.0} for s in ("north", "south") for t in times])


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return make_frame()


@pytest.fixture(scope="module")
def comparison(frame: pd.DataFrame) -> tuple[fc.Comparison, dict[str, Any]]:
    with captured_fds() as seen:
        cmp = fc.compare(frame, cells=["gru", "mlp"], **TINY)
    return cmp, seen


@pytest.fixture(scope="module")
def panel_run() -> fc.Trained:
    return fc.train(panel_frame(), cell="mlp", id_col="store", known_covariates=["promo"], target="sales",
                    horizon=4, lookback=12, units=8, epochs=2, batch_size=32, baselines=["naive", "seasonal_naive", "ets"])


@pytest.fixture(scope="module")
def series_run(frame: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
               ) -> tuple[fc.Trained, pd.Series, dict[str, Any], Path]:
    """A Series trained verbosely, logging to TensorBoard (under ``models_dir``) and to an MLflow file store."""
    root = tmp_path_factory.mktemp("series_run")
    series = frame.set_index("date")["y"].rename("load")
    with captured_fds() as seen:
        run = fc.train(series, cell="mlp", baselines=["naive", "seasonal_naive"], verbose=True, tensorboard=True,
                       models_dir=str(root / "models"), mlflow_uri=(root / "mlruns").as_uri(), **{**TINY, "target": None})
    return run, series, seen, root


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli_run")
    data = root / "series.csv"
    make_frame().to_csv(data, index=False)
    code = main(["train", "--cell", "gru", "--data", str(data), "--target", "y", "--name", "demo",
                 "--baselines", "naive,seasonal_naive,linear", "--models-dir", str(root / "models"), *FAST])
    assert code == ExitCode.OK
    return root / "models", data


def cli_predict(tmp_path: Path, *argv: str) -> pd.DataFrame:
    out = tmp_path / "cli_forecast.csv"
    assert main(["predict", *argv, "--output", str(out)]) == ExitCode.OK
    return pd.read_csv(out, parse_dates=["timestamp"])


# --- compare ----------------------------------------------------------------------------------------------------


def test_compare_gives_the_leaderboard_verdict_and_recommended_row(comparison):
    cmp, _ = comparison
    board = cmp.leaderboard
    assert isinstance(board, pd.DataFrame) and board.columns[0] == "name"
    assert {"gru", "mlp", "naive", "seasonal_naive", "linear"} <= set(board["name"])
    saved = pd.read_csv(cmp.path / "leaderboard.csv")
    pd.testing.assert_frame_equal(board, saved)  # the same numbers as leaderboard.csv
    saved_board = json.loads((cmp.path / "leaderboard.json").read_text())
    assert cmp.verdict == saved_board["verdict"]["text"]  # the text forecast compare prints
    assert cmp.recommended in set(board["name"])
    assert cmp.recommended == saved_board["verdict"]["recommended"] == recommended_row(saved_board)
    assert cmp.series_metrics is None  # one series
    assert cmp.conditions["horizon"] == 4
    html = cmp._repr_html_()
    assert "<table" in html and "Verdict" in html and cmp.recommended in html and "not saved yet" in html


def test_compare_says_how_sure_as_compare_json_does(comparison, frame):
    """``.decision`` is the record ``forecast compare --json`` prints under ``verdict``: the recommended row, the rows
    equal to it at the level, every pair's test; a row the run does not recommend warns when it forecasts."""
    cmp, _ = comparison
    decision = cmp.decision
    assert decision == json.loads((cmp.path / "leaderboard.json").read_text())["verdict"]
    assert decision["recommended"] == cmp.recommended and decision["level"] == 0.05
    assert decision["text"] == cmp.verdict and cmp.verdict.startswith("Use ") and "Test: Diebold-Mariano" in cmp.verdict
    ranked = {r["name"] for r in cmp.board["rows"] if r.get("mase") is not None and not r.get("error")}
    assert set(decision["equal_to"]) < ranked and cmp.recommended in ranked
    assert {frozenset((t["a"], t["b"])) for t in decision["tests"]} == \
        {frozenset((a, b)) for a in ranked for b in ranked if a != b}  # every pair tested
    for t in decision["tests"]:
        assert (t["p_value"] < 0.05) == t["significant"]
        if cmp.recommended in (t["a"], t["b"]):  # no row is significantly better than the recommended one
            assert t["lower"] in (None, cmp.recommended)
    other = next(n for n in ("gru", "mlp") if n != cmp.recommended)
    with pytest.warns(fc.ForecasterWarning, match=f"the run recommends {cmp.recommended}"):
        cmp.model(other).predict(frame)
    html = cmp._repr_html_()
    assert f"<b>Recommended:</b> {cmp.recommended}" in html


def test_compare_is_quiet_by_default(comparison):
    _, seen = comparison
    assert seen["stdout"] == "" and seen["stderr"] == "", seen
    assert [str(w.message) for w in seen["warnings"]] == []


def test_compare_forecast_continues_the_series(comparison, frame):
    cmp, _ = comparison
    out = cmp.forecast()
    assert list(out.columns) == ["timestamp", "yhat", "lo-80", "hi-80", "lo-95", "hi-95"] and len(out) == 4
    assert out["timestamp"].iloc[0] == frame["date"].iloc[-1] + pd.Timedelta(hours=1)
    assert (out["lo-95"] <= out["lo-80"]).all() and (out["lo-80"] <= out["yhat"]).all()
    two = cmp.forecast(horizon=2, levels=[80])
    assert list(two.columns) == ["timestamp", "yhat", "lo-80", "hi-80"] and len(two) == 2
    assert two["yhat"].tolist() == out["yhat"].iloc[:2].tolist()
    assert list(cmp.forecast(levels=[]).columns) == ["timestamp", "yhat"]
    gru = cmp.model("gru")
    assert gru.name == "gru" and gru.horizon == 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fc.ForecasterWarning)  # gru may lose to a baseline on 2 epochs: said
        later = gru.predict(frame.iloc[:200])  # another frame: its own end
    assert len(later) == 4 and later["timestamp"].iloc[0] == frame["date"].iloc[200]


def test_saved_comparison_is_served_by_forecast_predict(comparison, frame, tmp_path, capsys):
    cmp, _ = comparison
    path = cmp.save(tmp_path / "models")
    assert path == tmp_path / "models" / "y" / "runs" / cmp.path.name and cmp.saved == path
    assert cmp.save(tmp_path / "models") == path  # saving again: the same folder
    assert sorted(p.name for p in path.iterdir()) == sorted(p.name for p in cmp.path.iterdir())
    for f in cmp.path.rglob("*"):  # byte for byte the folder trained
        assert f.is_dir() or f.read_bytes() == (path / f.relative_to(cmp.path)).read_bytes()
    data = tmp_path / "series.csv"
    frame.to_csv(data, index=False)
    cli = cli_predict(tmp_path, "--model", str(tmp_path / "models" / "y"), "--data", str(data))
    api = fc.load(tmp_path / "models" / "y").predict(frame)
    pd.testing.assert_frame_equal(api, cli)
    # the run was trained on a frame: predict without --data says there is no file, and asks for --data
    capsys.readouterr()
    assert main(["predict", "--model", str(path)]) == ExitCode.DATA
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pandas DataFrame in memory (<DataFrame>)" in err and "--data" in err
    config = (path / "config.yaml").read_text()
    assert "path: <DataFrame>" in config and "name: y" in config
    manifest = json.loads((path / "gru" / "manifest.json").read_text())
    assert manifest["data"]["path"] == "<DataFrame>" and len(manifest["data"]["sha256"]) == 64
    with pytest.raises(fc.DataError, match=r"pass the series to forecast from with df=$"):
        fc.load(path).predict()


def test_plot_returns_a_figure_left_out_of_pyplot(comparison):
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    cmp, _ = comparison
    fig = cmp.plot(names=[cmp.recommended, "gru"])
    assert isinstance(fig, Figure) and plt.get_fignums() == []
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.get_lines()] == ["actual", f"{cmp.recommended} forecast", "gru forecast"]
    assert len(ax.get_lines()[1].get_xdata()) == 4


# --- train, a panel with known covariates, a Series ---------------------------------------------------------------


def test_panel_with_known_covariates_forecasts_from_future(panel_run):
    run = panel_run
    assert run.row == "mlp" and run.name == "sales"
    assert {"store", "name", "mase"} <= set(run.series_metrics.columns)
    assert set(run.series_metrics["store"]) == {"north", "south"}
    future = future_promos(panel_frame())
    out = run.forecast(future=future)
    assert list(out.columns[:3]) == ["store", "timestamp", "yhat"] and len(out) == 8
    assert out.groupby("store").size().to_dict() == {"north": 4, "south": 4}
    one = run.forecast(future=future, series="south")
    assert one["store"].unique().tolist() == ["south"]
    assert one["yhat"].tolist() == out.loc[out["store"] == "south", "yhat"].tolist()
    lower = run.forecast(future=future.assign(promo=0.0))
    assert not np.allclose(lower["yhat"], out["yhat"])  # the promotion is read
    ets = run.model("ets")
    assert ets.known_covariates == [] and run.model("mlp").known_covariates == ["promo"]
    with pytest.warns(fc.ForecasterWarning, match="^future: ets reads the target alone; the values given were not used$"):
        alone = ets.predict(future=future)  # as `forecast predict --model <run>/ets --future`: said, not used
    pd.testing.assert_frame_equal(alone, ets.predict())
    fig = run.plot("south", names=["mlp", "ets"], future=future)
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["actual", "mlp forecast", "ets forecast"]


def test_panel_errors_name_keywords(panel_run):
    with pytest.raises(fc.ConfigError) as info:
        panel_run.forecast()
    text = str(info.value)
    assert "uses known covariates (promo)" in text and "future=" in text and "--" not in text
    short = future_promos(panel_frame())
    with pytest.raises(fc.DataError, match=r"^<future DataFrame>: no rows for series 'south'"):
        panel_run.forecast(future=short[short["store"] == "north"])
    with pytest.raises(fc.DataError, match=r"^series: 'east' is not a series of <DataFrame>"):
        panel_run.forecast(future=short, series=["east"])


def test_a_series_trains_and_predicts(series_run):
    run, series, seen, _ = series_run
    assert run.name == "load" and run.config.data.path == "<Series>"
    assert "training mlp" in seen["stdout"] and seen["stderr"] == ""  # verbose: the CLI's progress lines
    out = run.forecast()
    assert len(out) == 4 and out["timestamp"].iloc[0] == series.index[-1] + pd.Timedelta(hours=1)
    pd.testing.assert_frame_equal(run.predict(series), out)
    assert {"mlp", "naive", "seasonal_naive"} <= set(run.leaderboard["name"])
    assert isinstance(run.verdict, str) and "MLP" in run.verdict


def test_tracking_keywords_are_honoured(series_run):
    run, _, _, root = series_run
    assert list((root / "models" / "load" / "tensorboard").iterdir())  # tensorboard=True: the fit's logs
    assert not (root / "models" / "load" / "runs").exists()  # the run itself waits for save()
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(root / "mlruns").as_uri())
    (logged,) = client.search_runs([client.get_experiment_by_name("load").experiment_id])
    assert logged.data.tags["forecaster.kind"] == "train" and logged.data.params["model.cell"] == "mlp"
    assert logged.info.run_name == run.path.name
    assert run.save() == root / "models" / "load" / "runs" / run.path.name  # models_dir: where save() goes


def test_a_cli_run_loads_and_predicts_the_same_numbers(cli_model, tmp_path):
    models, data = cli_model
    cli = cli_predict(tmp_path, "--model", str(models / "demo"))
    model = fc.load("demo", models_dir=models)
    assert "newest run" in model.why
    pd.testing.assert_frame_equal(model.predict(), cli)
    pd.testing.assert_frame_equal(model.predict(pd.read_csv(data)), cli)
    run = next((models / "demo" / "runs").iterdir())
    row = fc.load(run / "gru")
    assert row.name == "gru" and row.why == "the cell folder given" and "gru" in set(row.leaderboard["name"])
    pd.testing.assert_frame_equal(row.predict(horizon=2), cli_predict(tmp_path, "--model", str(run / "gru"),
                                                                     "--horizon", "2"))


def test_backtest_gives_folds_and_means(frame, tmp_path):
    frame.to_csv(tmp_path / "series.csv", index=False)  # a file path is data too
    bt = fc.backtest(tmp_path / "series.csv", folds=2, cell="mlp", baselines=["naive", "seasonal_naive"], test=0.3, **TINY)
    folds = bt.folds
    assert set(folds["fold"]) == {1, 2} and set(folds["name"]) == {"mlp", "naive", "seasonal_naive"}
    assert len(folds) == 6 and folds["mase"].notna().all()
    mean = bt.mean
    assert set(mean["name"]) == {"mlp", "naive", "seasonal_naive"} and "mase_std" in mean.columns
    assert mean["mase"].is_monotonic_increasing
    mlp = folds[folds["name"] == "mlp"]["mase"].mean()
    assert mean.set_index("name").loc["mlp", "mase"] == pytest.approx(mlp)
    assert bt.to_dict()["cell"] == "mlp" and "Backtest" in bt._repr_html_()


# --- errors -----------------------------------------------------------------------------------------------------


def test_a_misspelt_keyword_is_a_type_error_with_a_suggestion(frame):
    with pytest.raises(TypeError, match=r"compare\(\) got an unexpected keyword argument 'horizn'; did you mean "
                                        r"'horizon'\?") as info:
        fc.compare(frame, horizn=4)
    assert isinstance(info.value, fc.ConfigError) and isinstance(info.value, fc.KeywordError)
    with pytest.raises(fc.KeywordError, match="did you mean 'cell'"):
        fc.train(frame, cells=["gru"])
    with pytest.raises(fc.KeywordError, match="takes the data as its first argument"):
        fc.train(frame, data="x.csv")
    with pytest.raises(fc.KeywordError, match="did you mean 'known_covariates'"):
        fc.compare(frame, known_covariate=["x"])


def test_a_bad_value_names_the_keyword(frame):
    with pytest.raises(fc.ConfigError, match=r"^horizon= \(window\.horizon\): expected an integer >= 1, got 0$"):
        fc.compare(frame, horizon=0)
    with pytest.raises(ValueError, match=r"^cells: unknown cell\(s\) lsmt"):
        fc.compare(frame, cells=["lsmt"], **TINY)
    with pytest.raises(fc.ConfigError, match="^repeats: expected an integer >= 1, got 0$"):
        fc.compare(frame, repeats=0, **TINY)


def test_a_bad_frame_is_one_line_naming_the_column(frame):
    bad = frame.astype({"y": object})
    bad.loc[7, "y"] = "n/a"
    with pytest.raises(fc.DataError) as info:
        fc.train(bad, **TINY)
    text = str(info.value)
    assert text.startswith("<DataFrame>: column 'y' (target=): row 8 (.iloc[7]) value 'n/a' is not a number"), text
    assert "\n" not in text and "--" not in text and isinstance(info.value, ValueError)
    assert info.value.__traceback__ is not None and info.value.__cause__ is None
    with pytest.raises(fc.DataError, match=r"^<DataFrame>: column 'sales' \(target=\) not found"):
        fc.train(frame, **{**TINY, "target": "sales"})
    with pytest.raises(fc.DataError, match="^df: expected a pandas DataFrame, a Series"):
        fc.train(42, **TINY)
    with pytest.raises(fc.DataError, match="^<DataFrame>: has no rows"):
        fc.train(frame.iloc[:0], **TINY)
    with pytest.raises(fc.DataError, match=r"^<Series>: expected a Series with a DatetimeIndex"):
        fc.train(frame["y"], **TINY)


def test_load_of_nothing_names_the_model(tmp_path):
    with pytest.raises(fc.ArtifactError, match=r"^model='.*nothing': no such model folder"):
        fc.load(tmp_path / "nothing")


def test_python_message_names_keywords():
    assert python_message("--series: 'x' is given 2 times") == "series: 'x' is given 2 times"
    assert python_message("set --missing interpolate|ffill (data.missing)") == \
        "set missing='interpolate'|'ffill' (data.missing)"
    assert python_message("with --id-col store (data.id_col: ...)") == "with id_col='store' (data.id_col: ...)"
    assert python_message("--no-residual and --tensorboard") == "residual=False and tensorboard="
    assert python_message("--unknown-flag stays") == "--unknown-flag stays"


@pytest.mark.parametrize(("rows", "expected"), [
    ([{"name": "gru", "kind": "model", "mase": 0.8}, {"name": "ets", "kind": "baseline", "mase": 0.9}], "gru"),
    ([{"name": "gru", "kind": "model", "mase": 0.95}, {"name": "ets", "kind": "baseline", "mase": 0.9}], "ets"),
    ([{"name": "gru", "kind": "model", "mase": 0.9001}, {"name": "ets", "kind": "baseline", "mase": 0.9}], "ets"),
    ([{"name": "gru", "kind": "model", "mase": None, "error": "x"}, {"name": "naive", "kind": "baseline", "mase": 2.0}],
     "naive"),
    ([{"name": "gru", "kind": "model", "mase": 0.5, "series": 1}, {"name": "lstm", "kind": "model", "mase": 0.7,
      "series": 2}, {"name": "ets", "kind": "baseline", "mase": 0.8, "series": 2}], "lstm"),  # gru scored fewer series
    ([{"name": "gru", "kind": "model", "mase": 0.5, "backtest_mase": 0.9},
      {"name": "ets", "kind": "baseline", "mase": 0.6, "backtest_mase": 0.7}], "ets"),  # ranked by the backtest
])
def test_recommended_row_follows_the_verdict(rows, expected):
    assert recommended_row({"rows": rows}) == expected  # a run saved before the verdict: the lowest score
    assert recommended_row({"rows": rows, "verdict": {"recommended": "naive"}}) == "naive"  # the verdict's row
    assert recommended_row({"rows": rows, "recommended": "naive"}) == "naive"  # the run's own field wins


# --- the package ------------------------------------------------------------------------------------------------


def test_every_public_name_is_exported_and_documented():
    doc = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    for name in fc.__all__:
        assert getattr(fc, name) is not None
        assert f"`{name}`" in doc, f"{name} is not in docs/api.md (python tools/api_docs.py)"
    for error in ("DataError", "ConfigError", "ArtifactError", "TrainingError"):
        assert issubclass(getattr(fc, error), fc.ForecasterError)
    assert issubclass(fc.DataError, ValueError) and issubclass(fc.ConfigError, ValueError)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        fc.nothing  # noqa: B018


def test_docs_api_is_generated_from_the_docstrings():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import api_docs
    finally:
        sys.path.pop(0)
    assert (ROOT / "docs" / "api.md").read_text(encoding="utf-8") == api_docs.render(), \
        "docs/api.md is out of date: python tools/api_docs.py"


@pytest.mark.slow
def test_import_forecaster_loads_no_tensorflow_nor_pandas():
    code = ("import sys, forecaster as fc; fc.DataError; fc.compare; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'pandas', 'numpy') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout  # fc.compare imports forecaster.api only: its heavy imports wait
