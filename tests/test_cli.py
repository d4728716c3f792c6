"""The ``forecast`` command in-process, and once as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from forecaster.cli.main import main
from forecaster.errors import ExitCode

from conftest import FAST, ROOT, make_frame


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    data = root / "series.csv"
    make_frame().to_csv(data, index=False)
    code = main(["train", "--cell", "gru", "--data", str(data), "--target", "y", "--name", "demo",
                 "--baselines", "naive,seasonal_naive,linear", "--models-dir", str(root / "models"), *FAST])
    assert code == ExitCode.OK
    return root / "models" / "demo"


def test_train_prints_leaderboard(tmp_path, series_csv, capsys):
    code = main(["train", "--data", str(series_csv), "--target", "y", "--models-dir", str(tmp_path / "m"), *FAST])
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    assert "run saved: " in out and "seasonal_naive" in out and "MASE" in out
    assert len(list((tmp_path / "m" / "series" / "runs").iterdir())) == 1


def test_predict_csv_to_stdout(model_dir, capsys):
    assert main(["predict", "--model", str(model_dir)]) == ExitCode.OK
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "timestamp,yhat,lo-80,hi-80,lo-95,hi-95" and len(lines) == 5
    assert lines[1].startswith("2024-01-11T00:00:00,")  # the hour after the last row (2024-01-10 23:00)


def test_predict_json_file_and_horizon(model_dir, tmp_path, capsys):
    out = tmp_path / "f.json"
    assert main(["predict", "--model", str(model_dir), "--format", "json", "--horizon", "2", "--output", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["target"] == "y" and payload["freq"] == "h"
    assert [r["timestamp"] for r in payload["forecast"]] == ["2024-01-11T00:00:00", "2024-01-11T01:00:00"]


def test_predict_on_new_data_continues_its_timestamps(model_dir, write_csv, capsys):
    newer = write_csv(make_frame(n=30, start="2025-03-01"), name="new.csv")
    assert main(["predict", "--model", str(model_dir), "--data", str(newer), "--horizon", "1"]) == ExitCode.OK
    assert capsys.readouterr().out.splitlines()[1].startswith("2025-03-02T06:00:00,")


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["--horizon", "9"], ExitCode.USAGE, "--horizon: expected 1..4 (the model was trained for 4 steps), got 9"),
        (["--data", "missing.csv"], ExitCode.DATA, "missing.csv: data file not found"),
    ],
)
def test_predict_errors(model_dir, capsys, argv, code, message):
    assert main(["predict", "--model", str(model_dir), *argv]) == code
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_predict_with_wrong_columns(model_dir, write_csv, capsys):
    path = write_csv(make_frame().rename(columns={"y": "sales"}), name="other.csv")
    assert main(["predict", "--model", str(model_dir), "--data", str(path)]) == ExitCode.DATA
    assert "column 'y' (--target) not found" in capsys.readouterr().err


def test_predict_unknown_model(tmp_path, capsys):
    assert main(["predict", "--model", str(tmp_path / "nothing")]) == ExitCode.ARTIFACT
    assert "no such model folder" in capsys.readouterr().err


def test_ctrl_c_exits_130_and_saves_nothing(tmp_path, series_csv, capsys, monkeypatch):
    import forecaster.models.network.training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(forecaster.models.network.training, "fit", interrupted)
    code = main(["train", "--data", str(series_csv), "--target", "y", "--models-dir", str(tmp_path / "m"), *FAST])
    assert code == ExitCode.INTERRUPTED
    assert "interrupted; nothing was saved" in capsys.readouterr().err
    assert not (tmp_path / "m").exists() or not list((tmp_path / "m").rglob("*.keras"))


def test_internal_error_is_one_line_and_debug_shows_traceback(tmp_path, series_csv, capsys, monkeypatch):
    import forecaster.workflows.train

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(forecaster.workflows.train, "train", boom)
    assert main(["train", "--data", str(series_csv), "--target", "y"]) == ExitCode.INTERNAL
    err = capsys.readouterr().err
    assert err.strip() == "forecast: internal error: RuntimeError: boom (run with --debug for the traceback)"
    assert main(["train", "--data", str(series_csv), "--target", "y", "--debug"]) == ExitCode.INTERNAL
    assert "Traceback" in capsys.readouterr().err


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "train" in out and "predict" in out


@pytest.mark.slow
def test_subprocess_train_then_predict(tmp_path, series_csv):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    models = tmp_path / "models"
    train = subprocess.run(
        [sys.executable, "-m", "forecaster", "train", "--data", str(series_csv), "--target", "y",
         "--models-dir", str(models), *FAST],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert train.returncode == 0, train.stderr
    predict = subprocess.run(
        [sys.executable, "-m", "forecaster", "predict", "--model", "series", "--models-dir", str(models)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert predict.returncode == 0, predict.stderr
    frame = pd.read_csv(__import__("io").StringIO(predict.stdout))
    assert list(frame.columns) == ["timestamp", "yhat", "lo-80", "hi-80", "lo-95", "hi-95"] and len(frame) == 4
    bad = subprocess.run(
        [sys.executable, "-m", "forecaster", "predict", "--model", "nope", "--models-dir", str(models)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert bad.returncode == ExitCode.ARTIFACT and "Traceback" not in bad.stderr


def test_predict_refuses_another_frequency_and_fills_on_request(model_dir, write_csv, capsys):
    daily = write_csv(make_frame(n=60, freq="D"), name="daily.csv")
    assert main(["predict", "--model", str(model_dir), "--data", str(daily)]) == ExitCode.DATA
    assert "the data's frequency is 'D', the model's is 'h'" in capsys.readouterr().err
    holey = write_csv(make_frame(n=60).drop(index=[30]), name="holey.csv")
    assert main(["predict", "--model", str(model_dir), "--data", str(holey)]) == ExitCode.DATA
    assert "--missing interpolate|ffill" in capsys.readouterr().err
    assert main(["predict", "--model", str(model_dir), "--data", str(holey), "--missing", "interpolate"]) == 0


def test_manifest_that_disagrees_with_the_network_is_an_artifact_error(model_dir, tmp_path, capsys):
    import shutil

    from forecaster.artifacts.run import resolve_cell_dir

    copy = tmp_path / "edited"
    shutil.copytree(resolve_cell_dir(model_dir, networks_only=True), copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["window"]["lookback"] = 5
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert main(["predict", "--model", str(copy)]) == ExitCode.ARTIFACT  # edited: its own checksum differs
    assert "manifest.json: corrupt (edited after it was saved" in capsys.readouterr().err
    from conftest import rehash

    rehash(copy)  # consistently re-hashed, the value still disagrees with the network
    assert main(["predict", "--model", str(copy)]) == ExitCode.ARTIFACT
    err = capsys.readouterr().err.strip()
    assert "the network reads windows of 12 steps, but manifest.json's lookback is 5" in err
    assert len(err.splitlines()) == 1


def test_undefined_metrics_are_warned_about(tmp_path, write_csv, capsys):
    frame = make_frame()
    frame.loc[::12, "y"] = 0.0  # zeros make MAPE undefined
    path = write_csv(frame[["date", "y"]], name="zeros.csv")
    assert main(["train", "--data", str(path), "--models-dir", str(tmp_path / "m"), *FAST]) == ExitCode.OK
    captured = capsys.readouterr()
    assert "forecast: warning: MAPE is undefined" in captured.err  # shown even with --quiet
    assert "MAPE %" in captured.out and "sMAPE %" in captured.out  # spelled as compare spells them


def test_values_too_large_to_scale(tmp_path, write_csv, capsys):
    frame = make_frame()[["date", "y"]]
    frame["y"] *= 1e306
    assert main(["train", "--data", str(write_csv(frame)), "--models-dir", str(tmp_path / "m"), *FAST]) == ExitCode.DATA
    err = capsys.readouterr().err.strip()
    assert "column(s) y: values too large to standardise" in err and len(err.splitlines()) == 1


def test_predict_says_what_it_serves_and_why(model_dir, capsys):
    """A run serves its verdict's recommended row when that row has a folder, else the best servable row, saying
    so; a run saved before the verdict recommended one (its verdict was text) serves as it always did."""
    import json

    run = next((model_dir / "runs").iterdir())
    board_path = run / "leaderboard.json"
    saved = board_path.read_text()
    board = json.loads(saved)
    recommended = board["verdict"]["recommended"]
    assert (run / recommended / "manifest.json").is_file()  # every row has a folder now: the recommended one serves
    assert main(["predict", "--model", str(model_dir)]) == ExitCode.OK
    err = capsys.readouterr().err
    assert f"forecast: serving {run / recommended}: the newest run (no champion.json): the run's recommended row, " \
           f"{recommended}: " in err
    if recommended != "gru":  # the network asked for by its folder serves, and says which row the run recommends
        assert main(["predict", "--model", str(run / "gru")]) == ExitCode.OK
        err = capsys.readouterr().err
        assert f"the run recommends {recommended}" in err and f"--model {run / recommended}" in err
    gru = next(r for r in board["rows"] if r["name"] == "gru")
    board["verdict"] = "MASE GRU 0.500."  # a run saved before the verdict recommended a row
    board["rows"] = [r for r in board["rows"] if r["name"] != "linear"]
    board["rows"].append({"name": "linear", "kind": "baseline", "mase": gru["mase"] / 2, "error": None})
    board_path.write_text(json.dumps(board))
    try:
        assert main(["predict", "--model", str(model_dir)]) == ExitCode.OK
        err = capsys.readouterr().err
        assert f"forecast: serving {run / 'linear'}: the newest run's best servable row (no champion.json)" in err
        assert main(["predict", "--model", str(run / "gru")]) == ExitCode.OK
        err = capsys.readouterr().err  # asked for the network by name: it serves, and says what beat it
        assert (f"gru lost to the linear baseline on its own test windows (MASE {gru['mase']:.3f} vs "
                f"{gru['mase'] / 2:.3f}); the baseline may serve this series better: serve it with --model "
                f"{run / 'linear'}") in err
    finally:
        board_path.write_text(saved)


def test_train_json(tmp_path, series_csv, capsys):
    import json

    code = main(["train", "--data", str(series_csv), "--target", "y", "--models-dir", str(tmp_path / "m"), "--json",
                 "--baselines", "naive,seasonal_naive", *FAST])
    captured = capsys.readouterr()
    assert code == ExitCode.OK and captured.err == ""  # --json: no progress on stderr either
    payload = json.loads(captured.out)
    assert [r["name"] for r in payload["leaderboard"]] == ["lstm", "naive", "seasonal_naive"]
    assert payload["forecasts"]["lstm"].endswith("lstm/forecast.csv") and payload["season"] == 24


@pytest.mark.parametrize("command", ["train", "compare"])
def test_bad_data_is_reported_before_tensorflow_is_imported(tmp_path, command):
    bad = tmp_path / "bad.csv"
    bad.write_text("date,y\n2024-01-01 00:00,1\n2024-01-01 01:00,oops\n")
    code = ("import sys\nfrom forecaster.cli.main import main\n"
            f"rc = main([{command!r}, '--data', {str(bad)!r}, '--models-dir', {str(tmp_path / 'm')!r}])\n"
            "print(rc, 'tensorflow' in sys.modules)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.stdout.split() == ["3", "False"], proc.stderr
    assert proc.stderr.count("\n") == 1 and "bad.csv" in proc.stderr


def test_ctrl_c_after_the_run_was_saved_reports_success(tmp_path, series_csv, capsys, monkeypatch):
    import forecaster.cli.run_commands

    def interrupted(rows):  # the signal lands while the saved run's table is printed
        raise KeyboardInterrupt

    monkeypatch.setattr(forecaster.cli.run_commands, "print_leaderboard", interrupted)
    code = main(["train", "--data", str(series_csv), "--target", "y", "--models-dir", str(tmp_path / "m"),
                 "--cell", "mlp", "--baselines", "naive", *FAST])
    (run,) = (tmp_path / "m" / "series" / "runs").iterdir()
    assert code == ExitCode.OK and (run / "mlp" / "manifest.json").is_file()
    assert f"interrupted after {run} was saved (complete and checked)" in capsys.readouterr().err
