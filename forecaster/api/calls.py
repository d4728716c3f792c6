"""The calls: :func:`compare`, :func:`train`, :func:`backtest`, :func:`load`, each a workflow of the ``forecast``
command run on a DataFrame (or a file) into a temporary run folder."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from forecaster.api.boundary import (
    Data,
    calling,
    integer,
    name_list,
    overrides_of,
    quiet_tensorflow,
    source_of,
    warn,
)
from forecaster.api.model import Backtest, Model
from forecaster.api.results import Comparison, Home, Trained
from forecaster.config import RunConfig
from forecaster.errors import ConfigError

__all__ = ["compare", "train", "backtest", "load"]


def _model_name(target: str) -> str:
    """A model name (``output.name``) from a target column: ``sales``, ``my_sales``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", target).strip("._-") or "series"


def _configure(where: str, df: Any, settings: Mapping[str, Any], config: str | os.PathLike[str] | None,
               own: Sequence[str]) -> tuple[RunConfig, Any, Data | None]:
    """The resolved config, the loaded and checked data (a Panel) and the frame to keep, if any."""
    from forecaster import config as configuration
    from forecaster.data.load import load
    from forecaster.models.catalog import choices

    overrides = overrides_of(where, settings, own)
    config = Path(config) if config is not None else None
    frame, path = source_of(df)
    overrides["data.path"] = path
    given = set(configuration.load(config)) if config is not None else set()
    if "output.tensorboard" not in overrides and "output.tensorboard" not in given:
        overrides["output.tensorboard"] = False  # nothing written outside the run until it is saved
    cfg = configuration.resolve(config, overrides, choices=choices())
    panel = load(cfg, frame=frame)
    if frame is not None and cfg.output.name is None:  # a frame has no file name: the model is named after its target
        cfg = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, name=_model_name(panel.first.target)))
    # a copy: forecasts "from the training data" read what was trained on, whatever the caller does to df later
    return cfg, panel, Data(frame.copy(), path) if frame is not None else None


def _tracking(cfg: RunConfig) -> str | None:
    """The MLflow URI to log the run to (``mlflow_uri``, else ``$MLFLOW_TRACKING_URI``), checked before any work
    (seconds at most); one that cannot be used is a :class:`ForecasterWarning` and the run is not logged (as the CLI)."""
    from forecaster.workflows.tracking import check_tracking_uri, mlflow_uri

    uri = mlflow_uri(cfg)
    if uri is None:
        return None
    try:
        check_tracking_uri(uri)
    except ConfigError as exc:
        warn(f"{exc}; the run will not be logged")
        return None
    return uri


def _log(uri: str | None, cfg: RunConfig, run_dir: Path, kind: str, rows: list[dict[str, Any]],
         cells: Sequence[Any]) -> None:
    from forecaster.workflows.tracking import log_run

    if uri is not None:
        try:
            log_run(uri, cfg, run_dir, rows, cells, kind=kind)
        except ConfigError as exc:
            warn(f"{exc}; the run was not logged")


# --- the calls --------------------------------------------------------------------------------------------------


def compare(
    df: Any,
    *,
    cells: Sequence[str] | str = ("lstm", "gru", "mlp"),
    repeats: int = 1,
    backtest: int = 0,
    strategies: Sequence[str] | str | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    config: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    **settings: Any,
) -> Comparison:
    """Train several cells on the same windows, scalers, epochs cap and seeds beside the baselines: ``forecast compare``.

    Args:
        df: a long-format DataFrame (one row per timestamp, or per series id and timestamp with
            ``id_col``), a Series with a ``DatetimeIndex``, or a CSV/Parquet path.
        cells: the cells to compare (``["lstm", "gru", "mlp"]``).
        repeats: seeds per cell (``seed, seed+1, ...``): a winner is declared only beyond their spread.
        backtest: also run a K-fold rolling-origin backtest per cell and seed, and rank by its MASE.
        strategies: ``["direct"]``, ``["recursive"]`` or both (default: the ``strategy`` setting).
        executor, ray_address: where the trials run (``"local"`` or ``"ray"``).
        config: a YAML config file; keywords override its values.
        verbose: print the progress lines the CLI shows.
        **settings: any run setting by its keyword (:data:`KEYWORDS`): ``target``, ``horizon``,
            ``id_col``, ``known_covariates``, ``epochs``, ``units``, ``levels``, ``name``...; ``tune=N``
            (or ``tune_time=S``) also tunes each cell at that equal budget: rows ``<cell>-tuned`` (an
            interrupted tuning is resumed from the command line: ``forecast compare --resume``).

    Returns:
        A :class:`Comparison`: ``.leaderboard``, ``.verdict``, ``.recommended``, ``.forecast()``, ``.save()``.

    Raises:
        KeywordError: an unknown keyword (with a "did you mean").
        ConfigError, DataError, TrainingError: as the CLI, each one line naming the keyword or column.

    Example:
        >>> cmp = compare(df, target="y", horizon=24, cells=["gru", "mlp"], epochs=5)  # doctest: +SKIP
        >>> cmp.leaderboard[["name", "mase"]]  # doctest: +SKIP
    """
    own = ("cells", "repeats", "backtest", "strategies", "executor", "ray_address", "config", "verbose")
    with calling(verbose) as say:
        from forecaster.models.catalog import check_cells

        overrides_of("compare", settings, own)  # a misspelt keyword first
        names = name_list(cells, "--cells")
        check_cells(names)
        chosen = name_list(strategies, "--strategies") if strategies is not None else None
        seeds, folds = integer(repeats, "--repeats", 1), integer(backtest, "--backtest", 0)
        _check_executor(executor, ray_address)
        cfg, panel, data = _configure("compare", df, settings, config, own)
        from forecaster.workflows import compare as flow
        from forecaster.workflows.tracking import staged_logs
        from forecaster.workflows.train import prepare_run

        uri = _tracking(cfg)
        with staged_logs():  # TensorBoard logs (tensorboard=True) kept only if the run completes
            prep = prepare_run(cfg, panel)
            quiet_tensorflow()
            home = Home()
            result = flow.compare(cfg, cells=names, repeats=seeds, progress=say, backtest=folds, prep=prep, strategies=chosen,
                                  executor=executor, ray_address=ray_address, run_dir=home.run_dir(cfg, "compare"))
        import types

        seeds = len({t.seed for t in result.trials}) > 1
        _log(uri, cfg, result.run_dir, "compare", result.rows,
             [types.SimpleNamespace(name=f"{t.name}.seed{t.seed}" if seeds else t.name, fit=t.result.fit)
              for t in result.trials])
        for line in result.warnings:
            warn(line)
        return Comparison(result.run_dir, cfg, home=home, data=data, warnings=result.warnings)


def train(df: Any, *, config: str | os.PathLike[str] | None = None, verbose: bool = False, **settings: Any) -> Trained:
    """Train one cell (the ``cell`` setting) beside the baselines: ``forecast train``.

    Args:
        df: as :func:`compare`'s.
        config, verbose: as :func:`compare`'s.
        **settings: run settings by keyword: ``cell``, ``target``, ``horizon``, ``epochs``...

    Returns:
        A :class:`Trained` run: ``.leaderboard``, ``.forecast()``, ``.predict()``, ``.save()``; its
        forecasts come from the cell trained (``.model(name)`` serves another row).

    Example:
        >>> model = train(df, cell="gru", target="y", horizon=24, epochs=5)  # doctest: +SKIP
        >>> model.forecast().head()  # doctest: +SKIP
    """
    with calling(verbose) as say:
        cfg, panel, data = _configure("train", df, settings, config, ("config", "verbose"))
        from forecaster.models.network.model import leaderboard_name
        from forecaster.workflows.tracking import staged_logs
        from forecaster.workflows.train import prepare_run
        from forecaster.workflows.train import train as flow

        uri = _tracking(cfg)
        with staged_logs():
            prep = prepare_run(cfg, panel)
            quiet_tensorflow()
            home = Home()
            result = flow(cfg, prep, progress=say, run_dir=home.run_dir(cfg, cfg.model.cell))
        _log(uri, cfg, result.run_dir, "train", result.leaderboard, result.cells)
        for line in result.warnings:
            warn(line)
        return Trained(result.run_dir, cfg, home=home, data=data, warnings=result.warnings,
                       row=leaderboard_name(cfg.model.cell, cfg.model.strategy))


def backtest(df: Any, *, folds: int = 5, executor: str = "local", ray_address: str | None = None,
             config: str | os.PathLike[str] | None = None, verbose: bool = False, **settings: Any) -> Backtest:
    """Rolling-origin (expanding window) evaluation of a cell's setup, refitted per fold beside the baselines.

    The test part (``test``) is cut into ``folds`` blocks; fold ``k`` trains only on rows before its
    block and is scored on it (a panel: each series cut at its own). Nothing is saved.

    Args:
        df: as :func:`compare`'s.
        folds: the number of rolling origins.
        executor, ray_address, config, verbose: as :func:`compare`'s.
        **settings: run settings by keyword (``cell``, ``horizon``, ``epochs``...).

    Returns:
        A :class:`Backtest`: ``.folds`` (per fold and row) and ``.mean`` (mean and std over folds).

    Example:
        >>> bt = backtest(df, folds=4, cell="gru", target="y", horizon=24, epochs=5)  # doctest: +SKIP
        >>> bt.mean[["name", "mase"]]  # doctest: +SKIP
    """
    own = ("folds", "executor", "ray_address", "config", "verbose")
    with calling(verbose) as say:
        overrides_of("backtest", settings, own)
        folds = integer(folds, "--folds", 1)
        _check_executor(executor, ray_address)
        cfg, panel, _ = _configure("backtest", df, settings, config, own)
        from forecaster.workflows.backtest import backtest as flow
        from forecaster.workflows.tracking import staged_logs

        quiet_tensorflow()
        with staged_logs():
            result = flow(cfg, cell=cfg.model.cell, folds=folds, panel=panel, progress=say,
                          executor=executor, ray_address=ray_address)
        return Backtest(result)


def load(model: str | os.PathLike[str], models_dir: str | os.PathLike[str] = "models") -> Model:
    """A saved row, as ``forecast predict --model`` finds it: a row (cell) folder, a run folder (its best
    servable row), or a model name's folder or registry name (its champion, else its newest run's best row),
    also looked up under ``models_dir``.

    Raises:
        ArtifactError: no such model, or a folder that is incomplete or corrupt.

    Example:
        >>> model = load("models/sales")  # doctest: +SKIP
        >>> model.predict(horizon=6)  # doctest: +SKIP
    """
    with calling():
        from forecaster.artifacts.run import resolve_model

        cell_dir, why = resolve_model(os.fspath(model), os.fspath(models_dir))
        return Model(cell_dir, why)


def _check_executor(executor: str, ray_address: str | None) -> None:
    if executor not in ("local", "ray"):
        raise ConfigError(f"--executor: expected 'local' or 'ray', got {executor!r}")
    if ray_address and executor != "ray":
        raise ConfigError("--ray-address: only with --executor ray")
    if executor == "ray" and ray_address:
        from forecaster.workflows.executor import check_ray_address

        check_ray_address(ray_address)


