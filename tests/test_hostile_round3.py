"""Hostile inputs and faults, round 3 (issue 30): outside services bounded, paths inside artifacts contained,
every stderr line cleaned, inputs checked beyond "empty or not", disk errors named, far-out forecasts warned,
no leftovers. One section per class; the cases are our own."""

from __future__ import annotations

import errno
import json
import shutil
import socket
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_panel import panel_frame

from forecaster.cli.main import main
from forecaster.cli.output import MAX_MESSAGE
from forecaster.errors import ConfigError, ExitCode

from conftest import FAST, make_frame, rehash

MLP = ["--cell", "mlp", "--baselines", "naive", *FAST]


def free_port(host: str = "127.0.0.1") -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def silent_listener(host: str) -> socket.socket:
    """A loopback socket that accepts connections (the kernel's backlog) and never says a word."""
    s = socket.socket()
    s.bind((host, 0))
    s.listen(8)
    return s


def train(data: Path, models: Path, *extra: str, name: str | None = None) -> Path:
    """A tiny MLP run on ``data`` (target ``y``); returns its run folder."""
    assert main(["train", "--data", str(data), "--target", "y", "--models-dir", str(models), *MLP, *extra,
                 *(["--name", name] if name else [])]) == ExitCode.OK
    (run,) = (models / (name or data.stem) / "runs").iterdir()
    return run


def lines(err: str) -> list[str]:
    return err.strip().splitlines()


@pytest.fixture(scope="module")
def panel_run(tmp_path_factory):
    """A tiny global MLP over three hourly series s0..s2 (ids read as text): (data file, run folder)."""
    root = tmp_path_factory.mktemp("panel")
    data = root / "panel.csv"
    panel_frame(lengths=(120, 130, 110), starts_h=(0, 4, 9)).to_csv(data, index=False)
    return data, train(data, root / "m", "--id-col", "store", "--no-tensorboard")


# -- 1. outside services are bounded --------------------------------------------------------------------------------
ray = pytest.importorskip("ray")


def test_a_closed_ray_port_is_a_usage_error_in_seconds_naming_what_was_really_probed(tmp_path, capsys):
    from ray._private.services import canonicalize_bootstrap_address

    data = tmp_path / "s.csv"
    make_frame()[["date", "y"]].to_csv(data, index=False)
    port = free_port()
    probed = canonicalize_bootstrap_address(f"127.0.0.1:{port}")  # Ray connects to this node's address for it
    for address, where in ((f"127.0.0.1:{port}", probed), (f"ray://127.0.0.1:{port}", f"127.0.0.1:{port}")):
        t0 = time.monotonic()
        code = main(["compare", "--data", str(data), "--target", "y", "--executor", "ray", "--ray-address", address,
                     "--models-dir", str(tmp_path / "m")])
        elapsed = time.monotonic() - t0
        err = capsys.readouterr().err
        assert code == ExitCode.USAGE and elapsed < 10, (elapsed, err)  # was: for ever / 41 s
        assert lines(err) == [f"forecast: error: --ray-address {address}: no Ray "
                              f"{'Client server' if address.startswith('ray') else 'cluster'} answers at {where}"
                              + (" (where Ray connects for it)" if where != address.removeprefix("ray://") else "")
                              + ": Connection refused; check the address and that the cluster is up (ray status)"]
    assert not (tmp_path / "m").exists()  # refused before any work


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_a_port_that_answers_but_is_not_ray_is_refused_within_the_probe_time(scheme):
    from forecaster.workflows.executor import RAY_PROBE_SECONDS, check_ray_address

    listener = silent_listener("127.0.0.2")  # loopback, and an address Ray does not rewrite
    listener.settimeout(10)
    port = listener.getsockname()[1]
    try:
        t0 = time.monotonic()
        with pytest.raises(ConfigError, match=f"answers at 127.0.0.2:{port}: the port accepts connections but does not "
                                              "speak gRPC"):
            check_ray_address(f"{scheme}127.0.0.2:{port}")
        assert time.monotonic() - t0 < RAY_PROBE_SECONDS + 2
        conn, (peer, _) = listener.accept()  # the probe connected to this socket, bound to 127.0.0.2 only
        conn.close()
        assert peer.startswith("127.")  # from loopback too
    finally:
        listener.close()


@pytest.mark.slow  # a local Ray cluster starts in ~10 s
def test_a_live_ray_cluster_passes_the_probe(ray_session):
    from forecaster.workflows.executor import check_ray_address

    gcs = ray_session.get_runtime_context().gcs_address
    t0 = time.monotonic()
    check_ray_address(gcs)  # the GCS answers GetClusterId
    assert time.monotonic() - t0 < 3


@pytest.mark.slow  # a real process and a signal
def test_sigterm_while_waiting_for_a_ray_address_ends_the_process_at_once(tmp_path):
    import signal
    import subprocess
    import sys

    data = tmp_path / "s.csv"
    make_frame()[["date", "y"]].to_csv(data, index=False)
    listener = silent_listener("127.0.0.2")
    listener.settimeout(60)
    port = listener.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "forecaster", "compare", "--data", str(data), "--target", "y",
                             "--executor", "ray", "--ray-address", f"127.0.0.2:{port}", "--models-dir",
                             str(tmp_path / "m")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        conn, _ = listener.accept()  # the probe is waiting on this connection now
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        elapsed = time.monotonic() - t0
        conn.close()
    finally:
        listener.close()
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGTERM and elapsed < 1.5, (proc.returncode, elapsed, err)
    assert "Traceback" not in err and not (tmp_path / "m").exists()


def test_a_closed_mlflow_port_is_one_warning_the_run_kept_and_exit_0(tmp_path, capsys):
    pytest.importorskip("mlflow")
    from forecaster.workflows.tracking import check_tracking_uri

    data = tmp_path / "s.csv"
    make_frame()[["date", "y"]].to_csv(data, index=False)
    uri = f"http://127.0.0.1:{free_port()}"
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match="no tracking server answers there"):
        check_tracking_uri(uri)
    assert time.monotonic() - t0 < 1  # refused at once (MLflow's own retries: over 100 s)
    capsys.readouterr()
    run = train(data, tmp_path / "m", "--mlflow-uri", uri)
    err = capsys.readouterr().err
    warned = [line for line in lines(err) if line.startswith("forecast: warning:")]
    assert warned == [f"forecast: warning: --mlflow-uri {uri}: no tracking server answers there (Connection refused); "
                      "start it or fix the URI; the run will be saved but not logged"]
    assert (run / "mlp" / "manifest.json").is_file()


def test_a_tracking_server_that_never_answers_is_bounded(tmp_path, write_csv, monkeypatch):
    pytest.importorskip("mlflow")
    from forecaster import config
    from forecaster.workflows import tracking

    listener = silent_listener("127.0.0.1")
    uri = f"http://127.0.0.1:{listener.getsockname()[1]}"
    try:
        t0 = time.monotonic()
        with pytest.raises(ConfigError, match=f"no answer within {tracking.MLFLOW_PROBE_SECONDS:g} s"):
            tracking.check_tracking_uri(uri)
        assert time.monotonic() - t0 < tracking.MLFLOW_PROBE_SECONDS + 2
        monkeypatch.setattr(tracking, "check_tracking_uri", lambda uri: None)  # as if it had answered once
        cfg = config.resolve(overrides={"data.path": str(write_csv(make_frame()))})
        t0 = time.monotonic()
        with pytest.raises(ConfigError, match=r"but not logged \(did not finish within 2 s\)"):
            tracking.log_run(uri, cfg, tmp_path, [], deadline=2)
        assert time.monotonic() - t0 < 4
        # the call still runs in its thread: it must not hold the process's warnings filters (a blanket ignore
        # swapped in from there silenced every later warning of the process until MLflow gave up)
        blanket = ("ignore", None, Warning, None, 0)
        assert blanket not in warnings.filters
    finally:
        listener.close()


# -- 10. a tracking URI the installed MLflow cannot use --------------------------------------------------------------
def test_a_database_store_without_sqlalchemy_is_said_in_one_line(tmp_path, capsys, monkeypatch):
    pytest.importorskip("mlflow")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "sqlalchemy" else real(name, *a))
    data = tmp_path / "s.csv"
    make_frame()[["date", "y"]].to_csv(data, index=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = train(data, tmp_path / "m", "--mlflow-uri", uri)
    warned = [line for line in lines(capsys.readouterr().err) if "warning" in line]
    assert len(warned) == 1 and f"--mlflow-uri {uri}: a database store needs sqlalchemy, which this install" in warned[0]
    assert "pip install 'forecaster[tracking]'" in warned[0] and (run / "mlp").is_dir()


def test_the_documented_sqlite_uri_logs_and_prints_the_mlflow_run_id(tmp_path, capsys, monkeypatch):
    pytest.importorskip("mlflow")
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("alembic")
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # a database store keeps artifacts in ./mlruns

    data = tmp_path / "s.csv"
    make_frame()[["date", "y"]].to_csv(data, index=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    run = train(data, tmp_path / "m", "--mlflow-uri", uri, "--no-tensorboard")  # --quiet (FAST) too
    said = [line for line in lines(capsys.readouterr().err) if line.startswith("mlflow: logged run ")]
    assert len(said) == 1, said
    run_id = said[0].split()[3]
    logged = MlflowClient(tracking_uri=uri).get_run(run_id)
    assert logged.info.run_name == run.name and logged.data.params["model.cell"] == "mlp"


# -- 3. paths inside artifacts are contained ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def per_series_cell(tmp_path_factory):
    """A ``--per-series`` MLP cell over s0..s2 (a network each)."""
    root = tmp_path_factory.mktemp("per_series")
    data = root / "panel.csv"
    panel_frame(lengths=(120, 130, 110), starts_h=(0, 4, 9), code=True).to_csv(data, index=False)
    run = train(data, root / "m", "--id-col", "store", "--per-series", "--no-tensorboard")
    return run / "mlp"


def test_a_series_folder_linked_to_a_network_elsewhere_is_refused(per_series_cell, tmp_path, capsys):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(per_series_cell, elsewhere)
    cell = tmp_path / "run" / "mlp"
    shutil.copytree(per_series_cell, cell)
    shutil.rmtree(cell / "series" / "1")
    (cell / "series" / "1").symlink_to(elsewhere / "series" / "1")  # same bytes: every checksum still matches
    assert main(["predict", "--model", str(cell)]) == ExitCode.ARTIFACT
    err = capsys.readouterr().err
    assert lines(err) == [f"forecast: error: {cell}/series/1: a symbolic link inside a saved model's folder; its files "
                          "must be its own, not links to others: retrain or pick another run"]


@pytest.mark.parametrize("name", ["../elsewhere/model.keras", "/etc/hostname", "series/../../x", ".."])
def test_manifest_files_that_leave_the_folder_are_refused(panel_run, tmp_path, capsys, name):
    cell = tmp_path / "run" / "mlp"
    shutil.copytree(panel_run[1] / "mlp", cell)
    from forecaster.artifacts.manifest import SELF_KEY, manifest_digest

    manifest = json.loads((cell / "manifest.json").read_text())
    manifest["files"][name] = "0" * 64
    manifest[SELF_KEY] = manifest_digest(manifest)  # and its own checksum recomputed, as an attacker would
    (cell / "manifest.json").write_text(json.dumps(manifest))
    assert main(["predict", "--model", str(cell)]) == ExitCode.ARTIFACT
    err = capsys.readouterr().err
    assert f"manifest.json: names {name!r}, which leaves {cell} (an absolute path or '..')" in err
    assert len(lines(err)) == 1


def test_a_linked_model_file_and_a_champion_through_a_linked_run_are_refused(panel_run, tmp_path, capsys):
    cell = tmp_path / "run" / "mlp"
    shutil.copytree(panel_run[1] / "mlp", cell)
    (cell / "model.keras").rename(tmp_path / "model.keras")
    (cell / "model.keras").symlink_to(tmp_path / "model.keras")
    assert main(["predict", "--model", str(cell)]) == ExitCode.ARTIFACT
    assert f"{cell}/model.keras: a symbolic link inside a saved model's folder" in capsys.readouterr().err
    model = tmp_path / "model"  # a model folder whose champion points through a linked run folder
    (model / "runs").mkdir(parents=True)
    (model / "runs" / "r1").symlink_to(panel_run[1])
    (model / "champion.json").write_text(json.dumps({"path": "runs/r1/mlp"}))
    assert main(["predict", "--model", str(model)]) == ExitCode.ARTIFACT
    assert "'path' 'runs/r1/mlp' leaves the model folder" in capsys.readouterr().err


# -- 5. every warning line is cleaned; third-party warnings are one line -------------------------------------------
def test_warning_lines_escape_control_characters_and_are_capped(panel_run, tmp_path, capsys):
    data, run = panel_run
    frame = pd.read_csv(data)
    evil = frame[frame.store == "s1"].assign(store="ev\x1b[2Jil\x07")
    huge = frame[frame.store == "s2"].assign(store="x" * 100_000)
    path = tmp_path / "new.csv"
    pd.concat([frame, evil, huge]).to_csv(path, index=False)
    capsys.readouterr()
    assert main(["predict", "--model", str(run / "mlp"), "--data", str(path), "--output", str(tmp_path / "f.csv")]) == 0
    err = capsys.readouterr().err
    warned = [line for line in lines(err) if line.startswith("forecast: warning: 2 series left out")]
    assert len(warned) == 1 and "ev\\x1b[2Jil\\x07" in warned[0]  # still named, escaped
    assert "\x1b" not in err and "\x07" not in err and max(map(len, lines(err))) <= MAX_MESSAGE


def test_python_warnings_of_any_library_are_one_line_each(panel_run, tmp_path, capsys, monkeypatch):
    import sys
    import warnings

    from forecaster.workflows import predict

    lib = tmp_path / "site-packages" / "fakelib"
    lib.mkdir(parents=True)
    (lib / "__init__.py").write_text("import warnings\n\ndef shout():\n"
                                     "    warnings.warn('first line\\nsecond line', UserWarning, stacklevel=1)\n")
    monkeypatch.syspath_prepend(str(lib.parent))
    sys.modules.pop("fakelib", None)
    import fakelib

    real = predict.forecast

    def noisy(*args, **kwargs):
        fakelib.shout()
        with np.errstate(invalid="warn"):
            np.log(np.array([-1.0]))  # numpy's RuntimeWarning, from this frame
        return real(*args, **kwargs)

    monkeypatch.setattr(predict, "forecast", noisy)
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["predict", "--model", str(panel_run[1] / "mlp"), "--output", str(tmp_path / "f.csv")]) == 0
    err = lines(capsys.readouterr().err)
    assert "forecast: warning: fakelib: first line (UserWarning)" in err
    assert any(line.startswith("forecast: warning: ") and "invalid value encountered in log" in line for line in err)
    assert not any("second line" in line or "warnings.warn" in line for line in err)


def test_a_failed_onnx_export_is_one_warning_line_and_the_run_is_saved(tmp_path, capsys, monkeypatch):
    from forecaster.artifacts import onnx_runtime as runtime

    def broken(model, path):
        raise ValueError("converter broke\nwith a second line")

    monkeypatch.setattr(runtime, "export_onnx", broken)
    data = tmp_path / "s.csv"
    make_frame()[["date", "y"]].to_csv(data, index=False)
    capsys.readouterr()
    run = train(data, tmp_path / "m", "--no-tensorboard")
    warned = [line for line in lines(capsys.readouterr().err) if "warning" in line or "second line" in line]
    assert warned == ["forecast: warning: mlp: ONNX export failed (ValueError: converter broke"]
    assert (run / "mlp" / "model.keras").is_file() and not (run / "mlp" / "model.onnx").exists()


@pytest.mark.slow  # a fresh process: TensorFlow's first import, from a per-series cell's Keras fallback
def test_the_per_series_keras_fallback_imports_tensorflow_quietly(per_series_cell, tmp_path):
    import subprocess
    import sys

    cell = tmp_path / "run" / "mlp"
    shutil.copytree(per_series_cell, cell)
    (cell / "series" / "1" / "model.onnx").unlink()  # as if its export had failed: Keras serves s1
    manifest = json.loads((cell / "manifest.json").read_text())
    del manifest["files"]["series/1/model.onnx"]
    (cell / "manifest.json").write_text(json.dumps(manifest))
    rehash(cell)
    proc = subprocess.run([sys.executable, "-m", "forecaster", "predict", "--model", str(cell), "--output",
                           str(tmp_path / "f.csv")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert all(line.startswith("forecast") for line in lines(proc.stderr)), proc.stderr  # no TensorFlow banner
    assert len(pd.read_csv(tmp_path / "f.csv")) == 3 * 4


# -- 6. inputs checked beyond "empty or not" ------------------------------------------------------------------------
@pytest.mark.parametrize(("given", "message"), [
    ("", "--series: expected series ids such as a,b (leave the flag out for every series), got ''"),
    (",,", "--series: expected series ids such as a,b (leave the flag out for every series), got ',,'"),
    ("s0,,s1", "--series: an empty id in 's0,,s1' (two commas in a row, or one at an end)"),
    ("s0,s1, s0", "--series: 's0' is given 2 times; give each series once"),
])
def test_series_lists_that_name_nothing_or_a_series_twice_are_usage_errors(panel_run, capsys, given, message):
    assert main(["predict", "--model", str(panel_run[1] / "mlp"), "--series", given]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert message in err and len(lines(err)) == 1


def test_future_values_for_a_model_without_known_covariates_are_refused(panel_run, tmp_path, capsys):
    future = tmp_path / "future.csv"
    future.write_text("date,store,promo\n2024-01-07 00:00:00,s0,1\n")
    assert main(["predict", "--model", str(panel_run[1] / "mlp"), "--future", str(future)]) == ExitCode.USAGE
    assert "was trained without known covariates (--known-covariates) and reads no future values; leave out " \
           "--future" in capsys.readouterr().err


def test_a_huge_finite_covariate_is_the_datas_problem_at_train_and_at_predict(tmp_path, capsys):
    frame = make_frame()
    late = frame.copy()
    late.loc[230, "x"] = 1e300  # a test row: past the scaler's training rows
    path = tmp_path / "late.csv"
    late.to_csv(path, index=False)
    models = tmp_path / "m"
    assert main(["train", "--data", str(path), "--target", "y", "--covariates", "x", "--models-dir", str(models),
                 *MLP]) == ExitCode.DATA  # was: an internal error (NaN input)
    err = capsys.readouterr().err
    assert lines(err) == [f"forecast: error: {path}: column 'x' at 2024-01-10 14:00:00: value 1e+300 lies 1.42e+300 "
                          "standard deviations from the training rows' mean, beyond what a network reads (float32 "
                          "overflows past 3.4e38); correct or rescale it, or leave 'x' out"]
    early = frame.copy()
    early.loc[20, "x"] = 1e300  # a training row: the scaler itself overflows
    early.to_csv(path, index=False)
    assert main(["train", "--data", str(path), "--target", "y", "--covariates", "x", "--models-dir", str(models),
                 *MLP]) == ExitCode.DATA
    assert f"forecast: error: {path}: column(s) x: values too large to standardise" in capsys.readouterr().err
    clean = tmp_path / "clean.csv"
    frame.to_csv(clean, index=False)
    run = train(clean, models, "--covariates", "x")
    frame.loc[235, "x"] = 1e300  # inside the window predict reads
    frame.to_csv(path, index=False)
    capsys.readouterr()
    assert main(["predict", "--model", str(run / "mlp"), "--data", str(path)]) == ExitCode.DATA  # was: 4, "broken"
    assert f"{path}: column 'x' at 2024-01-10 19:00:00: value 1e+300 lies" in capsys.readouterr().err


def test_ids_are_text_na_and_null_are_series_an_empty_id_is_not(tmp_path):
    from forecaster.data.load import load_future, load_panel
    from forecaster.errors import DataError

    frame = panel_frame(lengths=(30, 30, 30), starts_h=(0, 0, 0))
    frame["store"] = frame["store"].map({"s0": "NA", "s1": "null", "s2": "nan"})
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)
    assert load_panel(path, id_col="store", target="y").ids == ["NA", "null", "nan"]
    future = tmp_path / "f.csv"
    future.write_text("date,store,promo\n2024-01-02 06:00:00,NA,1\n2024-01-02 06:00:00,null,0\n")
    assert list(load_future(future, time_col="date", known=["promo"], id_col="store").index.get_level_values(0)) == [
        "NA", "null"]
    frame.loc[3, "store"] = ""
    frame.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"column 'store' \(--id-col\): line 5 has no series id"):
        load_panel(path, id_col="store", target="y")


def test_a_series_on_a_coarser_grid_than_the_panel_is_refused_not_interpolated(tmp_path, capsys):
    frame = panel_frame(lengths=(120, 60), starts_h=(0, 0))
    two_hourly = frame.store == "s1"
    frame.loc[two_hourly, "date"] = pd.date_range("2024-01-01", periods=60, freq="2h")
    path = tmp_path / "p.csv"
    frame.to_csv(path, index=False)
    assert main(["train", "--data", str(path), "--target", "y", "--id-col", "store", "--missing", "interpolate",
                 "--models-dir", str(tmp_path / "m"), *MLP]) == ExitCode.DATA
    err = capsys.readouterr().err
    assert (f"{path}: series 's1': column 'date': no two of its 60 timestamps are one 'h' step apart (steps seen: "
            "0 days 02:00:00 x59): it is on a coarser grid than the panel's 'h'") in err
    frame = panel_frame(lengths=(120, 60), starts_h=(0, 0))
    frame = frame.drop(index=frame.index[(frame.store == "s1")][5:50:3])  # holes, not a coarser grid: filled
    frame.to_csv(path, index=False)
    assert main(["train", "--data", str(path), "--target", "y", "--id-col", "store", "--missing", "interpolate",
                 "--models-dir", str(tmp_path / "m"), *MLP, "--no-tensorboard"]) == ExitCode.OK


# -- 7. disk errors keep their path ---------------------------------------------------------------------------------
def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")  # as the kernel says it: no file named


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(("target", "writer"), [("model.keras", "zipfile.ZipFile.writestr"),
                                                ("model.onnx", "tf2onnx.utils.save_protobuf")])
def test_a_full_disk_while_saving_a_network_names_the_file_and_leaves_nothing(tmp_path, capsys, monkeypatch, target,
                                                                             writer):
    data = tmp_path / "s.csv"
    make_frame()[["date", "y"]].to_csv(data, index=False)
    models = tmp_path / "m"
    first = train(data, models, name="kept")  # a saved run that must stay intact
    before = _tree(models / "kept")
    pytest.importorskip(writer.split(".")[0])
    monkeypatch.setattr(writer, _no_space)
    capsys.readouterr()
    code = main(["train", "--data", str(data), "--target", "y", "--models-dir", str(models), *MLP[:-1]])  # TensorBoard on
    err = capsys.readouterr().err
    assert code == ExitCode.SYSTEM, err
    assert lines(err)[-1].startswith(f"forecast: error: {models}/s/runs/") and lines(err)[-1].endswith(
        f"/mlp/{target}: No space left on device (ENOSPC); the disk is full: free space or write elsewhere "
        "(--models-dir, --output)")
    assert ".tmp-" not in lines(err)[-1]  # the run's own name, not its staging folder
    assert _tree(models / "kept") == before and first.is_dir()
    assert not _tree(models / "s")  # no run, no staging folder, no TensorBoard logs: (empty) folders at most
    assert not list(models.rglob(".*"))


# -- 8. a forecast far outside what the series has done -------------------------------------------------------------
def test_the_range_rule_for_one_series_and_a_panel():
    from forecaster.data.frame import Panel, SeriesFrame
    from forecaster.workflows.predict import RANGE_MULTIPLE, beyond_history

    def series(values, sid=None):
        index = pd.date_range("2024-01-01", periods=len(values), freq="h", name="date")
        return SeriesFrame(frame=pd.DataFrame({"y": values}, index=index), target="y", covariates=(), freq="h",
                           path="p.csv", sha256="", time_col="date", series_id=sid)

    trend = Panel.of(series(np.arange(10.0)))  # range 9: the bound is [-90, 99]
    assert beyond_history(pd.DataFrame({"yhat": [99.0, -90.0]}), trend) is None
    note = beyond_history(pd.DataFrame({"yhat": [10.0, 99.5]}), trend)
    assert note == (f"the forecast reaches 99.5, more than {RANGE_MULTIPLE:g}x the range of the series' values given "
                    "past either end (0 to 9); check the data and the model before using it")
    flat = series(np.full(10, 5.0), "b")  # a constant series: its level is the span
    panel = Panel(series=(series(np.arange(10.0), "a"), flat), id_col="store", path="p.csv", sha256="")
    frame = pd.DataFrame({"store": ["a", "a", "b", "b"], "yhat": [9.0, 10.0, 5.0, 3.1e26]})
    assert beyond_history(frame, panel) == ("1 series forecast more than 10x the range of their values given past "
                                            "either end: b (3.1e+26; history 5 to 5); check the data and the model "
                                            "before using them")


def test_a_network_trained_through_a_spike_is_served_with_a_warning(tmp_path, capsys):
    frame = panel_frame(lengths=(120, 120), starts_h=(0, 0))
    spiked = frame.copy()
    spiked.loc[(spiked.store == "s1").to_numpy().nonzero()[0][40], "y"] = 1e30
    train_file, clean = tmp_path / "spiked.csv", tmp_path / "clean.csv"
    spiked.to_csv(train_file, index=False)
    frame.to_csv(clean, index=False)
    run = train(train_file, tmp_path / "m", "--id-col", "store", "--no-tensorboard")
    capsys.readouterr()
    assert main(["predict", "--model", str(run / "mlp"), "--data", str(clean), "--output", str(tmp_path / "f.csv")]) == 0
    warned = [line for line in lines(capsys.readouterr().err) if "range of their values" in line]
    assert len(warned) == 1 and ": s1 (" in warned[0] and "s0 (" not in warned[0], warned


# -- 9. leftovers ---------------------------------------------------------------------------------------------------
def _events(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if "tfevents" in p.name]


@pytest.mark.parametrize(("fault", "code"), [("data", ExitCode.DATA), ("interrupt", ExitCode.INTERRUPTED),
                                             ("nan", ExitCode.TRAINING)])
def test_a_run_that_is_not_saved_leaves_no_tensorboard_logs(tmp_path, capsys, monkeypatch, fault, code):
    from forecaster.artifacts import cell
    from forecaster.errors import DataError

    data = tmp_path / "s.csv"
    make_frame()[["date", "y"]].to_csv(data, index=False)
    models = tmp_path / "m"
    extra: list[str] = []
    if fault == "nan":
        extra = ["--learning-rate", "1e30", "--no-linear"]
    else:
        def refuse(*args, **kwargs):  # after every fit wrote its logs, while the run is being saved
            raise DataError("refused late") if fault == "data" else KeyboardInterrupt

        monkeypatch.setattr(cell, "write_cell_manifest", refuse)  # the last write of a network's folder
    assert main(["train", "--data", str(data), "--target", "y", "--models-dir", str(models), "--cell", "mlp",
                 "--baselines", "naive", *FAST[:-1], *extra]) == code, capsys.readouterr().err
    assert not _events(models) and not list(models.rglob(".tmp-*"))
    assert not _tree(models / "s")  # (empty) folders at most


def test_the_logs_of_a_saved_run_are_kept(tmp_path):
    data = tmp_path / "s.csv"
    make_frame()[["date", "y"]].to_csv(data, index=False)
    train(data, tmp_path / "m", "--tensorboard")
    (logs,) = (tmp_path / "m" / "s" / "tensorboard").iterdir()
    assert not logs.name.startswith(".") and _events(logs)


def test_version_folders_named_with_other_digits_are_ignored_with_a_note(tmp_path, capsys):
    from forecaster import config
    from forecaster.registry.retrain import retrain
    from forecaster.registry.store import Registry

    from conftest import small_cfg

    data = tmp_path / "s.csv"
    make_frame()[["date", "y"]].to_csv(data, index=False)
    reg = Registry(tmp_path / "m", "s")
    for name in ("\u0661\u0662", "\u00b2", "007"):  # Arabic-Indic 12, superscript 2, a zero-padded 7
        (reg.versions_dir / name).mkdir(parents=True)
    cfg = small_cfg(data, tmp_path / "m", **{"model.cell": "mlp", "model.baselines": "naive",
                                              "output.tensorboard": False})
    assert retrain(config.resolve(overrides=config.flatten(cfg))).version == 1  # was: an internal error
    assert reg.versions() == [1] and reg.strays() == ["007", "\u00b2", "\u0661\u0662"]
    capsys.readouterr()
    assert main(["models", "list", "--name", "s", "--models-dir", str(tmp_path / "m")]) == ExitCode.OK
    notes = [line for line in lines(capsys.readouterr().err) if line.startswith("forecast: note:")]
    assert len(notes) == 3 and "\u0661\u0662 is not a version" in notes[2]


def test_a_killed_process_staging_folder_is_removed_and_a_live_one_kept(tmp_path, write_csv):
    import os

    from forecaster import config
    from forecaster.workflows import tracking

    cfg = config.resolve(overrides={"data.path": str(write_csv(make_frame())), "output.models_dir": str(tmp_path)})
    root = tmp_path / "series" / "tensorboard"
    dead, live = root / ".tmp-logs-999999999-abc", root / f".tmp-logs-{os.getpid()}-def"
    for folder in (dead, live):
        (folder / "fit").mkdir(parents=True)
        os.utime(folder, (time.time() - 2 * tracking.STALE_LOGS_SECONDS,) * 2)
    with tracking.staged_logs():
        where = tracking.tensorboard_dir(cfg, "mlp")
        assert where.parent.name.startswith(f".tmp-logs-{os.getpid()}-") and where.parent.parent == root
        where.mkdir()
    assert not dead.exists() and live.is_dir()  # (a pid that is running here keeps its logs)
    assert [p.name for p in root.iterdir() if not p.name.startswith(".")] == [where.name]  # moved into place
