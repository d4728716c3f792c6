"""Fan-out: a 3-cell x 3-seed compare run sequentially and as Ray tasks, the overhead per task, a simulated cluster.

1. ``sequential``: ``compare(executor="local")``, the nine trials one after another in this process.
2. ``ray local``: ``compare(executor="ray")`` on a Ray started here (every core of this machine).
3. Overhead: Ray's start-up, an empty task's round trip, and a fresh worker's first trial cost
   beyond the trial itself (importing TensorFlow and forecaster in the worker).
4. Simulated cluster: ``ray.cluster_utils.Cluster`` with 1, 2 and 4 one-CPU "nodes" on this machine
   running the same nine trials, for the shape of the scaling curve (on 2 cores, 4 nodes oversubscribe).

Each measurement runs in a fresh process. Usage: ``python bench/ray_fanout.py [--quick] [--epochs N] [--json PATH]``
(``--quick``: 1 epoch per trial unless ``--epochs`` is given; a smoke run)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, emit, info

__all__ = ["main"]

CELLS, SEEDS = ("lstm", "gru", "mlp"), 3


def _cfg(models: str, epochs: int) -> object:
    from forecaster import config

    return config.resolve(overrides={
        "data.path": str(ROOT / "data/seattle_weather_2012_2015.csv"), "data.target": "temp_max",
        "window.lookback": 28, "window.horizon": 7, "model.units": [32], "training.epochs": epochs,
        "training.patience": epochs, "training.batch_size": 64, "model.linear": True,
        "model.baselines": ["naive", "seasonal_naive"], "output.models_dir": models,
    })


def child(mode: str, models: str, epochs: int) -> None:
    import tempfile

    from forecaster.workflows import compare

    cfg = _cfg(models, epochs)
    out: dict[str, object] = {}
    if mode in ("sequential", "ray"):
        t0 = time.perf_counter()
        res = compare.compare(cfg, cells=CELLS, repeats=SEEDS, report=False, executor="local" if mode == "sequential"
                              else "ray", run_dir=Path(tempfile.mkdtemp()) / "run")  # type: ignore[arg-type]
        out["wall_s"] = time.perf_counter() - t0
        out["mase"] = {r["name"]: r["mase"] for r in res.rows if r["kind"] == "model"}
    elif mode == "overhead":
        import ray

        t0 = time.perf_counter()
        ray.init(address="local", include_dashboard=False, log_to_driver=False, configure_logging=False)
        out["init_s"] = time.perf_counter() - t0

        @ray.remote(num_cpus=1)
        def noop() -> int:
            return 1

        ray.get(noop.remote())  # a worker up
        t1 = time.perf_counter()
        ray.get([noop.remote() for _ in range(20)])
        out["empty_task_ms"] = (time.perf_counter() - t1) / 20 * 1000

        @ray.remote(num_cpus=1)
        def first_import() -> float:
            t = time.perf_counter()
            import tensorflow  # noqa: F401

            import forecaster.workflows.executor

            assert forecaster.workflows.executor.EXECUTORS
            return time.perf_counter() - t

        out["worker_import_s"] = ray.get(first_import.remote())
        ray.shutdown()
    else:  # cluster-N
        import ray
        from ray.cluster_utils import Cluster

        nodes = int(mode.split("-")[1])
        cluster = Cluster()
        try:
            for _ in range(nodes):
                cluster.add_node(num_cpus=1)
            ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
            t0 = time.perf_counter()
            compare.compare(cfg, cells=CELLS, repeats=SEEDS, report=False, executor="ray",  # type: ignore[arg-type]
                            run_dir=Path(tempfile.mkdtemp()) / "run")
            out["wall_s"] = time.perf_counter() - t0
        finally:
            ray.shutdown()
            cluster.shutdown()
    print(json.dumps(out))


def _run(mode: str, work: Path, epochs: int) -> dict[str, object]:
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, __file__, "--child", mode, str(work / mode), str(epochs)],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{res.stderr[-3000:]}")
    rec = dict(json.loads(res.stdout.strip().splitlines()[-1]))
    rec["process_s"] = time.perf_counter() - t0
    print(f"{mode}: {json.dumps(rec)}", file=sys.stderr, flush=True)
    return rec


def main(argv: list[str] | None = None) -> int:
    import tempfile

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=None, help="epochs per trial (default 8)")
    p.add_argument("--quick", action="store_true", help="1 epoch per trial unless --epochs is given (a smoke run)")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 1 if args.quick else 8
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    work = Path(tempfile.mkdtemp(prefix="ray-fanout-"))
    r = {m: _run(m, work, args.epochs) for m in ("sequential", "ray", "overhead", "cluster-1", "cluster-2", "cluster-4")}
    seq, fan = float(r["sequential"]["wall_s"]), float(r["ray"]["wall_s"])  # type: ignore[arg-type]
    same = max(abs(a - b) / b for a, b in zip(r["ray"]["mase"].values(), r["sequential"]["mase"].values()))  # type: ignore[union-attr]
    trials = len(CELLS) * SEEDS
    cores = os.cpu_count() or 1
    rows = [
        info("compare 3 cells x 3 seeds, sequential (s)", f"{seq:.1f}", f"{args.epochs} epochs each"),
        info("the same on Ray, local (s)", f"{fan:.1f}", "sequential", f"{fan / seq:.2f}"),
        info("largest MASE difference Ray vs sequential", f"{100 * same:.3f}%", "same seeds"),
        info("Ray start-up (s)", f"{r['overhead']['init_s']:.1f}"),
        info("empty task round trip (ms)", f"{r['overhead']['empty_task_ms']:.1f}"),
        info("a fresh worker's imports (s)", f"{r['overhead']['worker_import_s']:.1f}", "once per worker process"),
        info("overhead per task (s)", f"{(fan * cores - seq) / trials:.2f}",
             f"(Ray wall x {cores} cores - sequential wall) / {trials} trials"),
    ]
    for n in (1, 2, 4):
        w = float(r[f"cluster-{n}"]["wall_s"])  # type: ignore[arg-type]
        rows.append(info(f"simulated cluster, {n} one-CPU node(s) (s)", f"{w:.1f}", "1 node",
                         f"{w / float(r['cluster-1']['wall_s']):.2f}"))  # type: ignore[arg-type]
    emit(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
