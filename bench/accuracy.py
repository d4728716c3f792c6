"""Accuracy bench: our networks against strong statistical baselines on six real series.

For each shipped series (hourly with daily and weekly cycles, hourly, daily, weekly, monthly,
yearly; see data/README.md) one config: lookback about two seasons (at least 20, at most 168
steps), horizon one season (at most 24; 10 for a yearly series). On that config's
:class:`~forecaster.prepared.Prepared` every row is scored on the same test windows
(``prep.split.first_targets("test")``) by the same MASE (scaled by the training part's
seasonal-naive error):

- ``naive`` and ``seasonal_naive`` (:mod:`forecaster.baselines`);
- each statistical model (:mod:`forecaster.statistical`), fitted once on train + validation and
  filtered forward to each origin;
- ``lstm`` and ``gru``, trained by :func:`forecaster.pipeline.train` (its leaderboard's test MASE).

Printed: one table (series, row, MASE, fit s, predict s) and, per series, the ratio of the best
network's MASE to the best statistical model's (below 1: the network wins). Timings are on a
shared 2-core machine and move +-30 %.

Usage: ``python bench/accuracy.py [--quick] [--series a,b] [--models ets,theta,arima,mstl]
[--history N] [--no-networks] [--json PATH]``

``--quick`` trains the networks for 3 epochs (a smoke run: their MASE is not representative);
``arima`` and ``mstl`` are opt-in (``--models``): on the 8,760-row hourly sample they take about
1.5 minutes and (estimated) 45 minutes for the 1,291 test origins; ``--history N`` caps the rows
that theta's, arima's and mstl's ``forward`` sees (``--history 672``: mstl 2.5 minutes there).
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


def _config(s: Series, models_dir: Path, epochs: int | None) -> Any:
    from forecaster import config, metrics
    from forecaster.prepared import load

    base = config.resolve(overrides={"data.path": str(ROOT / s.path), "data.target": s.target})
    season = base.window.season or metrics.infer_season(load(base).freq)
    lookback, horizon = window_for(season)
    overrides: dict[str, Any] = {
        "data.path": str(ROOT / s.path), "data.target": s.target, "window.lookback": lookback,
        "window.horizon": horizon, "output.models_dir": str(models_dir), "output.name": s.name,
    }
    if epochs is not None:
        overrides["training.epochs"] = epochs
    return config.resolve(overrides=overrides)


def first_call_costs() -> list[tuple[str, float]]:
    """Import and first/second fit of each default model on 200 rows: the one-off costs a run pays."""
    import numpy as np

    t0 = time.perf_counter()
    import statsforecast.models  # noqa: F401

    costs = [("import statsforecast.models", time.perf_counter() - t0)]
    from forecaster import statistical

    y = 10 + np.sin(np.arange(200) * 2 * np.pi / 24) + np.random.default_rng(0).normal(0, 0.1, 200)
    for name in statistical.DEFAULT:
        for which in ("first", "second"):
            t0 = time.perf_counter()
            statistical.make(name).fit_array(y, season=24, freq="h")
            costs.append((f"{name} {which} fit (200 rows)", time.perf_counter() - t0))
    return costs


def bench_series(s: Series, models: list[str], *, history: int | None, networks: bool, epochs: int | None,
                 tmp: Path) -> tuple[list[dict[str, Any]], str]:
    """Score every row on one series; returns the rows and a one-line description."""
    from forecaster import baselines, metrics, statistical
    from forecaster.prepared import prepare

    cfg = _config(s, tmp / "models", epochs)
    prep = prepare(cfg)
    sp, h = prep.split, cfg.window.horizon
    origins = sp.first_targets("test")
    desc = (f"{s.name}: {s.note}, {sp.n} rows, freq {prep.series.freq}, season {prep.season}, "
            f"lookback {sp.lookback}, horizon {h}, {len(origins)} test origins")
    print(desc, file=sys.stderr, flush=True)

    def scored(name: str, kind: str, pred: Any, fit_s: float | None, predict_s: float | None) -> dict[str, Any]:
        mase = metrics.score(prep.test_targets, pred, insample=prep.insample, season=prep.season)["mase"]
        return {"series": s.name, "row": name, "kind": kind, "mase": mase, "fit_s": fit_s, "predict_s": predict_s}

    rows = [scored("naive", "baseline", baselines.naive(prep.y, origins, h), None, None)]
    if prep.season <= sp.lookback and prep.season > 1:
        rows.append(scored("seasonal_naive", "baseline",
                           baselines.seasonal_naive(prep.y, origins, h, season=prep.season), None, None))
    values = prep.y[:, None]
    for name in models:
        params = {} if name == "ets" or history is None else {"history": history}
        model = statistical.make(name, **params)
        print(f"  {name} ...", file=sys.stderr, flush=True)
        try:
            t0 = time.perf_counter()
            model.fit(prep)
            t1 = time.perf_counter()
            pred = model.predict(values, origins, h)
            t2 = time.perf_counter()
        except statistical.FitFailed as exc:
            rows.append({"series": s.name, "row": name, "kind": "statistical", "mase": None, "fit_s": None,
                         "predict_s": None, "failed": exc.reason})
            continue
        rows.append(scored(name, "statistical", pred, t1 - t0, t2 - t1))
    if networks:
        from forecaster import pipeline

        print(f"  networks {', '.join(NETWORKS)} ...", file=sys.stderr, flush=True)
        result = pipeline.train(cfg, prep, cells=list(NETWORKS))
        for r in result.leaderboard:
            if r["kind"] == "model":
                rows.append({"series": s.name, "row": r["name"], "kind": "network", "mase": r["mase"],
                             "fit_s": r["train_seconds"], "predict_s": None})
            elif r["name"] == "naive" and rows[0]["mase"] is not None and r["mase"] is not None:
                # the same windows and the same MASE scale, or the comparison means nothing
                assert abs(r["mase"] - rows[0]["mase"]) < 1e-9, (s.name, r["mase"], rows[0]["mase"])
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


def ratios(rows: list[dict[str, Any]]) -> list[tuple[str, str, str, float | None]]:
    """Per series: ``(series, best network, best statistical, MASE ratio)``."""
    out = []
    for series in dict.fromkeys(r["series"] for r in rows):
        mine = [r for r in rows if r["series"] == series and r["mase"] is not None]
        nets = [r for r in mine if r["kind"] == "network"]
        stats = [r for r in mine if r["kind"] == "statistical"]
        if not nets or not stats:
            continue
        net, stat = min(nets, key=lambda r: r["mase"]), min(stats, key=lambda r: r["mase"])
        out.append((series, net["row"], stat["row"], net["mase"] / stat["mase"] if stat["mase"] else None))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="train the networks for 3 epochs only")
    parser.add_argument("--series", default=",".join(s.name for s in SERIES))
    parser.add_argument("--models", default=None, help="statistical models (default: forecaster.statistical.DEFAULT)")
    parser.add_argument("--history", type=int, default=None, help="rows forward sees for theta/arima/mstl (default: all)")
    parser.add_argument("--no-networks", action="store_true")
    parser.add_argument("--json", default=None, help="also write run_all rows (one per series ratio) here")
    args = parser.parse_args(argv)

    from forecaster import statistical

    models = args.models.split(",") if args.models else list(statistical.DEFAULT)
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
            got, desc = bench_series(by_name[name], models, history=args.history, networks=not args.no_networks,
                                     epochs=3 if args.quick else None, tmp=Path(tmp))
            rows += got
            descs.append(desc)

    print("\n".join(descs), end="\n\n")
    print_table(rows)
    print()
    for series, net, stat, ratio in ratios(rows):
        print(f"{series}: best network {net} / best statistical {stat} MASE = {_fmt(ratio, 2)}")
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
