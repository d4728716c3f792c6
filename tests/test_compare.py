"""forecast compare: identical conditions, the verdict rule, the saved report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forecaster import config
from forecaster.cli.main import main
from forecaster.errors import ConfigError, ExitCode
from forecaster.evaluation.verdict import judge, still_improving
from forecaster.models.catalog import default_baselines
from forecaster.workflows import compare
from forecaster.workflows import train as train_flow

from conftest import FAST


def test_every_cell_gets_the_same_windows_scaler_and_seeds(tmp_path, series_csv, monkeypatch):
    seen = []
    real = train_flow.train_cell

    def spy(prep, cfg, cell, **kwargs):
        seen.append((cell, cfg.training.seed, id(prep), prep.single.split, prep.single.scaler.mean_.tolist(),
                     cfg.training.epochs))
        return real(prep, cfg, cell, **kwargs)

    monkeypatch.setattr(train_flow, "train_cell", spy)
    cfg = config.resolve(overrides={
        "data.path": str(series_csv), "data.target": "y", "window.lookback": 12, "window.horizon": 4,
        "model.units": [4], "training.epochs": 1, "output.models_dir": str(tmp_path / "m"),
    })
    result = compare.compare(cfg, cells=["lstm", "gru", "mlp"], repeats=2, report=False)
    assert [(c, s) for c, s, *_ in seen] == [(c, s) for c in ("lstm", "gru", "mlp") for s in (42, 43)]
    assert len({(p, sp, str(m), e) for _, _, p, sp, m, e in seen}) == 1  # one prep, split, scaler, epochs cap
    board = json.loads((result.run_dir / "leaderboard.json").read_text())
    assert board["conditions"]["seeds"] == [42, 43] and board["conditions"]["windows"]["test"] > 0
    assert {r["name"] for r in board["rows"]} == {"lstm", "gru", "mlp", *default_baselines()}
    assert all(r["mase_std"] is not None for r in board["rows"] if r["kind"] == "model")


def test_compare_cli_writes_report_and_json(tmp_path, series_csv, capsys):
    code = main(["compare", "--data", str(series_csv), "--target", "y", "--cells", "gru,mlp", "--json",
                 "--models-dir", str(tmp_path / "m"), *FAST])
    assert code == ExitCode.OK
    payload = json.loads(capsys.readouterr().out)
    run = tmp_path / "m" / "series" / "runs"
    (run_dir,) = run.iterdir()
    assert payload["run_dir"] == str(run_dir) and "verdict" in payload
    assert {p.name for p in (run_dir / "plots").iterdir()} == {
        "loss.png", "test_forecast.png", "future_forecast.png", "horizon_error.png", "accuracy_vs_time.png"
    }
    for png in (run_dir / "plots").iterdir():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5 and "Verdict" in html
    from forecaster.evaluation.report import PLOTS

    for name in PLOTS:  # every plot inlined: the file opens anywhere, alone
        assert f'alt="{name}" src="data:image/png;base64,' in html
    conditions = html.split("<h2>Conditions")[1].split("<h2>")[0]
    assert "<table class='conditions'>" in conditions and "<td>split rows</td>" in conditions
    assert not any(ch in conditions for ch in "[]{}") and "&#x27;" not in conditions  # no Python reprs
    assert "± is the standard deviation" not in html  # one seed: no spread to explain
    assert "80% covered" in html and "Intervals of" in payload["verdict"]["text"]
    assert payload["recommended"] == payload["verdict"]["recommended"] and payload["verdict"]["level"] == 0.05
    md = (run_dir / "report.md").read_text()
    assert any(line.startswith("| gru | ") for line in md.splitlines()) and "## Conditions" in md
    assert (run_dir / "gru" / "model.keras").exists() and (run_dir / "mlp" / "model.keras").exists()
    # predict serves the best cell of the newest run
    assert main(["predict", "--model", str(tmp_path / "m" / "series"), "--horizon", "2"]) == ExitCode.OK


def test_unknown_cell_and_bad_repeats(tmp_path, series_csv):
    cfg = config.resolve(overrides={"data.path": str(series_csv), "data.target": "y"})
    with pytest.raises(ConfigError, match="--cells: unknown cell\\(s\\) rnn; expected a comma-separated list of lstm, gru, mlp"):
        compare.compare(cfg, cells=["lstm", "rnn"])
    with pytest.raises(ConfigError, match="--repeats: expected an integer >= 1, got 0"):
        compare.compare(cfg, cells=["lstm"], repeats=0)


def test_compare_with_backtest_ranks_by_backtest_mase(tmp_path, series_csv, capsys):
    code = main(["compare", "--data", str(series_csv), "--target", "y", "--cells", "gru,mlp", "--backtest", "2",
                 "--test", "0.3", "--json", "--models-dir", str(tmp_path / "m"), *FAST])
    assert code == ExitCode.OK
    payload = json.loads(capsys.readouterr().out)
    assert payload["conditions"]["ranked_by"].startswith("backtest MASE")
    ranked = [r["backtest_mase"] for r in payload["leaderboard"]]
    assert all(v is not None for v in ranked) and ranked == sorted(ranked)
    assert "backtest MASE" in payload["verdict"]["text"] and payload["verdict"]["unit"] == "folds"
    assert all(t["n"] == 2 for t in payload["verdict"]["tests"])  # paired over the 2 folds
    md = (__import__("pathlib").Path(payload["run_dir"]) / "report.md").read_text()
    assert "## Backtest: MASE per fold" in md and "| fold | cut-off | test windows |" in md
    saved = json.loads((__import__("pathlib").Path(payload["run_dir"]) / "backtest.json").read_text())
    assert set(saved) == {"gru", "mlp"} and len(saved["gru"][0]["folds"]) == 2


def test_still_improving_reads_the_validation_curve():
    assert still_improving([1.0, 0.8, 0.6, 0.5, 0.4], cap=5, patience=2)
    assert not still_improving([1.0, 0.5, 0.5, 0.5, 0.49999], cap=5, patience=2)  # best late by a hair
    assert not still_improving([1.0, 0.8, 0.6], cap=5, patience=2)  # stopped before the cap
    row = {"name": "gru", "kind": "model", "mase": 0.5, "epochs_run": 30.0, "best_epoch": 30.0}
    losses = {"gru": np.full((1, 10), 0.5)}
    assert "still improved" not in judge([{**row, "still_improving": False}], losses, epochs_cap=30, patience=5).text
    said = judge([{**row, "still_improving": True}], losses, epochs_cap=30, patience=5).text
    assert said.endswith("GRU still improved at the 30-epoch cap: rerun with more --epochs.")


def test_compare_report_with_any_baseline_line_up(tmp_path, write_csv, capsys):
    """The report needs no particular baseline: here no naive rows, and one that fails (no season for MSTL)."""
    from conftest import make_frame

    yearly = write_csv(make_frame(n=120, freq="YS", start="1900-01-01")[["date", "y"]], name="series.csv")
    code = main(["compare", "--data", str(yearly), "--target", "y", "--cells", "mlp",
                 "--baselines", "linear,ets,mstl", "--models-dir", str(tmp_path / "m"), *FAST])
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    assert "mstl: no scores (mstl failed:" in out and "verdict: " in out
    (run_dir,) = (tmp_path / "m" / "series" / "runs").iterdir()
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 5 and "| linear |" in (run_dir / "report.md").read_text()
    rows = {r["name"]: r for r in json.loads((run_dir / "leaderboard.json").read_text())["rows"]}
    assert set(rows) == {"mlp", "linear", "ets", "mstl"} and rows["mstl"]["mase"] is None and rows["mstl"]["error"]
