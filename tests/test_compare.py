"""forecast compare: identical conditions, the verdict rule, the saved report."""

from __future__ import annotations

import json

import pytest

from forecaster import config
from forecaster.cli.main import main
from forecaster.errors import ConfigError, ExitCode
from forecaster.evaluation.verdict import still_improving, verdict
from forecaster.models.catalog import default_baselines
from forecaster.workflows import compare
from forecaster.workflows import train as train_flow

from conftest import FAST


def rows(**mase: tuple[float, float | None]) -> list[dict]:
    out = [{"name": n, "kind": "model", "mase": m, "mase_std": s} for n, (m, s) in mase.items()]
    return out + [{"name": "seasonal_naive", "kind": "baseline", "mase": 1.0, "mase_std": None}]


def test_verdict_declares_a_winner_only_beyond_the_spread():
    clear = verdict(rows(gru=(0.80, 0.01), lstm=(0.90, 0.02)), repeats=3)
    assert "GRU is better (gap 0.100 > spread 0.020)" in clear
    assert "beats seasonal naive (MASE 1.000) by 20%" in clear
    noisy = verdict(rows(gru=(0.82, 0.01), lstm=(0.85, 0.04)), repeats=3)
    assert "GRU 0.820 ± 0.010 vs LSTM 0.850 ± 0.040: no clear difference" in noisy
    single = verdict(rows(gru=(0.82, None), lstm=(0.85, None)), repeats=1)
    assert "with one seed the gap cannot be told from seed-to-seed noise" in single
    worse = verdict(rows(gru=(1.2, 0.0), lstm=(1.5, 0.0)), repeats=2)
    assert "No network beats seasonal naive" in worse


def test_verdict_always_answers_lstm_vs_gru_and_flags_the_epoch_cap():
    board = rows(mlp=(0.70, 0.01), lstm=(0.85, 0.04), gru=(0.82, 0.01))
    board[1].update(epochs_run=30.0, best_epoch=28.0)  # lstm used every epoch, best within the patience
    board[2].update(epochs_run=30.0, best_epoch=20.0)  # gru used them all too, but had stopped improving
    text = verdict(board, repeats=3, epochs_cap=30, patience=5)
    assert text.startswith("MASE MLP 0.700 ± 0.010 vs GRU 0.820 ± 0.010: MLP is better")
    assert "LSTM vs GRU: MASE GRU 0.820 ± 0.010 vs LSTM 0.850 ± 0.040: no clear difference" in text
    assert text.endswith("LSTM still improved at the 30-epoch cap: rerun with more --epochs.")


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
    assert "80% covered" in html and "Intervals of" in payload["verdict"]
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
    assert "backtest MASE" in payload["verdict"]
    saved = json.loads((__import__("pathlib").Path(payload["run_dir"]) / "backtest.json").read_text())
    assert set(saved) == {"gru", "mlp"} and len(saved["gru"][0]["folds"]) == 2


def board(**rows_: tuple[str, float]) -> list[dict]:
    return [{"name": n, "kind": k, "mase": m, "mase_std": None} for n, (k, m) in rows_.items()]


def test_verdict_equal_at_the_shown_precision_is_equal():
    text = verdict(board(lstm=("model", 0.50931), gru=("model", 0.50928), seasonal_naive=("baseline", 1.2)),
                           repeats=1)
    assert text.startswith("MASE GRU 0.509 vs LSTM 0.509: equal at this precision.")
    assert "scored lower" not in text


def test_verdict_names_the_best_baseline_and_what_to_use():
    rows_ = board(lstm=("model", 0.51), gru=("model", 0.52), mlp=("model", 0.512),
                  linear=("baseline", 0.509), ets=("baseline", 0.60), seasonal_naive=("baseline", 1.2))
    text = verdict(rows_, repeats=1)
    assert "Recurrence (LSTM 0.510) loses to MLP (0.512)" not in text  # 0.510 < 0.512: it beats it
    assert "Recurrence (LSTM 0.510) beats MLP (0.512) by 0.4%; loses to linear (0.509) by 0.2%." in text
    assert ("No network beats linear (MASE 0.509; the best network LSTM 0.510 is 0.2% worse): "
            "use the baseline for this series.") in text
    won = verdict(board(gru=("model", 0.45), ets=("baseline", 0.5), naive=("baseline", 2.0)), repeats=1)
    assert won.endswith("It beats ets (MASE 0.500) by 10.0%, the best baseline: use GRU.")


def test_verdict_never_calls_mase_above_one_a_win():
    text = verdict(board(gru=("model", 1.10), seasonal_naive=("baseline", 1.3), naive=("baseline", 1.5)),
                           repeats=1)
    assert "is not below 1" in text and "not a win" in text and "It beats" not in text


def test_a_failed_baseline_row_is_left_out_of_the_verdict():
    rows_ = board(gru=("model", 0.8), arima=("baseline", 0.1)) + [{"name": "seasonal_naive", "kind": "baseline",
                                                                  "mase": 1.0, "mase_std": None}]
    rows_[1]["error"] = "arima failed: too short"
    assert "beats seasonal naive (MASE 1.000) by 20%" in verdict(rows_, repeats=1)


def test_still_improving_reads_the_validation_curve():
    assert still_improving([1.0, 0.8, 0.6, 0.5, 0.4], cap=5, patience=2)
    assert not still_improving([1.0, 0.5, 0.5, 0.5, 0.49999], cap=5, patience=2)  # best late by a hair
    assert not still_improving([1.0, 0.8, 0.6], cap=5, patience=2)  # stopped before the cap
    text = verdict([{"name": "gru", "kind": "model", "mase": 0.5, "epochs_run": 30.0, "best_epoch": 30.0,
                             "still_improving": False}], repeats=1, epochs_cap=30, patience=5)
    assert "still improved" not in text


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
