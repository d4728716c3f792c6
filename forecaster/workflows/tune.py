"""A fair fight (issue 29): every compared cell tuned with Optuna at the same budget, chosen on validation only.

``forecast compare --tune N`` (or ``--tune-time S``) gives each cell the same budget of N trials (or
S seconds) of one Optuna study: a seeded TPE sampler over the cell's declared search space
(:data:`SPACE`: units, layers, learning rate, dropout, batch size, with or without the linear path,
and the lookback among the data's season-aware candidates), a median pruner fed each epoch's
validation loss. A trial is scored by its best validation loss and nothing else; the test part is
read once per cell, by the best trial's network, which becomes the row ``<cell>-tuned`` beside the
cell's default row. So the question "LSTM or GRU?" is answered with each one at its tuned best,
not at shared defaults that may suit one more than the other.

With ``--executor ray`` each cell's study is one Ray task (the cells in parallel, each one's trials
in order, so a seed gives the same trials as here), sharing the SQLite file of a Ray started here.

The study lives in ``<models_dir>/<name>/tuning/study.db`` (SQLite) while it runs, so an
interrupted tuning continues where it stopped (``--resume``: the counted trials stay counted, the
trial cut by the interruption is marked failed and not counted). The first trial of every study is the default row's
settings where they lie in the space (``model.linear: null`` tried with the linear path), so there a
tuned row does no worse than its default on validation, and every cell starts from the same point. The finished run folder holds a
copy (``tuning.db``), each ``<cell>-tuned/trials.csv`` (every trial: parameters, validation loss,
epochs, seconds, pruned or not) and ``<cell>-tuned/config.yaml``, with which ``forecast train
--config`` trains the tuned model again (same seed, same windows: the same network).

Example:
    >>> from forecaster import config
    >>> cfg = config.resolve(overrides={"tune.trials": 3, "training.epochs": 2})
    >>> budget_of(cfg)
    '3 trials'
    >>> sorted(SPACE["lstm"])
    ['batch_size', 'dropout', 'layers', 'learning_rate', 'linear', 'units']
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecaster.config import RunConfig, TuneConfig
from forecaster.data.prepared import Prepared, prepare
from forecaster.errors import ConfigError, TrainingError
from forecaster.fs import atomic_write_text
from forecaster.types import Progress, speaker
from forecaster.workflows.results import CellResult

__all__ = ["SPACE", "Param", "TunedResult", "Tuned", "budget_of", "check_tuning", "lookback_candidates", "tune_cells",
           "tuning_dir", "default_params", "configure", "best_trial", "STUDY_FILE", "TRIALS_CSV"]

STUDY_FILE = "study.db"
TRIALS_CSV = "trials.csv"
#: TPE samples at random for this many trials of a study before it models the good ones.
STARTUP_TRIALS = 5
#: The pruner compares a trial's validation loss with the median of earlier trials' at the same epoch
#: once this many trials have finished, and never before the trial's third epoch (its first two are
#: noisy: the network starts as the linear row and the gain check needs ``training.gain_epochs``).
PRUNE_AFTER_TRIALS, PRUNE_WARMUP_EPOCHS = 3, 2


@dataclass(frozen=True)
class Param:
    """One dimension of a search space: a list of choices, or a float range (``log``: sampled on a log scale)."""

    choices: tuple[Any, ...] = ()
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    step: float | None = None

    def suggest(self, trial: Any, name: str) -> Any:
        if self.choices:
            return trial.suggest_categorical(name, list(self.choices))
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)


_COMMON: dict[str, Param] = {
    "units": Param(choices=(16, 32, 64, 128)),
    "layers": Param(choices=(1, 2)),
    "learning_rate": Param(low=1e-4, high=1e-2, log=True),
    "dropout": Param(low=0.0, high=0.3, step=0.1),
    "batch_size": Param(choices=(32, 64, 128, 256, 512)),
    "linear": Param(choices=(True, False)),
}

#: The declared search space of each cell (the lookback is added per data: its season-aware candidates).
#: LSTM and GRU get the same space, so neither is favoured by what it may try.
SPACE: dict[str, dict[str, Param]] = {"lstm": _COMMON, "gru": _COMMON, "mlp": _COMMON}


def _space(cell: str, cfg: RunConfig, lookbacks: Sequence[int]) -> dict[str, Param]:
    space = dict(SPACE.get(cell, _COMMON))
    if not cfg.model.residual:  # the linear path exists only with the residual design
        space.pop("linear", None)
    space["lookback"] = Param(choices=tuple(lookbacks))
    return space


def budget_of(cfg: RunConfig) -> str:
    """The per-cell budget in words (``'20 trials'``, ``'600 s'``, ``'20 trials or 600 s'``); ``''``: no tuning."""
    t = cfg.tune
    parts = [f"{t.trials} trials"] if t.trials else []
    parts += [f"{t.time:g} s"] if t.time is not None else []
    return " or ".join(parts)


def check_tuning(cfg: RunConfig, *, executor: str, backtest: int, strategies: Sequence[str],
                 resume: bool = False, ray_address: str | None = None) -> None:
    """Refuse what tuning does not support yet, before any training.

    Raises:
        ConfigError: Optuna not installed; ``--per-series``, ``--backtest``, ``--ray-address`` or several
            strategies with ``--tune``; ``--resume`` without a budget.
    """
    if not budget_of(cfg):
        if resume:
            raise ConfigError("--resume: continues an interrupted tuning; give its budget again (--tune N or "
                              "--tune-time S)")
        return
    flag = "--tune" if cfg.tune.trials else "--tune-time"
    import importlib.util

    if importlib.util.find_spec("optuna") is None:
        raise ConfigError(f"{flag}: Optuna is not installed; pip install 'forecaster[tune]'")
    if cfg.model.per_series:
        raise ConfigError(f"{flag}: tunes one global network per cell; drop --per-series or --tune")
    if backtest:
        raise ConfigError(f"{flag}: the tuned rows are scored on the test part only; drop --backtest or {flag}")
    if executor != "local" and ray_address:
        raise ConfigError(f"{flag}: with --executor ray the studies' SQLite file must be shared by the tasks: "
                          f"start Ray here (drop --ray-address {ray_address})")
    if len(strategies) != 1:
        raise ConfigError(f"{flag}: tunes one horizon strategy (got {','.join(strategies)}); give one --strategies")


def lookback_candidates(cfg: RunConfig, prep: Prepared) -> list[int]:
    """The lookbacks a trial may take: ``window.lookback`` when given, else the season-aware candidates of the
    series of median length (:func:`forecaster.data.seasons.lookback_candidates`), as the default run chose among."""
    from forecaster.data.seasons import lookback_candidates as candidates
    from forecaster.data.seasons import median_series, training_rows

    if cfg.window.lookback is not None:
        return [cfg.window.lookback]
    if prep.lookback_scores:
        return sorted(int(k) for k in prep.lookback_scores)
    median = median_series(prep.panel)
    found = candidates(prep.seasons, cfg.window.horizon, training_rows(cfg, len(median.frame)))
    return sorted({*found, prep.split.lookback})


def configure(cfg: RunConfig, cell: str, params: dict[str, Any]) -> RunConfig:
    """The run config of one trial: ``cfg`` with the trial's parameters (tuning itself off)."""
    m, t = cfg.model, cfg.training
    return dataclasses.replace(
        cfg,
        window=dataclasses.replace(cfg.window, lookback=int(params["lookback"])),
        model=dataclasses.replace(m, cell=cell, units=(int(params["units"]),) * int(params["layers"]),
                                  dropout=float(params["dropout"]), linear=params.get("linear", m.linear)),
        training=dataclasses.replace(t, learning_rate=float(params["learning_rate"]),
                                     batch_size=int(params["batch_size"])),
        tune=TuneConfig(),
    )


@dataclass
class TunedResult(CellResult):
    """A tuned cell's result: a :class:`CellResult` whose row and folder are named ``label`` (``lstm-tuned``)."""

    label: str = ""

    @property
    def name(self) -> str:
        return self.label


@dataclass
class Tuned:
    """One cell's tuning: its scored best network, the data and config it was trained with, and the study."""

    cell: str
    result: TunedResult
    prep: Prepared
    cfg: RunConfig
    study: Any
    counted: int
    seconds: float

    @property
    def name(self) -> str:
        return self.result.name


def tuning_dir(run_dir: Path) -> Path:
    """Where the tuning of the run saved to ``run_dir`` keeps its study while it runs: ``<models_dir>/<name>/tuning``
    (a run's id is new each time; this folder is the same for the next run of that model name)."""
    return run_dir.parent.parent / "tuning"


@contextmanager
def tuning_lock(run_dir: Path) -> Iterator[None]:
    """One tuning of a model name at a time: its study folder (:func:`tuning_dir`) is the name's, not the run's,
    so a second ``--tune`` of the name would replace the first one's study under it.

    Raises:
        ConfigError: another tuning of this model name holds the lock.
    """
    import filelock

    folder = tuning_dir(run_dir).parent
    folder.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(folder / "tuning.lock"), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise ConfigError(f"--tune: another tuning of {folder.name} is running ({folder / 'tuning.lock'} is held); "
                          "wait for it to finish, or give this run another --name") from None
    try:
        yield
    finally:
        lock.release()


def _study_key(cfg: RunConfig, prep: Prepared, cells: Sequence[str], lookbacks: Sequence[int]) -> dict[str, Any]:
    """What a study's trials depend on: a resumed study must have been run on the same of each."""
    from forecaster.config import to_dict

    key = to_dict(cfg)
    key.pop("output", None)
    key["tune"].pop("time", None)  # a resumed tuning may be given more (or less) time
    key["tune"].pop("trials", None)  # ... or more trials
    return {"config": key, "data": prep.panel.sha256,
            "rows": int(prep.split.offsets[-1]), "cells": list(cells), "lookbacks": [int(v) for v in lookbacks]}


def _counted(study: Any) -> list[Any]:
    """The trials that count against the budget: finished ones (complete, pruned, failed), not those cut by an
    interruption."""
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False)
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or (t.state == TrialState.FAIL and not t.user_attrs.get("interrupted"))]


def best_trial(study: Any) -> Any:
    """The completed trial with the lowest validation loss, the earliest on a tie (the defaults, trial 0, where
    nothing beats them: on most real series every trial stops at its linear start, so ties are common)."""
    from optuna.trial import TrialState

    return min((t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE),
               key=lambda t: (t.value, t.number))


def _close_interrupted(study: Any, storage: Any) -> int:
    """Mark the trials an interruption left running as failed (``interrupted``: not counted); how many."""
    from optuna.trial import TrialState

    stale = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.RUNNING]
    for t in stale:
        storage.set_trial_user_attr(t._trial_id, "interrupted", True)
        study.tell(t.number, state=TrialState.FAIL)
    return len(stale)


def _pruning_callback(trial: Any) -> Any:
    """A Keras callback that reports each epoch's validation loss to ``trial`` and stops the fit when the
    pruner says so (``.pruned``); the fit then ends normally and the objective raises ``TrialPruned``."""
    import keras

    class PruneOnValidation(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.pruned = False

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            value = (logs or {}).get("val_loss")
            if value is None or not math.isfinite(value):
                return
            trial.report(float(value), epoch)
            if trial.should_prune():
                self.pruned = True
                self.model.stop_training = True

    return PruneOnValidation()


def default_params(cfg: RunConfig, space: dict[str, Param], lookback: int) -> dict[str, Any] | None:
    """The default row's settings as a point of ``space`` (its first trial), or ``None`` where one lies outside it.

    ``model.linear: null`` (with and without the linear path, whichever starts lower) is tried as ``True``.

    Example:
        >>> from forecaster.config import RunConfig
        >>> default_params(RunConfig(), _space("lstm", RunConfig(), [48, 72]), 48)["units"]
        64
    """
    m, t = cfg.model, cfg.training
    point: dict[str, Any] = {"units": m.units[0] if len(set(m.units)) == 1 else None, "layers": len(m.units),
                             "learning_rate": t.learning_rate, "dropout": m.dropout, "batch_size": t.batch_size,
                             "linear": True if m.linear is None else m.linear, "lookback": lookback}
    point = {k: v for k, v in point.items() if k in space}
    for k, p in space.items():
        v = point.get(k)
        if p.choices:
            if v not in p.choices:
                return None
        elif v is None or not p.low <= v <= p.high or (p.step and abs(round((v - p.low) / p.step) * p.step + p.low - v) > 1e-9):
            return None
    return point


def _tune_cell(cell: str, cfg: RunConfig, prep_for: Any, lookbacks: Sequence[int], storage: Any,
               say: Any, default_lookback: int) -> Tuned:
    import optuna

    from forecaster.models.network.model import NetworkModel, leaderboard_name
    from forecaster.workflows.train import train_cell

    name = leaderboard_name(cell, cfg.model.strategy)
    space = _space(cell, cfg, lookbacks)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        storage=storage, study_name=name, direction="minimize", load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=cfg.training.seed, n_startup_trials=STARTUP_TRIALS),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER_TRIALS, n_warmup_steps=PRUNE_WARMUP_EPOCHS),
    )
    cut = _close_interrupted(study, storage)
    before = _counted(study)
    used = sum(float(t.user_attrs.get("seconds", 0.0)) for t in before)
    if before or cut:
        say(f"tuning {name}: resuming after {len(before)} counted trials ({used:.0f} s)"
            + (f"; {cut} interrupted trial(s) not counted" if cut else ""))
    kept: dict[int, Any] = {}  # the best network of this session, by trial number

    def objective(trial: Any) -> float:
        params = {k: p.suggest(trial, k) for k, p in space.items()}
        trial_cfg = configure(cfg, cell, params)
        callback = _pruning_callback(trial)
        net = NetworkModel(cell, trial_cfg, callbacks=[callback])
        t0 = time.perf_counter()
        try:
            net.fit(prep_for(int(params["lookback"])))
        except Exception:
            raise
        except BaseException:  # Ctrl-C, SystemExit: optuna fails the trial; a resumed study does not count it
            trial.set_user_attr("interrupted", True)
            raise
        finally:
            trial.set_user_attr("seconds", time.perf_counter() - t0)
        fit = net.fit_
        trial.set_user_attr("epochs", int(fit.epochs_run))
        trial.set_user_attr("batch_used", int(fit.batch_size or trial_cfg.training.batch_size))
        trial.set_user_attr("stopped", fit.stop_reason or "")
        value = float(fit.best_val_loss)
        shown = ", ".join(f"{k}={v:.2g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        if callback.pruned:
            say(f"  {name} trial {trial.number}: pruned at epoch {fit.epochs_run} ({shown})")
            raise optuna.TrialPruned(f"validation loss {value:.4g} at epoch {fit.epochs_run}")
        say(f"  {name} trial {trial.number}: val loss {value:.4g} in {fit.epochs_run} epochs ({shown})")
        if not math.isfinite(value):
            raise TrainingError(f"{name} trial {trial.number}: validation loss {value}")
        best = min((v for v, _ in kept.values()), default=math.inf)
        if value < best:
            kept.clear()
            kept[trial.number] = (value, net)
        return value

    tc = cfg.tune
    n = max(0, tc.trials - len(before)) if tc.trials else None
    timeout = max(0.0, tc.time - used) if tc.time is not None else None
    if (n is None or n > 0) and (timeout is None or timeout > 0):
        if not study.get_trials(deepcopy=False):
            first = default_params(cfg, space, default_lookback)
            if first is not None:  # the defaults are a trial: the tuned row is never worse on validation
                study.enqueue_trial(first)
        study.optimize(objective, n_trials=n, timeout=timeout, catch=(TrainingError,))
    counted = _counted(study)
    complete = [t for t in counted if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise TrainingError(f"{name}: no tuning trial completed of {len(counted)} (every one pruned or failed)")
    best = best_trial(study)
    best_cfg = configure(cfg, cell, {**best.params})
    best_prep = prep_for(int(best.params["lookback"]))
    fitted = kept.get(best.number, (None, None))[1]
    if fitted is None:  # the best trial ran before an interruption: the same seed trains the same network
        say(f"tuning {name}: training its best trial {best.number} again (it ran before the interruption)")
        fitted = NetworkModel(cell, best_cfg).fit(best_prep)
    say(f"tuning {name}: best trial {best.number} of {len(counted)} (val loss {best.value:.4g}); "
        "scoring it on the test part")
    res = train_cell(best_prep, best_cfg, cell, fitted=fitted)  # the test part, read once for this cell
    if res.row is not None:  # its per-series scores (series_metrics.csv, the report) under the row's own name
        res.row = dataclasses.replace(res.row, name=f"{name}-tuned")
    fields = {f.name: getattr(res, f.name) for f in dataclasses.fields(CellResult)}
    seconds = sum(float(t.user_attrs.get("seconds", 0.0)) for t in counted)
    return Tuned(cell=cell, result=TunedResult(**fields, label=f"{name}-tuned"), prep=best_prep, cfg=best_cfg,
                 study=study, counted=len(counted), seconds=seconds)


def _prep_cache(cfg: RunConfig, prep: Prepared) -> Any:
    """``lookback -> Prepared``: ``prep`` re-windowed for each lookback a trial asks for, each once."""
    preps: dict[int, Prepared] = {prep.split.lookback: prep}

    def prep_for(lookback: int) -> Prepared:
        if lookback not in preps:
            preps[lookback] = prepare(cfg, prep.panel, lookback=lookback, lookback_scores=prep.lookback_scores)
        return preps[lookback]

    return prep_for


def _storage(url: str) -> Any:
    import optuna

    return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 60}})


def _tune_task(prep: Prepared, cfg: RunConfig, cell: str, lookbacks: Sequence[int], url: str) -> tuple[Any, int, float]:
    """One cell's whole study in a Ray worker (its trials one after another, as here): the result with its model
    as bytes (:func:`~forecaster.workflows.executor.portable`), the trials counted and their seconds."""
    from forecaster.workflows.executor import portable

    t = _tune_cell(cell, cfg, _prep_cache(cfg, prep), lookbacks, _storage(url), speaker(None), prep.split.lookback)
    return portable(t.result), t.counted, t.seconds


def _on_ray(cfg: RunConfig, prep: Prepared, cells: Sequence[str], lookbacks: Sequence[int], url: str,
            prep_for: Any, progress: Progress | None) -> list[Tuned]:
    """Each cell's study as one Ray task (cells in parallel, each one's trials in order: the same trials as here
    for a seed); the parent loads each best model and reads each study back from the shared SQLite file."""
    import optuna

    from forecaster.models.network.model import leaderboard_name
    from forecaster.workflows.executor import Call, Failure, materialize, run_calls

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = _storage(url)
    names = [leaderboard_name(c, cfg.model.strategy) for c in cells]
    for name in names:  # the tables and studies made once, before the tasks race to make them
        optuna.create_study(storage=storage, study_name=name, direction="minimize", load_if_exists=True)
    calls = [Call(f"tuning {cell}", cell, (cfg, cell, list(lookbacks), url)) for cell in cells]
    out = []
    for cell, name, done in zip(cells, names, run_calls(_tune_task, calls, [prep], executor="ray", progress=progress)):
        if isinstance(done, Failure):
            raise TrainingError(f"tuning {name} failed: {done.reason}")
        result, counted, seconds = done
        study = optuna.load_study(study_name=name, storage=storage)
        params = best_trial(study).params
        out.append(Tuned(cell=cell, result=materialize(result), prep=prep_for(int(params["lookback"])),
                         cfg=configure(cfg, cell, params), study=study, counted=counted, seconds=seconds))
    return out


def tune_cells(cfg: RunConfig, prep: Prepared, cells: Sequence[str], *, run_dir: Path, resume: bool = False,
               executor: str = "local", progress: Progress | None = None) -> list[Tuned]:
    """Tune every cell at the same budget (``cfg.tune``), each on one Optuna study in one SQLite file.

    Every trial trains on the training windows and is judged on the validation windows only (the
    same validation targets whatever its lookback); the test part is scored once per cell, by its
    best trial. ``resume``: continue the study left by an interrupted tuning of the same settings.

    Raises:
        ConfigError: ``resume`` without a study to continue, or with one of other settings.
        TrainingError: no trial of a cell completed.
    """

    say = speaker(progress)
    lookbacks = lookback_candidates(cfg, prep)
    folder = tuning_dir(run_dir)
    db, keyfile = folder / STUDY_FILE, folder / "study.json"
    key = json.loads(json.dumps(_study_key(cfg, prep, cells, lookbacks), default=str))
    if resume:
        if not db.is_file() or not keyfile.is_file():
            raise ConfigError(f"--resume: no interrupted tuning in {folder}; run without --resume to start one")
        try:
            saved = json.loads(keyfile.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = None  # unreadable: not a study this run can continue
        if saved != key:
            raise ConfigError(f"--resume: the tuning in {folder} was run with other data, cells or settings; "
                              "run with the same ones, or without --resume to start anew")
    else:
        if db.exists():
            say(f"tuning: replacing the unfinished tuning in {folder} (use --resume to continue it)")
            db.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_text(keyfile, json.dumps(key, indent=1))
    url = f"sqlite:///{db.resolve()}"
    prep_for = _prep_cache(cfg, prep)

    say(f"tuning {', '.join(cells)}: {budget_of(cfg)} each (TPE seed {cfg.training.seed}, median pruner; "
        f"lookbacks {', '.join(map(str, lookbacks))}; chosen on validation loss only)")
    if executor == "ray":
        return _on_ray(cfg, prep, cells, lookbacks, url, prep_for, progress)
    storage = _storage(url)
    return [_tune_cell(cell, cfg, prep_for, lookbacks, storage, say, prep.split.lookback) for cell in cells]
