"""Wall time per stage of ``forecast compare`` with defaults, and test MASE per row (issue 31).

For each data set and each checkout, runs that checkout's own ``forecast compare`` (its code, in a
subprocess, through ``bench/_compare_probe.py``, which times the checkout's stage functions:
load, prepare, the TensorFlow import, each baseline's fit + test forecasts + calibration, each
network's fit(s) and test scoring, the save with its latency timing and report) and prints one
table: a row per stage, a column of seconds and of test MASE per data set and checkout, so a
before and an after print side by side::

    python bench/compare_speed.py --repo /path/to/old=before --repo .=after --data halfhourly
    python bench/compare_speed.py --repo .=after --load bench/results/compare_speed_before.json

Data sets (all shipped under ``data/``, read from this checkout so every checkout sees the same
file): ``halfhourly`` (Victoria's electricity demand, 2014, 17,520 rows), ``panel`` (15 US
employment sectors x 120 months, ``--horizon 12`` as in data/README.md) and ``panel148`` (148 US employment series, monthly, 225-969
months each, the BLS panel of issue 31).

A statistical baseline scored in a worker process while the networks train (``baseline ets (beside the
networks)``, read from the run's progress lines) is shown but not added up: its seconds overlap the networks'.
"other" is the wall time no stage accounts for: Python start-up and imports, config, verdict,
the leaderboard print. The machine is shared: compare columns measured in one run (``--repo``
twice), and say the load (printed). ``--quick`` (a smoke run): ``--data panel --extra '--epochs 2'`` unless
those are given.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().parent / "_compare_probe.py"

DATASETS: dict[str, list[str]] = {
    "halfhourly": ["--data", str(ROOT / "data/vic_electricity_2014_halfhourly.csv")],
    "panel": ["--data", str(ROOT / "data/us_employment_panel.csv"), "--id-col", "sector",
              "--horizon", "12"],  # its README command: 120 months cannot hold 24-step windows
    "panel148": ["--data", str(ROOT / "data/us_employment_148_monthly.csv.gz"), "--id-col", "series"],
}


def run_one(repo: Path, python: str, data: str, extra: list[str], timeout: float) -> dict[str, Any]:
    """One ``forecast compare`` of ``repo`` on ``data``: its stages, rows and exit code."""
    with tempfile.TemporaryDirectory(prefix="compare-speed-") as tmp:
        out = Path(tmp) / "probe.json"
        models = Path(tmp) / "models"
        cmd = [python, str(PROBE), str(repo), str(out), "--", "compare", *DATASETS[data],
               "--models-dir", str(models), "--name", "bench", *extra]
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(repo)}
        lines: list[tuple[float, str]] = []
        load0 = os.getloadavg()[0]
        t0 = time.time()
        proc = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append((time.time() - t0, line.rstrip("\n")))
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = -9
        wall = time.time() - t0
        probe = json.loads(out.read_text()) if out.exists() else {"spans": [], "wall0": t0, "end": wall}
        boards = sorted(models.glob("*/runs/*/leaderboard.json"))
        rows = json.loads(boards[-1].read_text())["rows"] if boards else []
    beside = [(m.group(1), float(m.group(2))) for _, text in lines
              if (m := re.match(r"baseline (\S+): ([\d.]+)s.* beside the networks", text))]
    return {"data": data, "rc": rc, "wall": wall, "load_before": load0, "load_after": os.getloadavg()[0],
            "startup": probe["wall0"] - t0, "probe": probe, "rows": rows, "beside": beside,
            "tail": [text for _, text in lines[-5:]] if rc else []}


def _inside(span: dict[str, Any], outer: list[dict[str, Any]]) -> bool:
    return any(o is not span and o["start"] <= span["start"] and span["end"] <= o["end"] for o in outer)


def stages(result: dict[str, Any]) -> list[tuple[str, float, float | None]]:
    """``(stage, seconds, test MASE or None)`` in run order, then ``other`` and ``total``."""
    spans = result["probe"]["spans"]
    nets = [s for s in spans if s["stage"] == "network"]
    mase = {r["name"]: r.get("mase") for r in result["rows"]}
    out: list[tuple[str, float, float | None]] = []

    def total(stage: str) -> float:  # outermost calls only (a panel's prepare calls the series' prepare)
        same = [s for s in spans if s["stage"] == stage]
        return sum(s["end"] - s["start"] for s in same if not _inside(s, same))

    load = total("load")
    out.append(("load", load, None))
    out.append(("prepare (after load)", total("prepare") - load, None))
    out.append(("import tensorflow", total("import tensorflow"), None))
    for s in spans:
        if s["stage"] == "baseline" and not _inside(s, nets):
            out.append((f"baseline {s['label']}", s["end"] - s["start"], mase.get(s["label"])))
    for s in nets:
        name = s["label"]
        out.append((f"network {name}", s["end"] - s["start"], mase.get(name)))
    inner = total("latency timing") + total("report")
    out.append(("save (export, write)", total("save") - inner, None))
    out.append(("latency timing", total("latency timing"), None))
    out.append(("report", total("report"), None))
    counted = sum(sec for _, sec, _ in out)
    for name, seconds in result.get("beside", []):  # in a worker process while the networks trained: not in the sum
        out.append((f"baseline {name} (beside the networks)", seconds, mase.get(name)))
    out.append(("other (start-up, imports, print)", result["wall"] - counted, None))
    best = min((r for r in result["rows"] if r.get("mase") is not None), key=lambda r: r["mase"], default=None)
    out.append(("total", result["wall"], best["mase"] if best else None))
    return out


def table(results: list[dict[str, Any]]) -> str:
    """One table: a row per stage, seconds and MASE per (data, checkout) column."""
    cols = [(r, dict((k, (s, m)) for k, s, m in stages(r))) for r in results]
    order: list[str] = []
    for _, st in cols:
        for k in st:
            if k not in order and k not in ("other (start-up, imports, print)", "total"):
                order.append(k)
    order += ["other (start-up, imports, print)", "total"]
    header = ["stage"] + [h for r, _ in cols for h in (f"{r['data']}@{r['label']} s", "MASE")]
    body = []
    for k in order:
        line = [k]
        for _, st in cols:
            s, m = st.get(k, (None, None))
            line += ["-" if s is None else f"{s:.1f}", "-" if m is None else f"{m:.3f}"]
        body.append(line)
    body.append(["exit code / load avg"] + [x for r, _ in cols
                                            for x in (str(r["rc"]), f"{r['load_before']:.1f}->{r['load_after']:.1f}")])
    widths = [max(len(x[i]) for x in [header, *body]) for i in range(len(header))]
    text = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths)))
            for line in [header, *body]]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repo", action="append", default=[],
                   help="a checkout to time, PATH or PATH=LABEL (repeatable; default: this checkout)")
    p.add_argument("--python", default=sys.executable, help="the interpreter (its packages) for every checkout")
    p.add_argument("--data", default=None,
                   help=f"comma-separated, from {', '.join(DATASETS)} (default: all)")
    p.add_argument("--extra", default=None, help="extra compare flags for every run, e.g. '--epochs 2' (a smoke run)")
    p.add_argument("--quick", action="store_true", help="--data panel --extra '--epochs 2' unless given (a smoke run)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per compare (default 1800)")
    p.add_argument("--save", help="write the results as JSON (to print later beside another run with --load)")
    p.add_argument("--load", action="append", default=[], help="results saved by --save, printed first")
    args = p.parse_args(argv)
    if args.data is None:
        args.data = "panel" if args.quick else ",".join(DATASETS)
    if args.extra is None:
        args.extra = "--epochs 2" if args.quick else ""
    results: list[dict[str, Any]] = []
    for path in args.load:
        results += json.loads(Path(path).read_text())
    datasets = [d.strip() for d in args.data.split(",") if d.strip()]
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        p.error(f"--data: unknown {', '.join(unknown)}; expected {', '.join(DATASETS)}")
    repos = args.repo or ([] if args.load else [f"{ROOT}=this"])
    measured = []
    for data in datasets:
        for spec in repos:
            path, _, label = spec.partition("=")
            repo = Path(path).resolve()
            print(f"compare_speed: {data} on {repo} ...", file=sys.stderr, flush=True)
            r = run_one(repo, args.python, data, args.extra.split(), args.timeout)
            r["label"] = label or repo.name
            r["commit"] = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                                         capture_output=True, text=True).stdout.strip()
            if r["rc"]:
                print(f"compare_speed: {data}@{r['label']} exit {r['rc']}: " + " | ".join(r["tail"]), file=sys.stderr)
            measured.append(r)
            if args.save:  # after every run: a long bench interrupted keeps what it measured
                Path(args.save).write_text(json.dumps(measured, indent=1))
    results += measured
    if not results:
        p.error("nothing to print")
    print(f"{os.cpu_count()} CPU(s); " + "; ".join(f"{r['data']}@{r['label']} = commit {r.get('commit', '?')}"
                                              for r in results))
    print(table(results))
    return 0 if all(r["rc"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
