"""Panel scale: 10,000 synthetic series x 500 points through load, prepare, one global GRU epoch and predict.

Each stage runs in its own fresh child process so its peak RSS (``ru_maxrss``) is its own:

1. ``load``: read and validate the long-format CSV (every series checked on the shared grid).
2. ``prepare``: split and scale every series on its own training rows and stack the windows.
3. ``epoch``: one epoch of a global GRU (product defaults: 64 units, batch 32... here batch 1024 so
   an epoch over ~3 million windows stays near a few minutes on 2 cores) over every series' windows.
4. ``predict``: ``workflows.predict.forecast`` for all 10,000 series in one batched ONNX call, from a model
   saved by a short training run; also the full CLI ``forecast predict`` (reading the file included).

Memory is compared with what materialised windows would take (``windows x lookback x features``
float32, computed, not allocated): the stacked-gather data path grows with rows, not rows x lookback.

Usage: ``python bench/panel_scale.py [--quick] [--series N] [--points N] [--json PATH]`` (``--quick``: 300 series
x 300 points unless given; a smoke run)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, info, row

__all__ = ["main"]

HORIZON = 14
PREDICT_TARGET_S = 2.0


def make_panel(path: Path, series: int, points: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    t = np.arange(points)
    level = rng.uniform(10, 1000, series)[:, None]
    week = np.sin(2 * np.pi * (t[None, :] + rng.integers(0, 7, series)[:, None]) / 7)
    y = level * (1 + 0.1 * week + 0.05 * rng.standard_normal((series, points)).cumsum(axis=1) / np.sqrt(points))
    frame = pd.DataFrame({
        "item": np.repeat([f"item{k:05d}" for k in range(series)], points),
        "date": np.tile(pd.date_range("2020-01-01", periods=points, freq="D").strftime("%Y-%m-%d"), series),
        "sales": y.ravel().round(3),
    })
    frame.to_csv(path, index=False)


def _cfg(path: str, models: str, epochs: int = 1) -> object:
    from forecaster import config

    return config.resolve(overrides={
        "data.path": path, "data.id_col": "item", "data.target": "sales", "window.horizon": HORIZON,
        "model.cell": "gru", "training.epochs": epochs, "training.batch_size": 1024, "output.models_dir": models,
        "model.baselines": ["naive", "seasonal_naive"], "model.linear": True,
    })


def _print(out: dict[str, object]) -> None:
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # this stage's own peak (kB)
    print(json.dumps(out))


def child(stage: str, path: str, models: str) -> None:
    """Run one stage and print its record as JSON (in its own process)."""
    from forecaster.models.network.tensorflow_quiet import import_tensorflow_quietly

    out: dict[str, object] = {}
    t0 = time.perf_counter()
    from forecaster.data.load import load
    from forecaster.data.prepared import prepare

    cfg = _cfg(path, models)
    loaded = load(cfg)  # type: ignore[arg-type]
    out["load_s"] = time.perf_counter() - t0
    out["rows"] = loaded.rows
    if stage == "load":
        _print(out)
        return
    t1 = time.perf_counter()
    pp = prepare(cfg, loaded)  # type: ignore[arg-type]
    out["prepare_s"] = time.perf_counter() - t1
    out["series"] = len(pp.items)
    out["lookback"] = pp.split.lookback
    out["train_windows"] = len(pp.split.starts("train"))
    out["features"] = pp.scaled.shape[1]
    if stage == "prepare":
        _print(out)
        return
    import_tensorflow_quietly()
    if stage == "epoch":
        from forecaster.models.network.model import NetworkModel

        t2 = time.perf_counter()
        net = NetworkModel("gru", cfg).fit(pp)  # type: ignore[arg-type]
        out["epoch_s"] = net.train_seconds_
        out["fit_s"] = time.perf_counter() - t2
        _print(out)
        return
    # predict: save a model (one short epoch on a few series' windows is enough to time serving)
    import dataclasses

    from forecaster.artifacts.cell import load_for_serving, write_cell
    from forecaster.models.network.model import NetworkModel
    from forecaster.workflows.predict import forecast
    from forecaster.workflows.save import records

    small = dataclasses.replace(pp, split=dataclasses.replace(pp.split, parts={
        k: v[:: max(1, len(v) // 20000)] for k, v in pp.split.parts.items()}))
    net = NetworkModel("gru", cfg).fit(small)  # type: ignore[arg-type]
    cell_dir = Path(models) / "gru"
    cell_dir.parent.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    write_cell(cell_dir, cell="gru", model=net.model_, scaler=pp.scaler, metrics={}, history=net.fit_.history,
               forecast=pd.DataFrame({"timestamp": [], "yhat": []}), **records(pp, cfg, "direct"))  # type: ignore[arg-type]
    loaded_cell = load_for_serving(cell_dir)
    forecast(loaded_cell, loaded, levels=())  # warm: the ONNX session's first call
    times = []
    for _ in range(3):
        t3 = time.perf_counter()
        fc = forecast(loaded_cell, loaded, levels=())
        times.append(time.perf_counter() - t3)
    out["predict_s"] = min(times)
    out["predict_rows"] = len(fc)
    out["backend"] = loaded_cell.backend
    out["cell_dir"] = str(cell_dir)
    _print(out)


def _run_child(stage: str, path: Path, models: Path) -> dict[str, object]:
    res = subprocess.run([sys.executable, __file__, "--child", stage, str(path), str(models)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{stage} failed:\n{res.stderr[-3000:]}")
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", type=int, default=None, help="series (default 10,000)")
    p.add_argument("--points", type=int, default=None, help="points per series (default 500)")
    p.add_argument("--quick", action="store_true", help="300 series x 300 points unless given (a smoke run)")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.series is None:
        args.series = 300 if args.quick else 10_000
    if args.points is None:
        args.points = 300 if args.quick else 500
    if args.child:
        child(*args.child)
        return 0
    work = Path(tempfile.mkdtemp(prefix="panel-scale-"))
    path = work / "panel.csv"
    t0 = time.perf_counter()
    make_panel(path, args.series, args.points)
    say(f"wrote {args.series:,} series x {args.points} points ({path.stat().st_size / 1e6:.0f} MB) in "
         f"{time.perf_counter() - t0:.1f}s")
    recs = {}
    for stage in ("load", "prepare", "epoch", "predict"):
        t1 = time.perf_counter()
        recs[stage] = _run_child(stage, path, work / f"models-{stage}")
        say(f"{stage}: {json.dumps(recs[stage])} ({time.perf_counter() - t1:.0f}s)")
    prep = recs["prepare"]
    windows = int(prep["train_windows"])  # type: ignore[call-overload]
    materialised_mb = windows * int(prep["lookback"]) * int(prep["features"]) * 4 / 1e6  # type: ignore[call-overload]
    ep, pr = recs["epoch"], recs["predict"]
    rows_out = [
        info("panel load + validate (s)", f"{recs['load']['load_s']:.1f}", f"{recs['load']['rows']:,} rows"),
        info("panel prepare: split, scale, stack (s)", f"{prep['prepare_s']:.1f}", f"{prep['series']:,} series"),
        info("global GRU, one epoch (s)", f"{ep['epoch_s']:.1f}",
             f"{windows:,} windows, lookback {prep['lookback']}, batch 1024"),
        info("load stage peak RSS (MB)", f"{recs['load']['peak_rss_mb']:.0f}", "pandas read + per-series frames"),
        info("prepare stage peak RSS (MB, no TensorFlow)", f"{prep['peak_rss_mb']:.0f}",
             f"windows materialised: {materialised_mb:,.0f} MB"),
        info("epoch stage peak RSS (MB)", f"{ep['peak_rss_mb']:.0f}",
             f"windows materialised: {materialised_mb:,.0f} MB", f"{ep['peak_rss_mb'] / materialised_mb:.2f}"),
        row("predict all series, one batched call", float(pr["predict_s"]), PREDICT_TARGET_S, "s", better="lower"),
        info("predict stage peak RSS (MB)", f"{pr['peak_rss_mb']:.0f}", f"{pr['predict_rows']:,} rows, {pr['backend']}"),
    ]
    emit(rows_out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
