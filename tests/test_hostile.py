"""Hostile inputs: terminal-safe one-line errors, bounded messages, checked artifact values."""

from __future__ import annotations

import json

from forecaster.cli import MAX_MESSAGE, main
from forecaster.errors import ExitCode

from conftest import FAST, make_frame


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
    from forecaster.data import file_sha256

    models = tmp_path / "m"
    assert main(["train", "--data", str(series_csv), "--target", "y", "--models-dir", str(models), "--cell", "mlp",
                 "--baselines", "naive", *FAST]) == ExitCode.OK
    (run,) = (models / "series" / "runs").iterdir()
    cell = run / "mlp"
    scaler = json.loads((cell / "scaler.json").read_text())
    scaler["scale"][0] = float("inf")
    (cell / "scaler.json").write_text(json.dumps(scaler))  # json writes Infinity
    manifest = json.loads((cell / "manifest.json").read_text())
    manifest["files"]["scaler.json"] = file_sha256(cell / "scaler.json")  # the attacker re-hashes it
    (cell / "manifest.json").write_text(json.dumps(manifest))
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
