"""Why a residual recurrent cell stops improving after epoch 1-2: per-epoch numbers of one fit.

For each series it builds the default residual network with its linear path (least-squares
start), trains it with early stopping switched off (``--epochs`` full epochs) and prints, per epoch:

- ``lr``: Adam's learning rate;
- ``|g| lin / head / rnn``: root-mean-square gradient of the loss w.r.t. the linear path's kernel,
  the head's output layer (``forecast``) and the recurrent layer, on a fixed sample of training
  windows (per weight, so layers of different sizes compare);
- ``|dW| lin / head``: how far those weights moved from their start (RMS per weight) and, for
  the linear path, the same in units of its least-squares values' RMS;
- ``train`` / ``val``: MSE of the whole model; ``val lin`` of the baseline plus the linear path
  alone (the head's output left out), ``val head``: how much the head's correction lowers the
  validation MSE below ``val lin`` (negative: it helps);
- the validation MSE at epoch 0 (the start), and the noise of a validation MSE difference
  between two models (block standard error of the paired per-window difference, blocks of one
  horizon).

Usage: ``python bench/learning_diagnosis.py [--quick] [--series a,b] [--epochs N] [--cell lstm] [--csv PATH]``
(``--quick``: 2 epochs unless ``--epochs`` is given)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT
from learning import SERIES  # the shipped single series, as bench/learning.py measures them


def block_se(diff: np.ndarray, block: int) -> float:
    """Standard error of the mean of ``diff`` (per-window values in time order), by non-overlapping blocks."""
    n = len(diff) // block
    if n < 2:
        return float("nan")
    means = diff[: n * block].reshape(n, block).mean(axis=1)
    return float(means.std(ddof=1) / np.sqrt(n))


def run(name: str, path: str, target: str, horizon: int, *, epochs: int, cell: str, lr: float,
        extra: dict[str, Any]) -> list[dict[str, Any]]:
    import keras
    import tensorflow as tf

    from forecaster import config
    from forecaster.data.prepared import prepare
    from forecaster.models.network.cells import build_model
    from forecaster.models.network.hardware import seed_everything, shard_count, use_jit
    from forecaster.models.network.residual import start as residual_start
    from forecaster.models.network.training import fit

    cfg = config.resolve(overrides={"data.path": str(ROOT / path), "data.target": target, "window.horizon": horizon,
                                    "training.learning_rate": lr, **extra})
    prep = prepare(cfg)
    sp, t, m = prep.split, cfg.training, cfg.model
    seed_everything(t.seed)
    train = prep.dataset("train", batch_size=t.batch_size, shuffle=True, seed=t.seed)
    val = prep.dataset("val", batch_size=t.batch_size)
    base = residual_start(prep, sp.horizon, linear=True)
    seed_everything(t.seed)
    model = build_model(cell=cell, lookback=sp.lookback, n_features=prep.scaled.shape[1], horizon=sp.horizon,
                        units=m.units, dropout=m.dropout, learning_rate=t.learning_rate, base=base)
    rng = np.random.default_rng(0)
    tr_starts = np.asarray(sp.starts("train"))
    sample = np.sort(rng.choice(tr_starts, size=min(2048, len(tr_starts)), replace=False))

    def windows(starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = prep.scaled[starts[:, None] + np.arange(sp.lookback)[None, :]]
        y = prep.scaled[starts[:, None] + sp.lookback + np.arange(sp.horizon)[None, :], 0]
        return x.astype("float32"), y.astype("float32")

    xs, ys = windows(sample)
    xv, yv = windows(np.asarray(sp.starts("val")))
    parts = keras.Model(model.inputs, [model.get_layer("forecast").output, model.get_layer("linear").output,
                                       model.get_layer("seasonal_naive" if base.season else "last").output])
    groups = {"lin": [model.get_layer("linear").kernel],
              "head": [model.get_layer("forecast").kernel],
              "rnn": [w for w in model.trainable_weights if w.path.startswith(cell)]}
    start = {k: [w.numpy().copy() for w in ws] for k, ws in groups.items()}
    lin_rms = float(np.sqrt(np.mean(start["lin"][0] ** 2)))

    def rms(arrs: list[np.ndarray]) -> float:
        return float(np.sqrt(sum(float(np.sum(a ** 2)) for a in arrs) / sum(a.size for a in arrs)))

    def losses() -> dict[str, Any]:
        head, lin, bl = (np.asarray(a) for a in parts.predict(xv, batch_size=2048, verbose=0))
        full = bl + base.scale * (head + lin)
        only_lin = bl + base.scale * lin
        per_full = ((full - yv) ** 2).mean(axis=1)
        per_lin = ((only_lin - yv) ** 2).mean(axis=1)
        htr, ltr, btr = (np.asarray(a) for a in parts.predict(xs, batch_size=2048, verbose=0))
        return {"val": float(per_full.mean()), "val_lin": float(per_lin.mean()), "per": per_full,
                "train": float((((btr + base.scale * (htr + ltr)) - ys) ** 2).mean()),
                "head_rms": float(np.sqrt(((base.scale * head) ** 2).mean())),
                "lin_rms_out": float(np.sqrt(((base.scale * lin) ** 2).mean()))}

    def grads() -> dict[str, float]:
        with tf.GradientTape() as tape:
            loss = keras.ops.mean((model(xs, training=False) - ys) ** 2)
        ws = [w for g in groups.values() for w in g]
        gs = tape.gradient(loss, [w.value for w in ws])
        out, i = {}, 0
        for k, g in groups.items():
            out[k] = rms([np.asarray(x) for x in gs[i: i + len(g)]])
            i += len(g)
        return out

    l0 = losses()
    rows: list[dict[str, Any]] = [{"series": name, "epoch": 0, "lr": t.learning_rate, **grads(),
                                   "dlin": 0.0, "dlin_rel": 0.0, "dhead": 0.0, **{k: v for k, v in l0.items() if k != "per"},
                                   "d_vs_start": 0.0, "se": 0.0, "seconds": 0.0}]

    class Probe(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            now = {k: [w.numpy() for w in ws] for k, ws in groups.items()}
            lo = losses()
            diff = lo["per"] - l0["per"]
            d_lin = rms([a - b for a, b in zip(now["lin"], start["lin"])])
            lr_now = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
            rows.append({"series": name, "epoch": epoch + 1, "lr": lr_now, **grads(), "dlin": d_lin,
                         "dlin_rel": d_lin / lin_rms if lin_rms else float("nan"),
                         "dhead": rms([a - b for a, b in zip(now["head"], start["head"])]),
                         **{k: v for k, v in lo.items() if k != "per"},
                         "d_vs_start": float(diff.mean()), "se": block_se(diff, sp.horizon),
                         "seconds": time.perf_counter() - t0})

    jit = use_jit(t.jit_compile, len(sp.starts("train")), cell)
    t0 = time.perf_counter()
    fit(model, train, val, epochs=epochs, patience=epochs, callbacks=[Probe()], jit_compile=jit,
        shards=shard_count(cell, t.batch_size, jit_compile=jit))
    print(f"{name}: lookback {sp.lookback}, horizon {sp.horizon}, base {base.name} {base.season or ''} scale "
          f"{base.scale:.3f}, train/val windows {len(sp.starts('train'))}/{len(sp.starts('val'))}, "
          f"linear kernel RMS {lin_rms:.4f}", flush=True)
    return rows


def show(rows: list[dict[str, Any]]) -> None:
    r0 = rows[0]
    for r in rows:  # losses relative to the start (scaled MSEs differ by orders of magnitude between series)
        r["train_r"], r["val_r"], r["val_lin_r"] = r["train"] / r0["train"], r["val"] / r0["val"], r["val_lin"] / r0["val"]
        r["z"] = r["d_vs_start"] / r["se"] if r["se"] else 0.0
    cols = [("epoch", "ep", "{:d}"), ("lr", "lr", "{:.0e}"), ("lin", "|g|lin", "{:.2e}"), ("head", "|g|head", "{:.2e}"),
            ("rnn", "|g|rnn", "{:.2e}"), ("dlin", "|dW|lin", "{:.2e}"), ("dlin_rel", "rel", "{:.2f}"),
            ("dhead", "|dW|head", "{:.2e}"), ("train_r", "train/0", "{:.4f}"), ("val_r", "val/0", "{:.4f}"),
            ("val_lin_r", "vlin/0", "{:.4f}"), ("head_rms", "head rms", "{:.2e}"), ("lin_rms_out", "lin rms", "{:.2e}"),
            ("z", "z(val-start)", "{:+.2f}"), ("seconds", "s", "{:.0f}")]
    print("  ".join(h for _, h, _ in cols))
    for r in rows:
        print("  ".join(f.format(r[k]) if isinstance(r[k], (int, float)) else str(r[k]) for k, _, f in cols))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", default=",".join(SERIES))
    p.add_argument("--epochs", type=int, default=None, help="full epochs (default 12)")
    p.add_argument("--quick", action="store_true", help="2 epochs unless --epochs is given (a smoke run)")
    p.add_argument("--cell", default="lstm")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lookback", type=int, default=None)
    p.add_argument("--data", default=None, help="PATH:TARGET:HORIZON of another series")
    p.add_argument("--csv", default=None)
    a = p.parse_args(argv)
    if a.epochs is None:
        a.epochs = 2 if a.quick else 12
    import pandas as pd

    extra = {"window.lookback": a.lookback} if a.lookback else {}
    todo = [(n, *SERIES[n]) for n in a.series.split(",") if n] if not a.data else [
        (Path(a.data.split(":")[0]).stem, a.data.split(":")[0], a.data.split(":")[1], int(a.data.split(":")[2]))]
    out = []
    for name, path, target, h in todo:
        rows = run(name, path, target, h, epochs=a.epochs, cell=a.cell, lr=a.lr, extra=extra)
        show(rows)
        out += rows
    if a.csv:
        pd.DataFrame(out).to_csv(a.csv, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
