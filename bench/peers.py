"""Our defaults beside NeuralForecast's LSTM/GRU and statsforecast's AutoETS/AutoTheta (issue 31).

On each series, ``forecast compare`` runs with its defaults (in a subprocess, ``--json``), and the
peers are fitted on the same rows and scored on the same test windows with the same MASE:

- NeuralForecast ``LSTM`` and ``GRU`` with the library's defaults (``input_size=-1``,
  ``max_steps=1000``...) and with our lookback as ``input_size``; ``cross_validation(refit=False)``
  with ``val_size`` = our validation rows, ``n_windows`` = our test origins, ``step_size=1``: one
  fit on the rows before the test part, then every test window forecast from the rows before it;
- statsforecast's ``AutoETS`` and ``AutoTheta`` through ``StatsForecast.cross_validation`` with the
  same windows (``refit=False``: fitted once, then filtered forward, as our rows do).

Every forecast is scored by :func:`forecaster.evaluation.metrics.score` against the test targets of
:func:`forecaster.workflows.train.prepare_run` (the data as our compare prepared it: its lookback, its
windows, the training rows' seasonal-naive scale). Time-to-model is
wall seconds of fit + test forecasts; ours is the leaderboard's ``train_seconds`` (every fit of
the cell) for a network, fit + predict seconds for a baseline. One table: ratios are peer / ours.

Needs the ``peers`` extra (``make peers`` builds ``.venv-peers`` with the CPU torch wheel and runs
this). Usage::

    python bench/peers.py [--series halfhourly,weekly] [--halfhourly-rows 2688] [--max-steps N]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SERIES = {
    "halfhourly": "data/vic_electricity_2014_halfhourly.csv",
    "weekly": "data/co2_mauna_loa_weekly.csv",
    "monthly": "data/elnino_sst_monthly.csv",
}


def _ours(path: Path, models: Path, extra: list[str]) -> tuple[dict[str, Any], float]:
    cmd = [sys.executable, "-m", "forecaster", "compare", "--data", str(path), "--json", "--models-dir", str(models),
           *extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=7200,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"peers: forecast compare failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout), wall


def _windows(cv: pd.DataFrame, col: str, n_windows: int, h: int) -> np.ndarray:
    cv = cv.sort_values(["cutoff", "ds"])
    pred = cv[col].to_numpy(dtype=np.float64)
    if pred.size != n_windows * h:
        raise SystemExit(f"peers: {col} returned {pred.size} forecasts, expected {n_windows} x {h}")
    return pred.reshape(n_windows, h)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", default="halfhourly,weekly")
    p.add_argument("--halfhourly-rows", type=int, default=2688,
                   help="the last N rows of the half-hourly year (NeuralForecast's defaults on 17,520 rows are "
                        "too slow on 2 cores); 0: all of them")
    p.add_argument("--max-steps", type=int, default=None, help="NeuralForecast max_steps (default: its own, 1000)")
    p.add_argument("--extra", default="", help="extra flags for our compare")
    args = p.parse_args(argv)
    warnings.filterwarnings("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    from neuralforecast import NeuralForecast
    from neuralforecast.models import GRU, LSTM
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta

    from forecaster import config
    from forecaster.evaluation import metrics
    from forecaster.workflows.train import prepare_run

    table = []
    for name in [s.strip() for s in args.series.split(",") if s.strip()]:
        rel = SERIES[name]
        with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
            frame = pd.read_csv(ROOT / rel)
            note = ""
            if name == "halfhourly" and args.halfhourly_rows:
                frame = frame.iloc[-args.halfhourly_rows:]
                note = f" (last {len(frame):,} rows)"
            path = Path(tmp) / f"{name}.csv"
            frame.to_csv(path, index=False)
            payload, ours_wall = _ours(path, Path(tmp) / "models", args.extra.split())
            rows = {r["name"]: r for r in payload["leaderboard"]}
            prep = prepare_run(config.resolve(overrides={"data.path": str(path)})).single
            sp, season, freq = prep.split, prep.season, prep.series.freq
            origins = prep.origins("test")
            h, n_windows = sp.horizon, len(origins)
            df = pd.DataFrame({"unique_id": name, "ds": prep.series.frame.index, "y": prep.y.astype(np.float64)})

            def mase(pred: np.ndarray, prep: Any = prep, season: int = season) -> float:
                return float(metrics.score(prep.targets("test"), pred, insample=prep.insample, season=season)["mase"])

            peers: list[tuple[str, str, float, float]] = []  # (ours row, peer label, seconds, MASE)
            nf_common = {"h": h, "random_seed": 1, "enable_progress_bar": False, "logger": False,
                         "enable_model_summary": False, "accelerator": "cpu"}
            if args.max_steps:
                nf_common["max_steps"] = args.max_steps
            for ours_row, cls in (("lstm", LSTM), ("gru", GRU)):
                for label, extra in (("library defaults", {}), (f"input_size={sp.lookback}", {"input_size": sp.lookback})):
                    model = cls(**nf_common, **extra)
                    nf = NeuralForecast(models=[model], freq=freq)
                    t0 = time.perf_counter()
                    cv = nf.cross_validation(df=df, n_windows=n_windows, step_size=1, val_size=sp.val_end - sp.train_end,
                                             refit=False)
                    seconds = time.perf_counter() - t0
                    peers.append((ours_row, f"NeuralForecast {cls.__name__} ({label})", seconds,
                                  mase(_windows(cv, cls.__name__, n_windows, h))))
            for ours_row, model in (("ets", AutoETS(season_length=season)), ("theta", AutoTheta(season_length=season))):
                sf = StatsForecast(models=[model], freq=freq, n_jobs=1)
                t0 = time.perf_counter()
                cv = sf.cross_validation(df=df, h=h, n_windows=n_windows, step_size=1, refit=False)
                seconds = time.perf_counter() - t0
                col = type(model).__name__
                peers.append((ours_row, f"statsforecast {col}", seconds, mase(_windows(cv, col, n_windows, h))))
            for ours_row, label, seconds, score in peers:
                r = rows.get(ours_row, {})
                ours_s = r.get("train_seconds") or ((r.get("fit_seconds") or 0) + (r.get("predict_seconds") or 0))
                table.append([f"{name}{note}", f"{ours_row} (ours)", label, f"{ours_s:.1f}", f"{seconds:.1f}",
                              f"{seconds / ours_s:.2f}" if ours_s else "-",
                              f"{r.get('mase'):.3f}" if r.get("mase") is not None else "-", f"{score:.3f}",
                              f"{score / r['mase']:.2f}" if r.get("mase") else "-"])
            best = min((r for r in payload["leaderboard"] if r.get("mase") is not None), key=lambda r: r["mase"])
            print(f"{name}{note}: ours lookback {sp.lookback}, horizon {h}, season {season}, {n_windows} test windows; "
                  f"compare wall {ours_wall:.0f}s, best row {best['name']} MASE {best['mase']:.3f}", flush=True)
            _print(table)  # after each series: a long run interrupted keeps what it measured
    return 0


def _print(table: list[list[str]]) -> None:
    header = ["series", "ours", "peer", "ours s", "peer s", "time ratio", "ours MASE", "peer MASE", "MASE ratio"]
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    for i, r in enumerate([header, *table]):
        print("  ".join(c.ljust(w) if j < 3 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"ratios: peer / ours (time > 1: the peer is slower; MASE > 1: the peer is worse); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
