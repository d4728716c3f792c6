"""Rolling-origin (expanding window) backtests.

The evaluation region is the series' test part (``window.test``), cut into ``folds``
consecutive blocks. Fold ``k`` has a cut-off at the start of block ``k``: its model is trained
(and its scaler fitted) only on rows before the cut-off, with the last ``window.val`` of those
rows for early stopping, and it is scored on every window whose targets lie in block ``k``.
Later folds see more history (expanding window). Without refitting, one saved model is scored
on every block instead. A panel (``data.id_col``) is cut series by series: each series' own test
part into ``folds`` blocks, every fold's series stacked and refitted together, scores pooled.

Example:
    >>> folds = fold_splits(1000, folds=4, lookback=48, horizon=24, val=0.15, test=0.2)
    >>> [(f.train_end, f.val_end, f.n) for f in folds]
    [(680, 800, 850), (722, 850, 900), (765, 900, 950), (808, 950, 1000)]
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from forecaster.artifacts.cell import read_calibration
from forecaster.config import RunConfig, Strategy
from forecaster.data import prepared
from forecaster.data.load import Panel, SeriesFrame
from forecaster.data.windows import Split, _rows
from forecaster.errors import ConfigError, DataError
from forecaster.evaluation import intervals, scoring
from forecaster.models.network import model as network
from forecaster.workflows import pipeline

__all__ = ["fold_splits", "Fold", "BacktestResult", "backtest", "cells_backtest", "load", "FOLD_METRICS"]

Progress = Callable[[str], None]
FOLD_METRICS = ("mae", "rmse", "smape", "mase")


def fold_splits(
    n_rows: int, *, folds: int, lookback: int, horizon: int, val: float, test: float, source: str = "data"
) -> list[Split]:
    """The split of each fold: train/val strictly before the cut-off, test = the fold's block.

    Raises:
        ConfigError: ``folds < 1``.
        DataError: a block is shorter than the horizon, or the first fold has too little history.
    """
    if folds < 1:
        raise ConfigError(f"--folds: expected an integer >= 1, got {folds}")
    test_rows = _rows(test, n_rows)
    block = test_rows // folds
    if block < horizon:
        raise DataError(
            f"{source}: the test part ({test_rows} rows) split into {folds} folds gives blocks of {block} rows, "
            f"fewer than the horizon {horizon}; use fewer --folds or a larger window.test"
        )
    start = n_rows - test_rows
    out = []
    for k in range(folds):
        cutoff = start + k * block
        end = n_rows if k == folds - 1 else cutoff + block
        val_rows = _rows(val, cutoff) if val < 1 else int(val)
        train_end = cutoff - val_rows
        if train_end < lookback + horizon or val_rows < horizon:
            raise DataError(
                f"{source}: fold {k + 1} has {max(train_end, 0)} training and {val_rows} validation rows before "
                f"its cut-off; needs >= {lookback + horizon} and >= {horizon}: use fewer --folds or more data"
            )
        out.append(Split(n=end, train_end=train_end, val_end=cutoff, lookback=lookback, horizon=horizon))
    return out


@dataclass
class Fold:
    """One fold's cut-off and scores (the model's and the baselines')."""

    fold: int
    cutoff: str
    train_rows: int
    test_windows: int
    scores: dict[str, dict[str, Any]]  # name -> metrics
    overlaps_training: bool = False  # fixed model only: it saw this fold's test rows in training/validation


@dataclass
class BacktestResult:
    """Per-fold scores and, per model/baseline, the mean and std over folds."""

    cell: str
    refit: bool
    folds: list[Fold] = field(default_factory=list)

    def metric_keys(self) -> tuple[str, ...]:
        """The point metrics, then every interval column the folds measured (``coverage_80``...)."""
        return (*FOLD_METRICS, *intervals.flat_keys([s for f in self.folds for s in f.scores.values()]))

    def summary(self) -> dict[str, dict[str, float | None]]:
        names = list(self.folds[0].scores) if self.folds else []
        out: dict[str, dict[str, float | None]] = {}
        for name in names:
            row: dict[str, float | None] = {}
            for m in self.metric_keys():
                vals = [float(v) for v in (f.scores[name].get(m) for f in self.folds) if v is not None]
                row[m] = float(np.mean(vals)) if vals else None
                row[f"{m}_std"] = float(np.std(vals, ddof=1)) if len(vals) > 1 else None
            out[name] = row
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell": self.cell,
            "refit": self.refit,
            "folds": [
                {"fold": f.fold, "cutoff": f.cutoff, "train_rows": f.train_rows, "test_windows": f.test_windows,
                 "overlaps_training": f.overlaps_training,
                 "scores": {k: {m: v.get(m) for m in self.metric_keys()} for k, v in f.scores.items()}}
                for f in self.folds
            ],
            "mean_over_folds": self.summary(),
        }


def backtest(
    cfg: RunConfig,
    *,
    cell: str,
    folds: int,
    loaded: Any | None = None,
    series: Any | None = None,
    progress: Progress | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> BacktestResult:
    """Evaluate ``cell`` on ``folds`` rolling origins.

    Args:
        cfg: the configuration (data, windows, training) of the runs to evaluate.
        cell: the cell to refit per fold.
        folds: number of folds.
        loaded: a saved cell (:class:`forecaster.artifacts.cell.LoadedCell`): score it on every fold
            without refitting (its own scaler is used).
        series: an already loaded series (default: load ``cfg.data``).
        progress: receives one line per fold.
        executor, ray_address: where the per-fold refits run (:mod:`forecaster.workflows.executor`).
    """
    series = series if series is not None else load(cfg)
    if loaded is None:
        return _refit(cfg, series, [(cell, cfg.model.strategy, cfg.training.seed)], folds, progress=progress,
                      executor=executor, ray_address=ray_address)[0]
    if isinstance(series, Panel):
        raise ConfigError("--no-refit: a panel's model is backtested by refitting it per fold (each series cut at "
                          "its own origins); leave out --no-refit")
    say = progress or (lambda _msg: None)
    name = network.leaderboard_name(cell, loaded.strategy)
    result = BacktestResult(cell=name, refit=False)
    for k, fd in enumerate(_folds(cfg, series, folds, say, name), start=1):
        result.folds.append(Fold(fold=k, cutoff=str(fd.cutoff), train_rows=fd.train_rows, test_windows=fd.test_windows,
                                 scores={name: _score_fixed(fd.prep, loaded), **fd.base},
                                 overlaps_training=fd.cutoff < _model_test_start(loaded)))
    return result


def load(cfg: RunConfig) -> Any:
    """The configured series: a :class:`~forecaster.data.load.SeriesFrame`, or a :class:`~forecaster.data.load.Panel`
    under ``data.id_col``."""
    if cfg.data.id_col is not None:
        from forecaster.data import panel

        return panel.load(cfg)
    return pipeline.load(cfg)


@dataclass(frozen=True)
class _FoldData:
    """One fold's cut-off (a timestamp; a panel's: the range over its series), sizes, prepared data and
    baselines' scores."""

    cutoff: Any
    train_rows: int
    test_windows: int
    prep: Any  # a Prepared, or a panel's PanelPrepared
    base: dict[str, Any]


def _folds(cfg: RunConfig, series: Any, folds: int, say: Progress, label: str) -> list[_FoldData]:
    """Each fold's split, its prepared data and its baselines' scores (refitted per fold, like the networks;
    they depend on neither the cell nor the seed, so every backtest of a comparison shares them)."""
    if isinstance(series, Panel):
        return _panel_folds(cfg, series, folds, say, label)
    w = cfg.window
    splits = fold_splits(
        len(series.frame), folds=folds, lookback=prepared.window_lookback(cfg, series), horizon=w.horizon,
        val=w.val, test=w.test, source=series.path,
    )
    out = []
    started = time.perf_counter()
    for k, sp in enumerate(splits, start=1):
        say(f"{label} fold {k}/{folds}: cut-off {series.frame.index[sp.val_end]}, {sp.train_end} training rows, "
            f"{len(sp.starts('test'))} test windows (elapsed {time.perf_counter() - started:.0f}s)")
        prep = pipeline.prepare(cfg, series, sp=sp)
        out.append(_FoldData(series.frame.index[sp.val_end], sp.train_end, len(sp.starts("test")), prep,
                             pipeline.baseline_scores(prep, cfg=cfg)))
    return out


def _panel_folds(cfg: RunConfig, panel: Panel, folds: int, say: Progress, label: str) -> list[_FoldData]:
    """A panel's folds: each series cut into ``folds`` blocks of its own test part (as one series is),
    every fold's series stacked, the baselines fitted per series and pooled.

    A series too short for the folds is skipped in every fold and named."""
    from forecaster.data import panel as panels_data
    from forecaster.workflows import panels

    w = cfg.window
    lookback = panels_data.panel_lookback(cfg, panel)

    def split_of(k: int) -> Callable[[SeriesFrame, int], Split]:
        return lambda s, lb: fold_splits(len(s.frame), folds=folds, lookback=lb, horizon=w.horizon, val=w.val,
                                         test=w.test, source=s.path)[k]

    out = []
    started = time.perf_counter()
    for k in range(folds):
        pp = panels_data.prepare_panel(cfg, panel, lookback=lookback, split_of=split_of(k),
                                       advice="use fewer --folds, a larger --test or longer series")
        note = panels_data.skipped_note(pp)
        if k == 0 and note:
            say(f"backtest: {note}")
        cuts = sorted({p.series.frame.index[p.split.val_end] for p in pp.items})
        cutoff = str(cuts[0]) if len(cuts) == 1 else f"{cuts[0]} .. {cuts[-1]}"
        say(f"{label} fold {k + 1}/{folds}: cut-off {cutoff} ({len(pp.items)} series, each at its own), "
            f"{len(pp.split.starts('test'))} test windows (elapsed {time.perf_counter() - started:.0f}s)")
        base = {s.name: s.scores for s in panels.score_baselines(pp, cfg)}
        out.append(_FoldData(cutoff, sum(p.split.train_end for p in pp.items), len(pp.split.starts("test")), pp, base))
    return out


def _fold_task(prep: Any, cfg: RunConfig, cell: str, progress: Progress | None = None) -> dict[str, Any]:
    """One fold's refit of ``cell`` (seeded from ``cfg``) and its scores on the fold's test windows: a task.
    On a panel's fold, the network(s) of :func:`forecaster.workflows.panels.train_cell`, scored per series and pooled."""
    from forecaster.data.panel import PanelPrepared

    if isinstance(prep, PanelPrepared):
        from forecaster.workflows import panels

        return panels.train_cell(prep, cfg, cell, progress=progress)[0].scores
    return network.train_cell(prep, cfg, cell, progress=progress).scores


def _refit(cfg: RunConfig, series: Any, specs: Sequence[tuple[str, str, int]], folds: int, *,
           progress: Progress | None, executor: str, ray_address: str | None) -> list[BacktestResult]:
    """Backtest each ``(cell, strategy, seed)``, refitting per fold; every refit is one task of ``executor``.

    A refit that fails is scored as a row with its reason (``error``) in that fold.
    """
    from forecaster.workflows.executor import Call, Failure, run_calls

    say = progress or (lambda _msg: None)
    fold_data = _folds(cfg, series, folds, say, "backtest")
    calls = []
    for cell, strategy, seed in specs:
        run_cfg = dataclasses.replace(with_seed(cfg, seed),
                                      model=dataclasses.replace(cfg.model, strategy=cast(Strategy, strategy)))
        name = network.leaderboard_name(cell, strategy)
        epochs = progress if executor == "local" else None  # a Ray task's epochs stay in its worker
        calls += [Call(f"{name} seed {seed} fold {k + 1}/{folds}", (name, seed, k), (run_cfg, cell, epochs), key=k)
                  for k in range(len(fold_data))]
    scores = run_calls(_fold_task, calls, [fd.prep for fd in fold_data], executor=executor,
                       address=ray_address, progress=progress)
    out = []
    for j in range(len(specs)):
        name = calls[j * len(fold_data)].spec[0]
        result = BacktestResult(cell=name, refit=True)
        for k, fd in enumerate(fold_data):
            got = scores[j * len(fold_data) + k]
            model_scores = ({**dict.fromkeys(FOLD_METRICS), "error": got.reason} if isinstance(got, Failure) else got)
            result.folds.append(Fold(fold=k + 1, cutoff=str(fd.cutoff), train_rows=fd.train_rows,
                                     test_windows=fd.test_windows, scores={name: model_scores, **fd.base}))
        out.append(result)
    return out


def _model_test_start(loaded: Any) -> Any:
    """The first timestamp of a saved model's own test part (it never trained on it or after)."""
    import pandas as pd

    w, d = loaded.manifest["window"], loaded.manifest["data"]
    return pd.date_range(d["first"], periods=int(w["split"]["val_end"]) + 1, freq=w["freq"])[-1]


def _score_fixed(prep: pipeline.Prepared, loaded: Any) -> dict[str, Any]:
    """Score a saved model on a fold's test windows with the model's own scaler."""
    sp = prep.split
    if (loaded.lookback, loaded.horizon) != (sp.lookback, sp.horizon):
        raise ConfigError(
            f"the saved model uses lookback {loaded.lookback} / horizon {loaded.horizon}, "
            f"the backtest {sp.lookback} / {sp.horizon}"
        )
    pred = scoring.predict_part(loaded, prep)
    cal = read_calibration(loaded.path, loaded.manifest)  # the saved model's own intervals, measured per fold
    return scoring.add_intervals(scoring.score(prep, pred), prep, pred, cal)


def with_seed(cfg: RunConfig, seed: int) -> RunConfig:
    """``cfg`` with another training seed."""
    return dataclasses.replace(cfg, training=dataclasses.replace(cfg.training, seed=seed))


def cells_backtest(
    cfg: RunConfig,
    *,
    cells: Sequence[str],
    folds: int,
    seeds: Sequence[int],
    strategies: Sequence[str] = ("direct",),
    progress: Progress | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    series: Any | None = None,
) -> dict[str, list[BacktestResult]]:
    """Backtest every cell x strategy with every seed (refitting per fold) on one loaded series (or
    panel; default: load ``cfg.data``); each cell x strategy x seed x fold refit is one task of ``executor``.

    Returns:
        Leaderboard name (``gru``, ``gru-recursive``) -> one result per seed.
    """
    series = series if series is not None else load(cfg)
    specs = [(cell, strategy, seed) for cell in cells for strategy in strategies for seed in seeds]
    results = _refit(cfg, series, specs, folds, progress=progress, executor=executor, ray_address=ray_address)
    out: dict[str, list[BacktestResult]] = {}
    for r in results:
        out.setdefault(r.cell, []).append(r)
    return out
