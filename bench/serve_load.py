"""``forecast serve`` under load: requests/s and p50/p99 latency at concurrency 1, 8 and 32 over loopback.

Two models, trained here in a temporary folder (nothing is written to the repository): a single
hourly series (an MLP, ONNX) and a global MLP over a generated panel of 1,000 daily series (ONNX;
one request forecasts every series). The server runs as its own process (``forecast serve --port
0``), the client (:mod:`load_client`: one keep-alive connection per thread) in this one; each cell
of the table is bounded by ``--count`` requests and ``--seconds`` seconds. ``forecast predict
--format json`` for the same model is timed too (a fresh process per forecast: what a consumer
did before the server). The machine's load average is printed before and after.

Usage: ``python bench/serve_load.py [--count 400] [--seconds 10] [--workers 1]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT
from load_client import hammer, request

FORECAST = ROOT / ".venv" / "bin" / "forecast"


def single_series(path: Path, n: int = 2000) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(n)
    y = 10 + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, n)
    pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n, freq="h"), "y": y.round(4)}).to_csv(path, index=False)


def panel(path: Path, series: int = 1000, n: int = 120) -> None:
    rng = np.random.default_rng(1)
    t = np.arange(n)
    parts = []
    for k in range(series):
        level = rng.uniform(5, 50)
        y = level + 0.2 * level * np.sin(2 * np.pi * (t + k) / 7) + rng.normal(0, 0.05 * level, n)
        parts.append(pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n, freq="D"), "store": f"s{k:04d}",
                                   "y": y.round(3)}))
    pd.concat(parts).to_csv(path, index=False)


def train(data: Path, models: Path, name: str, *extra: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(FORECAST), "train", "--cell", "mlp", "--data", str(data), "--target", "y", "--epochs", "2",
                    "--units", "16", "--baselines", "naive", "--levels", "80,95", "--models-dir", str(models),
                    "--name", name, "--quiet", *extra], check=True, capture_output=True, text=True, timeout=900)
    return time.perf_counter() - t0


def start(models: Path, workers: int) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([str(FORECAST), "serve", "--models-dir", str(models), "--port", "0", "--workers",
                             str(workers)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    url = line.split("listening on ")[1].split()[0]
    deadline = time.monotonic() + 120
    while True:
        try:
            if request(url + "/readyz", timeout=5)[0] == 200:
                return proc, url
        except OSError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError(f"the server did not get ready: {line}")
        time.sleep(0.2)


def cold_predict(models: Path, name: str, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([str(FORECAST), "predict", "--model", str(models / name), "--format", "json"], check=True,
                       capture_output=True, timeout=300)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=400, help="requests per cell, at most")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds per cell, at most")
    p.add_argument("--workers", type=int, default=1, help="server processes (forecast serve --workers)")
    p.add_argument("--concurrency", default="1,8,32")
    args = p.parse_args(argv)
    levels = [1, 8, 32] if not args.concurrency else [int(c) for c in args.concurrency.split(",")]
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        single_series(root / "single.csv")
        panel(root / "panel.csv")
        models = root / "models"
        t_single = train(root / "single.csv", models, "single", "--lookback", "48", "--horizon", "24")
        t_panel = train(root / "panel.csv", models, "panel1000", "--id-col", "store", "--lookback", "28",
                        "--horizon", "14")
        cold = {name: cold_predict(models, name) for name in ("single", "panel1000")}
        proc, url = start(models, args.workers)
        try:
            cases = [("single series, h=24", "single", {}),
                     ("1,000-series panel, h=14", "panel1000", {}),
                     ("panel, one series asked", "panel1000", {"series": ["s0042"]})]
            sizes = {}
            for label, name, body in cases:
                status, answer = request(f"{url}/v1/models/{name}/forecast", "POST", json.dumps(body).encode())
                assert status == 200, answer[:300]
                sizes[label] = (len(json.loads(answer)["forecast"]), len(answer))
                for c in levels:
                    r = hammer(f"{url}/v1/models/{name}/forecast", method="POST", body=json.dumps(body).encode(),
                               concurrency=c, count=args.count, seconds=args.seconds)
                    rows.append((label, c, r))
        finally:
            proc.terminate()
            proc.wait(30)
    load_after = os.getloadavg()
    print(f"forecast serve bench: {os.cpu_count()} CPUs, server --workers {args.workers}, load average before "
          f"{load_before[0]:.2f}, after {load_after[0]:.2f}; training took {t_single:.0f} s (single) and "
          f"{t_panel:.0f} s (1,000-series panel)")
    for label, (records, size) in sizes.items():
        print(f"  {label}: {records} forecast rows, {size / 1024:.0f} kB of JSON per answer")
    print(f"  forecast predict --format json, a fresh process: single {cold['single']:.2f} s, "
          f"panel {cold['panel1000']:.2f} s (median of 3)")
    header = (f"{'case':<28} {'conc':>4} {'requests':>8} {'failed':>6} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  "
              "failures by status (0: no answer)")
    print(header)
    print("-" * len(header))
    for label, c, r in rows:
        bad = ", ".join(f"{n}x {s}" for s, n in sorted(r.statuses.items()) if not 200 <= s < 300)
        print(f"{label:<28} {c:>4} {r.ok:>8} {r.failed:>6} {r.rps:>8.1f} {r.percentile(50) * 1e3:>8.1f} "
              f"{r.percentile(99) * 1e3:>8.1f}  {bad}")
    return 0 if all(r.failed == 0 for _, _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
