"""``import forecaster`` from a fresh process: under 0.5 s, no TensorFlow (issue 27).

Runs, interleaved ``--repeats`` times (the machine is shared), fresh interpreters that do nothing,
``import forecaster``, ``import forecaster`` plus the first look-up of ``fc.compare`` (which imports
:mod:`forecaster.api` only), and ``import pandas`` for scale; prints the median wall time of each and
the cost of the package over a bare interpreter. A child also reports whether TensorFlow, Keras or
pandas were imported. The target: the package's own cost <= 0.5 s, and none of the three loaded.

Usage: ``python bench/import_time.py [--repeats 9] [--json PATH]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from common import ROOT, Row, emit, info, row

CASES = {
    "bare interpreter": "pass",
    "import forecaster": "import forecaster",
    "import forecaster; fc.compare": "import forecaster as fc; fc.compare",
    "import pandas (for scale)": "import pandas",
}
HEAVY = "import sys, forecaster as fc; fc.compare; print(','.join(m for m in ('tensorflow', 'keras', 'pandas') if m in sys.modules))"


def wall(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--json", help="write the rows here too (bench/run_all.py)")
    args = p.parse_args(argv)
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.repeats):
        for name, code in CASES.items():
            times[name].append(wall(code))
    med = {name: statistics.median(v) for name, v in times.items()}
    loaded = subprocess.run([sys.executable, "-c", HEAVY], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout.strip()
    rows = [info(f"{name} (median of {args.repeats}, wall)", f"{med[name]:.3f} s") for name in CASES]
    rows.append(row("import forecaster over a bare interpreter", med["import forecaster"] - med["bare interpreter"],
                    0.5, "s", better="lower", digits=3))
    rows.append(row("... and the first fc.compare look-up", med["import forecaster; fc.compare"]
                    - med["bare interpreter"], 0.5, "s", better="lower", digits=3))
    rows.append(Row("modules loaded by import + fc.compare", loaded or "none of tensorflow, keras, pandas", "none", "-",
                    "pass" if not loaded else "FAIL"))
    emit(rows, ["--json", args.json] if args.json else [])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
