"""Training throughput: forecaster's tf.data pipeline against the common "blog recipe".

Both train the same network size (one LSTM layer of 50 units -> Dense(horizon)) on the same
scaled series (the shipped hourly Seattle temperatures, lookback 48, horizon 24), the same
train/val/test windows, the same epoch cap and early-stopping rule (forecaster's defaults: 50
epochs, patience 5, best weights restored), in this one process:

- blog recipe: windows copied in a Python loop into numpy arrays, ``activation='relu'`` (which
  loses the fused LSTM kernel), batch 32, ``model.fit`` on the arrays;
- forecaster: ``pipeline.train_cell`` (windows gathered per batch from one tensor by
  ``tf.data``, default tanh LSTM, our default batch size).

Throughput is steady-state windows/s (median epoch after the first, which pays for tracing;
epoch time includes the validation pass for both). Test MASE is in the original units.
Also measured here: the float32 2048x2048 matmul peak (GFLOP/s) and the share of it training
reaches, and a sweep of CPU settings (batch size, ``jit_compile``; intra/inter-op threads in
fresh processes) from which the defaults were chosen.

Usage: ``python bench/train_throughput.py [--quick] [--json PATH]``
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, emit, info, row

__all__ = ["main"]

LOOKBACK, HORIZON, UNITS = 48, 24, 50
QUICK = "--quick" in sys.argv


def lstm_flops_per_window(lookback: int, units: int, features: int, horizon: int) -> float:
    """Multiply-adds x2 of one training step per window: forward + backward ~ 3x forward."""
    forward = lookback * 2 * 4 * units * (units + features) + 2 * units * horizon
    return 3.0 * forward


def matmul_peak() -> float:
    """Best GFLOP/s of a float32 2048x2048 matmul (TensorFlow, all cores)."""
    import tensorflow as tf

    n = 2048
    a, b = tf.random.normal((n, n)), tf.random.normal((n, n))
    mm = tf.function(lambda x, y: tf.linalg.matmul(x, y))
    mm(a, b).numpy()
    best = float("inf")
    for _ in range(8):
        t0 = time.perf_counter()
        mm(a, b).numpy()
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


class EpochTimer:
    def __init__(self) -> None:
        import keras

        outer = self

        class CB(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                outer.t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                outer.seconds.append(time.perf_counter() - outer.t0)

        self.seconds: list[float] = []
        self.callback = CB()

    def steady(self) -> float:
        """Median epoch time after the first (tracing) epoch."""
        return statistics.median(self.seconds[1:] if len(self.seconds) > 1 else self.seconds)


def blog_recipe(prep, epochs: int, patience: int) -> dict[str, float]:
    """The recipe from countless blog posts, kept here as the reference (not in the package)."""
    import keras
    import numpy as np

    from forecaster import metrics

    sp, values = prep.split, prep.scaled[:, 0]
    t0 = time.perf_counter()

    def windows(part: str):
        xs, ys = [], []
        for s in sp.starts(part):  # the Python loop
            xs.append(values[s : s + LOOKBACK])
            ys.append(values[s + LOOKBACK : s + LOOKBACK + HORIZON])
        return np.array(xs)[..., None], np.array(ys)

    (x, y), (xv, yv), (xt, _) = windows("train"), windows("val"), windows("test")
    build_s = time.perf_counter() - t0
    keras.utils.set_random_seed(42)
    model = keras.Sequential([keras.Input((LOOKBACK, 1)), keras.layers.LSTM(UNITS, activation="relu"),
                              keras.layers.Dense(HORIZON)])
    model.compile(optimizer="adam", loss="mse")
    timer = EpochTimer()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    model.fit(x, y, batch_size=32, epochs=epochs, validation_data=(xv, yv), verbose=0,
              callbacks=[timer.callback, stop])
    pred = prep.scaler.inverse_target(model.predict(xt, batch_size=256, verbose=0))
    mase = metrics.mase(prep.test_targets, pred, insample=prep.insample, season=prep.season)
    return {"wps": len(x) / timer.steady(), "mase": float(mase), "build_s": build_s, "epochs": len(timer.seconds),
            "array_bytes": x.nbytes + y.nbytes + xv.nbytes + yv.nbytes + xt.nbytes}


def ours(prep, cfg) -> dict[str, float]:
    """forecaster's own training path, default settings."""
    from forecaster import pipeline

    c = pipeline.train_cell(prep, cfg, "lstm")
    secs = c.fit.history["seconds"].tolist()
    steady = statistics.median(secs[1:] if len(secs) > 1 else secs)
    return {"wps": len(prep.split.starts("train")) / steady, "mase": float(c.scores["mase"]), "epochs": len(secs)}


def sweep_point(prep, *, batch: int, jit: bool, epochs: int = 3, deterministic: bool = True) -> tuple[float, bool]:
    """Steady windows/s of our pipeline at one (batch size, jit_compile) setting, and whether jit was kept.

    ``deterministic=False`` skips ``enable_op_determinism`` (Keras refuses XLA while it is on).
    """
    import keras

    from forecaster.architectures import build_model
    from forecaster.training import seed_everything

    if deterministic:
        seed_everything(42)
    else:
        keras.utils.set_random_seed(42)
    model = build_model(cell="lstm", lookback=LOOKBACK, n_features=1, horizon=HORIZON, units=(UNITS,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns when it refuses jit_compile; we report it instead
        model.compile(optimizer=model.optimizer, loss="mse", jit_compile=jit)
    timer = EpochTimer()
    train = prep.dataset("train", batch_size=batch, shuffle=True, seed=42)
    model.fit(train, epochs=epochs, verbose=0, callbacks=[timer.callback])
    return len(prep.split.starts("train")) / timer.steady(), bool(model.jit_compile)


def config():
    """The bench series and network with every other setting at forecaster's defaults."""
    from forecaster import config as cfgmod

    quick = {"training.epochs": 6, "training.patience": 3} if QUICK else {}
    return cfgmod.resolve(overrides={
        "data.path": str(ROOT / "data" / "seattle_temps_2010.csv"), "data.target": "temp",
        "window.lookback": LOOKBACK, "window.horizon": HORIZON, "model.units": [UNITS], **quick,
    })


def threads_child(intra: int, inter: int, jit: bool | None) -> None:
    """Fresh process: set TensorFlow's thread pools (0: TensorFlow's choice), then time the default batch.

    ``jit`` None: deterministic, as forecaster trains; True/False: without op determinism.
    """
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    from forecaster import pipeline

    cfg = config()
    wps, kept = sweep_point(pipeline.prepare(cfg), batch=cfg.training.batch_size, jit=bool(jit),
                            deterministic=jit is None)
    print(json.dumps({"wps": wps, "jit_kept": kept}))


def run_child(intra: int, inter: int, jit: bool | None = None) -> dict:
    """Run :func:`threads_child` in a fresh process."""
    out = subprocess.run([sys.executable, __file__, "--threads-child", str(intra), str(inter), str(jit)],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        return {"wps": 0.0, "jit_kept": False}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    if "--threads-child" in sys.argv:
        i = sys.argv.index("--threads-child")
        threads_child(int(sys.argv[i + 1]), int(sys.argv[i + 2]), {"None": None, "True": True, "False": False}[sys.argv[i + 3]])
        return
    from forecaster._runtime import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    from forecaster import pipeline

    cfg = config()
    default_batch = cfg.training.batch_size
    prep = pipeline.prepare(cfg)
    peak = matmul_peak()
    print(f"matmul peak: {peak:.0f} GFLOP/s", file=sys.stderr)

    # CPU settings sweep (3 epochs each, steady state)
    sweep = {}
    for batch in (64, 256, 1024) if not QUICK else (256, 1024):
        sweep[batch] = sweep_point(prep, batch=batch, jit=False)[0]
        print(f"  batch {batch:>4}: {sweep[batch]:8.0f} windows/s", file=sys.stderr)
    _, jit_kept_det = sweep_point(prep, batch=default_batch, jit=True, epochs=1)
    jit_on, jit_off = run_child(0, 0, True), run_child(0, 0, False)
    jit_wps, jit_kept = jit_on["wps"], jit_on["jit_kept"]
    print(f"  jit_compile=True kept with op determinism: {jit_kept_det}; without: {jit_kept}, "
          f"{jit_wps:.0f} vs {jit_off['wps']:.0f} windows/s", file=sys.stderr)
    threads = {}
    for intra, inter in ((1, 1), (2, 1), (0, 0)) if not QUICK else ((1, 1), (0, 0)):
        threads[(intra, inter)] = run_child(intra, inter)["wps"]
        print(f"  intra {intra} inter {inter}: {threads[(intra, inter)]:8.0f} windows/s", file=sys.stderr)

    blog = blog_recipe(prep, cfg.training.epochs, cfg.training.patience)
    print(f"blog recipe: {blog}", file=sys.stderr)
    mine = ours(prep, cfg)
    print(f"forecaster: {mine}", file=sys.stderr)

    flops = lstm_flops_per_window(LOOKBACK, UNITS, 1, HORIZON)
    best_batch = max(sweep, key=sweep.__getitem__)
    best_wps = max(sweep.values())
    share = best_wps * flops / 1e9 / peak
    default_wps = sweep[default_batch]
    rows = [
        row("train: windows/s vs blog recipe", mine["wps"] / blog["wps"], 4.0, "x", better="higher"),
        info("  forecaster / blog windows/s", f"{mine['wps']:.0f} / {blog['wps']:.0f}"),
        row("train: test MASE (ours <= blog)", mine["mase"], blog["mase"], "", better="lower", digits=3),
        row("train: share of matmul peak (best setting)", 100 * share, 20.0, "%", better="higher", digits=1),
        info("  matmul peak 2048x2048 f32", f"{peak:.0f} GFLOP/s"),
        info("  fastest batch (3-epoch sweep)", f"{best_batch}: {best_wps:.0f}/s",
             f"default {default_batch}: {default_wps:.0f}/s", f"{best_wps / default_wps:.2f}"),
        info("  jit_compile=True (no op determinism)", f"{jit_wps:.0f}/s" + ("" if jit_kept else " (refused)"),
             f"jit off {jit_off['wps']:.0f}/s", f"{jit_wps / jit_off['wps']:.2f}" if jit_off["wps"] else "-"),
        info("  jit_compile=True with op determinism", "refused by Keras" if not jit_kept_det else "kept"),
        info("  threads intra,inter (0: TF default)", ", ".join(f"{a},{b}: {v:.0f}" for (a, b), v in threads.items())),
    ]
    del tf
    emit(rows)


if __name__ == "__main__":
    main()
