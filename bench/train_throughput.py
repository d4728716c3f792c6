"""Training throughput: forecaster's training path against the common "blog recipe".

Both train the same network size (one LSTM layer of 50 units -> Dense(horizon)) on the same
scaled series (the shipped hourly Seattle temperatures, lookback 48, horizon 24) and the same
train/validation windows, in this one process:

- blog recipe: windows copied in a Python loop into numpy arrays, ``activation='relu'`` (which
  loses the fused LSTM kernel), batch 32, Keras' default compile, ``model.fit`` on the arrays;
- forecaster: what ``workflows.train.train_cell`` runs: windows gathered per batch from one tensor by
  ``tf.data``, the residual LSTM (its base and linear start as ``NetworkModel.fit`` chooses them), our
  default batch size (``training.batch_for``: ``training.batch_size``, smaller on a small training
  set), ``hardware.prepare_to_train`` (each batch split into one shard per core, or XLA, as
  ``hardware.shard_count`` and ``hardware.use_jit`` decide).

Throughput is windows/s of whole epochs (training plus the validation pass, as ``fit`` runs
them), in steady state: each timing is a ``fit`` of 3 epochs whose first epoch (iterator set-up,
which a real training pays once) is dropped. This machine is shared and its speed drifts +-30 %
over minutes, so every contender is timed in the same rounds, in turn, median epoch per
contender; ratios between contenders are therefore measured under the same conditions. The
ratio from each contender's fastest epoch is printed beside it. The target ratio is measured in
a fresh process holding only the blog recipe and forecaster's defaults (8 rounds); the sweep of
settings (9 contenders in one process, where every contender ran slower and noisier) follows it.

Test MASE comes from full trainings (forecaster's epoch cap and early-stopping rule, best
weights restored) in the original units. Also measured: the float32 2048x2048 matmul peak
(GFLOP/s, best of runs before and after) and the share of it training reaches; the CPU settings
behind the defaults (batch size, shards per batch, ``jit_compile`` for both cells) in the same
interleaved rounds; intra/inter-op thread pools in fresh processes.

Usage: ``python bench/train_throughput.py [--quick] [--json PATH]``
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
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


def epoch_timer(out: list[float]):
    """A Keras callback appending each epoch's wall time (training + validation) to ``out``."""
    import keras

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            out.append(time.perf_counter() - self.t0)

    return Timer()


def blog_windows(prep):
    """The blog recipe's arrays: windows copied in a Python loop."""
    import numpy as np

    sp, values = prep.split, prep.scaled[:, 0]

    def windows(part: str):
        xs, ys = [], []
        for s in sp.starts(part):  # the Python loop
            xs.append(values[s : s + LOOKBACK])
            ys.append(values[s + LOOKBACK : s + LOOKBACK + HORIZON])
        return np.array(xs)[..., None], np.array(ys)

    return windows("train"), windows("val"), windows("test")


def blog_model():
    """The blog recipe's network: relu LSTM(50) -> Dense(horizon), Adam, MSE, default compile."""
    import keras

    model = keras.Sequential([keras.Input((LOOKBACK, 1)), keras.layers.LSTM(UNITS, activation="relu"),
                              keras.layers.Dense(HORIZON)])
    model.compile(optimizer="adam", loss="mse")
    return model


def default_batch(prep, cfg) -> int:
    """The batch ``NetworkModel.fit`` trains with at the defaults (``training.batch_for``)."""
    from forecaster.models.network.training import batch_for

    return batch_for(cfg.training.batch_size, len(prep.split.starts("train")), cfg.training.min_steps)


_BASES: dict[int, object] = {}


def residual_base(prep, cfg):
    """What the residual network corrects, chosen as ``NetworkModel.fit`` chooses it: the base on the
    training windows with its least-squares linear start, kept only when that start beats the base alone
    on validation (``model.linear: null``). Computed once per prepared data."""
    import dataclasses

    from forecaster.models.network.residual import start

    if id(prep) not in _BASES:
        linear = cfg.model.linear
        base = start(prep, HORIZON, linear=linear is not False)
        if linear is None and base.start is not None and not base.start.val_loss < base.start.base_val_loss:
            base = dataclasses.replace(base, linear=None)
        _BASES[id(prep)] = base
    return _BASES[id(prep)]


def our_model(prep, cfg, cell: str = "lstm", *, batch_size: int | None = None, jit: bool | None = None,
              shards: int | None = None):
    """forecaster's network and compile settings, exactly as ``workflows.train.train_cell`` makes them
    (``jit``/``shards`` override the automatic choices)."""
    from forecaster.models.network.cells import build_model
    from forecaster.models.network.hardware import prepare_to_train, seed_everything, shard_count, use_jit
    from forecaster.models.network.model import recurrent_steps

    seed_everything(cfg.training.seed)
    model = build_model(cell=cell, lookback=LOOKBACK, n_features=1, horizon=HORIZON, units=(UNITS,),
                        learning_rate=cfg.training.learning_rate, base=residual_base(prep, cfg),
                        recurrent_steps=recurrent_steps(cfg.model.recurrent_steps, LOOKBACK, prep.season))
    use = use_jit(cfg.training.jit_compile, len(prep.split.starts("train")), cell) if jit is None else jit
    if shards is None:
        shards = shard_count(cell, batch_size or default_batch(prep, cfg), jit_compile=use)
    prepare_to_train(model, jit_compile=use, shards=shards)
    return model


Contender = Callable[[list[float], int], None]  # run(epoch_seconds_out, epochs)


def fit_timed(model, inputs: dict, out: list[float], epochs: int) -> None:
    """``model.fit(**inputs)`` appending each epoch's seconds, validation included, to ``out``."""
    inputs = dict(inputs)
    first = inputs.pop("callbacks", ())  # fit_inputs' validation callback: before the timer
    model.fit(**inputs, epochs=epochs, verbose=0, callbacks=[*first, epoch_timer(out)])


def interleaved(contenders: dict[str, Contender], rounds: int, epochs: int = 3) -> dict[str, list[float]]:
    """Steady-state epoch seconds of each contender, timed in turn for ``rounds`` rounds.

    Each contender is first run once untimed (tracing, XLA compilation); then every round runs a
    ``fit`` of ``epochs`` epochs per contender and keeps all but the first epoch.
    """
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for name, run in contenders.items():
        t0 = time.perf_counter()
        run([], 1)
        print(f"  warm-up {name}: {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    for _ in range(rounds):
        for name, run in contenders.items():
            out: list[float] = []
            run(out, epochs)
            times[name] += out[1:]
    return times


def blog_full(prep, data, epochs: int, patience: int) -> dict[str, float]:
    """The blog recipe trained to its end (same cap and stopping rule as ours)."""
    import keras

    from forecaster.evaluation import metrics

    (x, y), (xv, yv), (xt, _) = data
    keras.utils.set_random_seed(42)
    model = blog_model()
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)
    secs: list[float] = []
    model.fit(x, y, batch_size=32, epochs=epochs, validation_data=(xv, yv), verbose=0,
              callbacks=[epoch_timer(secs), stop])
    item = prep.single
    pred = item.scaler.inverse_target(model.predict(xt, batch_size=256, verbose=0))
    mase = metrics.mase(item.test_targets, pred, insample=item.insample, season=item.season)
    return {"mase": float(mase), "epochs": len(secs), "seconds": sum(secs)}


def ours_full(prep, cfg) -> dict[str, float]:
    """forecaster's own training path, default settings, to its end."""
    from forecaster.workflows.train import train_cell

    c = train_cell(prep, cfg, "lstm")
    return {"mase": float(c.scores["mase"]), "epochs": c.fit.epochs_run, "seconds": c.train_seconds,
            "base": c.base.name if c.base is not None else "none"}


def config():
    """The bench series and network with every other setting at forecaster's defaults."""
    from forecaster import config as cfgmod

    quick = {"training.epochs": 6, "training.patience": 3} if QUICK else {}
    return cfgmod.resolve(overrides={
        "data.path": str(ROOT / "data" / "seattle_temps_2010.csv"), "data.target": "temp",
        "window.lookback": LOOKBACK, "window.horizon": HORIZON, "model.units": [UNITS], **quick,
    })


def threads_child(intra: int, inter: int) -> None:
    """Fresh process: set TensorFlow's thread pools (0: TensorFlow's choice), time epochs at the defaults."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)
    from forecaster.models.network import training
    from forecaster.workflows.train import prepare_run

    cfg = config()
    prep = prepare_run(cfg)
    batch = default_batch(prep, cfg)
    model = our_model(prep, cfg)
    train = prep.dataset("train", batch_size=batch, shuffle=True, seed=42)
    secs: list[float] = []
    fit_timed(model, training.fit_inputs(model, train, prep.dataset("val", batch_size=batch)), secs, 6)
    print(json.dumps({"wps": len(prep.split.starts("train")) / statistics.median(secs[1:])}))


def run_child(intra: int, inter: int) -> float:
    """Windows/s of :func:`threads_child` in a fresh process (0 if it failed)."""
    out = subprocess.run([sys.executable, __file__, "--threads-child", str(intra), str(inter)],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        return 0.0
    return float(json.loads(out.stdout.strip().splitlines()[-1])["wps"])


def pair_child() -> None:
    """Fresh process holding only the blog recipe and forecaster's defaults, timed interleaved."""
    from forecaster.models.network.tensorflow_quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from forecaster.workflows.train import prepare_run

    cfg = config()
    prep = prepare_run(cfg)
    make = contender_factory(prep, cfg)
    times = interleaved({"blog": make("blog"), "ours": make("ours")}, rounds=3 if QUICK else 8)
    print(json.dumps(times))


def contender_factory(prep, cfg, data=None) -> Callable[..., Contender]:
    """``make("blog")`` or ``make("ours", cell=..., batch_size=..., one_iterator=..., jit=..., shards=...)``;
    ``data`` is :func:`blog_windows` of ``prep`` when the caller already has it."""
    from forecaster.models.network import training

    (x, y), (xv, yv), _ = data if data is not None else blog_windows(prep)

    def make(kind: str, cell: str = "lstm", batch_size: int | None = None, one_iterator: bool = True,
             **kw) -> Contender:
        if kind == "blog":
            import keras

            keras.utils.set_random_seed(42)
            blog = blog_model()
            return lambda out, epochs: blog.fit(x, y, batch_size=32, epochs=epochs, validation_data=(xv, yv),
                                                verbose=0, callbacks=[epoch_timer(out)])
        batch_size = batch_size or default_batch(prep, cfg)
        model = our_model(prep, cfg, cell, batch_size=batch_size, **kw)
        train = prep.dataset("train", batch_size=batch_size, shuffle=True, seed=42)
        val = prep.dataset("val", batch_size=batch_size)
        inputs = training.fit_inputs(model, train, val) if one_iterator else {"x": train, "validation_data": val}
        return lambda out, epochs: fit_timed(model, inputs, out, epochs)

    return make


def main() -> None:
    if "--threads-child" in sys.argv:
        i = sys.argv.index("--threads-child")
        threads_child(int(sys.argv[i + 1]), int(sys.argv[i + 2]))
        return
    if "--pair-child" in sys.argv:
        pair_child()
        return
    pair = subprocess.run([sys.executable, __file__, "--pair-child", *(["--quick"] if QUICK else [])],
                          capture_output=True, text=True, timeout=1200)
    if pair.returncode != 0:
        print(pair.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"train_throughput: the blog-vs-forecaster child failed with exit code {pair.returncode}")
    pair_times: dict[str, list[float]] = json.loads(pair.stdout.strip().splitlines()[-1])
    from forecaster.models.network.tensorflow_quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    from forecaster.models.network.hardware import shard_count, use_jit
    from forecaster.workflows.train import prepare_run

    cfg = config()
    prep = prepare_run(cfg)
    batch = default_batch(prep, cfg)
    n_train = len(prep.split.starts("train"))
    jit_lstm = use_jit(cfg.training.jit_compile, n_train, "lstm")
    jit_gru = use_jit(cfg.training.jit_compile, n_train, "gru")
    shards = shard_count("lstm", batch, jit_compile=jit_lstm)
    peak_before = matmul_peak()
    data = blog_windows(prep)
    make = contender_factory(prep, cfg, data)
    other_batch = 256 if batch != 256 else 512
    contenders = {
        "blog": make("blog"),
        "ours": make("ours"),
        "ours, unsharded": make("ours", shards=1),
        "ours, new iterator per epoch": make("ours", one_iterator=False),
        f"ours, batch {other_batch}": make("ours", batch_size=other_batch),
        "ours, batch 1024": make("ours", batch_size=1024),
        f"ours, jit_compile={not jit_lstm}": make("ours", jit=not jit_lstm),
        "gru": make("ours", "gru"),
        f"gru, jit_compile={not jit_gru}": make("ours", "gru", jit=not jit_gru),
    }
    times = interleaved(contenders, rounds=2 if QUICK else 5)
    wps = {name: n_train / statistics.median(t) for name, t in times.items()}
    fastest = {name: n_train / min(t) for name, t in times.items()}
    pair_wps = {name: n_train / statistics.median(t) for name, t in pair_times.items()}
    pair_fastest = {name: n_train / min(t) for name, t in pair_times.items()}
    print(f"  pair child: blog {pair_wps['blog']:.0f}/s, ours {pair_wps['ours']:.0f}/s", file=sys.stderr)
    for name, v in wps.items():
        print(f"  {name:28s} {v:8.0f} windows/s (fastest epoch {fastest[name]:.0f})", file=sys.stderr)
    peak = max(peak_before, matmul_peak())
    print(f"matmul peak: {peak:.0f} GFLOP/s", file=sys.stderr)

    threads = {}
    for intra, inter in ((1, 1), (2, 1), (1, 2), (0, 0)) if not QUICK else ((1, 1), (0, 0)):
        threads[(intra, inter)] = run_child(intra, inter)
        print(f"  intra {intra} inter {inter}: {threads[(intra, inter)]:8.0f} windows/s", file=sys.stderr)

    blog = blog_full(prep, data, cfg.training.epochs, cfg.training.patience)
    print(f"blog recipe, full training: {blog}", file=sys.stderr)
    mine = ours_full(prep, cfg)
    print(f"forecaster, full training: {mine}", file=sys.stderr)

    flops = lstm_flops_per_window(LOOKBACK, UNITS, 1, HORIZON)
    share = pair_wps["ours"] * flops / 1e9 / peak
    best_name = max((n for n in wps if n.startswith("ours")), key=wps.get)
    no_jit, gru_no_jit = f"ours, jit_compile={not jit_lstm}", f"gru, jit_compile={not jit_gru}"

    def vs(a: str, b: str) -> str:
        return f"{wps[a] / wps[b]:.2f}"

    rows = [
        row("train: windows/s vs blog recipe", pair_wps["ours"] / pair_wps["blog"], 4.0, "x", better="higher"),
        info("  same, from each one's fastest epoch", f"{pair_fastest['ours'] / pair_fastest['blog']:.2f} x",
             f"{pair_fastest['ours']:.0f} / {pair_fastest['blog']:.0f}"),
        info("  forecaster / blog windows/s (epoch incl. validation)",
             f"{pair_wps['ours']:.0f} / {pair_wps['blog']:.0f}", f"batch {batch} / 32"),
        info("  same ratio in the 9-contender sweep below", f"{wps['ours'] / wps['blog']:.2f} x",
             f"{wps['ours']:.0f} / {wps['blog']:.0f}"),
        row("train: test MASE (ours <= blog)", mine["mase"], blog["mase"], "", better="lower", digits=3),
        info("  full trainings: epochs, seconds", f"ours {mine['epochs']}, {mine['seconds']:.0f} s",
             f"blog {blog['epochs']}, {blog['seconds']:.0f} s", f"{blog['seconds'] / mine['seconds']:.1f}x sooner"),
        row("train: share of matmul peak (defaults)", 100 * share, 20.0, "%", better="higher", digits=1),
        info("  same, from the defaults' fastest epoch", f"{100 * pair_fastest['ours'] * flops / 1e9 / peak:.1f} %"),
        info("  same, best setting measured", f"{100 * wps[best_name] * flops / 1e9 / peak:.1f} %",
             f"{best_name}; peak {peak:.0f} GFLOP/s f32 matmul"),
        info(f"  lstm: {shards} shards per batch (default) vs unsharded",
             f"{wps['ours']:.0f}/s", f"{wps['ours, unsharded']:.0f}/s", vs("ours", "ours, unsharded")),
        info("  one iterator per fit (default) vs Keras' new one per epoch", f"{wps['ours']:.0f}/s",
             f"{wps['ours, new iterator per epoch']:.0f}/s", vs("ours", "ours, new iterator per epoch")),
        info(f"  lstm: batch {batch} (default) vs {other_batch} / 1024", f"{wps['ours']:.0f}/s",
             f"{wps[f'ours, batch {other_batch}']:.0f}/s / {wps['ours, batch 1024']:.0f}/s",
             f"{vs('ours', f'ours, batch {other_batch}')} / {vs('ours', 'ours, batch 1024')}"),
        info(f"  jit_compile (default: lstm {'on' if jit_lstm else 'off'}, gru {'on' if jit_gru else 'off'})",
             f"lstm {wps['ours']:.0f}/s, gru {wps['gru']:.0f}/s",
             f"other: {wps[no_jit]:.0f}/s, {wps[gru_no_jit]:.0f}/s",
             f"{vs('ours', no_jit)}, {vs('gru', gru_no_jit)}"),
        info("  threads intra,inter (0: TF default; fresh processes)",
             ", ".join(f"{a},{b}: {v:.0f}" for (a, b), v in threads.items())),
    ]
    emit(rows)


if __name__ == "__main__":
    main()
