"""Faults as real processes: SIGTERM during a scheduled retrain, SIGKILL during a retrain."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from forecaster import config
from forecaster.artifacts.run import resolve_cell_dir
from forecaster.errors import ExitCode
from forecaster.models.network.checkpoint import Checkpoint
from forecaster.registry.retrain import retrain
from forecaster.registry.store import Registry
from forecaster.workflows.predict import forecast, load_for_predict, load_model

from conftest import make_frame, sigterm_while_retraining, small_cfg

pytestmark = pytest.mark.slow  # real processes, signals and 10,000-epoch retrains


def slow_config(tmp: Path, data: Path, **schedule: object) -> dict:
    """A config whose retrain never ends by itself within a test (10000 epochs, no early stop), as YAML sections."""
    return config.to_dict(small_cfg(data, tmp / "models", **{
        "model.cell": "gru", "model.units": [4], "model.linear": True,  # one fit per cell: the checkpoint under test
        "model.baselines": "naive,seasonal_naive,linear",  # no statistical row to serve: the network is the version
        "training.epochs": 10000, "training.patience": 10000, "output.name": "sales",
        "schedule.heartbeat": str(tmp / "hb.json"), "schedule.heartbeat_every": 1,
        **{f"schedule.{key}": value for key, value in schedule.items()},
    }))


def forecast_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "forecaster", *args]


def start(argv: list[str], cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early ({proc.returncode}): {proc.stderr.read()}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out waiting for the process")
        time.sleep(0.02)


def epochs_done(ck_dir: Path) -> int:
    try:
        return int(json.loads((ck_dir / "state.json").read_text())["epochs"])
    except (OSError, ValueError, KeyError):
        return 0


def test_sigterm_during_a_scheduled_retrain_exits_0_within_seconds(tmp_path):
    data = tmp_path / "series.csv"
    make_frame(300).to_csv(data, index=False)
    cfg_file = tmp_path / "schedule.yaml"
    cfg_file.write_text(yaml.safe_dump(slow_config(tmp_path, data, cron="0 3 * * *")))
    proc = start(forecast_cmd("schedule", "--config", str(cfg_file), "--quiet"), tmp_path)
    reg = Registry(tmp_path / "models", "sales")
    ck = reg.checkpoint_dir / "gru"
    try:
        wait_for(lambda: epochs_done(ck) >= 2, proc)  # the catch-up retrain is training
        err, elapsed = sigterm_while_retraining(proc, tmp_path / "hb.json")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert elapsed < 5, f"took {elapsed:.1f}s to stop"
    assert "received SIGTERM" in err and "stopped during a retrain" in err and "Traceback" not in err
    assert reg.versions() == [] and not list(reg.versions_dir.glob(".*"))  # nothing half-written
    assert reg.ledger()[-1]["outcome"] == "stopped"
    assert Checkpoint(ck).completed_epochs() >= 2  # kept for the next retrain
    assert json.loads((tmp_path / "hb.json").read_text())["state"] == "stopped"


def test_sigkill_during_retrain_keeps_the_champion_and_the_next_retrain_resumes(tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    make_frame(300).to_csv(first, index=False)
    make_frame(340).to_csv(second, index=False)
    base = slow_config(tmp_path, first)
    champion_cfg = config.from_dict({**base, "training": {"epochs": 2, "batch_size": 32}})
    assert retrain(champion_cfg).outcome == "promoted"
    reg = Registry(tmp_path / "models", "sales")

    cfg_file = tmp_path / "retrain.yaml"
    cfg_file.write_text(yaml.safe_dump({**base, "data": {"path": str(second), "target": "y"}}))
    proc = start(forecast_cmd("retrain", "--config", str(cfg_file), "--quiet"), tmp_path)
    ck = Checkpoint(reg.checkpoint_dir / "gru")
    cfg = config.resolve(cfg_file)
    try:
        wait_for(lambda: epochs_done(ck.directory) >= 3, proc)
        # a second retrain while the first holds the lock: skipped, with a message, nothing trained
        busy = retrain(cfg)
        assert busy.outcome == "skipped" and busy.exit_code == ExitCode.BUSY and "is running" in busy.reason
    finally:
        proc.kill()  # SIGKILL: no handler, no cleanup
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # the champion is untouched and still served
    assert reg.versions() == [1] and reg.champion() == 1
    assert not [p for p in reg.versions_dir.iterdir() if p.name != "1"]
    loaded = load_model(resolve_cell_dir(reg.root))  # whatever row the champion serves
    assert len(forecast(loaded, load_for_predict(loaded))) == 4

    done = ck.completed_epochs()
    assert done >= 3
    saved_rows = json.loads((ck.directory / "state.json").read_text())["rows"]
    lines: list[str] = []
    # the lock died with the process; a lower epoch cap (2 more) keeps the checkpoint and the test short
    decision = retrain(config.resolve(cfg_file, {"training.epochs": done + 2}), progress=lines.append)
    assert decision.version == 2 and decision.outcome in ("promoted", "kept")
    assert f"  resuming from the checkpoint after epoch {done}" in lines
    history = pd.read_csv(reg.version_dir(2) / "gru" / "history.csv", float_precision="round_trip")
    assert list(history["epoch"]) == list(range(1, done + 3))
    assert history["loss"].iloc[:done].tolist() == [r["loss"] for r in saved_rows]  # resumed, not redone
    assert not reg.checkpoint_dir.exists()


def test_retrain_command_sigterm_is_a_clean_interrupt(tmp_path):
    data = tmp_path / "series.csv"
    make_frame(300).to_csv(data, index=False)
    cfg_file = tmp_path / "retrain.yaml"
    cfg_file.write_text(yaml.safe_dump(slow_config(tmp_path, data)))
    proc = start(forecast_cmd("retrain", "--config", str(cfg_file), "--quiet"), tmp_path)
    reg = Registry(tmp_path / "models", "sales")
    try:
        wait_for(lambda: epochs_done(reg.checkpoint_dir / "gru") >= 1, proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitCode.INTERRUPTED
    assert err.strip().splitlines()[-1] == (
        "forecast: retrain stopped; nothing was added to versions/ and the next retrain resumes from its checkpoint")
    assert reg.versions() == [] and not reg.champion_path.exists()
