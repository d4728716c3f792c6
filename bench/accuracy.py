"""Accuracy bench: our networks against strong statistical baselines on six real series.

For each shipped series (hourly with daily and weekly cycles, hourly, daily, weekly, monthly,
yearly; see data/README.md) one config: horizon one season (at most 24; 10 for a yearly series)
and the product's default lookback (:func:`forecaster.workflows.train.prepare_run`: the season-aware
candidate whose ``linear`` row has the lowest validation loss; ``--fixed-lookback``: the former bench
rule, two seasons within 20..168 steps). On that config's
:class:`~forecaster.data.prepared.Prepared` every row is scored on the same test windows
(``prep.split.first_targets("test")``) by the same MASE (scaled by the training part's
seasonal-naive error):

- ``naive``, ``seasonal_naive`` and ``linear`` (:mod:`forecaster.models.naive`, :mod:`forecaster.models.linear`);
- each statistical model (:mod:`forecaster.models.statistical`), fitted once on train + validation and
  filtered forward to each origin;
- ``lstm`` and ``gru``, trained by :func:`forecaster.workflows.train.train` (its leaderboard's test MASE).

Printed: one table (series, row, MASE, fit s, predict s) and, per series, the ratio of the best
network's MASE to the best statistical model's (below 1: the network wins). Timings are on a
shared 2-core machine and move +-30 %.

Usage: ``python bench/accuracy.py [--quick] [--series a,b] [--models ets,theta,arima,mstl]
[--no-networks] [--json PATH]``

``--quick`` trains the networks for 3 epochs (a smoke run: their MASE is not representative);
``arima`` and ``mstl`` are opt-in (``--models``): on the 8,760-row hourly sample they take about
1.5 minutes and (estimated) 45 minutes for the 1,291 test origins. Theta filters over the last
``Theta.history_cap`` rows (:mod:`forecaster.models.catalog`), as in the product.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Row, info

__all__ = ["main", "SERIES", "Series", "window_for"]

NETWORKS = ("lstm", "gru")


@dataclass(frozen=True)
class Series:
    name: str
    path: str  # relative to the repository root
    target: str
    note: str


SERIES = (
    Series("sf_traffic", "data/sf_traffic_2016_hourly.csv", "occupancy", "hourly, daily + weekly cycle"),
    Series("seattle_temps", "data/seattle_temps_2010.csv", "temp", "hourly, daily cycle"),
    Series("seattle_weather", "data/seattle_weather_2012_2015.csv", "temp_max", "daily"),
    Series("co2", "data/co2_mauna_loa_weekly.csv", "co2", "weekly, trend + yearly cycle"),
    Series("elnino", "data/elnino_sst_monthly.csv", "sst", "monthly"),
    Series("sunspots", "data/sunspots_yearly.csv", "sunspots", "yearly, ~11-year cycle"),
)


def window_for(season: int) -> tuple[int, int]:
    """``(lookback, horizon)`` for a season: two seasons (20..168 steps) -> one season (<= 24; 10 if none)."""
    lookback = min(max(2 * season, 20), 168)
    horizon = min(season, 24) if season > 1 else 10
    return lookback, horizon


def _config(s: Series, models_dir: Path, epochs: int | None, *, fixed_lookback: bool = False) -> Any:
    """The series' config: horizon one season (``window_for``); lookback the product's default (from the
    seasons), or with ``fixed_lookback`` the former rule (two seasons, 20..168 steps)."""
    from forecaster import config
    from forecaster.data import seasons
    from forecaster.data.load import load

    base = config.resolve(overrides={"data.path": str(ROOT / s.path), "data.target": s.target})
    season = base.window.season or seasons.infer_season(load(base).first.freq)
    lookback, horizon = window_for(season)
    overrides: dict[str, Any] = {
        "data.path": str(ROOT / s.path), "data.target": s.target, "window.horizon": horizon,
        "output.models_dir": str(models_dir), "output.name": s.name,
        **({"window.lookback": lookback} if fixed_lookback else {}),
    }
    if epochs is not None:
        overrides["training.epochs"] = epochs
    return config.resolve(overrides=overrides)


def default_statistical() -> list[str]:
    """The statistical models of the product's default line-up (``forecaster.models.catalog``)."""
    from forecaster.models import catalog, statistical

    return [name for name in catalog.default_baselines() if name in statistical.STATISTICAL]


def first_call_costs() -> list[tuple[str, float]]:
    """Import and first/second fit of each default model on 200 rows: the one-off costs a run pays."""
    import numpy as np

    t0 = time.perf_counter()
    import statsforecast.models  # noqa: F401

    costs = [("import statsforecast.models", time.perf_counter() - t0)]
    from forecaster.models import statistical

    y = 10 + np.sin(np.arange(200) * 2 * np.pi / 24) + np.random.default_rng(0).normal(0, 0.1, 200)
    for name in default_statistical():
        for which in ("first", "second"):
            t0 = time.perf_counter()
            statistical.make(name).fit_array(y, season=24, freq="h")
            costs.append((f"{name} {which} fit (200 rows)", time.perf_counter() - t0))
    return costs


def bench_series(s: Series, models: list[str], *, networks: bool, epochs: int | None,
                 tmp: Path, fixed_lookback: bool = False) -> tuple[list[dict[str, Any]], str]:
    """Score every row on one series through the product's own path; returns the rows and a description.

    The rows are those of ``forecast train --baselines naive,seasonal_naive,linear,<models>``: one
    prepared split, one scoring function (:func:`forecaster.evaluation.scoring.score_row`), the same
    windows and MASE scale for networks, baselines and statistical models alike.
    """
    import dataclasses

    from forecaster.models import statistical
    from forecaster.workflows.train import prepare_run, score_baselines, train

    cfg = _config(s, tmp / "models", epochs, fixed_lookback=fixed_lookback)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(
        cfg.model, baselines=("naive", "seasonal_naive", "linear", *models)))
    prep = prepare_run(cfg)
    item = prep.single
    sp, h = item.split, cfg.window.horizon
    origins = sp.first_targets("test")
    desc = (f"{s.name}: {s.note}, {sp.n} rows, freq {item.series.freq}, season {prep.season}, "
            f"lookback {sp.lookback}, horizon {h}, {len(origins)} test origins")
    print(desc, file=sys.stderr, flush=True)
    if networks:
        print(f"  baselines {', '.join(cfg.model.baselines)}; networks {', '.join(NETWORKS)} ...",
              file=sys.stderr, flush=True)
        board = train(cfg, prep, cells=list(NETWORKS)).leaderboard
    else:
        board = [{"name": b.name, "kind": "baseline", **b.scores} for b in score_baselines(prep, cfg)]
    rows = []
    for r in board:
        kind = "network" if r["kind"] == "model" else "statistical" if r["name"] in statistical.STATISTICAL else "baseline"
        row = {"series": s.name, "row": r["name"], "kind": kind, "mase": r.get("mase"),
               "fit_s": r.get("train_seconds") if kind == "network" else r.get("fit_seconds"),
               "predict_s": r.get("predict_seconds")}
        if r.get("error"):
            row["failed"] = r["error"]
        rows.append(row)
    return rows, desc


def _fmt(v: float | None, digits: int) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def print_table(rows: list[dict[str, Any]]) -> None:
    header = ["series", "row", "MASE", "fit s", "predict s"]
    body = [[r["series"], r["row"], f"failed: {r['failed']}" if "failed" in r else _fmt(r["mase"], 3),
             _fmt(r["fit_s"], 1), _fmt(r["predict_s"], 2)] for r in rows]
    widths = [max(len(x[i]) for x in [header, *body]) for i in range(len(header))]
    for i, line in enumerate([header, *body]):
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def ratios(rows: list[dict[str, Any]], versus: str = "statistical") -> list[tuple[str, str, str, float | None]]:
    """Per series: ``(series, best network, best row of kind ``versus``, MASE ratio)``."""
    out = []
    for series in dict.fromkeys(r["series"] for r in rows):
        mine = [r for r in rows if r["series"] == series and r["mase"] is not None]
        nets = [r for r in mine if r["kind"] == "network"]
        stats = [r for r in mine if r["kind"] == versus]
        if not nets or not stats:
            continue
        net, stat = min(nets, key=lambda r: r["mase"]), min(stats, key=lambda r: r["mase"])
        out.append((series, net["row"], stat["row"], net["mase"] / stat["mase"] if stat["mase"] else None))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="train the networks for 3 epochs only")
    parser.add_argument("--series", default=",".join(s.name for s in SERIES))
    parser.add_argument("--models", default=None, help="statistical models (default: the product's default line-up)")
    parser.add_argument("--no-networks", action="store_true")
    parser.add_argument("--fixed-lookback", action="store_true",
                        help="the former lookback rule (two seasons, 20..168 steps) instead of the product's default")
    parser.add_argument("--json", default=None, help="also write run_all rows (one per series ratio) here")
    args = parser.parse_args(argv)

    from forecaster.models import statistical

    models = args.models.split(",") if args.models else default_statistical()
    for name in models:
        statistical.make(name)  # an unknown name fails now, not after an hour of benching
    by_name = {s.name: s for s in SERIES}
    unknown = [n for n in args.series.split(",") if n not in by_name]
    if unknown:
        parser.error(f"--series: unknown {', '.join(unknown)}; expected some of {', '.join(by_name)}")

    costs = first_call_costs()
    rows: list[dict[str, Any]] = []
    descs: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.series.split(","):
            got, desc = bench_series(by_name[name], models, networks=not args.no_networks,
                                     epochs=3 if args.quick else None, tmp=Path(tmp),
                                     fixed_lookback=args.fixed_lookback)
            rows += got
            descs.append(desc)

    print("\n".join(descs), end="\n\n")
    print_table(rows)
    print()
    for series, net, stat, ratio in ratios(rows):
        print(f"{series}: best network {net} / best statistical {stat} MASE = {_fmt(ratio, 2)}")
    for series, net, other, ratio in ratios(rows, "baseline"):
        print(f"{series}: best network {net} / best simple baseline {other} MASE = {_fmt(ratio, 2)}")
    print("\nfirst-call costs: " + "; ".join(f"{what} {sec:.2f}s" for what, sec in costs))
    if args.quick and not args.no_networks:
        print("(--quick: networks trained 3 epochs only; their MASE is a smoke test, not a result)")
    if args.json:
        bench_rows: list[Row] = [info(f"accuracy {series}: {net} / {stat} MASE", _fmt(ratio, 2))
                                 for series, net, stat, ratio in ratios(rows)]
        _write_json(bench_rows, args.json)
    return 0


def _write_json(rows: list[Row], path: str) -> None:
    """The rows in ``run_all``'s hand-off format (``common.emit`` would print its own table too)."""
    import json
    from dataclasses import asdict

    Path(path).write_text(json.dumps([asdict(r) for r in rows]), encoding="utf-8")


if __name__ == "__main__":
    raise SystemExit(main())
