"""ONNX export at save time, TensorFlow-free predict, Keras fallback, batched windows."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from forecaster import config
from forecaster.artifacts.cell import load_for_serving
from forecaster.cli.main import main
from forecaster.errors import ArtifactError, DataError, ExitCode
from forecaster.workflows.predict import forecast, forecast_windows, load_for_predict
from forecaster.workflows.results import RunResult
from forecaster.workflows.train import train

from conftest import ROOT, make_frame, small_cfg

CELLS = ["lstm", "gru", "mlp"]


def _cfg(data: Path, models: Path, **extra: object) -> config.RunConfig:
    return small_cfg(data, models, **{"data.covariates": ["x"], **extra})


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    root = tmp_path_factory.mktemp("serving")
    data = root / "series.csv"
    make_frame().to_csv(data, index=False)
    return train(_cfg(data, root / "models"), cells=CELLS)


@pytest.mark.parametrize("cell", CELLS)
def test_every_saved_cell_has_a_hashed_onnx_export(run, cell):
    cell_dir = run.run_dir / cell
    manifest = json.loads((cell_dir / "manifest.json").read_text())
    assert (cell_dir / "model.onnx").stat().st_size > 0
    assert len(manifest["files"]["model.onnx"]) == 64
    assert not [p.name for p in cell_dir.iterdir() if p.name.startswith(".")]  # no temp file left


@pytest.mark.parametrize("cell", CELLS)
def test_keras_and_onnx_forecasts_agree(run, cell):
    cell_dir = run.run_dir / cell
    onnx, keras_ = load_for_serving(cell_dir), load_for_serving(cell_dir, backend="keras")
    assert (onnx.backend, keras_.backend) == ("onnx", "keras")
    series = load_for_predict(onnx)
    a, b = forecast(onnx, series)["yhat"].to_numpy(), forecast(keras_, series)["yhat"].to_numpy()
    assert a.shape == (4,) and np.abs(a - b).max() < 1e-5
    # many windows in one call (the batched path many series will use)
    values = series.first.frame[series.first.columns].to_numpy()
    windows = np.lib.stride_tricks.sliding_window_view(values, (12, 2))[:, 0][-50:]
    wa, wb = forecast_windows(onnx, windows), forecast_windows(keras_, windows)
    assert wa.shape == (50, 4) and np.abs(wa - wb).max() < 1e-5


def test_recursive_strategy_agrees_too(tmp_path):
    data = tmp_path / "series.csv"
    make_frame().to_csv(data, index=False)
    result = train(_cfg(data, tmp_path / "models", **{"data.covariates": [], "model.strategy": "recursive"}),
                            cells=["gru"])
    cell_dir = result.run_dir / result.cells[0].name
    onnx, keras_ = load_for_serving(cell_dir), load_for_serving(cell_dir, backend="keras")
    series = load_for_predict(onnx)
    a, b = forecast(onnx, series)["yhat"].to_numpy(), forecast(keras_, series)["yhat"].to_numpy()
    assert a.shape == (4,) and np.abs(a - b).max() < 1e-5


def test_batched_windows_equal_one_by_one(run):
    loaded = load_for_serving(run.run_dir / "lstm")
    values = load_for_predict(loaded).first.frame[["y", "x"]].to_numpy()
    windows = np.stack([values[i : i + 12] for i in range(0, 120, 10)])
    batched = forecast_windows(loaded, windows, 3)
    single = np.concatenate([forecast_windows(loaded, w[None], 3) for w in windows])
    assert batched.shape == (12, 3)
    np.testing.assert_allclose(batched, single, rtol=0, atol=1e-9)
    with pytest.raises(DataError, match=r"expected shape \(batch, 12, features\)"):
        forecast_windows(loaded, windows[:, :5])


def test_predict_process_never_imports_tensorflow(run):
    cell_dir = run.run_dir / "gru"
    code = (
        "import json, sys\n"
        "from forecaster.cli.main import main\n"
        f"rc = main(['predict', '--model', {str(cell_dir)!r}, '--format', 'json'])\n"
        "print(json.dumps({'rc': rc, 'tf': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    *payload, status = proc.stdout.strip().splitlines()
    assert json.loads(status) == {"rc": 0, "tf": False, "keras": False}
    served = [row["yhat"] for row in json.loads("\n".join(payload))["forecast"]]
    keras_ = load_for_serving(cell_dir, backend="keras")
    expected = forecast(keras_, load_for_predict(keras_))["yhat"].to_numpy()
    assert np.abs(np.asarray(served) - expected).max() < 1e-4  # written with 6 significant digits
    lines = proc.stderr.splitlines()  # what is served, the no-bound-below-0 note, which row the run recommends
    assert 1 <= len(lines) <= 3 and {line.split(":")[0] for line in lines} == {"forecast"}, lines
    assert "forecast: serving " in proc.stderr


def test_without_onnx_predict_falls_back_to_keras(run, tmp_path, capsys):
    cell_dir = tmp_path / "lstm"
    shutil.copytree(run.run_dir / "lstm", cell_dir)
    expected = forecast(load_for_serving(cell_dir), load_for_predict(load_for_serving(cell_dir)))["yhat"]
    (cell_dir / "model.onnx").unlink()
    loaded = load_for_serving(cell_dir)
    assert loaded.backend == "keras"
    assert main(["predict", "--model", str(cell_dir), "--format", "json"]) == ExitCode.OK
    served = [row["yhat"] for row in json.loads(capsys.readouterr().out)["forecast"]]
    assert np.abs(np.asarray(served) - expected.to_numpy()).max() < 1e-4  # written with 6 significant digits
    with pytest.raises(ArtifactError, match="model.onnx: missing"):
        load_for_serving(cell_dir, backend="onnx")


def test_corrupt_onnx_is_reported_not_served(run, tmp_path, capsys):
    cell_dir = tmp_path / "gru"
    shutil.copytree(run.run_dir / "gru", cell_dir)
    with (cell_dir / "model.onnx").open("r+b") as fh:
        fh.truncate(100)
    assert main(["predict", "--model", str(cell_dir)]) == ExitCode.ARTIFACT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.onnx: corrupt (checksum differs from manifest.json)" in err


def test_failed_export_keeps_the_run_and_predict_uses_keras(tmp_path, monkeypatch):
    import forecaster.artifacts.onnx_runtime

    def broken(model, path):
        raise RuntimeError("unsupported op")

    monkeypatch.setattr(forecaster.artifacts.onnx_runtime, "export_onnx", broken)
    data = tmp_path / "series.csv"
    make_frame().to_csv(data, index=False)
    with pytest.warns(RuntimeWarning, match="ONNX export failed .*unsupported op.*predict will use Keras"):
        result = train(_cfg(data, tmp_path / "models"), cells=["mlp"])
    cell_dir = result.run_dir / "mlp"
    assert not (cell_dir / "model.onnx").exists()
    assert load_for_serving(cell_dir).backend == "keras"


def test_export_that_dies_mid_write_leaves_nothing(tmp_path):
    from forecaster.artifacts.onnx_runtime import export_onnx

    class Dies:
        def export(self, path, format, verbose):
            Path(path).write_bytes(b"half a graph")
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        export_onnx(Dies(), tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []


def test_seasonal_residual_base_exports_and_agrees(tmp_path, series_csv):
    """A daily-cycle series with the cycle inside the lookback: the network corrects seasonal naive,
    and the saved model (tile past one season: horizon 30 > season 24) agrees between ONNX and Keras."""
    cfg = small_cfg(series_csv, tmp_path / "models", **{"model.cell": "gru", "window.lookback": 24,
                                                        "window.horizon": 30})
    result = train(cfg)
    cell_dir = result.run_dir / "gru"
    assert json.loads((cell_dir / "metrics.json").read_text())["residual_base"] == "seasonal_naive"
    onnx, keras_ = load_for_serving(cell_dir), load_for_serving(cell_dir, backend="keras")
    assert (onnx.backend, keras_.backend) == ("onnx", "keras")
    series = load_for_predict(onnx)
    a, b = forecast(onnx, series)["yhat"].to_numpy(), forecast(keras_, series)["yhat"].to_numpy()
    assert a.shape == (30,) and np.abs(a - b).max() < 1e-5
