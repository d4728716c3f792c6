"""Tracking: TensorBoard logs of every fit by default; MLflow runs logged to a file store and read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from forecaster.cli.main import main

from conftest import make_frame

TRAIN = ["--target", "y", "--lookback", "12", "--horizon", "4", "--units", "8", "--epochs", "3", "--cell", "gru",
         "--baselines", "naive,seasonal_naive", "--linear", "--quiet"]


def test_tensorboard_logs_every_fit_by_default_and_can_be_turned_off(tmp_path, write_csv):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    data = write_csv(make_frame(240))
    assert main(["train", "--data", str(data), *TRAIN, "--models-dir", str(tmp_path / "m"), "--seed", "7"]) == 0
    (logs,) = (tmp_path / "m" / "series" / "tensorboard").iterdir()
    assert "-gru-seed7-" in logs.name
    scalars = {}
    for part in ("train", "validation"):
        acc = EventAccumulator(str(logs / part)).Reload()
        scalars[part] = {tag: [float(make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]  # TF2 summaries
                         for tag in acc.Tags()["tensors"]}
    assert len(scalars["train"]["epoch_loss"]) == 3 and len(scalars["validation"]["epoch_loss"]) == 3
    history = next((tmp_path / "m" / "series" / "runs").iterdir()) / "gru" / "history.csv"
    val = [float(line.split(",")[2]) for line in history.read_text().splitlines()[1:]]
    assert scalars["validation"]["epoch_loss"] == pytest.approx(val, rel=1e-5)  # the same losses as the run's history

    assert main(["train", "--data", str(data), *TRAIN, "--models-dir", str(tmp_path / "n"), "--no-tensorboard"]) == 0
    assert not (tmp_path / "n" / "series" / "tensorboard").exists()


def test_mlflow_run_is_logged_to_a_file_store_and_reads_back(tmp_path, write_csv, capsys):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    data = write_csv(make_frame(240))
    uri = (tmp_path / "mlruns").as_uri()
    assert main(["train", "--data", str(data), *TRAIN, "--models-dir", str(tmp_path / "m"), "--mlflow-uri", uri,
                 "--no-tensorboard", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("series")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.params["training.epochs"] == "3" and run.data.params["model.cell"] == "gru"
    assert run.data.tags["forecaster.kind"] == "train"
    board = {r["name"]: r for r in payload["leaderboard"]}
    assert run.data.metrics["gru.mase"] == pytest.approx(board["gru"]["mase"])
    assert run.data.metrics["seasonal_naive.mase"] == pytest.approx(board["seasonal_naive"]["mase"])
    history = client.get_metric_history(run.info.run_id, "gru.val_loss")
    assert [m.step for m in history] == [1, 2, 3]
    files = {f.path for f in client.list_artifacts(run.info.run_id, "run")}
    assert {"run/leaderboard.json", "run/config.yaml", "run/gru"} <= files
    assert Path(payload["run_dir"]).name == run.info.run_name


def test_mlflow_uri_from_the_environment_and_an_unreachable_store_is_a_warning(tmp_path, write_csv, capsys,
                                                                               monkeypatch):
    pytest.importorskip("mlflow")
    data = write_csv(make_frame(240))
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (blocker / "mlruns").as_uri())
    assert main(["train", "--data", str(data), *TRAIN, "--models-dir", str(tmp_path / "m"), "--no-tensorboard"]) == 0
    err = capsys.readouterr().err
    assert "forecast: warning: --mlflow-uri file://" in err and "the run was saved in" in err and "not logged" in err
