"""``forecast predict`` from a fresh process, per row kind of a saved run, for one or more checkouts.

For each folder of ``RUN`` that ``forecast predict`` serves (networks through ONNX, statistical
rows, the naive, seasonal-naive and linear rows) and each checkout, runs that checkout's
``forecast predict --model RUN/<row>`` as a fresh process ``--repeats`` times, interleaved (the
machine is shared), and prints the median wall and CPU (user + system) seconds (the CPU figure is
the one a loaded machine moves least): the before/after of issue 31's "predict from a fresh process
<= 1 s whatever row it serves". A checkout before state format 1 refits a statistical row at every
call; one after serves it from its saved state (``spec.json`` carries both: an older checkout
ignores the state).

Usage::

    python bench/predict_cold.py RUN --repo /path/to/old=before --repo .=after [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _kind(folder: Path) -> str:
    """What a row folder holds, from its manifest (a network's manifest has no ``kind``)."""
    kind = json.loads((folder / "manifest.json").read_text()).get("kind")
    if kind in ("statistical", "baseline"):
        return str(kind)
    backend = "onnx" if (folder / "model.onnx").is_file() or (folder / "series" / "0" / "model.onnx").is_file() else "keras"
    return f"network{' per series' if kind == 'per_series' else ''} ({backend})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="a saved run folder (runs/<id>)")
    p.add_argument("--repo", action="append", default=[], help="PATH or PATH=LABEL (repeatable; default: this checkout)")
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    repos = [(Path(a.partition("=")[0]).resolve(), a.partition("=")[2] or Path(a.partition("=")[0]).resolve().name)
             for a in (args.repo or [f"{Path(__file__).resolve().parents[1]}=this"])]
    rows = sorted(d.name for d in args.run.iterdir() if (d / "manifest.json").is_file())
    times: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    codes: dict[tuple[str, str], int] = {}
    for _ in range(args.repeats):
        for row in rows:
            for repo, label in repos:
                env = {**os.environ, "PYTHONPATH": str(repo), "TF_CPP_MIN_LOG_LEVEL": "3"}
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                done = subprocess.run([args.python, "-m", "forecaster", "predict", "--model", str(args.run / row)],
                                      cwd=repo, env=env, capture_output=True, text=True, timeout=300)
                times.setdefault((row, label), []).append(time.perf_counter() - t0)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu.setdefault((row, label), []).append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
                codes[(row, label)] = done.returncode
    kinds = {row: _kind(args.run / row) for row in rows}
    labels = [label for _, label in repos]
    header = ["row", "kind", *[f"{lb} wall s" for lb in labels], *[f"{lb} CPU s" for lb in labels]]
    header += ["ratio wall", "ratio CPU"] if len(labels) == 2 else []
    body = []
    for row in rows:
        med = [statistics.median(times[(row, lb)]) for lb in labels]
        med_cpu = [statistics.median(cpu[(row, lb)]) for lb in labels]
        line = [row, kinds[row], *[f"{m:.2f}" + ("" if codes[(row, lb)] == 0 else f" (exit {codes[(row, lb)]})")
                                   for m, lb in zip(med, labels)], *[f"{m:.2f}" for m in med_cpu]]
        if len(labels) == 2:
            line += [f"{med[1] / med[0]:.2f}", f"{med_cpu[1] / med_cpu[0]:.2f}"]
        body.append(line)
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    for i, r in enumerate([header, *body]):
        print("  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print(f"median of {args.repeats} fresh processes each, interleaved; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPU(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
