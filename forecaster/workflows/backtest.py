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
from pathlib import Path
from typing import Any, cast

import numpy as np

from forecaster.artifacts.cell import read_calibration
from forecaster.config import RunConfig, Strategy
from forecaster.data.frame import Panel, SeriesFrame
from forecaster.data.load import load
from forecaster.data.prepared import Prepared, prepare, skipped_note
from forecaster.data.windows import Split, part_rows
from forecaster.errors import ConfigError, DataError
from forecaster.evaluation import intervals
from forecaster.evaluation.scoring import add_intervals, predict_part, score
from forecaster.models.network.model import leaderboard_name
from forecaster.models.network.residual import lookback_choice
from forecaster.types import Progress, speaker
from forecaster.workflows.train import score_baselines, train_cell

__all__ = ["fold_splits", "Fold", "BacktestResult", "backtest", "cells_backtest", "with_seed", "config_of_run",
           "FOLD_METRICS"]

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
    test_rows = part_rows(test, n_rows)
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
        val_rows = part_rows(val, cutoff) if val < 1 else int(val)
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
    panel: Panel | None = None,
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
            without refitting (its own scaler is used); a file of one series only.
        panel: the already loaded file (default: load ``cfg.data``).
        progress: receives one line per fold.
        executor, ray_address: where the per-fold refits run (:mod:`forecaster.workflows.executor`).
    """
    panel = panel if panel is not None else load(cfg)
    if loaded is None:
        return _refit(cfg, panel, [(cell, cfg.model.strategy, cfg.training.seed)], folds, progress=progress,
                      executor=executor, ray_address=ray_address)[0]
    if panel.id_col is not None:
        raise ConfigError("--no-refit: a panel's model is backtested by refitting it per fold (each series cut at "
                          "its own origins); leave out --no-refit")
    name = leaderboard_name(cell, loaded.strategy)
    result = BacktestResult(cell=name, refit=False)
    for k, fold in enumerate(_folds(cfg, panel, folds, speaker(progress), name), start=1):
        result.folds.append(Fold(fold=k, cutoff=str(fold.cutoff), train_rows=fold.train_rows,
                                 test_windows=fold.test_windows, scores={name: _score_fixed(fold.prep, loaded), **fold.base},
                                 overlaps_training=fold.cutoff < _model_test_start(loaded)))
    return result


@dataclass(frozen=True)
class _FoldData:
    """One fold's cut-off (a timestamp; a panel's: the range over its series), sizes, prepared data and
    baselines' scores."""

    cutoff: Any
    train_rows: int
    test_windows: int
    prep: Prepared
    base: dict[str, Any]


def _folds(cfg: RunConfig, panel: Panel, folds: int, say: Progress, label: str, lookback: int | None = None
           ) -> list[_FoldData]:
    """Each fold's prepared data and its baselines' scores: every series cut into ``folds`` blocks of its own
    test part, the fold's series stacked (a file of one series: its one fold split). The baselines are
    refitted per fold, like the networks; they depend on neither the cell nor the seed, so every
    backtest of a comparison shares them. A panel's series too short for the folds is skipped in every
    fold and named."""
    w = cfg.window
    lookback = lookback or lookback_choice(cfg, panel)[0]
    many = panel.id_col is not None

    def split_of(k: int) -> Callable[[SeriesFrame, int], Split]:
        return lambda s, lb: fold_splits(len(s.frame), folds=folds, lookback=lb, horizon=w.horizon, val=w.val,
                                         test=w.test, source=s.path)[k]

    out = []
    started = time.perf_counter()
    for k in range(folds):
        prep = prepare(cfg, panel, lookback=lookback, split_of=split_of(k),
                       advice="use fewer --folds, a larger --test or longer series")
        note = skipped_note(prep)
        if k == 0 and note:
            say(f"backtest: {note}")
        cuts = sorted({p.series.frame.index[p.split.val_end] for p in prep.items})
        cutoff = cuts[0] if len(cuts) == 1 else f"{cuts[0]} .. {cuts[-1]}"
        train_rows, windows = sum(p.split.train_end for p in prep.items), len(prep.split.starts("test"))
        where = f" ({len(prep.items)} series, each at its own)" if many else f", {train_rows} training rows"
        say(f"{label} fold {k + 1}/{folds}: cut-off {cutoff}{where}, {windows} test windows "
            f"(elapsed {time.perf_counter() - started:.0f}s)")
        base = {s.name: s.scores for s in score_baselines(prep, cfg)}
        out.append(_FoldData(cutoff, train_rows, windows, prep, base))
    return out


def _fold_task(prep: Prepared, cfg: RunConfig, cell: str, progress: Progress | None = None) -> dict[str, Any]:
    """One fold's refit of ``cell`` (seeded from ``cfg``) and its scores on the fold's test windows of every
    series, pooled: a task."""
    return train_cell(prep, cfg, cell, progress=progress).scores


def _refit(cfg: RunConfig, panel: Panel, specs: Sequence[tuple[str, str, int]], folds: int, *,
           progress: Progress | None, executor: str, ray_address: str | None) -> list[BacktestResult]:
    """Backtest each ``(cell, strategy, seed)``, refitting per fold; every refit is one task of ``executor``.

    A refit that fails is scored as a row with its reason (``error``) in that fold.
    """
    from forecaster.workflows.executor import Call, Failure, run_calls

    fold_data = _folds(cfg, panel, folds, speaker(progress), "backtest")
    calls = []
    for cell, strategy, seed in specs:
        run_cfg = dataclasses.replace(with_seed(cfg, seed),
                                      model=dataclasses.replace(cfg.model, strategy=cast(Strategy, strategy)))
        name = leaderboard_name(cell, strategy)
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


def _score_fixed(prep: Prepared, loaded: Any) -> dict[str, Any]:
    """Score a saved model on a fold's test windows with the model's own scaler."""
    sp = prep.split
    if (loaded.lookback, loaded.horizon) != (sp.lookback, sp.horizon):
        raise ConfigError(
            f"the saved model uses lookback {loaded.lookback} / horizon {loaded.horizon}, "
            f"the backtest {sp.lookback} / {sp.horizon}"
        )
    item = prep.single
    pred = predict_part(loaded.on(item), item)
    cal = read_calibration(loaded.path, loaded.manifest)  # the saved model's own intervals, measured per fold
    return add_intervals(score(item, pred), item.test_targets, pred, cal)


def config_of_run(cell_dir: Path, given: dict[str, Any]) -> tuple[RunConfig, dict[str, Any]]:
    """The config a saved network was trained with (its run's ``config.yaml``, the strategy its manifest
    records), with ``given`` overrides (``None`` values: not given), and its checked manifest: what a
    backtest of that setup refits.

    Raises:
        ConfigError: the folder is a statistical row, or the run's config cannot be read.
        ArtifactError: the folder is not intact.
    """
    import yaml

    from forecaster import config
    from forecaster.artifacts.manifest import check_cell, is_network
    from forecaster.models.catalog import choices

    manifest = check_cell(cell_dir)
    if not is_network(manifest):
        raise ConfigError(f"--model {cell_dir}: {cell_dir.name} is a {manifest.get('kind')} row; backtest refits a network "
                          f"(give its run folder or a network's folder: every backtest scores {cell_dir.name} per fold "
                          "beside it)")
    saved = cell_dir.parent / "config.yaml"
    try:
        raw = config.safe_load_bounded(saved.read_text(encoding="utf-8"), saved)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{saved}: cannot read the run's config ({exc.__class__.__name__})") from None
    cfg = config.from_dict(raw, where=str(saved))
    merged = {**config.flatten(cfg), "model.strategy": manifest["window"].get("strategy", "direct"),
              **{k: v for k, v in given.items() if v is not None}}
    merged["schedule.coverage_tolerance"] = None  # a retrain-gate setting: backtest has no gate (and may turn levels off)
    return config.resolve(overrides=merged, choices=choices()), manifest


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
    panel: Panel | None = None,
) -> dict[str, list[BacktestResult]]:
    """Backtest every cell x strategy with every seed (refitting per fold) on one loaded file (default: load
    ``cfg.data``); each cell x strategy x seed x fold refit is one task of ``executor``.

    Returns:
        Leaderboard name (``gru``, ``gru-recursive``) -> one result per seed.
    """
    panel = panel if panel is not None else load(cfg)
    specs = [(cell, strategy, seed) for cell in cells for strategy in strategies for seed in seeds]
    results = _refit(cfg, panel, specs, folds, progress=progress, executor=executor, ray_address=ray_address)
    out: dict[str, list[BacktestResult]] = {}
    for r in results:
        out.setdefault(r.cell, []).append(r)
    return out
