"""A panel trained ``--per-series``: one network per series, saved, checked, served and retrained per series."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_panel import panel_cfg, panel_frame

from forecaster.cli.main import main
from forecaster.errors import TrainingError

TINY = ["--lookback", "12", "--horizon", "4", "--units", "8", "--epochs", "2", "--batch-size", "32",
        "--baselines", "naive,seasonal_naive", "--no-tensorboard"]


def _train(path: Path, models: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    rc = main(["train", "--data", str(path), "--id-col", "store", "--target", "y", "--cell", "gru", "--per-series",
               *TINY, "--models-dir", str(models), "--quiet", "--json", *extra])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return json.loads(captured.out)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One ``--per-series`` GRU run on a ragged panel whose series k lies in [1000k, 1000k + 999] (s3 is too
    short and skipped), with every series handed to a fit recorded: (frame, run result, fits seen)."""
    from forecaster.models.network import model as network
    from forecaster.workflows.train import train

    root = tmp_path_factory.mktemp("per_series")
    frame = panel_frame(lengths=(120, 150, 100, 20), starts_h=(0, 10, 30, 0), code=True)
    path = root / "panel.csv"
    frame.to_csv(path, index=False)
    seen: list[tuple[str, float, float]] = []
    original = network.NetworkModel.fit

    def spy(self, prep):
        assert len(prep.items) == 1  # a global fit would see the stack of every series
        raw = prep.single.values[:, 0]
        seen.append((str(prep.single.series_id), float(raw.min()), float(raw.max())))
        return original(self, prep)

    cfg = panel_cfg(path, root / "models", **{"model.per_series": True, "model.cell": "gru",
                                              "model.baselines": ["naive", "seasonal_naive"], "output.tensorboard": False,
                                              "model.linear": True})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(network.NetworkModel, "fit", spy)
        result = train(cfg)
    return frame, result, seen


def test_each_series_gets_a_network_trained_on_its_own_windows_only(trained):
    _frame, result, seen = trained
    assert [sid for sid, _, _ in seen] == ["s0", "s1", "s2"]
    for k, (_sid, lo, hi) in enumerate(seen):
        assert 1000 * k <= lo and hi < 1000 * (k + 1)  # only its own rows

    cell = result.run_dir / "gru"
    manifest = json.loads((cell / "manifest.json").read_text())
    assert manifest["kind"] == "per_series"
    assert {f"series/{k}/model.keras" for k in range(3)} <= set(manifest["files"])
    assert json.loads((cell / "scaler.json").read_text())["ids"] == ["s0", "s1", "s2"]
    row = next(r for r in result.leaderboard if r["name"] == "gru")
    assert row["series"] == 3 and row["mase"] is not None
    history = pd.read_csv(cell / "history.csv")
    assert list(history.columns[:2]) == ["series", "epoch"] and set(history["series"]) == {"s0", "s1", "s2"}
    metrics = json.loads((cell / "metrics.json").read_text())
    assert metrics["networks"] == "one per series" and metrics["series_trained"] == 3

    import keras

    one = keras.saving.load_model(cell / "series" / "0" / "model.keras", safe_mode=True, compile=False)
    assert row["params"] == 3 * one.count_params()  # three networks of one architecture


def test_predict_serves_each_series_with_its_own_network(trained, tmp_path, capsys):
    frame, result, _seen = trained
    run = result.run_dir
    saved = pd.read_csv(run / "gru" / "forecast.csv")  # forecast by the networks in memory, after training
    out = tmp_path / "fc.csv"
    assert main(["predict", "--model", str(run / "gru"), "--output", str(out)]) == 0
    assert "1 series left out (not in the training data): s3" in capsys.readouterr().err
    fc = pd.read_csv(out)
    assert fc.groupby("store").size().to_dict() == {"s0": 4, "s1": 4, "s2": 4}
    # the saved networks, loaded (ONNX), route each series to its own: the same numbers as in memory
    np.testing.assert_allclose(fc["yhat"], saved["yhat"], rtol=1e-4)
    np.testing.assert_allclose(fc["hi-95"], saved["hi-95"], rtol=1e-4)
    for sid, group in fc.groupby("store"):
        last = frame[frame.store == sid]["date"].max()
        assert list(pd.to_datetime(group["timestamp"])) == list(pd.date_range(last, periods=5, freq="h")[1:])
    from forecaster.artifacts.cell import load_cell
    from forecaster.workflows.predict import forecast, load_for_predict

    loaded = load_cell(run / "gru")  # the Keras files: the same forecasts as ONNX
    assert loaded.per_series and loaded.backend == "keras" and len(loaded.members) == 3
    one = forecast(loaded, load_for_predict(loaded), series=["s2"])
    np.testing.assert_allclose(one["yhat"], fc[fc.store == "s2"]["yhat"], rtol=1e-4)


def _copy(trained, tmp_path: Path) -> Path:
    import shutil

    cell = tmp_path / "run" / "gru"
    shutil.copytree(trained[1].run_dir / "gru", cell)
    return cell


@pytest.mark.parametrize(("edit", "message"), [
    (lambda cell: (cell / "series" / "1" / "model.keras").unlink(), "series/1/model.keras: missing"),
    (lambda cell: (cell / "series" / "1" / "model.onnx").write_bytes(b"not onnx"), "series/1/model.onnx: corrupt"),
    (lambda cell: (cell / "scaler.json").write_text((cell / "scaler.json").read_text().replace("s1", "s9")),
     "scaler.json: corrupt"),
])
def test_a_damaged_per_series_network_is_refused_by_name(trained, tmp_path, capsys, edit, message):
    cell = _copy(trained, tmp_path)
    edit(cell)
    assert main(["predict", "--model", str(cell)]) == 4
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_an_extra_series_folder_not_in_the_manifest_is_refused(trained, tmp_path, capsys):
    import shutil

    cell = _copy(trained, tmp_path)
    (cell / "series" / ".DS_Store").write_bytes(b"")  # a stray file is no network
    assert main(["predict", "--model", str(cell), "--series", "s2"]) == 0
    shutil.copytree(cell / "series" / "1", cell / "series" / "3")  # a fourth network, unlisted
    assert main(["predict", "--model", str(cell)]) == 4
    assert "4 per-series networks for 3 series in scaler.json" in capsys.readouterr().err


def test_per_series_needs_an_id_column(write_csv, capsys):
    path = write_csv(panel_frame(lengths=(120,), starts_h=(0,)).drop(columns="store"))
    assert main(["train", "--data", str(path), "--target", "y", "--per-series", *TINY]) == 2
    err = capsys.readouterr().err
    assert "(model.per_series): expected false unless data.id_col names the series-id column (--id-col)" in err
    assert len(err.strip().splitlines()) == 1


def test_a_series_whose_network_fails_is_named_and_the_others_are_kept(write_csv, tmp_path, capsys, monkeypatch):
    from forecaster.models.network import model as network

    original = network.NetworkModel.fit

    def diverge_on_s1(self, prep):
        if prep.single.series_id == "s1":
            raise TrainingError("training diverged (loss is NaN)")
        return original(self, prep)

    monkeypatch.setattr(network.NetworkModel, "fit", diverge_on_s1)
    path = write_csv(panel_frame(lengths=(120, 130), starts_h=(0, 0)))
    models = tmp_path / "models"
    assert main(["train", "--data", str(path), "--id-col", "store", "--target", "y", "--cell", "gru", "--per-series",
                 *TINY, "--linear", "--models-dir", str(models), "--json"]) == 0
    captured = capsys.readouterr()
    assert "warning: gru failed on 1 of 2 series (first 's1': training diverged" in captured.err
    payload = json.loads(captured.out)
    row = next(r for r in payload["leaderboard"] if r["name"] == "gru")
    assert row["series"] == 1 and row["error"] is None and row["mase"] is not None
    cell = Path(payload["run_dir"]) / "gru"
    assert json.loads((cell / "scaler.json").read_text())["ids"] == ["s0"]
    assert sorted(p.name for p in (cell / "series").iterdir()) == ["0"]
    assert set(pd.read_csv(cell / "forecast.csv")["store"]) == {"s0"}
    # its folder serves the series it has a network for, and names the other
    out = tmp_path / "fc.csv"
    assert main(["predict", "--model", str(cell), "--output", str(out)]) == 0
    assert set(pd.read_csv(out)["store"]) == {"s0"}
    assert "1 series left out (no network: its training failed): s1" in capsys.readouterr().err
    # by the model's name, a row that scored every series comes first: a baseline serves both
    assert main(["predict", "--model", str(models / "series"), "--output", str(out)]) == 0
    assert set(pd.read_csv(out)["store"]) == {"s0", "s1"}
    assert "/gru:" not in capsys.readouterr().err
    assert main(["predict", "--model", str(cell), "--series", "s1"]) == 3
    assert "series 's1' has no network (its training failed)" in capsys.readouterr().err


def test_every_series_failing_is_one_training_error(write_csv, tmp_path, monkeypatch):
    from forecaster.models.network import model as network
    from forecaster.workflows.train import train

    def diverge(self, prep):
        raise TrainingError("training diverged (loss is NaN)")

    monkeypatch.setattr(network.NetworkModel, "fit", diverge)
    cfg = panel_cfg(write_csv(panel_frame(lengths=(120, 130), starts_h=(0, 0))), tmp_path, **{"model.per_series": True})
    with pytest.raises(TrainingError, match="no per-series network could be trained"):
        train(cfg, cells=["gru"])
    assert not (tmp_path / "series").exists()  # nothing saved


def test_retrain_keeps_a_per_series_champion_that_ties(write_csv, tmp_path):
    from forecaster.registry.retrain import retrain
    from forecaster.registry.store import Registry

    path = write_csv(panel_frame(lengths=(150, 140), starts_h=(0, 10)))
    cfg = panel_cfg(path, tmp_path / "models", **{"model.cell": "gru", "model.units": [4], "output.name": "shops",
                                                   "schedule.min_new_rows": 0, "model.per_series": True,
                                                   "model.baselines": ["naive"], "model.linear": True,
                                                   "output.tensorboard": False})
    first = retrain(cfg)
    assert first.outcome == "promoted", first.reason
    reg = Registry(tmp_path / "models", "shops")
    champ = reg.inspect(reg.champion())
    assert champ.manifest["kind"] == "per_series"
    again = retrain(cfg)  # the champion's own networks, re-scored series by series, tie the retrained ones
    assert again.outcome == "kept" and again.champion_score == pytest.approx(again.challenger_score, rel=1e-4)

    from forecaster.models.network import model as network

    original = network.NetworkModel.fit

    def diverge_on_s1(self, prep):
        if prep.single.series_id == "s1":
            raise TrainingError("training diverged (loss is NaN)")
        return original(self, prep)

    with pytest.MonkeyPatch.context() as mp:  # a challenger with no network for s1: its mean leaves s1 out
        mp.setattr(network.NetworkModel, "fit", diverge_on_s1)
        partial = retrain(dataclasses.replace(cfg, schedule=dataclasses.replace(cfg.schedule, margin=0.0)))
    # the version serves a row that scored both series (naive), not the network that scored one; it is kept
    assert partial.outcome == "kept"
    assert "(the version serves naive, gru left series out: scored 1 of 2 series" in partial.reason, partial.reason
    assert reg.champion() == 1


def test_a_per_series_result_crosses_a_process_as_bytes(trained):
    from forecaster.workflows.executor import ModelBytes, materialize, portable

    result = trained[1].cells[0]
    shipped = portable(result)
    assert set(shipped.model) == {"s0", "s1", "s2"} and all(isinstance(m, ModelBytes) for m in shipped.model.values())
    back = materialize(shipped)
    for sid, model in result.model.items():
        for a, b in zip(model.get_weights(), back.model[sid].get_weights()):
            np.testing.assert_array_equal(a, b)


def test_a_per_series_cell_is_served_without_tensorflow(trained):
    import subprocess
    import sys

    from conftest import ROOT

    cell = trained[1].run_dir / "gru"
    code = ("import json, sys\n"
            "from forecaster.cli.main import main\n"
            f"rc = main(['predict', '--model', {str(cell)!r}, '--series', 's1', '--format', 'json'])\n"
            "print(json.dumps({'rc': rc, 'tf': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules}))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"rc": 0, "tf": False, "keras": False}


def test_networks_load_when_a_series_asks_for_them(trained):
    from forecaster.artifacts.cell import load_for_serving
    from forecaster.workflows.predict import forecast, load_for_predict

    loaded = load_for_serving(trained[1].run_dir / "gru")
    assert sorted(loaded.members._loaded) == [0]  # the first, as LoadedCell.model
    forecast(loaded, load_for_predict(loaded), series=["s2"])
    assert sorted(loaded.members._loaded) == [0, 2] and loaded.members[-1] is loaded.members[2]


def test_the_mean_curve_averages_the_series_still_training():
    from forecaster.workflows.results import mean_curve

    rows = pd.DataFrame({"series": ["a", "a", "a", "b"], "epoch": [1, 2, 3, 1], "loss": [4.0, 2.0, 1.0, 2.0],
                         "val_loss": [3.0, 2.0, 1.5, 1.0], "seconds": [1.0, 1.0, 1.0, 2.0]})
    curve = mean_curve(rows)
    assert curve.to_dict("list") == {"epoch": [1, 2, 3], "loss": [3.0, 2.0, 1.0], "val_loss": [2.0, 2.0, 1.5],
                                     "seconds": [3.0, 1.0, 1.0], "series": [2, 1, 1]}
