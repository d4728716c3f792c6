"""forecast compare: identical conditions, the verdict rule, the saved report."""

from __future__ import annotations

import json

import pytest

from forecaster import compare, config, network, pipeline
from forecaster.cli import main
from forecaster.errors import ConfigError, ExitCode

from conftest import FAST


def rows(**mase: tuple[float, float | None]) -> list[dict]:
    out = [{"name": n, "kind": "model", "mase": m, "mase_std": s} for n, (m, s) in mase.items()]
    return out + [{"name": "seasonal_naive", "kind": "baseline", "mase": 1.0, "mase_std": None}]


def test_verdict_declares_a_winner_only_beyond_the_spread():
    clear = compare.verdict(rows(gru=(0.80, 0.01), lstm=(0.90, 0.02)), repeats=3)
    assert "GRU is better (gap 0.100 > spread 0.020)" in clear
    assert "beats seasonal naive (MASE 1.000) by 20%" in clear
    noisy = compare.verdict(rows(gru=(0.82, 0.01), lstm=(0.85, 0.04)), repeats=3)
    assert "GRU 0.820 ± 0.010 vs LSTM 0.850 ± 0.040: no clear difference" in noisy
    single = compare.verdict(rows(gru=(0.82, None), lstm=(0.85, None)), repeats=1)
    assert "with one seed the gap cannot be told from seed-to-seed noise" in single
    worse = compare.verdict(rows(gru=(1.2, 0.0), lstm=(1.5, 0.0)), repeats=2)
    assert "No network beats seasonal naive" in worse


def test_verdict_always_answers_lstm_vs_gru_and_flags_the_epoch_cap():
    board = rows(mlp=(0.70, 0.01), lstm=(0.85, 0.04), gru=(0.82, 0.01))
    board[1].update(epochs_run=30.0, best_epoch=28.0)  # lstm used every epoch, best within the patience
    board[2].update(epochs_run=30.0, best_epoch=20.0)  # gru used them all too, but had stopped improving
    text = compare.verdict(board, repeats=3, epochs_cap=30, patience=5)
    assert text.startswith("MASE MLP 0.700 ± 0.010 vs GRU 0.820 ± 0.010: MLP is better")
    assert "LSTM vs GRU: MASE GRU 0.820 ± 0.010 vs LSTM 0.850 ± 0.040: no clear difference" in text
    assert text.endswith("LSTM still improved at the 30-epoch cap: rerun with more --epochs.")


def test_every_cell_gets_the_same_windows_scaler_and_seeds(tmp_path, series_csv, monkeypatch):
    seen = []
    real = network.train_cell

    def spy(prep, cfg, cell, **kwargs):
        seen.append((cell, cfg.training.seed, id(prep), prep.split, prep.scaler.mean_.tolist(), cfg.training.epochs))
        return real(prep, cfg, cell, **kwargs)

    monkeypatch.setattr(network, "train_cell", spy)
    cfg = config.resolve(overrides={
        "data.path": str(series_csv), "data.target": "y", "window.lookback": 12, "window.horizon": 4,
        "model.units": [4], "training.epochs": 1, "output.models_dir": str(tmp_path / "m"),
    })
    result = compare.compare(cfg, cells=["lstm", "gru", "mlp"], repeats=2, report=False)
    assert [(c, s) for c, s, *_ in seen] == [(c, s) for c in ("lstm", "gru", "mlp") for s in (42, 43)]
    assert len({(p, sp, str(m), e) for _, _, p, sp, m, e in seen}) == 1  # one prep, split, scaler, epochs cap
    board = json.loads((result.run_dir / "leaderboard.json").read_text())
    assert board["conditions"]["seeds"] == [42, 43] and board["conditions"]["windows"]["test"] > 0
    assert {r["name"] for r in board["rows"]} == {"lstm", "gru", "mlp", "naive", "seasonal_naive"}
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
        "loss.png", "test_forecast.png", "horizon_error.png", "accuracy_vs_time.png"
    }
    for png in (run_dir / "plots").iterdir():
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    html = (run_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 4 and "Verdict" in html
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
