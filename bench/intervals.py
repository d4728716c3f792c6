"""Interval bench: measured coverage, width and Winkler score of every row's conformal intervals.

For each shipped series (the configs of ``bench/accuracy.py``: lookback about two seasons,
horizon one season) the product's own path, :func:`forecaster.workflows.train.train` with
``--levels 80,95``, calibrates each row's split-conformal intervals on the validation windows and
measures them on the test windows: coverage (nominal 80 / 95 %), mean width and Winkler score.
Beside them, statsforecast's own (model-based) AutoETS intervals at the same test origins
(``forward(..., level=[80, 95])`` of the model fitted once on train + validation), so the
conformal path can be compared with the library's native one.

Usage: ``python bench/intervals.py [--quick] [--series a,b] [--epochs N] [--no-networks] [--json PATH]``
(``--quick``: networks trained 3 epochs unless ``--epochs`` is given, as ``accuracy.py --quick``)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import SERIES, _config

LEVELS = (80, 95)


def native_ets(prep: Any) -> dict[str, Any]:
    """statsforecast AutoETS's own intervals at every test origin, measured like the conformal ones."""
    import numpy as np

    from forecaster.evaluation import intervals
    from forecaster.models import statistical
    from forecaster.models.statistical_base import quiet

    model = statistical.make("ets").fit(prep)
    item = prep.single
    h, origins = item.split.horizon, item.origins("test")
    bounds = {level: (np.empty((len(origins), h)), np.empty((len(origins), h))) for level in LEVELS}
    with quiet():
        for i, t in enumerate(origins):
            out = model.model_.forward(y=item.y[:t], h=h, level=list(LEVELS))
            for level in LEVELS:
                bounds[level][0][i], bounds[level][1][i] = out[f"lo-{level}"], out[f"hi-{level}"]
    y = item.targets("test")
    return {"row": "ets (statsforecast native)",
            **intervals.flat({level: intervals.measure(y, lo, hi, level) for level, (lo, hi) in bounds.items()})}


def bench_series(s: Any, *, networks: bool, epochs: int | None, tmp: Path) -> list[dict[str, Any]]:
    from forecaster.workflows.train import prepare_run, score_baselines, train

    cfg = _config(s, tmp / "models", epochs)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(
        cfg.model, baselines=("naive", "seasonal_naive", "linear", "ets", "theta")),
        forecast=dataclasses.replace(cfg.forecast, levels=LEVELS))
    prep = prepare_run(cfg)
    item = prep.single
    print(f"{s.name}: {item.split.n} rows, season {prep.season}, horizon {item.split.horizon}, "
          f"{len(item.origins('val'))} validation / {len(item.origins('test'))} test windows", file=sys.stderr, flush=True)
    if networks:
        board = train(cfg, prep, cells=["gru"]).leaderboard
    else:
        board = [{"name": b.name, **b.scores} for b in score_baselines(prep, cfg)]
    rows = [{"series": s.name, "row": r["name"], "mase": r.get("mase"),
             **{k: r.get(k) for k in (f"{m}_{lv}" for lv in LEVELS for m in ("coverage", "width", "winkler"))}}
            for r in board]
    rows.append({"series": s.name, "mase": None, **native_ets(prep)})
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", help="comma-separated names (default: all)")
    p.add_argument("--epochs", type=int, default=None, help="network epoch cap (default: the product's)")
    p.add_argument("--no-networks", action="store_true", help="baselines and statistical rows only")
    p.add_argument("--quick", action="store_true", help="networks trained 3 epochs unless --epochs is given")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = p.parse_args(argv)
    if args.quick and args.epochs is None:
        args.epochs = 3
    wanted = set(args.series.split(",")) if args.series else None

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in SERIES:
            if wanted is None or s.name in wanted:
                rows += bench_series(s, networks=not args.no_networks, epochs=args.epochs, tmp=Path(tmp))

    def pct(v: Any) -> str:
        return "-" if v is None else f"{100 * v:5.1f}%"

    def num(v: Any) -> str:
        return "-" if v is None else f"{v:.3g}"

    header = f"{'series':16} {'row':28} {'MASE':>6} " + " ".join(
        f"{'cov ' + str(lv):>7} {'width ' + str(lv):>9} {'Winkler ' + str(lv):>11}" for lv in LEVELS)
    print(header)
    for r in rows:
        print(f"{r['series']:16} {r['row']:28} {num(r['mase']):>6} " + " ".join(
            f"{pct(r.get(f'coverage_{lv}')):>7} {num(r.get(f'width_{lv}')):>9} {num(r.get(f'winkler_{lv}')):>11}"
            for lv in LEVELS))
    for lv in LEVELS:
        gaps = [abs(r[f"coverage_{lv}"] - lv / 100) for r in rows
                if r.get(f"coverage_{lv}") is not None and "native" not in r["row"]]
        if gaps:
            print(f"conformal {lv}%: mean |coverage - nominal| {100 * sum(gaps) / len(gaps):.1f} points over "
                  f"{len(gaps)} rows")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
