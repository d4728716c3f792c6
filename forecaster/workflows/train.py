"""The train workflow, top to bottom: load -> split -> scale -> windows -> fit -> score -> save.

One path for one series and many: a file of one series is a panel of one. Every cell in one run
sees exactly the same windows, splits, scalers, epoch cap, stopping rule, batch size and seed,
and is scored beside the baselines on the same test windows of every series (each with its own
MASE scale), then pooled over series. A global network learns from every series' windows (one
network; ``model.per_series``: one per series, fitted by the local-model wrapper); every
baseline is fitted as the catalog says (a local one per series, linear once).

Example:
    >>> from forecaster import config
    >>> result = train(config.resolve(overrides={"training.epochs": 3}))  # doctest: +SKIP
    >>> result.run_dir  # doctest: +SKIP
    PosixPath('models/seattle_temps_2010/runs/20261124-181502-lstm-3fa2')
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecaster.artifacts import layout
from forecaster.config import RunConfig
from forecaster.data.features import future_index
from forecaster.data.frame import Panel
from forecaster.data.load import load
from forecaster.data.prepared import Prepared, PreparedSeries, describe, prepare, skipped_note
from forecaster.errors import TrainingError
from forecaster.evaluation import intervals, metrics
from forecaster.evaluation.scoring import Scored, score_row
from forecaster.fs import new_run_id
from forecaster.models import catalog
from forecaster.models.contract import Forecaster, Model
from forecaster.models.local import PerSeries
from forecaster.models.network.model import NetworkModel, leaderboard_name
from forecaster.models.network.residual import lookback_choice
from forecaster.models.statistical import STATISTICAL
from forecaster.types import Progress, speaker
from forecaster.workflows import beside as beside_networks
from forecaster.workflows.decision import decide
from forecaster.workflows.results import CellResult, RunResult, SeriesFits, leaderboard, run_warnings
from forecaster.workflows.save import save_run
from forecaster.workflows.tracking import tensorboard_available, tensorboard_callback, tensorboard_dir

__all__ = ["prepare_run", "score_baselines", "start_baselines", "train_cell", "future", "train", "default_run_dir", "begin",
           "ANNOUNCED_SERIES"]

#: Series whose start a ``--per-series`` fit announces, at most (then one line every tenth of them).
ANNOUNCED_SERIES = 20


def score_baselines(prep: Prepared, cfg: RunConfig, progress: Progress | None = None) -> list[Scored]:
    """Every ``--baselines`` row fitted and scored on every series (a local one per series, linear once)."""
    return start_baselines(prep, cfg, progress, beside=False).collect()


def start_baselines(prep: Prepared, cfg: RunConfig, progress: Progress | None = None, *,
                    beside: bool = True) -> beside_networks.Baselines:
    """:func:`score_baselines` begun; with ``beside`` (networks train next) the statistical rows of a large
    enough run are scored in a worker process meanwhile (:mod:`forecaster.workflows.beside`): ``collect()``
    the rows after the networks."""
    say = speaker(progress)
    for note in catalog.slow_notes(cfg.model.baselines):
        say(f"baseline {note}")
    many = prep.panel.id_col is not None
    rows = sum(item.split.val_end for item in prep.items)
    origins = sum(len(item.origins("test")) for item in prep.items)

    def announce(models: Sequence[Model], background: bool) -> None:
        names = [m.name for m in models if m.name in STATISTICAL]
        if names:  # seconds to minutes (~50 s on a half-hourly year): say it starts
            say(f"baseline {', '.join(names)}: fitting on {rows:,} rows{f' of {len(prep.items)} series' if many else ''}, "
                f"forecasting {origins:,} test origins{' and calibrating' if cfg.forecast.levels else ''}"
                + (" in a worker process beside the networks" if background else ""))

    def score(model: Model) -> Scored:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", metrics.MetricWarning)
            return score_row(model, prep, levels=cfg.forecast.levels, nonnegative=cfg.forecast.nonnegative)

    def report(scored: Scored, seconds: float, where: str) -> None:
        mase = scored.scores.get("mase")
        say(f"baseline {scored.name}: {seconds:.1f}s" + (f" over {len(prep.items)} series" if many else "") + where
            + (f" (MASE {mase:.3f})" if isinstance(mase, float) and math.isfinite(mase) else ""))
        if scored.error:
            say(f"baseline {scored.error}" + ("" if many else " (a row without scores)"))

    return beside_networks.start(catalog.line_up(cfg.model.baselines, progress=progress), prep, score, report,
                                 progress, beside=beside, announce=announce)


def _logs(cfg: RunConfig, label: str) -> Callable[[str], list[Any]] | None:
    """The TensorBoard callbacks of one network's fit (``None``: logging is off or not installed)."""
    if not (cfg.output.tensorboard and tensorboard_available()):
        return None
    root = tensorboard_dir(cfg, label)
    return lambda variant: [tensorboard_callback(root / variant if variant else root)]


def prepare_run(cfg: RunConfig, panel: Panel | None = None) -> Prepared:
    """The file (default: ``cfg.data``) prepared for a run: its lookback ``window.lookback``, or chosen among the
    season-aware candidates by the ``linear`` row's validation loss (:func:`~forecaster.models.network.residual.lookback_choice`),
    the candidates' scores recorded.

    Raises:
        DataError: the file cannot be used (see :func:`forecaster.data.prepared.prepare`).
    """
    panel = panel if panel is not None else load(cfg)
    lookback, scores = lookback_choice(cfg, panel)
    return prepare(cfg, panel, lookback=lookback, lookback_scores=scores)


def _network(cell: str, cfg: RunConfig, *, progress: Progress | None, callbacks: Sequence[Any], checkpoint: Any,
             n_series: int) -> Model:
    """The row model of a cell: one global network, or under ``model.per_series`` one per series."""
    name = leaderboard_name(cell, cfg.model.strategy)
    if not cfg.model.per_series:
        return NetworkModel(cell, cfg, progress=progress, callbacks=callbacks, checkpoint=checkpoint,
                            logs=_logs(cfg, name))
    say = speaker(progress)
    every = max(1, n_series // 10)

    def make() -> NetworkModel:
        k = row.position_
        return NetworkModel(cell, cfg, callbacks=callbacks, logs=_logs(cfg, f"{cell}-series{k}"),
                            checkpoint=checkpoint.child(f"series-{k}") if checkpoint is not None else None)

    def announce(k: int, n: int, sid: str | None) -> None:
        if n <= ANNOUNCED_SERIES or k % every == 0:
            say(f"  {cell}: series {k + 1}/{n} ({sid})")

    row = PerSeries(make, announce=announce, probe=NetworkModel(cell, cfg))
    return row


def train_cell(prep: Prepared, cfg: RunConfig, cell: str, *, progress: Progress | None = None,
               callbacks: Sequence[Any] = (), checkpoint: Any = None, fitted: NetworkModel | None = None) -> CellResult:
    """Build, fit and score one cell on the prepared windows of every series (seeded from ``cfg``).

    ``checkpoint`` (a :class:`forecaster.models.network.checkpoint.Checkpoint`) makes the fit resumable.
    ``fitted``: a network already fitted on ``prep`` (a tuning's best trial), scored as it is.

    Raises:
        TrainingError: the network (or, per series, every network) could not be trained.
    """
    row: Model = fitted if fitted is not None else _network(cell, cfg, progress=progress, callbacks=callbacks,
                                                            checkpoint=checkpoint, n_series=len(prep.items))
    scored = score_row(row, prep, levels=cfg.forecast.levels, nonnegative=cfg.forecast.nonnegative, fit=fitted is None)
    scored.scores.pop("fit_seconds", None)  # a network's fit is its training record (train_seconds)
    if isinstance(row, PerSeries):
        kept = row.models_
        if not kept:
            raise TrainingError(f"{cell}: no per-series network could be trained ({scored.scores['error']})")
        nets: list[NetworkModel] = list(kept.values())  # type: ignore[arg-type]
        windows = {p.series_id: len(p.split.starts("train")) for p in prep.items}
        fits: Any = SeriesFits(tuple(kept), tuple(net.fit_ for net in nets),
                               windows_trained=sum(windows[sid] * net.epochs_total_ for sid, net in kept.items()))  # type: ignore[attr-defined]
        model: Any = {sid: net.model_ for sid, net in kept.items()}  # type: ignore[attr-defined]
        params = int(sum(m.count_params() for m in model.values()))
        base, linear_choice, strategy = None, None, nets[0].strategy
        train_seconds = float(sum(net.train_seconds_ for net in nets))
        epochs_total = int(sum(net.epochs_total_ for net in nets))
    else:
        net: NetworkModel = row  # type: ignore[assignment]
        model, fits, params = net.model_, net.fit_, int(net.model_.count_params())
        base, linear_choice, strategy = net.base_, net.linear_choice_, net.strategy
        train_seconds, epochs_total = net.train_seconds_, net.epochs_total_
    return CellResult(
        cell=cell, model=model, params=params, fit=fits, scores=scored.scores,
        forecast=future(prep, row, scored.calibration), strategy=strategy, base=base,
        linear_choice=linear_choice, train_seconds=train_seconds, epochs_total=epochs_total, network=row,
        calibration=scored.calibration, row=scored,
    )


def _forecaster(model: Model, item: PreparedSeries) -> Forecaster | None:
    try:
        return model.on(item)
    except ValueError:  # a per-series network that failed to train: no forecast for its series
        return None


def future(prep: Prepared, model: Model, cal: intervals.Calibration | None) -> pd.DataFrame:
    """``[<id_col>,] timestamp, yhat[, lo-80, hi-80...]``: the horizon after the end of every series, by the fitted
    row ``model`` (a series it has no forecaster for is left out). The id column only for a panel.

    Empty when known covariates are inputs (their future values come with ``forecast predict --future``).
    """
    h, id_col = prep.split.horizon, prep.panel.id_col
    frames = []
    for item in prep.items if not prep.columns.known else ():
        forecaster = _forecaster(model, item)
        if forecaster is None:
            continue
        s, sp = item.series, item.split
        yhat = forecaster.predict(item.values, np.array([sp.n]), h)[0]
        bands = cal.columns(yhat, scale=cal.scale_of(item.series_id)) if cal is not None else {}
        index = future_index(s.frame.index[sp.n - 1], s.freq, h)
        frames.append(pd.DataFrame({**({id_col: s.series_id} if id_col else {}), "timestamp": index, "yhat": yhat,
                                    **bands}))
    if frames:
        return pd.concat(frames, ignore_index=True)
    empty = {"timestamp": pd.DatetimeIndex([]), "yhat": np.empty(0)}
    if cal is not None:
        empty.update(cal.columns(np.empty(0)))
    return pd.DataFrame({**({id_col: []} if id_col else {}), **empty})


def begin(cfg: RunConfig, prep: Prepared | None, progress: Progress | None, *,
          beside: bool = True) -> tuple[Prepared, str | None, beside_networks.Baselines]:
    """The start of a run: prepare (unless ``prep`` is given), say what it holds and which series were skipped,
    and start scoring every baseline. Returns the prepared data, the skipped note and the baselines (some maybe
    still being scored beside the networks: use them as a context manager, ``collect()`` them after training)."""
    say = speaker(progress)
    prep = prep if prep is not None else prepare_run(cfg)
    say(describe(prep))
    note = skipped_note(prep)
    if note:
        say(note)
    return prep, note, start_baselines(prep, cfg, progress, beside=beside)


def default_run_dir(cfg: RunConfig, label: str) -> Path:
    """``<models_dir>/<name>/runs/<new run id>``."""
    return Path(cfg.output.models_dir) / cfg.model_name / layout.RUNS_DIR / new_run_id(label)


def train(
    cfg: RunConfig,
    prep: Prepared | None = None,
    *,
    cells: Sequence[str] | None = None,
    progress: Progress | None = None,
    run_dir: Path | None = None,
    checkpoint: Any = None,
    callbacks: Sequence[Any] = (),
    beside: bool = True,
) -> RunResult:
    """Train each cell (default: ``cfg.model.cell``) on the same windows beside the baselines and save one run.

    Args:
        cfg: the resolved configuration.
        prep: the prepared data (default: load and prepare ``cfg.data``); a caller that has
            already loaded and checked the data (the retrain) passes it, so the file is read once
            and the run is made of exactly that data.
        cells: cells to train under identical conditions.
        progress: receives human-readable progress lines (``None``: silent).
        run_dir: where to save the run (must not exist); default
            ``<models_dir>/<name>/runs/<new run id>``.
        checkpoint: a :class:`forecaster.models.network.checkpoint.Checkpoint`; each cell resumes from and
            saves to its own sub-folder (the caller clears it once the run is saved).
        callbacks: extra Keras callbacks for every fit (a tracker hook, for instance).
        beside: a large run's statistical baselines are scored in a worker process while the networks
            train (:mod:`forecaster.workflows.beside`); ``False``: one after the other, here.

    Returns:
        The saved run directory and its leaderboard.

    Raises:
        DataError, TrainingError, ArtifactError: nothing is saved in any of these cases.
    """
    cells = list(cells or [cfg.model.cell])
    say = speaker(progress)
    prep, note, baselines = begin(cfg, prep, progress, beside=beside)
    many = prep.panel.id_col is not None
    results = []
    with baselines:
        for cell in cells:
            if many:
                how = "one network per series" if cfg.model.per_series else "one network"
                say(f"training {cell} on {len(prep.items)} series ({how}, seed {cfg.training.seed}, up to "
                    f"{cfg.training.epochs} epochs)")
            else:
                say(f"training {cell} (seed {cfg.training.seed}, up to {cfg.training.epochs} epochs)")
            results.append(train_cell(prep, cfg, cell, progress=progress, callbacks=callbacks,
                                      checkpoint=checkpoint.child(cell) if checkpoint is not None else None))
        scored = baselines.collect()
    rows = leaderboard(results, scored, many=many)
    decision = decide(cfg, prep, rows, {**{s.name: [s] for s in scored}, **{c.name: [c.row] for c in results}})
    final = run_dir or default_run_dir(cfg, cells[0] if len(cells) == 1 else "compare")
    save_run(final, prep, cfg, results, scored, rows, board_extra={"verdict": decision.to_dict()})
    return RunResult(run_dir=final, leaderboard=rows, cells=results, season=prep.season,
                     warnings=run_warnings(results, scored) + ([note] if note else []), verdict=decision,
                     scored=scored)
