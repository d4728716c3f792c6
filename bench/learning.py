"""Do the recurrent cells learn past their linear start? Before (an older checkout) and after, per series and cell.

For each series (the six shipped single series by default; ``--data`` adds others, ``--synthetic``
a logistic-map series whose signal no linear model can fit) and each cell, one fit through the
product's own path (:func:`forecaster.workflows.train.train_cell`, defaults apart from ``--epochs``), and
beside it the ``linear`` row on the same prepared split. Printed per row:

- ``best``: the epoch whose weights were kept (0: the start, the linear row, was never beaten);
- ``val start`` / ``val end``: validation MSE (scaled units) of the linear row (the start a
  residual network builds on) and of the kept weights;
- ``MASE`` of the cell and of that side's ``linear`` row on the same test windows, and the paired
  difference cell - linear of the per-window scaled absolute errors with its 95 % interval (block
  standard error, blocks of one horizon: neighbouring windows share targets);
- ``train s``: the cell's training seconds (every fit it made);
- ``stopped``: why the fit stopped early, where it did.

``--before PATH`` runs the same measurements with the package found at ``PATH`` (a checkout of the
commit to compare with, e.g. ``git archive 2a7b316 | tar -x -C /tmp/before``), each series
before and then after in fresh processes, so both see the same load. The target, checked on the
after rows: each recurrent cell either beats its linear start on validation beyond noise (gain
of at least 2 block standard errors) or was stopped within its gain budget with the reason printed.

Usage: ``python bench/learning.py [--before PATH] [--series a,b] [--cells lstm,gru] [--data PATH:TARGET:H]
[--synthetic] [--epochs N] [--quick] [--json PATH]`` (``--quick``: 3 epochs unless ``--epochs`` is given; a smoke
run, the target is not meaningful then)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Row, emit, info

#: name -> (file, target, horizon): the shipped single series (data/README.md), horizon one season (<= 24)
SERIES = {
    "sf_traffic": ("data/sf_traffic_2016_hourly.csv", "occupancy", 24),
    "seattle_temps": ("data/seattle_temps_2010.csv", "temp", 24),
    "seattle_weather": ("data/seattle_weather_2012_2015.csv", "temp_max", 7),
    "co2": ("data/co2_mauna_loa_weekly.csv", "co2", 24),
    "elnino": ("data/elnino_sst_monthly.csv", "sst", 12),
    "sunspots": ("data/sunspots_yearly.csv", "sunspots", 10),
}


def logistic_csv(path: Path, n: int = 3000, seed: int = 0) -> Path:
    """A noisy logistic map (r = 3.8): one step is a parabola of the last value, which no linear
    map of the window reproduces, and which a small recurrent network can learn."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    y = np.empty(n)
    y[0] = 0.3
    for t in range(1, n):
        y[t] = np.clip(3.8 * y[t - 1] * (1 - y[t - 1]) + rng.normal(0, 0.01), 0.001, 0.999)
    pd.DataFrame({"date": pd.date_range("2000-01-01", periods=n, freq="D"), "y": y.round(5)}).to_csv(path, index=False)
    return path


def _block_se(d: np.ndarray, block: int) -> float:
    n = len(d) // max(1, block)
    if n < 2:
        return math.nan
    means = d[: n * block].reshape(n, block).mean(axis=1)
    return float(means.std(ddof=1) / math.sqrt(n))


def measure(name: str, path: str, target: str, horizon: int, cells: list[str], epochs: int | None,
            models: Path) -> list[dict[str, Any]]:
    """One side's rows for one series (runs in the process of that side's package)."""
    import dataclasses

    from forecaster import config

    try:  # this checkout's package (one shape for one series or many) ...
        from forecaster.evaluation import metrics, scoring
        from forecaster.models.linear import Linear
        from forecaster.workflows.train import prepare_run as prepare
        from forecaster.workflows.train import train_cell
        new = True
    except ImportError:  # ... or an older one (the "before" side, e.g. 2a7b316)
        from forecaster import baselines, metrics, network, scoring  # type: ignore[attr-defined,no-redef]
        from forecaster.prepared import prepare  # type: ignore[no-redef]
        train_cell, Linear, new = network.train_cell, baselines.Linear, False

    overrides: dict[str, Any] = {"data.path": path, "data.target": target, "window.horizon": horizon,
                                 "output.models_dir": str(models), "output.tensorboard": False,
                                 "forecast.levels": []}
    if epochs is not None:
        overrides["training.epochs"] = epochs
    cfg = config.resolve(overrides=overrides)
    whole = prepare(cfg)
    prep = whole.single if new else whole  # the one series
    sp = prep.split
    scale0 = float(prep.scaler.scale_[0])
    mase_scale = metrics.mase_scale(prep.insample, prep.season) or 1.0

    def val_mse(model: Any) -> float:
        origins = sp.first_targets("val")
        pred = model.predict(prep.values, origins, sp.horizon)
        return float(np.mean(((pred - prep.targets("val")) / scale0) ** 2))

    def per_window(pred: np.ndarray) -> np.ndarray:
        return np.abs(pred - prep.test_targets).mean(axis=1) / mase_scale

    t0 = time.perf_counter()
    lin = Linear().fit(whole)
    lin = lin.on(prep) if new else lin
    lin_seconds = time.perf_counter() - t0
    lin_test = scoring.predict_part(lin, prep, "test")
    lin_err = per_window(lin_test)
    lin_row = {"series": name, "cell": "linear", "lookback": sp.lookback, "val_start": val_mse(lin),
               "mase": float(lin_err.mean()), "train_s": lin_seconds}
    rows = []
    for cell in cells:
        r = train_cell(whole, dataclasses.replace(cfg), cell)
        err = per_window(r.test_pred)
        d = err - lin_err
        se = _block_se(d, sp.horizon)
        fit = r.fit
        rows.append({
            "series": name, "cell": cell, "lookback": sp.lookback, "best": int(fit.best_epoch),
            "epochs": int(r.epochs_total), "val_start": lin_row["val_start"], "val_end": float(fit.best_val_loss),
            "mase": float(err.mean()), "linear_mase": lin_row["mase"], "diff": float(d.mean()),
            "ci": 1.96 * se, "train_s": float(r.train_seconds),
            "stopped": getattr(fit, "stop_reason", None), "gain_z": getattr(fit, "gain_z", None),
            "batch": getattr(fit, "batch_size", None), "gain_epochs": getattr(cfg.training, "gain_epochs", None),
            "recurrent_steps": getattr(r.network, "recurrent_steps_", None),
            "lookback_scores": {str(k): v for k, v in getattr(whole, "lookback_scores", {}).items()},
        })
        print(f"  {name} {cell}: best {fit.best_epoch}, MASE {err.mean():.4f} (linear {lin_row['mase']:.4f}), "
              f"{r.train_seconds:.1f} s" + (f", stopped: {rows[-1]['stopped']}" if rows[-1]["stopped"] else ""),
              file=sys.stderr, flush=True)
    return rows


def _side(args: argparse.Namespace) -> int:
    """Run one side for one series (a child process) and write its rows as JSON."""
    name, path, target, h = args.one.split("|")
    with tempfile.TemporaryDirectory() as tmp:
        rows = measure(name, path, target, int(h), args.cells.split(","), args.epochs, Path(tmp))
    Path(args.out).write_text(json.dumps(rows), encoding="utf-8")
    return 0


def _run_side(package: Path | None, spec: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rows.json"
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        if package is not None:
            env["PYTHONPATH"] = str(package)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--one", spec, "--out", str(out), "--cells", args.cells]
        if args.epochs is not None:
            cmd += ["--epochs", str(args.epochs)]
        done = subprocess.run(cmd, env=env, cwd=str(package or ROOT), timeout=args.timeout)
        if done.returncode != 0 or not out.exists():
            return [{"series": spec.split("|")[0], "cell": "-", "failed": f"exit {done.returncode}"}]
        return json.loads(out.read_text(encoding="utf-8"))


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, spec)


def print_table(rows: list[dict[str, Any]]) -> None:
    header = ["series", "cell", "side", "lookback", "best", "epochs", "val start", "val end", "MASE", "linear",
              "cell - linear [95%]", "train s", "stopped"]
    body = []
    for r in rows:
        if "failed" in r:
            body.append([r["series"], r["cell"], r.get("side", ""), "failed: " + r["failed"]] + [""] * 9)
            continue
        diff = f"{r['diff']:+.4f} ± {r['ci']:.4f}" if r.get("diff") is not None else "-"
        body.append([r["series"], r["cell"], r["side"], str(r["lookback"]), _fmt(r.get("best"), "d"),
                     _fmt(r.get("epochs"), "d"), _fmt(r["val_start"], ".4g"), _fmt(r.get("val_end"), ".4g"),
                     _fmt(r["mase"], ".4f"), _fmt(r.get("linear_mase"), ".4f"), diff, _fmt(r["train_s"], ".1f"),
                     r.get("stopped") or ""])
    widths = [max(len(x[i]) for x in [header, *body]) for i in range(len(header))]
    for i, line in enumerate([header, *body]):
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def verdict_rows(rows: list[dict[str, Any]]) -> list[Row]:
    """The target on the after rows, and before/after ratios of training time and MASE."""
    out = []
    after = [r for r in rows if r.get("side") == "after" and "failed" not in r]
    for r in after:
        if r["cell"] not in ("lstm", "gru"):
            continue
        beats = r.get("gain_z") is not None and r["gain_z"] <= -2.0 and r.get("best", 0) > 0
        stopped = bool(r.get("stopped")) and str(r["stopped"]).startswith("no gain")
        how = (f"beats its start (gain {-r['gain_z']:.1f} SE)" if beats else
               f"stopped: {r['stopped']}" if stopped else "neither")
        out.append(Row(f"{r['series']} {r['cell']}: learns or stops", how, "beats >= 2 SE or stopped",
                       "-", "pass" if beats or stopped else "FAIL"))
    before = {(r["series"], r["cell"]): r for r in rows if r.get("side") == "before" and "failed" not in r}
    for r in after:
        b = before.get((r["series"], r["cell"]))
        if b is None:
            continue
        out.append(info(f"{r['series']} {r['cell']}: MASE after/before", f"{r['mase']:.4f} / {b['mase']:.4f}",
                        "-", f"{r['mase'] / b['mase']:.3f}"))
        out.append(info(f"{r['series']} {r['cell']}: train s after/before", f"{r['train_s']:.1f} / {b['train_s']:.1f}",
                        "-", f"{r['train_s'] / b['train_s']:.2f}" if b["train_s"] else "-"))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", default=None, help="a checkout of the commit to compare with (its package is run)")
    p.add_argument("--series", default=",".join(SERIES))
    p.add_argument("--cells", default="lstm,gru")
    p.add_argument("--data", action="append", default=[], help="PATH:TARGET:HORIZON of another series (repeatable)")
    p.add_argument("--synthetic", action="store_true", help="also a logistic-map series (a nonlinear signal)")
    p.add_argument("--epochs", type=int, default=None, help="epoch cap (default: the product's)")
    p.add_argument("--quick", action="store_true", help="3 epochs unless --epochs is given (a smoke run)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per side and series")
    p.add_argument("--json", default=None, help="write run_all rows here, and every measured row beside it (.rows.json)")
    p.add_argument("--table", default=None, help="print the table of a .rows.json written before, and exit")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick and args.epochs is None:
        args.epochs = 3
    if args.one:
        return _side(args)
    if args.table:
        rows = json.loads(Path(args.table).read_text(encoding="utf-8"))
        print_table(rows)
        emit(verdict_rows(rows), [])
        return 0
    specs = []
    for name in [n for n in args.series.split(",") if n]:
        if name not in SERIES:
            p.error(f"--series: unknown {name}; expected some of {', '.join(SERIES)}")
        path, target, h = SERIES[name]
        specs.append(f"{name}|{ROOT / path}|{target}|{h}")
    for d in args.data:
        path, target, h = d.rsplit(":", 2)
        specs.append(f"{Path(path).stem}|{Path(path).resolve()}|{target}|{h}")
    tmp = Path(tempfile.mkdtemp(prefix="learning-bench-"))
    if args.synthetic:
        specs.append(f"logistic|{logistic_csv(tmp / 'logistic.csv')}|y|4")
    rows: list[dict[str, Any]] = []
    load = os.getloadavg()[0]
    for spec in specs:
        sides = ([("before", Path(args.before).resolve())] if args.before else []) + [("after", None)]
        for side, package in sides:
            print(f"{spec.split('|')[0]}: {side} ...", file=sys.stderr, flush=True)
            rows += [{**r, "side": side} for r in _run_side(package, spec, args)]
            if args.json:  # kept as it comes: a long bench cut short still leaves its rows
                Path(args.json).with_suffix(".rows.json").write_text(json.dumps(rows, indent=1), encoding="utf-8")
    print_table(rows)
    print(f"\nload average at start {load:.1f}, at end {os.getloadavg()[0]:.1f} (2 cores; shared machine)")
    emit(verdict_rows(rows), ["--json", args.json] if args.json else [])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
