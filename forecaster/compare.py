"""``forecast compare``: several cells on the same series, windows, scaler, epochs cap and seeds.

Every cell is trained ``repeats`` times (seeds ``seed, seed+1, ...``) on the one prepared
split, scored on the same test windows as the naive and seasonal-naive baselines, and timed
(training throughput, single-window and batch inference). The leaderboard reports mean ± std
over seeds and :func:`verdict` declares a winner only when the gap between the two best cells
exceeds their seed-to-seed spread.

Example:
    >>> res = compare(cfg, cells=["lstm", "gru", "mlp"], repeats=3)  # doctest: +SKIP
    >>> print(res.verdict)  # doctest: +SKIP
    GRU: MASE 0.82 ± 0.01 vs LSTM 0.85 ± 0.04: no clear difference (within seed-to-seed spread).
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from forecaster import intervals, pipeline
from forecaster.artifacts.run import partial
from forecaster.config import RunConfig
from forecaster.errors import ConfigError, TrainingError
from forecaster.executor import Failure, Outcome, TrialSpec, materialize, run_trials

__all__ = ["Trial", "CompareResult", "compare", "verdict", "aggregate", "COMPARE_COLUMNS", "METRICS"]

Progress = Callable[[str], None]
METRICS = ("mae", "rmse", "smape", "mase")

COMPARE_COLUMNS = (
    "name", "kind", "params", "seeds", "epochs_run", "best_epoch", "train_seconds", "seconds_per_epoch",
    "train_windows_per_s", "inference_backend", "latency_single_ms", "batch_windows_per_s",
    *[f"{m}{suffix}" for m in METRICS for suffix in ("", "_std", "_vs_seasonal_naive")],
    "mape", "backtest_mase", "backtest_mase_std", "fit_seconds", "predict_seconds", "stopped", "error",
)


@dataclass
class Trial:
    """One cell trained with one seed, with its training throughput."""

    cell: str
    seed: int
    result: pipeline.CellResult
    train_windows_per_s: float
    row: Any = None  # a panel's per-series scores (panels.PanelScored)

    @property
    def name(self) -> str:
        """Leaderboard name: cell plus non-default strategy (``gru-recursive``)."""
        return self.result.name


@dataclass
class CompareResult:
    """A saved comparison: run directory, leaderboard rows, the verdict, and every trial."""

    run_dir: Path
    rows: list[dict[str, Any]]
    verdict: str
    conditions: dict[str, Any]
    trials: list[Trial] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _timed_inference(model: Any, prep: pipeline.Prepared, batch_size: int, strategy: str) -> tuple[float, float]:
    """Warm single-window latency (median ms) and batch throughput (test windows/s), full horizon.

    ``model`` is what ``forecast predict`` serves: an ONNX Runtime session (or the Keras model).
    """
    from forecaster.strategies import predict_windows

    sp = prep.split

    def run(x: np.ndarray) -> np.ndarray:
        return predict_windows(lambda w: model(w, training=False), x, strategy=strategy, horizon=sp.horizon)

    one = prep.scaled[-sp.lookback :][None, ...]
    for _ in range(3):
        run(one)
    samples = []
    for _ in range(20):
        t0 = time.perf_counter()
        run(one)
        samples.append(time.perf_counter() - t0)
    batches = [x.numpy() for x, _ in prep.dataset("test", batch_size=batch_size)]
    run(batches[0])  # warm
    t0 = time.perf_counter()
    for x in batches:
        run(x)
    seconds = time.perf_counter() - t0
    n = len(prep.split.starts("test"))
    return 1000 * statistics.median(samples), n / seconds if seconds > 0 else float("nan")


def _run(specs: Sequence[TrialSpec], data: Any, cfg: RunConfig, n_train: int, *, executor: str,
         address: str | None, progress: Progress | None) -> tuple[list[Trial], list[Failure]]:
    """Every trial on ``executor`` (see :mod:`forecaster.executor`): the finished ones as trials, and the failures.

    Raises:
        TrainingError: every trial failed (nothing to save).
    """
    outcomes = run_trials(specs, data, cfg, executor=executor, address=address, progress=progress)
    failures = [o for o in outcomes if isinstance(o, Failure)]
    done = [o for o in outcomes if isinstance(o, Outcome)]
    if not done:
        raise TrainingError(f"every trial failed; the first: {failures[0].spec.cell} seed {failures[0].spec.seed}: "
                            f"{failures[0].reason}")
    trials = [Trial(cell=o.spec.cell, seed=o.spec.seed, result=o.result, row=o.row,  # windows x epochs of every fit:
                    train_windows_per_s=(getattr(o.result.fit, "windows_trained", 0)  # a network per series: its own
                                         or n_train * o.result.epochs_total) / o.result.train_seconds)
              for o in done]
    return trials, failures


def _add_failures(rows: list[dict[str, Any]], failures: Sequence[Failure]) -> None:
    """A failed trial is said in its cell's row, or is a row of its own when every seed of the cell failed."""
    from forecaster.network import leaderboard_name

    for f in failures:
        name = leaderboard_name(f.spec.cell, f.spec.strategy)
        note = f"seed {f.spec.seed} failed: {f.reason}"
        row = next((r for r in rows if r["name"] == name and r["kind"] == "model"), None)
        if row is None:
            rows.append({"name": name, "kind": "model", "seeds": str(f.spec.seed), "mase": None, "error": note})
        else:
            row["error"] = f"{row['error']}; {note}" if row.get("error") else note


def _time_saved_cells(run_dir: Path, rows: list[dict[str, Any]], prep: pipeline.Prepared, batch_size: int) -> None:
    """Inference latency of each saved cell, loaded the way ``forecast predict`` loads it."""
    from forecaster.artifacts.cell import load_for_serving

    for row in rows:
        if row["kind"] != "model" or not (run_dir / row["name"]).is_dir():  # a cell whose every seed failed
            continue
        loaded = load_for_serving(run_dir / row["name"])
        single, batch = _timed_inference(loaded.model, prep, batch_size, loaded.strategy)
        row.update(inference_backend=loaded.backend, latency_single_ms=single, batch_windows_per_s=batch)


def _mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None
    return float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0


def still_improving(val_loss: Sequence[float], *, cap: int, patience: int, rel: float = 0.005) -> bool:
    """Whether a fit that used every epoch up to ``cap`` was still improving when it was cut.

    Read from the validation curve: the best loss of the last ``max(patience, 1)`` epochs beats
    the best before them by more than ``rel`` (0.5 %). A best epoch that falls late by a hair
    does not count, and neither does a fit that stopped early.

    Example:
        >>> still_improving([1.0, 0.8, 0.6, 0.5, 0.4], cap=5, patience=2)
        True
        >>> still_improving([1.0, 0.5, 0.5, 0.5, 0.4999], cap=5, patience=2)
        False
    """
    losses = [v for v in val_loss if v is not None]
    window = max(patience, 1)
    if len(losses) < cap or len(losses) <= window:
        return False
    before, last = min(losses[:-window]), min(losses[-window:])
    return last < before * (1 - rel) if before > 0 else last < before


def aggregate(trials: Sequence[Trial], base: dict[str, dict[str, Any]], *, epochs_cap: int | None = None,
              patience: int = 0) -> list[dict[str, Any]]:
    """Leaderboard rows: one per cell (mean ± std over seeds) and one per baseline; best MASE first."""
    ref = base.get("seasonal_naive", {})
    by_cell: dict[str, list[Trial]] = {}
    for t in trials:
        by_cell.setdefault(t.name, []).append(t)
    rows = []
    for cell, group in by_cell.items():
        fits = [t.result.fit for t in group]
        row: dict[str, Any] = {
            "name": cell,
            "kind": "model",
            "params": group[0].result.params,
            "seeds": ",".join(str(t.seed) for t in group),
            "epochs_run": float(np.mean([f.epochs_run for f in fits])),
            "best_epoch": float(np.mean([f.best_epoch for f in fits])),
            "train_seconds": float(np.mean([t.result.train_seconds for t in group])),
            "seconds_per_epoch": float(np.mean([t.result.train_seconds / t.result.epochs_total for t in group])),
            "train_windows_per_s": float(np.mean([t.train_windows_per_s for t in group])),
            "mape": _mean_std([t.result.scores.get("mape") for t in group])[0],
            "still_improving": any(still_improving(f.history["val_loss"].tolist(), cap=epochs_cap, patience=patience)
                                   for f in fits) if epochs_cap else False,
            # why a fit stopped before early stopping would have (no gain over its linear start, a time budget)
            "stopped": "; ".join(dict.fromkeys(r for f in fits if (r := getattr(f, "stop_reason", None)))) or None,
        }
        for m in METRICS:
            mean, std = _mean_std([t.result.scores.get(m) for t in group])
            row[m], row[f"{m}_std"] = mean, std
            row[f"{m}_vs_seasonal_naive"] = mean / ref[m] if (mean is not None and ref.get(m)) else None
        for k in intervals.flat_keys([t.result.scores for t in group]):  # interval coverage, width, Winkler
            row[k] = _mean_std([t.result.scores.get(k) for t in group])[0]
        rows.append(row)
    for name, scores in base.items():
        row = {"name": name, "kind": "baseline", "mape": scores.get("mape"), "error": scores.get("error"),
               "fit_seconds": scores.get("fit_seconds"), "predict_seconds": scores.get("predict_seconds")}
        for m in METRICS:
            row[m], row[f"{m}_std"] = scores.get(m), None
            row[f"{m}_vs_seasonal_naive"] = scores[m] / ref[m] if (scores.get(m) is not None and ref.get(m)) else None
        row.update({k: scores[k] for k in intervals.flat_keys([scores])})
        rows.append(row)
    return sorted(rows, key=lambda r: (r["mase"] is None, r["mase"] if r["mase"] is not None else 0.0))


def _add_backtest_columns(rows: list[dict[str, Any]], results: dict[str, list[Any]]) -> None:
    """``backtest_mase`` (mean over folds, then over seeds) and its seed-to-seed std, per row."""
    first = next(iter(results.values()))[0].summary()
    for row in rows:
        if row["kind"] == "model":
            per_seed = [r.summary()[row["name"]]["mase"] for r in results[row["name"]]]
            row["backtest_mase"], row["backtest_mase_std"] = _mean_std(per_seed)
        else:
            row["backtest_mase"], row["backtest_mase_std"] = first.get(row["name"], {}).get("mase"), None


def _label(row: dict[str, Any]) -> str:
    """How a row is named in the verdict: networks in capitals, baselines in words."""
    return str(row["name"]).replace("_", " ") if row.get("kind") == "baseline" else str(row["name"]).upper()


def _equal(a: float, b: float) -> bool:
    """Equal at the precision the verdict prints (three decimals)."""
    return f"{a:.3f}" == f"{b:.3f}"


def _pair(a: dict[str, Any], b: dict[str, Any], *, key: str, label: str, repeats: int) -> str:
    """One comparison sentence: the lower of two rows, equal when they print the same, and
    whether the gap beats the seed spread."""
    best, second = sorted((a, b), key=lambda r: r[key])

    def fmt(r: dict[str, Any]) -> str:
        std = r.get(f"{key}_std")
        return f"{_label(r)} {r[key]:.3f}" + (f" ± {std:.3f}" if std else "")

    gap = second[key] - best[key]
    noise = max(best.get(f"{key}_std") or 0.0, second.get(f"{key}_std") or 0.0)
    head = f"{label} {fmt(best)} vs {fmt(second)}"
    if _equal(best[key], second[key]):
        return f"{head}: equal at this precision."
    if repeats < 2:
        return (f"{head}: {_label(best)} scored lower, but with one seed the gap cannot be "
                "told from seed-to-seed noise; rerun with --repeats 3.")
    if gap > noise:
        return f"{head}: {_label(best)} is better (gap {gap:.3f} > spread {noise:.3f})."
    return f"{head}: no clear difference (gap {gap:.3f} within spread {noise:.3f})."


def _pct(fraction: float) -> str:
    """A relative gap in percent: one decimal below 10 %, so 0.4 % does not print as 0 %."""
    pct = 100 * abs(fraction)
    return f"{pct:.1f}%" if pct < 10 else f"{pct:.0f}%"


def _versus(net: dict[str, Any], other: dict[str, Any], *, key: str) -> str:
    """``beats X (0.9) by 4%`` / ``equals X`` / ``loses to X (0.9) by 4%``."""
    a, b = net[key], other[key]
    if _equal(a, b):
        return f"equals {_label(other)} ({b:.3f})"
    word = "beats" if a < b else "loses to"
    return f"{word} {_label(other)} ({b:.3f}) by {_pct(1 - a / b)}" if b else f"{word} {_label(other)}"


def verdict(
    rows: Sequence[dict[str, Any]], *, repeats: int, key: str = "mase", epochs_cap: int | None = None, patience: int = 0,
    subject: str = "this series",
) -> str:
    """Plain-language answer: what to use for this series, which network wins, and by how much.

    - A winner among networks is declared only when the best cell's mean ``key`` (MASE, or
      backtest MASE) beats the runner-up's by more than the larger of their seed-to-seed standard
      deviations (which needs ``repeats >= 2``); two values equal at the printed precision are
      "equal". LSTM vs GRU is always answered when both ran.
    - Whether recurrence (the better of LSTM and GRU) beats the linear model and the MLP.
    - The best network against the *best* baseline row (naive, seasonal naive, linear,
      statistical models), and the best row overall: what to use. A MASE of 1 or more is never
      called a win (the in-sample seasonal naive does as well).
    - Cells still improving at the epoch cap (read from the validation curve, ``still_improving``
      in the rows; rows without it fall back to a best epoch within the last ``patience``).
    """
    scored = [r for r in rows if r.get(key) is not None and not r.get("error") and not partial(r, rows)]
    models = sorted((r for r in scored if r["kind"] == "model"), key=lambda r: r[key])
    baselines = sorted((r for r in scored if r["kind"] == "baseline"), key=lambda r: r[key])
    label = "backtest MASE" if key.startswith("backtest") else "MASE"
    if not models:
        return f"No model produced a {label} (the training series has no seasonal variation)."
    best = models[0]
    lines = []
    if len(models) > 1:
        lines.append(_pair(best, models[1], key=key, label=label, repeats=repeats))
    else:
        lines.append(f"{label} {_label(best)} {best[key]:.3f}.")
    named = {r["name"]: r for r in models}
    if "lstm" in named and "gru" in named and {best["name"], models[1]["name"]} != {"lstm", "gru"}:
        lines.append("LSTM vs GRU: " + _pair(named["lstm"], named["gru"], key=key, label=label, repeats=repeats))
    recurrent = [named[c] for c in ("lstm", "gru") if c in named]
    others = [r for r in [named.get("mlp"), next((b for b in baselines if b["name"] == "linear"), None)] if r]
    if recurrent and others:
        rec = min(recurrent, key=lambda r: r[key])
        lines.append(f"Recurrence ({_label(rec)} {rec[key]:.3f}) "
                     + "; ".join(_versus(rec, o, key=key) for o in others) + ".")
    if baselines:
        top = baselines[0]
        if best[key] >= 1.0 and top[key] >= 1.0 and best[key] < top[key]:
            lines.append(f"The best network beats every baseline ({_label(top)} {label} {top[key]:.3f}) "
                         f"but its {label} {best[key]:.3f} is not below 1: no better than repeating last season "
                         "in-sample; not a win.")
        elif best[key] < top[key] and not _equal(best[key], top[key]):
            lines.append(f"It beats {_label(top)} ({label} {top[key]:.3f}) by "
                         f"{_pct(1 - best[key] / top[key])}, the best baseline: use {_label(best)}.")
        elif _equal(best[key], top[key]):
            lines.append(f"No network beats {_label(top)} ({label} {top[key]:.3f}, equal at this precision): "
                         f"use the simpler {_label(top)} for {subject}.")
        else:
            lines.append(f"No network beats {_label(top)} ({label} {top[key]:.3f}; the best network "
                         f"{_label(best)} {best[key]:.3f} is {_pct(best[key] / top[key] - 1)} worse): "
                         f"use the baseline for {subject}.")
    stopped = [r for r in models if r.get("stopped")]
    for r in stopped:
        said = str(r["stopped"])
        lines.append(f"{_label(r)}: {said}" + ("; it forecasts as the linear row." if said.startswith("no gain") else "."))
    covered = intervals.coverage_columns([best])
    if covered:
        said = ", ".join(f"{level}% interval covered {intervals.percent(best[k])}" for k, level in covered)
        lines.append(f"Intervals of {_label(best)} on the test windows: {said}.")
    if epochs_cap:
        capped = [
            r["name"].upper() for r in models if not r.get("stopped") and
            (r["still_improving"] if "still_improving" in r else
                (r.get("epochs_run") or 0) >= epochs_cap - 0.5 and (r.get("best_epoch") or 0) > epochs_cap - max(patience, 1))
        ]
        if capped:
            lines.append(f"{', '.join(capped)} still improved at the {epochs_cap}-epoch cap: rerun with more --epochs.")
    left = [r for r in rows if r.get(key) is not None and not r.get("error") and partial(r, rows)]
    if left:
        total = max(r["series"] for r in rows if isinstance(r.get("series"), int))
        lines.append("Not ranked (scored on fewer series, a mean over others): "
                     + ", ".join(f"{_label(r)} ({r['series']} of {total})" for r in left) + ".")
    return " ".join(lines)


def _check_cells(cells: Sequence[str], repeats: int) -> None:
    from forecaster.architectures import available_cells

    unknown = [c for c in cells if c not in available_cells()]
    if unknown or not cells:
        raise ConfigError(f"--cells: unknown cell(s) {', '.join(unknown) or '(none given)'}; "
                          f"expected a comma-separated list of {', '.join(available_cells())}")
    if repeats < 1:
        raise ConfigError(f"--repeats: expected an integer >= 1, got {repeats}")


def compare(
    cfg: RunConfig,
    *,
    cells: Sequence[str] = ("lstm", "gru", "mlp"),
    repeats: int = 1,
    progress: Progress | None = None,
    run_dir: Path | None = None,
    report: bool = True,
    backtest: int = 0,
    strategies: Sequence[str] | None = None,
    prep: pipeline.Prepared | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> CompareResult:
    """Train every cell ``repeats`` times under identical conditions, save the run and report.

    The saved model of each cell is its seed with the lowest validation loss (chosen without
    looking at the test part). With ``backtest=K`` every cell and seed is also evaluated on K
    rolling origins (refitting per fold) and the leaderboard is ranked by backtest MASE.

    Raises:
        ConfigError: an unknown cell or ``repeats < 1``.
        DataError, TrainingError: nothing is saved.
    """
    _check_cells(cells, repeats)
    from forecaster.strategies import STRATEGIES

    strategies = list(strategies or [cfg.model.strategy])
    if not strategies or any(s not in STRATEGIES for s in strategies):
        raise ConfigError(f"--strategies: expected a comma-separated list of {', '.join(STRATEGIES)}, "
                          f"got {','.join(strategies) or '(none)'}")
    d = cfg.data
    if "recursive" in strategies and (d.covariates or d.known_covariates or d.calendar):
        raise ConfigError("--strategies: recursive forecasts from the target alone (it feeds back its own steps); "
                          "drop --covariates/--known-covariates/--calendar or compare direct only")
    say = progress or (lambda _msg: None)
    prep = prep if prep is not None else pipeline.prepare(cfg)
    say(pipeline.describe(prep))
    scored = pipeline.score_baselines(prep, cfg=cfg, progress=progress)
    base = {s.name: s.scores for s in scored}
    seeds = [cfg.training.seed + r for r in range(repeats)]
    n_train = len(prep.split.starts("train"))
    specs = [TrialSpec(cell, seed, strategy) for cell in cells for strategy in strategies for seed in seeds]
    trials, failures = _run(specs, prep, cfg, n_train, executor=executor, address=ray_address, progress=progress)
    rows = aggregate(trials, base, epochs_cap=cfg.training.epochs, patience=cfg.training.patience)
    _add_failures(rows, failures)
    key = "mase"
    backtests: dict[str, Any] = {}
    if backtest:
        from forecaster.backtest import cells_backtest

        say(f"backtest: {backtest} rolling origins per cell and seed (refit per fold)")
        results = cells_backtest(cfg, cells=cells, folds=backtest, seeds=seeds, strategies=strategies,
                                 executor=executor, ray_address=ray_address,
                                 progress=progress)
        _add_backtest_columns(rows, results)
        backtests = {cell: [r.to_dict() for r in runs] for cell, runs in results.items()}
        key = "backtest_mase"
        rows.sort(key=lambda r: (r.get(key) is None, r.get(key) or 0.0))
    text = verdict(rows, repeats=repeats, key=key, epochs_cap=cfg.training.epochs, patience=cfg.training.patience)
    names = list(dict.fromkeys(t.name for t in trials))
    kept = [min((t for t in trials if t.name == n), key=lambda t: t.result.fit.best_val_loss) for n in names]
    kept = [dataclasses.replace(t, result=materialize(t.result)) for t in kept]  # a Ray trial's model, loaded
    sp = prep.split
    conditions = {
        "data": prep.series.path, "rows": sp.n, "filled": prep.series.filled_note or "none",
        "freq": prep.series.freq, "season": prep.season, "seasons": list(prep.seasons),
        "target": prep.series.target, "covariates": list(prep.series.covariates),
        "lookback": sp.lookback, "horizon": sp.horizon,
        "split_rows": {"train": sp.train_end, "val": sp.val_end - sp.train_end, "test": sp.n - sp.val_end},
        "windows": {p: len(sp.starts(p)) for p in ("train", "val", "test")},
        "scaler": "standard, fitted on the training rows only",
        "epochs_cap": cfg.training.epochs, "patience": cfg.training.patience,
        "batch_size": cfg.training.batch_size, "learning_rate": cfg.training.learning_rate,
        "units": list(cfg.model.units), "dropout": cfg.model.dropout, "seeds": seeds, "strategies": strategies,
        "ranked_by": "backtest MASE (mean over folds)" if backtest else "test MASE",
        "backtest_folds": backtest,
    }
    final = run_dir or pipeline.default_run_dir(cfg, "compare")

    def write_report(tmp: Path) -> None:
        _time_saved_cells(tmp, rows, prep, cfg.training.batch_size)
        if backtests:
            from forecaster.artifacts.io import atomic_write_text, json_ready

            atomic_write_text(tmp / "backtest.json", json.dumps(json_ready(backtests), indent=2))
        if report:
            from forecaster.report import write_report as _write

            _write(tmp, prep=prep, rows=rows, verdict=text, conditions=conditions, trials=trials, base=base)

    pipeline.save_run(
        final, prep, cfg, [t.result for t in kept], base, rows, columns=COMPARE_COLUMNS,
        board_extra={"verdict": text, "conditions": conditions}, extra=write_report,
        statistical=pipeline.servable(scored),
    )
    return CompareResult(run_dir=final, rows=rows, verdict=text, conditions=conditions, trials=trials,
                         warnings=pipeline.run_warnings([t.result for t in trials], base))


def compare_panel(
    cfg: RunConfig,
    *,
    cells: Sequence[str] = ("lstm", "gru", "mlp"),
    repeats: int = 1,
    progress: Progress | None = None,
    run_dir: Path | None = None,
    report: bool = True,
    pp: Any = None,
    executor: str = "local",
    ray_address: str | None = None,
    backtest: int = 0,
) -> CompareResult:
    """:func:`compare` on a panel (``data.id_col``): one global network per cell and seed over every
    series (one per series under ``model.per_series``), every baseline per series, rows pooled over
    series (mean MASE, median MASE) and the per-series scores in ``series_metrics.csv``. With
    ``backtest=K`` every cell and seed is also refitted on K rolling origins of every series and the
    leaderboard is ranked by the pooled backtest MASE.

    Raises:
        ConfigError: an unknown cell or ``repeats < 1``.
        DataError, TrainingError: nothing is saved.
    """
    from forecaster import panels
    _check_cells(cells, repeats)
    pp, note, scored = panels.begin(cfg, pp, progress)
    base = {s.name: s.scores for s in scored}
    seeds = [cfg.training.seed + r for r in range(repeats)]
    n_train = len(pp.split.starts("train"))
    specs = [TrialSpec(cell, seed) for cell in cells for seed in seeds]
    trials, failures = _run(specs, pp, cfg, n_train, executor=executor, address=ray_address, progress=progress)
    rows_of = {(t.name, t.seed): t.row for t in trials}
    rows = aggregate(trials, base, epochs_cap=cfg.training.epochs, patience=cfg.training.patience)
    _add_failures(rows, failures)
    pooled = {**{t.name: t.result.scores for t in trials}, **base}
    for r in rows:
        per = [t.result.scores.get("mase_median") for t in trials if t.name == r["name"]]
        r["mase_median"] = _mean_std(per)[0] if per else pooled.get(r["name"], {}).get("mase_median")
        r["series"] = pooled.get(r["name"], {}).get("series")  # none for a cell whose every seed failed
    key, backtests = "mase", {}
    if backtest:
        from forecaster.backtest import cells_backtest

        (progress or (lambda _msg: None))(f"backtest: {backtest} rolling origins of every series per cell and seed "
                                          "(refit per fold)")
        results = cells_backtest(cfg, cells=cells, folds=backtest, seeds=seeds, executor=executor,
                                 ray_address=ray_address, progress=progress, series=pp.panel)
        _add_backtest_columns(rows, results)
        backtests = {cell: [r.to_dict() for r in runs] for cell, runs in results.items()}
        key = "backtest_mase"
        rows.sort(key=lambda r: (r.get(key) is None, r.get(key) or 0.0))
    text = verdict(rows, repeats=repeats, key=key, epochs_cap=cfg.training.epochs, patience=cfg.training.patience,
                   subject="these series (mean MASE over series)")
    names = list(dict.fromkeys(t.name for t in trials))
    kept = [min((t for t in trials if t.name == n), key=lambda t: t.result.fit.best_val_loss) for n in names]
    kept = [dataclasses.replace(t, result=materialize(t.result)) for t in kept]  # a Ray trial's model, loaded
    first = pp.items[0].series
    conditions = {
        "data": pp.panel.path, "id_col": pp.panel.id_col, "series": len(pp.items), "skipped": note or "none",
        "rows": int(pp.split.offsets[-1]), "freq": first.freq, "season": pp.season, "seasons": list(pp.seasons),
        "target": first.target, "covariates": [c for c in first.covariates if c not in (*first.known, *first.static)],
        "known_covariates": list(first.known), "static_covariates": list(first.static), "calendar": pp.calendar,
        "lookback": pp.split.lookback, "horizon": pp.split.horizon,
        "split": f"per series by time (val {cfg.window.val:g}, test {cfg.window.test:g} of each series' rows)",
        "windows": {p: len(pp.split.starts(p)) for p in ("train", "val", "test")},
        "scaler": "standard per series, fitted on each series' training rows only",
        "epochs_cap": cfg.training.epochs, "patience": cfg.training.patience,
        "batch_size": cfg.training.batch_size, "learning_rate": cfg.training.learning_rate,
        "units": list(cfg.model.units), "dropout": cfg.model.dropout, "seeds": seeds,
        "ranked_by": ("mean backtest MASE over folds of the mean over series" if backtest
                      else "mean test MASE over series (each series' own scale)"),
        "backtest_folds": backtest,
        "networks": ("one per series (--per-series), each trained on its own windows" if cfg.model.per_series
                     else "one global network per cell over every series"),
    }
    final = run_dir or pipeline.default_run_dir(cfg, "compare")
    saved_rows = [*scored, *(rows_of[(t.name, t.seed)] for t in kept)]

    def write_report(tmp: Path) -> None:
        if backtests:
            from forecaster.artifacts.io import atomic_write_text, json_ready

            atomic_write_text(tmp / "backtest.json", json.dumps(json_ready(backtests), indent=2))
        if report:
            from forecaster.report import write_panel_report

            write_panel_report(tmp, pp=pp, rows=rows, verdict=text, conditions=conditions,
                               table=panels.series_table(pp, saved_rows), kept=[t.result for t in kept])

    panels.save_run(final, pp, cfg, [t.result for t in kept], saved_rows, rows,
                    columns=(*COMPARE_COLUMNS[:-1], "mase_median", "series", "error"),
                    board_extra={"verdict": text, "conditions": conditions}, extra=write_report)
    return CompareResult(run_dir=final, rows=rows, verdict=text, conditions=conditions, trials=trials,
                         warnings=pipeline.run_warnings([t.result for t in trials], base) + ([note] if note else []))
