"""``forecast compare``: several cells on the same series (one or many), windows, scalers, epochs cap and seeds.

Every cell is trained ``repeats`` times (seeds ``seed, seed+1, ...``) on the one prepared data,
scored on the same test windows of every series as the baselines, and timed (training
throughput, single-window and batch inference). The leaderboard reports mean ± std over seeds
and the verdict (:func:`~forecaster.evaluation.verdict.judge`) tests every row against the lowest
on the same test windows (seeds pooled), calls the rows it cannot tell apart equal, and recommends
the cheapest of them. On a panel each row is pooled over series (mean MASE, median MASE), the test
is paired over series, and the per-series scores go to ``series_metrics.csv``.

Example:
    >>> res = compare(cfg, cells=["lstm", "gru", "mlp"], repeats=3)  # doctest: +SKIP
    >>> res.recommended, res.decision.equal_to  # doctest: +SKIP
    ('linear', ['gru', 'lstm'])
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from forecaster.config import RunConfig
from forecaster.data.prepared import Prepared
from forecaster.errors import ConfigError, TrainingError
from forecaster.evaluation import intervals
from forecaster.evaluation.verdict import Verdict, still_improving
from forecaster.models import catalog
from forecaster.types import Progress, speaker
from forecaster.workflows.decision import decide
from forecaster.workflows.executor import Failure, Outcome, TrialSpec, materialize, run_trials
from forecaster.workflows.results import CellResult, run_warnings
from forecaster.workflows.save import save_run
from forecaster.workflows.train import begin, default_run_dir

__all__ = ["Trial", "CompareResult", "compare", "aggregate", "COMPARE_COLUMNS", "PANEL_COMPARE_COLUMNS", "METRICS"]

METRICS = ("mae", "rmse", "smape", "mase")

COMPARE_COLUMNS = (
    "name", "kind", "params", "seeds", "epochs_run", "best_epoch", "train_seconds", "seconds_per_epoch",
    "train_windows_per_s", "inference_backend", "latency_single_ms", "batch_windows_per_s",
    *[f"{m}{suffix}" for m in METRICS for suffix in ("", "_std", "_vs_seasonal_naive")],
    "mape", "backtest_mase", "backtest_mase_std", "fit_seconds", "predict_seconds", "stopped", "error",
)
#: A panel's comparison adds the median MASE over series and the series each row scored.
PANEL_COMPARE_COLUMNS = (*COMPARE_COLUMNS[:-1], "mase_median", "series", "error")


@dataclass
class Trial:
    """One cell trained with one seed, with its training throughput."""

    cell: str
    seed: int
    result: CellResult
    train_windows_per_s: float

    @property
    def name(self) -> str:
        """Leaderboard name: cell plus non-default strategy (``gru-recursive``)."""
        return self.result.name


@dataclass
class CompareResult:
    """A saved comparison: run directory, leaderboard rows, the verdict (its text; ``decision``: what it
    recommends, the rows equal to it and every test), and every trial."""

    run_dir: Path
    rows: list[dict[str, Any]]
    verdict: str
    conditions: dict[str, Any]
    trials: list[Trial] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    decision: Verdict | None = None

    @property
    def recommended(self) -> str | None:
        """The row the comparison recommends (``forecast predict`` serves it when it has a folder)."""
        return self.decision.recommended if self.decision is not None else None


def _timed_inference(model: Any, prep: Prepared, batch_size: int, strategy: str) -> tuple[float, float]:
    """Warm single-window latency (median ms) and batch throughput (test windows/s), full horizon.

    ``model`` is what ``forecast predict`` serves: an ONNX Runtime session (or the Keras model).
    """
    from forecaster.models.network.strategies import predict_windows

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


def _run(specs: Sequence[TrialSpec], prep: Prepared, cfg: RunConfig, *, executor: str,
         address: str | None, progress: Progress | None) -> tuple[list[Trial], list[Failure]]:
    """Every trial on ``executor`` (see :mod:`forecaster.workflows.executor`): the finished ones as trials, and the failures.

    Raises:
        TrainingError: every trial failed (nothing to save).
    """
    n_train = len(prep.split.starts("train"))
    outcomes = run_trials(specs, prep, cfg, executor=executor, address=address, progress=progress)
    failures = [o for o in outcomes if isinstance(o, Failure)]
    done = [o for o in outcomes if isinstance(o, Outcome)]
    if not done:
        raise TrainingError(f"every trial failed; the first: {failures[0].spec.cell} seed {failures[0].spec.seed}: "
                            f"{failures[0].reason}")
    return [Trial(cell=o.spec.cell, seed=o.spec.seed, result=o.result,  # windows x epochs of every fit:
                  train_windows_per_s=(getattr(o.result.fit, "windows_trained", 0)  # a network per series: its own
                                       or n_train * o.result.epochs_total) / o.result.train_seconds)
            for o in done], failures


def _add_failures(rows: list[dict[str, Any]], failures: Sequence[Failure]) -> None:
    """A failed trial is said in its cell's row, or is a row of its own when every seed of the cell failed."""
    from forecaster.models.network.model import leaderboard_name

    for f in failures:
        name = leaderboard_name(f.spec.cell, f.spec.strategy)
        note = f"seed {f.spec.seed} failed: {f.reason}"
        row = next((r for r in rows if r["name"] == name and r["kind"] == "model"), None)
        if row is None:
            rows.append({"name": name, "kind": "model", "seeds": str(f.spec.seed), "mase": None, "error": note})
        else:
            row["error"] = f"{row['error']}; {note}" if row.get("error") else note


def _time_saved_cells(run_dir: Path, rows: list[dict[str, Any]], prep: Prepared, batch_size: int, *,
                      preps: dict[str, Prepared] | None = None) -> None:
    """Inference latency of each saved cell, loaded the way ``forecast predict`` loads it (``preps``: the windows
    of a row with its own lookback, a tuned one)."""
    from forecaster.artifacts.cell import load_for_serving

    for row in rows:
        if row["kind"] != "model" or not (run_dir / row["name"]).is_dir():  # a cell whose every seed failed
            continue
        loaded = load_for_serving(run_dir / row["name"])
        own = (preps or {}).get(row["name"], prep)
        single, batch = _timed_inference(loaded.model, own, batch_size, loaded.strategy)
        row.update(inference_backend=loaded.backend, latency_single_ms=single, batch_windows_per_s=batch)


def _mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    vals = [v for v in values if v is not None]
    if not vals:
        return None, None
    return float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0


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
            "predict_seconds": _mean_std([t.result.scores.get("predict_seconds") for t in group])[0],
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
        kept = min(group, key=lambda t: t.result.fit.best_val_loss).result.scores  # the saved seed's, per series
        row.update({k: kept[k] for k in intervals.series_coverage_keys([kept])})
        rows.append(row)
    for name, scores in base.items():
        row = {"name": name, "kind": "baseline", "mape": scores.get("mape"), "error": scores.get("error"),
               "fit_seconds": scores.get("fit_seconds"), "predict_seconds": scores.get("predict_seconds")}
        for m in METRICS:
            row[m], row[f"{m}_std"] = scores.get(m), None
            row[f"{m}_vs_seasonal_naive"] = scores[m] / ref[m] if (scores.get(m) is not None and ref.get(m)) else None
        row.update({k: scores[k] for k in (*intervals.flat_keys([scores]), *intervals.series_coverage_keys([scores]))})
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


def _check(cells: Sequence[str], repeats: int, strategies: Sequence[str], cfg: RunConfig) -> None:
    from forecaster.models.network.strategies import STRATEGIES

    catalog.check_cells(cells)
    if repeats < 1:
        raise ConfigError(f"--repeats: expected an integer >= 1, got {repeats}")
    if not strategies or any(s not in STRATEGIES for s in strategies):
        raise ConfigError(f"--strategies: expected a comma-separated list of {', '.join(STRATEGIES)}, "
                          f"got {','.join(strategies) or '(none)'}")
    d = cfg.data
    if "recursive" in strategies and (d.covariates or d.known_covariates or d.calendar or d.static_covariates):
        raise ConfigError("--strategies: recursive forecasts from the target alone (it feeds back its own steps); "
                          "drop --covariates/--known-covariates/--static-covariates/--calendar or compare direct only")


def _conditions(prep: Prepared, cfg: RunConfig, *, seeds: Sequence[int], strategies: Sequence[str], backtest: int,
                note: str | None) -> dict[str, Any]:
    """What every row of the comparison shared (the report's conditions table)."""
    t, m, sp, columns = cfg.training, cfg.model, prep.split, prep.columns
    shared = {
        "lookback": sp.lookback, "horizon": sp.horizon,
        "windows": {p: len(sp.starts(p)) for p in ("train", "val", "test")},
    }
    training = {
        "epochs_cap": t.epochs, "patience": t.patience, "batch_size": t.batch_size, "learning_rate": t.learning_rate,
        "units": list(m.units), "dropout": m.dropout, "seeds": list(seeds), "strategies": list(strategies),
    }
    if prep.panel.id_col is None:
        item = prep.single
        s, split = item.series, item.split
        return {
            "data": s.path, "rows": split.n, "filled": s.filled_note or "none", "freq": s.freq, "season": prep.season,
            "seasons": list(prep.seasons), "target": s.target, "covariates": list(s.covariates), **shared,
            "split_rows": {"train": split.train_end, "val": split.val_end - split.train_end, "test": split.n - split.val_end},
            "scaler": "standard, fitted on the training rows only", **training,
            "ranked_by": "backtest MASE (mean over folds)" if backtest else "test MASE", "backtest_folds": backtest,
        }
    first = prep.items[0].series
    return {
        "data": prep.panel.path, "id_col": prep.panel.id_col, "series": len(prep.items), "skipped": note or "none",
        "rows": int(sp.offsets[-1]), "freq": first.freq, "season": prep.season, "seasons": list(prep.seasons),
        "target": columns.target, "covariates": list(columns.past), "known_covariates": list(columns.known),
        "static_covariates": list(columns.static), "calendar": prep.calendar, **shared,
        "split": f"per series by time (val {cfg.window.val:g}, test {cfg.window.test:g} of each series' rows)",
        "scaler": "standard per series, fitted on each series' training rows only", **training,
        "ranked_by": ("mean backtest MASE over folds of the mean over series" if backtest
                      else "mean test MASE over series (each series' own scale)"),
        "backtest_folds": backtest,
        "networks": ("one per series (--per-series), each trained on its own windows" if m.per_series
                     else "one global network per cell over every series"),
    }


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
    prep: Prepared | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    resume: bool = False,
) -> CompareResult:
    """Train every cell ``repeats`` times under identical conditions, save the run and report.

    The saved model of each cell is its seed with the lowest validation loss (chosen without
    looking at the test part). With ``backtest=K`` every cell and seed is also evaluated on K
    rolling origins (refitting per fold; a panel's series each cut at its own) and the leaderboard
    is ranked by backtest MASE.

    With ``cfg.tune`` (``--tune N``, ``--tune-time S``) every cell is also tuned at the same budget
    (:mod:`forecaster.workflows.tune`, ``resume``: continue an interrupted tuning) and its best trial,
    chosen on validation loss, is the row ``<cell>-tuned``.

    Raises:
        ConfigError: an unknown cell or ``repeats < 1``.
        DataError, TrainingError: nothing is saved.
    """
    strategies = list(strategies or [cfg.model.strategy])
    _check(cells, repeats, strategies, cfg)
    from forecaster.workflows import tune
    from forecaster.workflows.tune_output import write_tuned

    tune.check_tuning(cfg, executor=executor, backtest=backtest, strategies=strategies, resume=resume,
                      ray_address=ray_address)
    say = speaker(progress)
    prep, note, baselines = begin(cfg, prep, progress)
    many = prep.panel.id_col is not None
    seeds = [cfg.training.seed + r for r in range(repeats)]
    specs = [TrialSpec(cell, seed, strategy) for cell in cells for strategy in strategies for seed in seeds]
    with baselines:  # statistical rows of a large run are scored beside the networks
        trials, failures = _run(specs, prep, cfg, executor=executor, address=ray_address, progress=progress)
        scored = baselines.collect()
    base = {s.name: s.scores for s in scored}
    final = run_dir or default_run_dir(cfg, "compare")
    # one tuning of a model name at a time, from its study to the run that holds it
    with tune.tuning_lock(final) if tune.budget_of(cfg) else contextlib.nullcontext():
        tuned = (tune.tune_cells(cfg, prep, cells, run_dir=final, resume=resume, executor=executor, progress=progress)
                 if tune.budget_of(cfg) else [])
        trials += [Trial(cell=t.cell, seed=cfg.training.seed, result=t.result,
                         train_windows_per_s=len(t.prep.split.starts("train")) * t.result.epochs_total
                         / max(t.result.train_seconds, 1e-9)) for t in tuned]
        rows = aggregate(trials, base, epochs_cap=cfg.training.epochs, patience=cfg.training.patience)
        for tc in tuned:  # what its budget bought
            row = next(r for r in rows if r["name"] == tc.name)
            row.update(tune_trials=tc.counted, tune_seconds=tc.seconds, tune_params=tune.best_trial(tc.study).params)
        _add_failures(rows, failures)
        if many:
            for r in rows:
                per = [t.result.scores.get("mase_median") for t in trials if t.name == r["name"]]
                r["mase_median"] = _mean_std(per)[0] if per else base.get(r["name"], {}).get("mase_median")
                pooled = next((t.result.scores for t in trials if t.name == r["name"]), base.get(r["name"], {}))
                r["series"] = pooled.get("series")  # none for a cell whose every seed failed
        key, backtests, results = "mase", {}, {}
        if backtest:
            from forecaster.workflows.backtest import cells_backtest

            say(f"backtest: {backtest} rolling origins {'of every series ' if many else ''}per cell and seed (refit per fold)")
            same = dataclasses.replace(cfg, window=dataclasses.replace(cfg.window, lookback=prep.split.lookback))
            results = cells_backtest(same, cells=cells, folds=backtest, seeds=seeds, strategies=strategies,
                                     executor=executor, ray_address=ray_address, progress=progress, panel=prep.panel)
            _add_backtest_columns(rows, results)
            backtests = {cell: [r.to_dict() for r in runs] for cell, runs in results.items()}
            key = "backtest_mase"
            rows.sort(key=lambda r: (r.get(key) is None, r.get(key) or 0.0))
        per_seed: dict[str, list[Any]] = {s.name: [s] for s in scored}
        for t in trials:
            per_seed.setdefault(t.name, []).append(t.result.row)
        decision = decide(cfg, prep, rows, per_seed, backtests=results or None)
        text = decision.text
        names = list(dict.fromkeys(t.name for t in trials))
        kept = [min((t for t in trials if t.name == n), key=lambda t: t.result.fit.best_val_loss) for n in names]
        kept = [dataclasses.replace(t, result=materialize(t.result)) for t in kept]  # a Ray trial's model, loaded
        conditions = _conditions(prep, cfg, seeds=seeds, strategies=strategies, backtest=backtest, note=note)
        if tuned:
            conditions["tuning"] = {"budget_per_cell": tune.budget_of(cfg), "selection": "validation loss only",
                                    "lookbacks": tune.lookback_candidates(cfg, prep),
                                    "trials_counted": {t.name: t.counted for t in tuned}}
        tuned_names = {t.name for t in tuned}

        def write_report(tmp: Path) -> None:
            write_tuned(tmp, tuned, base, cfg, final)  # their own lookbacks: not save_run's shared windows
            _time_saved_cells(tmp, rows, prep, cfg.training.batch_size, preps={t.name: t.prep for t in tuned})
            if backtests:
                from forecaster.fs import atomic_write_text, json_ready

                atomic_write_text(tmp / "backtest.json", json.dumps(json_ready(backtests), indent=2))
            if report:
                from forecaster.evaluation.report import write_report as _write

                _write(tmp, prep=prep, rows=rows, verdict=text, conditions=conditions, trials=trials, base=base,
                       scored=[*scored, *(t.result.row for t in kept if t.result.row is not None)],
                       served=served_forecast(tmp, prep, decision, rows, kept, scored), backtests=backtests or None)

        save_run(final, prep, cfg, [t.result for t in kept if t.name not in tuned_names], scored, rows,
                 columns=PANEL_COMPARE_COLUMNS if many else COMPARE_COLUMNS,
                 board_extra={"verdict": decision.to_dict(), "conditions": conditions}, extra=write_report)
        if tuned:  # the study is in the run now (tuning.db): nothing is left to resume
            import shutil

            shutil.rmtree(tune.tuning_dir(final), ignore_errors=True)
    return CompareResult(run_dir=final, rows=rows, verdict=text, conditions=conditions, trials=trials,
                         warnings=run_warnings([t.result for t in trials], scored) + ([note] if note else []),
                         decision=decision)


def served_forecast(run_dir: Path, prep: Prepared, decision: Verdict, rows: Sequence[dict[str, Any]],
                    kept: Sequence[Trial], scored: Sequence[Any]) -> Any:
    """What ``forecast predict`` will serve from the run being written in ``run_dir`` (the recommended row when it
    has a folder there, else the best servable row: :func:`~forecaster.artifacts.run.choose_row`), with its
    forecast past the end of every series and its calibration, for the report's future chart (``None``: no row)."""
    from forecaster.artifacts import layout
    from forecaster.artifacts.run import choose_row
    from forecaster.evaluation.report import Served
    from forecaster.models.local import FAILURES
    from forecaster.workflows.train import future

    try:
        name, why = choose_row(rows, decision.to_dict(), lambda n: (run_dir / n / layout.MANIFEST).is_file())
    except ValueError:
        return None
    for t in kept:
        if t.name == name:
            return Served(name, "model", t.result.forecast, t.result.calibration, why)
    for s in scored:
        if s.name == name:
            try:
                return Served(name, "baseline", future(prep, s.model, s.calibration), s.calibration, why)
            except FAILURES:
                return None
    return None
