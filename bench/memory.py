"""Memory: one training epoch on a synthetic 10-million-point series, lookback 168.

A fresh child process builds the series (float64, like a loaded file), splits and scales it,
streams the windows with ``windows.make_dataset`` (shuffled training windows, a validation
pass) and runs one epoch of ``training.fit``; the parent reads the child's peak RSS
(``getrusage(RUSAGE_CHILDREN).ru_maxrss``). It also reports what the blog recipe's arrays
(every window copied into float64 numpy arrays) would need for the same windows, computed
from their shapes, not allocated.

The network defaults to the dense ``mlp`` cell (64 units, batch 1024) so the epoch over ~7
million windows takes about a minute on 2 cores (an LSTM runs ~8,000 windows/s at lookback 168
here: 15 minutes). What is measured is the data path, which is the same for every cell:
``--cell lstm`` runs the same epoch with a recurrent layer.

Usage: ``python bench/memory.py [--quick] [--rows N] [--cell C] [--units N] [--batch-size N] [--json PATH]``
(``--quick``: 1 million points unless ``--rows`` is given; a smoke run, not the target's size)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, info, row

__all__ = ["main"]

LOOKBACK, HORIZON = 168, 24
LIMIT_GB = 2.0


def child(rows: int, cell: str, units: int, batch: int) -> None:
    """Train one epoch and print what happened as JSON (runs in its own process)."""
    import numpy as np

    from forecaster.models.network.tensorflow_quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from forecaster.data.scaling import Scaler
    from forecaster.data.windows import make_dataset, split
    from forecaster.models.network.cells import build_model
    from forecaster.models.network.hardware import seed_everything, shard_count, use_jit
    from forecaster.models.network.training import fit

    rng = np.random.default_rng(0)
    t = np.arange(rows, dtype=np.float64)
    values = (10 + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, rows))[:, None]
    del t
    sp = split(rows, lookback=LOOKBACK, horizon=HORIZON, val=0.15, test=0.15)
    scaled = Scaler(["y"]).fit(values[: sp.train_end]).transform(values)
    del values
    seed_everything(42)
    model = build_model(cell=cell, lookback=LOOKBACK, n_features=1, horizon=HORIZON, units=(units,))
    train = make_dataset(scaled, sp.starts("train"), lookback=LOOKBACK, horizon=HORIZON, batch_size=batch,
                         shuffle=True, seed=42)
    val = make_dataset(scaled, sp.starts("val"), lookback=LOOKBACK, horizon=HORIZON, batch_size=batch)
    t0 = time.perf_counter()
    jit = use_jit(None, len(sp.starts("train")), cell)
    result = fit(model, train, val, epochs=1, patience=1, jit_compile=jit,
                 shards=shard_count(cell, batch, jit_compile=jit))
    print(json.dumps({"seconds": time.perf_counter() - t0, "train_windows": len(sp.starts("train")),
                      "val_windows": len(sp.starts("val")), "test_windows": len(sp.starts("test")),
                      "loss": float(result.history["loss"].iloc[0])}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=None, help="points of the series (default 10,000,000)")
    p.add_argument("--quick", action="store_true", help="1,000,000 points unless --rows is given (a smoke run)")
    p.add_argument("--cell", default="mlp")
    p.add_argument("--units", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.rows is None:
        a.rows = 1_000_000 if a.quick else 10_000_000
    if a.child:
        child(a.rows, a.cell, a.units, a.batch_size)
        return
    proc = subprocess.run([sys.executable, __file__, "--child", "--rows", str(a.rows), "--cell", a.cell,
                           "--units", str(a.units), "--batch-size", str(a.batch_size)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"memory bench: the training child failed with exit code {proc.returncode}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9
    windows = out["train_windows"] + out["val_windows"] + out["test_windows"]
    blog_gb = windows * (LOOKBACK + HORIZON) * 8 / 1e9  # float64 X (n, 168, 1) and y (n, 24)
    rows = [
        row(f"memory: peak RSS, 1 epoch, {a.rows / 1e6:g}M points, lookback {LOOKBACK}", peak_gb, LIMIT_GB, "GB",
            better="lower"),
        info("  blog recipe's window arrays (float64)", f"{blog_gb:.1f} GB", "-", f"{blog_gb / peak_gb:.1f}x ours"),
        info("  epoch", f"{out['seconds']:.0f} s, {out['train_windows'] / 1e6:.1f}M train windows "
             f"({a.cell} {a.units} units, batch {a.batch_size})"),
    ]
    emit(rows, ["--json", a.json] if a.json else [])


if __name__ == "__main__":
    main()
