"""The train pipeline, top to bottom: load -> split -> scale -> windows -> fit -> score -> export.

Every cell in one run sees exactly the same windows, split, scaler, epoch cap, stopping rule,
batch size and seed, and is scored beside the naive baselines on the same test windows.

Example:
    >>> from forecaster import config
    >>> result = train(config.resolve(overrides={"training.epochs": 3}))  # doctest: +SKIP
    >>> result.run_dir  # doctest: +SKIP
    PosixPath('models/seattle_temps_2010/runs/20261124-181502-lstm-3fa2')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecaster import baselines, intervals, lineup, network, scoring
from forecaster.artifacts import layout
from forecaster.artifacts.cell import write_cell, write_statistical
from forecaster.artifacts.io import new_run_id
from forecaster.artifacts.run import store_run
from forecaster.config import RunConfig, dump_yaml
from forecaster.network import CellResult
from forecaster.prepared import Prepared, describe, future_index, load, prepare

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.contract import Model

__all__ = [
    "Prepared", "CellResult", "RunResult", "prepare", "load", "describe", "train", "train_cell", "save_run",
    "baseline_scores", "leaderboard", "future_index", "LEADERBOARD_COLUMNS",
]

Progress = Callable[[str], None]

LEADERBOARD_COLUMNS = (
    "name", "kind", "params", "epochs_run", "best_epoch", "train_seconds",
    "mae", "rmse", "smape", "mape", "mase", "mase_vs_seasonal_naive", "fit_seconds", "predict_seconds", "error",
)


@dataclass
class RunResult:
    """What :func:`train` produced: the saved run and its leaderboard rows."""

    run_dir: Path
    leaderboard: list[dict[str, Any]]
    cells: list[CellResult] = field(default_factory=list)
    season: int = 1
    warnings: list[str] = field(default_factory=list)  # undefined metrics etc., for the user to see


def score_baselines(
    prep: Prepared, models: Sequence[Model] | None = None, *, cfg: RunConfig | None = None,
    progress: Progress | None = None,
) -> list[scoring.Scored]:
    """Fit and score each baseline on the test windows (see :func:`baseline_scores`), models kept."""
    if models is None:
        models = lineup.make_baselines(cfg.model.baselines) if cfg is not None else baselines.default_baselines()
        if progress is not None and cfg is not None:
            for note in lineup.slow_notes(cfg.model.baselines):
                progress(f"baseline {note}")
    scored = scoring.fit_and_score(list(models), prep, levels=cfg.forecast.levels if cfg is not None else (),
                                   progress=progress)
    if progress is not None:
        for s in scored:
            if s.error is not None:
                progress(f"baseline {s.scores['error']} (a row without scores)")
    return scored


def baseline_scores(
    prep: Prepared, models: Sequence[Model] | None = None, *, cfg: RunConfig | None = None,
    progress: Progress | None = None,
) -> dict[str, dict[str, Any]]:
    """Each baseline's scores on the test windows, by name.

    Args:
        prep: the prepared split (every baseline is fitted on it, never on its test rows).
        models: the models to score; default: ``cfg.model.baselines`` (see :mod:`forecaster.lineup`),
            or naive and seasonal naive without a config.
        cfg: the run's config.
        progress: receives one line per slow baseline asked for, and per failed one.

    A baseline that fails to fit or forecast gets a row with its reason (``scores["error"]``).
    """
    return {s.name: s.scores for s in score_baselines(prep, models, cfg=cfg, progress=progress)}


def _row(name: str, kind: str, scores: dict[str, Any], reference: dict[str, Any], **extra: Any) -> dict[str, Any]:
    ref = reference.get("mase")
    mase = scores.get("mase")
    row = {"name": name, "kind": kind, "params": None, "epochs_run": None, "best_epoch": None, "train_seconds": None,
           "fit_seconds": scores.get("fit_seconds"), "predict_seconds": scores.get("predict_seconds")}
    row.update(extra)
    row.update({k: scores.get(k) for k in scoring.METRIC_KEYS})
    row.update({k: scores[k] for k in intervals.flat_keys([scores])})
    row["mase_vs_seasonal_naive"] = (mase / ref) if (mase is not None and ref) else None
    row["error"] = scores.get("error")
    return row


def leaderboard(cells: Sequence[CellResult], base: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per cell and baseline, models first."""
    ref = base.get("seasonal_naive", {})
    rows = [
        _row(c.name, "model", c.scores, ref, params=c.params, epochs_run=c.fit.epochs_run,
             best_epoch=c.fit.best_epoch, train_seconds=round(c.train_seconds, 3))
        for c in cells
    ]
    rows += [_row(name, "baseline", scores, ref) for name, scores in base.items()]
    return rows


def _cell_metrics(prep: Prepared, c: CellResult, base: dict[str, Any]) -> dict[str, Any]:
    return {
        "cell": c.cell,
        "test": c.scores,
        "baselines": base,
        "season": prep.season,
        "residual_base": c.base.name if c.base is not None else None,
        "residual_season": c.base.season if c.base is not None else None,
        "seasons": list(prep.seasons),
        "linear_correction": c.base is not None and c.base.linear is not None,
        "linear_choice_val_loss": c.linear_choice,
        "n_test_windows": int(prep.test_targets.shape[0]),
        "params": c.params,
        "epochs_run": c.fit.epochs_run,
        "best_epoch": c.fit.best_epoch,
        "best_val_loss": c.fit.best_val_loss,
        "train_seconds": c.train_seconds,  # every fit of the cell
        "epochs_total": c.epochs_total,
    }


def _records(prep: Prepared, cfg: RunConfig, strategy: str) -> dict[str, dict[str, Any]]:
    """The manifest's ``window`` and ``data`` records of every folder of a run."""
    s, sp = prep.series, prep.split
    return {
        "window": {"lookback": sp.lookback, "horizon": sp.horizon, "freq": s.freq, "season": prep.season,
                   "seasons": list(prep.seasons),
                   "strategy": strategy, "split": {"train_end": sp.train_end, "val_end": sp.val_end, "n": sp.n}},
        "data": {"path": s.path, "sha256": s.sha256, "rows": len(s.frame), "target": s.target,
                 "covariates": [c for c in s.covariates if c not in s.known], "known": list(s.known),
                 "calendar": prep.calendar, "time_col": s.time_col, "missing": cfg.data.missing,
                 "first": str(s.frame.index[0]), "last": str(s.frame.index[-1]), "n_filled": s.n_filled},
    }


def _write_cell(cell_dir: Path, prep: Prepared, cfg: RunConfig, c: CellResult, base: dict[str, Any]) -> None:
    write_cell(cell_dir, cell=c.cell, model=c.model, scaler=prep.scaler, metrics=_cell_metrics(prep, c, base),
               history=c.fit.history, forecast=c.forecast, calibration=c.calibration, **_records(prep, cfg, c.strategy))


def servable(scored: Sequence[scoring.Scored]) -> list[scoring.Scored]:
    """The baselines saved as a servable folder: fitted statistical models with a spec."""
    return [s for s in scored if s.error is None and s.model.capabilities.saves and hasattr(s.model, "spec")]


def _write_statistical(cell_dir: Path, prep: Prepared, cfg: RunConfig, s: scoring.Scored) -> None:
    records = _records(prep, cfg, "direct")
    records["data"].update(covariates=[], known=[], calendar=False)  # the target alone: predict needs no other column
    write_statistical(cell_dir, name=s.name, spec=s.model.spec(),  # type: ignore[attr-defined]
                      metrics={"name": s.name, "test": s.scores, "season": prep.season,
                               "n_test_windows": int(prep.test_targets.shape[0])},
                      calibration=s.calibration, **records)


def run_warnings(cells: Sequence[CellResult], base: dict[str, dict[str, Any]]) -> list[str]:
    """Every distinct metric warning of a run (undefined MAPE or MASE...), baselines included."""
    found = [w for scores in base.values() for w in scores.get("warnings", [])]
    found += [w for c in cells for w in c.scores.get("warnings", [])]
    return list(dict.fromkeys(found))


def default_run_dir(cfg: RunConfig, label: str) -> Path:
    """``<models_dir>/<name>/runs/<new run id>``."""
    return Path(cfg.output.models_dir) / cfg.model_name / layout.RUNS_DIR / new_run_id(label)


def train_cell(prep: Prepared, cfg: RunConfig, cell: str, **kwargs: Any) -> CellResult:
    """Deprecated alias of :func:`forecaster.network.train_cell`."""
    return network.train_cell(prep, cfg, cell, **kwargs)


def train(
    cfg: RunConfig,
    prep: Prepared | None = None,
    *,
    cells: Sequence[str] | None = None,
    progress: Progress | None = None,
    run_dir: Path | None = None,
    checkpoint: Any = None,
    callbacks: Sequence[Any] = (),
) -> RunResult:
    """Train each cell (default: ``cfg.model.cell``) on the same windows and save one run.

    Args:
        cfg: the resolved configuration.
        prep: the prepared split (default: load and prepare ``cfg.data``); a caller that has
            already loaded and checked the data (the retrain) passes it, so the file is read once
            and the run is made of exactly that data.
        cells: cells to train under identical conditions.
        progress: receives human-readable progress lines (``None``: silent).
        run_dir: where to save the run (must not exist); default
            ``<models_dir>/<name>/runs/<new run id>``.
        checkpoint: a :class:`forecaster.checkpoint.Checkpoint`; each cell resumes from and
            saves to its own sub-folder (the caller clears it once the run is saved).
        callbacks: extra Keras callbacks for every fit (a tracker hook, for instance).

    Returns:
        The saved run directory and its leaderboard.

    Raises:
        DataError, TrainingError, ArtifactError: nothing is saved in any of these cases.
    """
    cells = list(cells or [cfg.model.cell])
    say = progress or (lambda _msg: None)
    prep = prep if prep is not None else prepare(cfg)
    say(describe(prep))
    scored = score_baselines(prep, cfg=cfg, progress=progress)
    base = {s.name: s.scores for s in scored}
    results = []
    for cell in cells:
        say(f"training {cell} (seed {cfg.training.seed}, up to {cfg.training.epochs} epochs)")
        results.append(network.train_cell(prep, cfg, cell, progress=progress, callbacks=callbacks,
                                          checkpoint=checkpoint.child(cell) if checkpoint is not None else None))
    rows = leaderboard(results, base)

    final = run_dir or default_run_dir(cfg, cells[0] if len(cells) == 1 else "compare")
    save_run(final, prep, cfg, results, base, rows, statistical=servable(scored))
    return RunResult(run_dir=final, leaderboard=rows, cells=results, season=prep.season,
                     warnings=run_warnings(results, base))


def save_run(
    final: Path,
    prep: Prepared,
    cfg: RunConfig,
    results: Sequence[CellResult],
    base: dict[str, dict[str, Any]],
    rows: list[dict[str, Any]],
    *,
    columns: Sequence[str] = LEADERBOARD_COLUMNS,
    board_extra: dict[str, Any] | None = None,
    extra: Callable[[Path], None] | None = None,
    statistical: Sequence[scoring.Scored] = (),
) -> None:
    """Write a complete run directory atomically (:func:`forecaster.artifacts.run.store_run`).

    ``extra(tmp_dir)`` runs after the cell folders are written and before the leaderboard, so it
    may measure the saved cells (updating ``rows``) and add files (a report, plots); the directory
    is renamed into place only after all of it. ``statistical`` rows (see :func:`servable`) get a
    folder each (their spec), so ``forecast predict --model <run>/<name>`` can serve them.
    """
    resolved = dataclasses.replace(  # what the defaults resolved to on this data, so a rerun repeats it
        cfg, data=dataclasses.replace(cfg.data, target=prep.series.target, time_col=prep.series.time_col),
        window=dataclasses.replace(cfg.window, lookback=prep.split.lookback),
    )

    def write_cells(tmp: Path) -> None:
        for c in results:
            _write_cell(tmp / c.name, prep, cfg, c, base)
        for s in statistical:
            _write_statistical(tmp / s.name, prep, cfg, s)

    board = {"season": prep.season, "n_test_windows": int(prep.test_targets.shape[0]), **(board_extra or {}),
             "rows": rows}
    store_run(final, config_yaml=dump_yaml(resolved), write_cells=write_cells, board=board, columns=columns,
              extra=extra)
