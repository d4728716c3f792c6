"""GRU vs LSTM through ONNX Runtime: one-window latency and batch throughput, old and new GRU export.

Builds untrained 64-unit LSTM and GRU forecasters (the project's own architecture, horizon 24) at
each lookback, exports the LSTM and the GRU as ``forecast`` saves them
(:func:`forecaster.artifacts.onnx_runtime.export_onnx`) and the GRU as Keras exports it unaided (the
export before issue 31: its recurrence is an ONNX ``Loop``), then times each in this one process,
interleaved: median of single-window calls, and windows/s at batch 512, ONNX Runtime on one
thread and on its default pool. Prints each graph's recurrent operator and the largest
Keras-vs-ONNX difference.

Usage: ``python bench/gru_onnx.py [--quick] [--lookbacks 48,384]`` (``--quick``: lookback 48 only unless
``--lookbacks`` is given)
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _recurrent_op(path: Path) -> str:
    import onnx

    ops = collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)
    return next((op for op in ("GRU", "LSTM", "Loop", "Scan") if ops.get(op)), "?")


def _latency(rt, one, repeats: int = 300) -> float:
    for _ in range(10):
        rt(one)
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        rt(one)
        samples.append(time.perf_counter() - t0)
    return 1000 * statistics.median(samples)


def _throughput(rt, batch, rounds: int = 5) -> float:
    rt(batch)
    t0 = time.perf_counter()
    for _ in range(rounds):
        rt(batch)
    return rounds * len(batch) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lookbacks", default=None, help="comma-separated (default 48,384)")
    p.add_argument("--quick", action="store_true", help="lookback 48 only unless --lookbacks is given")
    args = p.parse_args(argv)
    if args.lookbacks is None:
        args.lookbacks = "48" if args.quick else "48,384"
    import numpy as np

    from forecaster.artifacts.onnx_runtime import OnnxRuntime, export_onnx
    from forecaster.models.network.cells import build_model

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for lookback in [int(v) for v in args.lookbacks.split(",")]:
            x = np.random.default_rng(0).normal(size=(512, lookback, 1)).astype(np.float32)
            paths = {}
            models = {}
            for cell in ("lstm", "gru"):
                m = build_model(cell=cell, lookback=lookback, n_features=1, horizon=24, residual=False)
                m(x[:1])
                models[cell] = m
                paths[cell] = Path(tmp) / f"{cell}-{lookback}.onnx"
                export_onnx(m, paths[cell])
            paths["gru (plain export)"] = Path(tmp) / f"gru-plain-{lookback}.onnx"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                models["gru"].export(str(paths["gru (plain export)"]), format="onnx", verbose=False)
            models["gru (plain export)"] = models["gru"]
            runtimes = {(k, t): OnnxRuntime(v, threads=t) for k, v in paths.items() for t in (1, None)}
            lat: dict = collections.defaultdict(list)
            thr: dict = collections.defaultdict(list)
            for _ in range(3):  # interleaved rounds: the machine is shared
                for key, rt in runtimes.items():
                    lat[key].append(_latency(rt, x[:1]))
                    thr[key].append(_throughput(rt, x))
            for name, path in paths.items():
                diff = float(np.abs(runtimes[(name, 1)](x[:64]) - np.asarray(models[name](x[:64]))).max())
                rows.append([str(lookback), name, _recurrent_op(path),
                             f"{min(lat[(name, 1)]):.3f}", f"{min(lat[(name, None)]):.3f}",
                             f"{max(thr[(name, 1)]):,.0f}", f"{max(thr[(name, None)]):,.0f}", f"{diff:.1e}"])
    header = ["lookback", "model", "ONNX op", "1-window ms (1 thread)", "1-window ms (default)",
              "win/s b512 (1 thread)", "win/s b512 (default)", "max |keras-onnx|"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for i, r in enumerate([header, *rows]):
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
