"""Hostile inputs: terminal-safe one-line errors, bounded messages, checked artifact values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forecaster.cli.main import main
from forecaster.cli.output import MAX_MESSAGE
from forecaster.errors import ExitCode

from conftest import FAST, make_frame, rehash


def trained_mlp(tmp_path, data):
    """A tiny MLP trained on ``data`` (target ``y``, naive beside it): its saved cell folder."""
    models = tmp_path / "m"
    assert main(["train", "--data", str(data), "--target", "y", "--models-dir", str(models), "--cell", "mlp",
                 "--baselines", "naive", *FAST]) == ExitCode.OK
    (run,) = (models / data.stem / "runs").iterdir()
    return run / "mlp"


def test_control_characters_in_a_header_are_escaped(tmp_path, capsys):
    path = tmp_path / "evil.csv"
    frame = make_frame()[["date", "y"]].rename(columns={"y": "y\x1b[2J\x07"})
    frame.to_csv(path, index=False)
    assert main(["train", "--data", str(path), "--target", "nope", "--models-dir", str(tmp_path / "m")]) == ExitCode.DATA
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "\x07" not in err
    assert "y\\x1b[2J\\x07" in err  # still named, so the user can find the column


def test_a_huge_cell_is_not_quoted_whole(tmp_path, capsys):
    path = tmp_path / "huge.csv"
    frame = make_frame()[["date", "y"]].astype({"y": object})
    frame.loc[5, "y"] = "9" * 200_000 + "x"
    frame.to_csv(path, index=False)
    assert main(["train", "--data", str(path), "--target", "y", "--models-dir", str(tmp_path / "m")]) == ExitCode.DATA
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < MAX_MESSAGE + 40 and "more)" in err


def test_a_seed_beyond_32_bits_is_a_usage_error(tmp_path, capsys):
    assert main(["train", "--seed", str(2**32), "--models-dir", str(tmp_path)]) == ExitCode.USAGE
    assert "--seed (training.seed): expected an integer in [0, 4294967295]" in capsys.readouterr().err


def test_a_rehashed_infinite_scaler_is_refused_not_served(tmp_path, series_csv, capsys):
    cell = trained_mlp(tmp_path, series_csv)
    scaler = json.loads((cell / "scaler.json").read_text())
    scaler["scale"][0] = float("inf")
    (cell / "scaler.json").write_text(json.dumps(scaler))  # json writes Infinity
    rehash(cell)  # the attacker re-hashes it
    capsys.readouterr()
    assert main(["predict", "--model", str(cell)]) == ExitCode.ARTIFACT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "scaler.json: not a valid scaler (mean/scale are not finite" in err


def test_a_yaml_alias_bomb_is_refused_at_once(tmp_path, capsys):
    items = ["&a [x,x,x,x,x,x,x,x,x]"]
    for i in range(1, 9):
        items.append(f"&{chr(97 + i)} [" + ",".join([f"*{chr(96 + i)}"] * 9) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("data:\n  covariates: [" + ", ".join(items) + "]\n")  # 309 bytes, 9**9 values expanded
    assert main(["train", "--config", str(bomb)]) == ExitCode.USAGE  # took 30 s and 2.3 GB before
    assert "aliases expand to more than 10,000 values" in capsys.readouterr().err
    ok = tmp_path / "anchors.yaml"  # a few anchors, as a person writes them, still load
    ok.write_text("window: {lookback: &n 12, horizon: *n}\ntraining: {epochs: 0}\n")
    assert main(["train", "--config", str(ok)]) == ExitCode.USAGE
    assert "training.epochs: expected an integer >= 1, got 0" in capsys.readouterr().err  # parsed, then checked


def test_a_data_file_stem_of_dots_never_names_a_folder_outside_the_models_dir(tmp_path, capsys):
    path = tmp_path / "...csv"  # stem ".."
    make_frame()[["date", "y"]].to_csv(path, index=False)
    models = tmp_path / "box" / "models"
    assert main(["train", "--data", str(path), "--target", "y", "--models-dir", str(models), "--cell", "mlp",
                 "--baselines", "naive", *FAST]) == ExitCode.OK
    assert [p.name for p in models.iterdir()] == ["series"] and not (tmp_path / "box" / "runs").exists()


def test_a_frequency_far_finer_than_the_data_is_refused_before_any_grid(tmp_path, capsys):
    import time

    path = tmp_path / "hourly.csv"
    make_frame()[["date", "y"]].to_csv(path, index=False)
    t0 = time.perf_counter()
    code = main(["train", "--data", str(path), "--target", "y", "--models-dir", str(tmp_path / "m"),
                 "--config", str(_freq_config(tmp_path, "1ns"))])
    assert code == ExitCode.DATA and time.perf_counter() - t0 < 30
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data.freq '1ns' puts 860,400,000,000,001 steps between" in err
    assert "of 240 rows; that frequency is far finer than the data" in err


def _freq_config(tmp_path, freq):
    cfg = tmp_path / "freq.yaml"
    cfg.write_text(f"data:\n  freq: {freq}\n")
    return cfg


def test_output_never_replaces_what_is_not_a_file_and_writes_through_a_symlink(tmp_path, capsys):
    import os

    models = tmp_path / "m"
    data = tmp_path / "series.csv"
    make_frame()[["date", "y"]].to_csv(data, index=False)
    assert main(["train", "--data", str(data), "--target", "y", "--models-dir", str(models), "--cell", "mlp",
                 "--baselines", "naive", *FAST]) == ExitCode.OK
    predict = ["predict", "--model", str(models / "series"), "--horizon", "2", "--output"]
    real = tmp_path / "real.csv"
    real.write_text("old\n")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    capsys.readouterr()
    assert main([*predict, str(link)]) == ExitCode.OK
    assert link.is_symlink() and real.read_text().startswith("timestamp,yhat")  # written through, link kept
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert main([*predict, str(folder)]) == ExitCode.USAGE
    assert f"--output {folder}: is a directory; give the path of a file" in capsys.readouterr().err
    import socket
    import stat

    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    assert main([*predict, str(sock_path)]) == ExitCode.USAGE
    assert "is not a regular file (a socket or block device)" in capsys.readouterr().err
    sock.close()
    assert stat.S_ISSOCK(os.stat(sock_path).st_mode)  # not replaced
    assert main([*predict, os.devnull]) == ExitCode.OK  # a device is written into, never replaced
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    assert main([*predict, str(real / "x.csv")]) == ExitCode.USAGE
    assert f"{real} is a file, not a folder" in capsys.readouterr().err
    assert main([*predict, str(tmp_path / "new" / "dir" / "f.csv")]) == ExitCode.OK  # folders created
    assert (tmp_path / "new" / "dir" / "f.csv").is_file()


def test_manifest_fields_are_checked_and_an_edited_manifest_is_corrupt(tmp_path, series_csv, capsys):
    cell = trained_mlp(tmp_path, series_csv)
    original = (cell / "manifest.json").read_text()
    manifest = json.loads(original)
    manifest["window"]["strategy"] = "recursive"  # edited by hand, not re-hashed
    (cell / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(["predict", "--model", str(cell)]) == ExitCode.ARTIFACT
    assert "manifest.json: corrupt (edited after it was saved: its own checksum differs)" in capsys.readouterr().err
    for field, value, message in [
        ("lookback", 0, "'window.lookback' must be an integer >= 1, got '0'"),
        ("horizon", "24", "'window.horizon' must be an integer >= 1, got '24'"),
        ("strategy", "sideways", "'window.strategy' must be direct or recursive, got 'sideways'"),
    ]:
        manifest = json.loads(original)
        manifest["window"][field] = value
        (cell / "manifest.json").write_text(json.dumps(manifest))
        rehash(cell)  # even re-hashed, the value is refused
        assert main(["predict", "--model", str(cell)]) == ExitCode.ARTIFACT
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    manifest = json.loads(original)
    manifest["window"]["horizon"] = 8  # the network makes 4 steps
    (cell / "manifest.json").write_text(json.dumps(manifest))
    (cell / "calibration.json").rename(tmp_path / "calibration.json")  # (it would name the mismatch first)
    rehash(cell)
    assert main(["predict", "--model", str(cell)]) == ExitCode.ARTIFACT
    assert "the network outputs 4 steps, but manifest.json says 8 (horizon 8, direct)" in capsys.readouterr().err
    manifest = json.loads(original)
    manifest["files"] = ["model.keras"]
    (cell / "manifest.json").write_text(json.dumps(manifest))
    assert main(["predict", "--model", str(cell)]) == ExitCode.ARTIFACT
    assert "'files' must be a mapping of file names to checksums" in capsys.readouterr().err


def test_operating_system_refusals_have_their_own_exit_code_and_one_line(tmp_path, capsys):
    data = tmp_path / "series.csv"
    make_frame()[["date", "y"]].to_csv(data, index=False)
    models = tmp_path / "m"
    assert main(["train", "--data", str(data), "--target", "y", "--models-dir", str(models), "--cell", "mlp",
                 "--baselines", "naive", *FAST]) == ExitCode.OK
    capsys.readouterr()
    assert main(["predict", "--model", str(models / "series"), "--output", "/dev/full"]) == ExitCode.SYSTEM
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == ("forecast: error: /dev/full: No space left on device (ENOSPC); the disk is full: free space or "
                   "write elsewhere (--models-dir, --output)")
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    assert main(["train", "--data", str(data), "--target", "y", "--models-dir", str(a_file), "--cell", "mlp",
                 "--baselines", "naive", *FAST]) == ExitCode.SYSTEM
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not-a-folder" in err and ("(EEXIST)" in err or "(ENOTDIR)" in err)
    assert a_file.read_text() == "x"


def test_messages_for_json_named_csv_mixed_time_zones_and_lines_after_blank_lines(tmp_path, capsys):
    cases = {
        "json.csv": ('{"date": ["2024-01-01"], "y": [1]}\n', "looks like JSON, not CSV (it starts with '{')"),
        "tz.csv": ("date,y\n2024-01-01 00:00:00+00:00,1\n2024-01-01 01:00:00,2\n2024-01-01 02:00:00,3\n",
                   "timestamps mix time zones: some carry a UTC offset and some do not (the first change is at "
                   "line 3, '2024-01-01 01:00:00')"),
        "blank.csv": ("date,y\n2024-01-01 00:00:00,1\n\n\n2024-01-01 01:00:00,x\n2024-01-01 02:00:00,3\n",
                      "column 'y' (--target): line 5 value 'x' is not a number"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        assert main(["train", "--data", str(path), "--models-dir", str(tmp_path / "m")]) == ExitCode.DATA, name
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err


def test_review_findings_output_streams_loops_levels_names_and_artifact_numbers(tmp_path, capsys):
    import subprocess
    import sys

    from forecaster import config
    from forecaster.errors import ArtifactError
    from forecaster.evaluation import intervals

    data = tmp_path / "series.csv"
    make_frame()[["date", "y"]].to_csv(data, index=False)
    models = tmp_path / "m"
    assert main(["train", "--data", str(data), "--target", "y", "--models-dir", str(models), "--cell", "mlp",
                 "--baselines", "naive", *FAST]) == ExitCode.OK
    predict = ["predict", "--model", str(models / "series"), "--horizon", "2"]
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    capsys.readouterr()
    assert main([*predict, "--output", str(loop)]) == ExitCode.USAGE
    assert "cannot follow the path" in capsys.readouterr().err
    assert main([*predict, "--levels", "\u00b2"]) == ExitCode.USAGE  # a digit that is not a decimal
    assert "--levels: expected integer percentages in 1..99" in capsys.readouterr().err
    log = tmp_path / "log.csv"
    log.write_text("kept line\n")
    with open(log, "a") as out:  # `>> log.csv`: /dev/stdout appends, never replaces
        proc = subprocess.run([sys.executable, "-m", "forecaster", *predict, "--output", "/dev/stdout"],
                              stdout=out, stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().startswith("kept line\ntimestamp,yhat")
    assert config.RunConfig(data=config.DataConfig(path="d/données du mois.csv")).model_name == "données du mois"
    raw = intervals.calibrate(np.ones((30, 2)), np.zeros((30, 2)), (80,)).to_dict()
    raw["radius"]["80"][0] = 10**400
    with pytest.raises(ArtifactError, match="finite numbers >= 0"):
        intervals.Calibration.from_dict(raw, horizon=2)
    (run,) = (models / "series" / "runs").iterdir()
    manifest = json.loads((run / "mlp" / "manifest.json").read_text())
    manifest["window"]["freq"] = "zzz"
    (run / "mlp" / "manifest.json").write_text(json.dumps(manifest))
    rehash(run / "mlp")
    assert main(["predict", "--model", str(run / "mlp")]) == ExitCode.ARTIFACT
    assert "'window.freq' must be a pandas frequency" in capsys.readouterr().err


def test_a_constant_series_trains_and_forecasts_its_value(tmp_path, capsys):
    """A series that never moves: the residual network's linear start used to be a singular solve (an internal
    error); its correction is now zero and the network forecasts the constant."""
    frame = make_frame(160)[["date", "y"]].assign(y=5.0)
    path = tmp_path / "flat.csv"
    frame.to_csv(path, index=False)
    cell = trained_mlp(tmp_path, path)
    forecast = np.loadtxt(cell / "forecast.csv", delimiter=",", skiprows=1, usecols=1)
    np.testing.assert_allclose(forecast, 5.0, atol=1e-3)
