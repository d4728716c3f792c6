"""Tuned vs default rows (issue 29): LSTM and GRU each at its tuned best, with an equal budget.

For each series, one ``forecast compare --cells lstm,gru --tune N`` (the workflow, in process):
the default rows and the ``<cell>-tuned`` rows side by side from one run, so their seconds share
the machine's load. Prints per row the test MASE, its training seconds, and for a tuned row the
trials counted, the seconds of the whole tuning and its best parameters; then the verdict's
LSTM vs GRU sentences at the defaults and at each one's tuned best, and the load average.

Usage: ``python bench/tune.py [--series elnino,sunspots] [--synthetic] [--trials 8] [--tune-time S]
[--epochs N] [--json PATH]`` (``--synthetic``: also the logistic-map series of ``bench/learning.py``,
where the networks do learn past the linear start).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT
from learning import SERIES, logistic_csv

__all__ = ["measure", "main"]


def measure(name: str, path: str, target: str, horizon: int, *, trials: int, seconds: float | None,
            epochs: int | None, models: Path) -> dict[str, Any]:
    """One compare with tuning on one series: its rows (default and tuned) and its verdict."""
    from forecaster import config
    from forecaster.workflows.compare import compare

    overrides: dict[str, Any] = {"data.path": path, "data.target": target, "window.horizon": horizon,
                                 "model.baselines": ["seasonal_naive", "linear"], "output.tensorboard": False,
                                 "output.models_dir": str(models), "output.name": name, "tune.trials": trials}
    if seconds is not None:
        overrides["tune.time"] = seconds
    if epochs is not None:
        overrides["training.epochs"] = epochs
    cfg = config.resolve(overrides=overrides)
    t0 = time.perf_counter()
    res = compare(cfg, cells=["lstm", "gru"], report=False)
    wall = time.perf_counter() - t0
    rows = [{k: r.get(k) for k in ("name", "mase", "train_seconds", "epochs_run", "tune_trials", "tune_seconds",
                                   "tune_params", "stopped")} for r in res.rows]
    sentences = [s.strip() + "." for s in res.verdict.split(". ") if s.startswith(("MASE", "LSTM vs GRU"))]
    return {"series": name, "wall_seconds": wall, "rows": rows, "lstm_vs_gru": sentences}


def _show(result: dict[str, Any]) -> None:
    print(f"\n{result['series']} (compare wall {result['wall_seconds']:.0f} s)")
    print(f"  {'row':<16}{'MASE':>8}{'train s':>9}{'trials':>8}{'tune s':>8}  best parameters / stopped")
    for r in result["rows"]:
        mase = f"{r['mase']:.4f}" if r["mase"] is not None else "-"
        train = f"{r['train_seconds']:.1f}" if r["train_seconds"] is not None else "-"
        tuned = r["tune_trials"] is not None
        extra = json.dumps(r["tune_params"]) if tuned else (r["stopped"] or "")
        print(f"  {r['name']:<16}{mase:>8}{train:>9}{(r['tune_trials'] if tuned else '-')!s:>8}"
              f"{(format(r['tune_seconds'], '.0f') if tuned else '-'):>8}  {extra}")
    for s in result["lstm_vs_gru"]:
        print(f"  {s}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", default="elnino,sunspots", help=f"some of {', '.join(SERIES)}")
    p.add_argument("--synthetic", action="store_true", help="also the logistic-map series (a nonlinear signal)")
    p.add_argument("--trials", type=int, default=8, help="Optuna trials per cell (default 8)")
    p.add_argument("--tune-time", type=float, default=None, help="seconds of tuning per cell (default: no limit)")
    p.add_argument("--epochs", type=int, default=None, help="epoch cap per fit (default: the config's)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = p.parse_args(argv)
    os.chdir(ROOT)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
        specs = []
        for name in [s for s in args.series.split(",") if s]:
            if name not in SERIES:
                p.error(f"--series: unknown {name}; expected some of {', '.join(SERIES)}")
            specs.append((name, *SERIES[name]))
        if args.synthetic:
            specs.append(("logistic", str(logistic_csv(Path(tmp) / "logistic.csv")), "y", 4))
        for name, path, target, horizon in specs:
            load = os.getloadavg()[0]
            result = measure(name, path, target, horizon, trials=args.trials, seconds=args.tune_time,
                             epochs=args.epochs, models=Path(tmp) / "models")
            result["load_before"] = load
            result["load_after"] = os.getloadavg()[0]
            _show(result)
            print(f"  load average {result['load_before']:.1f} before, {result['load_after']:.1f} after "
                  f"({os.cpu_count()} cores)")
            results.append(result)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
