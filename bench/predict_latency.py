"""Predict latency: a fresh ``forecast predict`` process, warm and batched ONNX Runtime calls.

Trains a small LSTM (64 units, lookback 48, horizon 24, 2 epochs) on the shipped hourly series
into a temporary models folder, then measures, in this one run:

- wall time of a fresh ``forecast predict`` process for one series, horizon 24 (ONNX Runtime,
  the default when ``model.onnx`` exists), and the same with the Keras fallback (the cell copied
  without ``model.onnx``): median of several runs;
- wall time of ``forecast --help`` and of a config validation (a config error is reported
  before TensorFlow would be imported);
- warm single-window latency and batched windows/s through ONNX Runtime (1 thread and the
  default thread pool);
- the largest absolute difference between Keras and ONNX forecasts over 2,000 test windows
  (original units), and the seconds ``model.onnx`` adds to each save.

Usage: ``python bench/predict_latency.py [--json PATH]``
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, emit, info, row

__all__ = ["main"]

FORECAST = str(Path(sys.executable).with_name("forecast"))
DATA = ROOT / "data" / "seattle_temps_2010.csv"


def wall(cmd: list[str], repeats: int, *, expect: int = 0) -> float:
    """Median wall seconds of ``cmd`` as a fresh process."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        times.append(time.perf_counter() - t0)
        if proc.returncode != expect:
            raise SystemExit(f"{' '.join(cmd)}: exit {proc.returncode}, expected {expect}: {proc.stderr.strip()[-500:]}")
    return statistics.median(times)


def per_call(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` calls (after 20 warm-up calls)."""
    for _ in range(20):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    import numpy as np

    tmp = Path(tempfile.mkdtemp(prefix="forecaster-bench-"))
    try:
        models = tmp / "models"
        subprocess.run([FORECAST, "train", "--data", str(DATA), "--target", "temp", "--lookback", "48",
                        "--horizon", "24", "--units", "64", "--epochs", "2", "--models-dir", str(models),
                        "--name", "bench", "--quiet"], check=True, capture_output=True, cwd=ROOT)
        cell = next(models.glob("bench/runs/*/lstm"))
        keras_cell = tmp / "keras-only"
        shutil.copytree(cell, keras_cell)
        (keras_cell / "model.onnx").unlink()

        predict = [FORECAST, "predict", "--horizon", "24", "--output", str(tmp / "f.csv"), "--model"]
        onnx_s = wall([*predict, str(cell)], 5)
        keras_s = wall([*predict, str(keras_cell)], 3)
        help_s = wall([FORECAST, "--help"], 5)
        validate_s = wall([FORECAST, "train", "--config", str(ROOT / "configs" / "default.yaml"), "--epochs", "0"], 5,
                          expect=2)
        print(f"fresh predict: onnx {onnx_s:.2f}s keras {keras_s:.2f}s; --help {help_s:.2f}s, "
              f"config check {validate_s:.2f}s", file=sys.stderr)

        from forecaster.artifacts.cell import load_for_serving
        from forecaster.artifacts.onnx_runtime import OnnxRuntime
        from forecaster.workflows.predict import forecast_windows, load_for_predict

        served = load_for_serving(cell)
        assert served.backend == "onnx"
        series = load_for_predict(served).first  # a file of one series: a panel of one
        values = series.frame[series.columns].to_numpy()
        starts = np.linspace(0, len(values) - 48, 2000).astype(int)
        windows = np.stack([values[s : s + 48] for s in starts])
        scaled = served.scaler.of(series.series_id).transform(windows)
        one = scaled[:1]

        latency, batched = {}, {}
        for threads in (1, None):
            model = OnnxRuntime(cell / "model.onnx", threads=threads)
            latency[threads] = per_call(lambda m=model: m(one), 2000)
            for size in (64, 256, 1024):  # windows/s depends on the batch size: report the best
                big = np.ascontiguousarray(scaled[:size])
                batched[(threads, size)] = size / per_call(lambda m=model, b=big: m(b), max(10, 20000 // size))
        print(f"onnx: single {latency}, batched {batched}", file=sys.stderr)

        from forecaster.models.network.tensorflow_quiet import import_tensorflow_quietly

        import_tensorflow_quietly()
        from forecaster.artifacts.cell import load_cell
        from forecaster.artifacts.onnx_runtime import export_onnx

        keras_loaded = load_cell(cell)
        diff = float(np.abs(forecast_windows(served, windows) - forecast_windows(keras_loaded, windows)).max())
        model = keras_loaded.model
        exports, saves = [], []
        for i in range(3):
            t0 = time.perf_counter()
            export_onnx(model, tmp / f"m{i}.onnx")
            exports.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            model.save(tmp / f"m{i}.keras")
            saves.append(time.perf_counter() - t0)
        export_s, save_s = statistics.median(exports), statistics.median(saves)
        keras_single = per_call(lambda: keras_loaded.model(one, training=False), 200)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    best_threads = min(latency, key=latency.__getitem__)
    best_batch = max(batched, key=batched.__getitem__)
    rows = [
        row("predict: fresh process, 1 series, h=24 (ONNX)", onnx_s, 1.0, "s", better="lower"),
        info("  same with the Keras fallback", f"{keras_s:.2f} s", "-", f"{keras_s / onnx_s:.1f}x slower"),
        row("predict: warm single window (ONNX, 1 thread)", latency[1] * 1e3, 0.2, "ms", better="lower", digits=3),
        info("  single window, default threads / Keras model(x)",
             f"{latency[None] * 1e3:.3f} ms / {keras_single * 1e3:.1f} ms"),
        row(f"predict: batched windows/s (ONNX, {best_batch[1]}/call, "
            f"{'1 thread' if best_batch[0] == 1 else 'default threads'})",
            batched[best_batch], 20000, "win/s", better="higher", digits=0),
        info("  batched windows/s by (threads, batch)",
             ", ".join(f"{t or 'def'},{b}: {v / 1e3:.0f}k" for (t, b), v in batched.items())),
        row("predict: Keras vs ONNX max abs diff", diff, 1e-5, "", better="lower", digits=7),
        row("cli: forecast --help", help_s, 0.5, "s", better="lower"),
        row("cli: config validation (bad config, exit 2)", validate_s, 0.5, "s", better="lower"),
        info("  ONNX export per saved cell", f"{export_s:.2f} s", f"model.save {save_s:.2f} s",
             f"{export_s / save_s:.1f}x"),
        info("  fastest single-window thread setting", "1 thread" if best_threads == 1 else "default"),
    ]
    emit(rows)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
