"""The Python API, for notebooks: DataFrames in, DataFrames and a verdict out.

A thin layer over the workflows the ``forecast`` command runs (:mod:`forecaster.workflows`): the
same code paths, so the numbers are the CLI's and a saved run is the folder the CLI writes
(``forecast predict --model`` serves it; :func:`load` loads a CLI run).

- **Keywords are config keys.** Every run setting of :data:`forecaster.config.SETTINGS` is a keyword
  named like its flag, dashes as underscores (``--horizon`` -> ``horizon``, ``--known-covariates`` ->
  ``known_covariates``); a misspelt one is a :class:`~forecaster.errors.KeywordError` (a ``TypeError``
  and a ``ConfigError``) with a "did you mean", never ignored. Error messages name the keyword where
  the CLI's name a flag (one mapping, :func:`python_message`).
- **Data** is a long-format DataFrame (any column names; the time column inferred as the CLI does, or
  the index), a Series with a ``DatetimeIndex``, or a file path; a frame goes through the checks a
  file does (:mod:`forecaster.data.load`) and is recorded as ``<DataFrame>`` with its content hash.
- **Quiet**: no TensorFlow or Keras log lines, nothing printed; ``verbose=True`` prints the progress
  lines the CLI shows. Notes about a result (an undefined MAPE, series left out) are
  :class:`ForecasterWarning`\\ s.
- **Nothing written until** :meth:`Run.save`: a run is trained into a temporary folder that goes
  with the result (TensorBoard logs are off unless ``tensorboard=True``).

Example:
    >>> import forecaster as fc  # doctest: +SKIP
    >>> cmp = fc.compare(df, target="sales", horizon=12, cells=["gru", "mlp"], epochs=20)  # doctest: +SKIP
    >>> cmp.recommended, cmp.forecast().shape  # doctest: +SKIP
    ('gru', (12, 6))
    >>> fc.load(cmp.save("models")).predict(horizon=6)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import difflib
import html
import math
import os
import re
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecaster.config import SETTINGS, RunConfig, Setting
from forecaster.errors import ArtifactError, ConfigError, DataError, ForecasterError, KeywordError
from forecaster.types import Progress

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["compare", "train", "backtest", "load", "Run", "Comparison", "Trained", "Model", "Backtest",
           "ForecasterWarning", "KEYWORDS", "python_message", "recommended_row"]

#: Keyword -> the run setting it sets: every setting with a flag, named like the flag with dashes as
#: underscores. The registry's gate settings belong to ``forecast retrain``; the data is the first argument.
KEYWORDS: dict[str, Setting] = {s.dest: s for s in SETTINGS if s.group != "registry" and s.key != "data.path"}

#: What a run records as its data's path when it was a Series (a DataFrame: ``<DataFrame>``).
SERIES_SOURCE = "<Series>"

#: The options of the commands (not settings) and the keyword or argument that gives each here.
_COMMAND_OPTIONS = {"--data": "df", "--future": "future", "--series": "series", "--model": "model", "--cells": "cells",
                    "--repeats": "repeats", "--backtest": "backtest", "--strategies": "strategies", "--folds": "folds",
                    "--executor": "executor", "--ray-address": "ray_address", "--config": "config"}
#: A command-line option -> the keyword that sets it here (``--no-x`` -> ``x=False``): the one mapping of messages.
_KEYWORD_OF = {**{s.flag: s.dest for s in SETTINGS}, **{f"--no-{s.flag[2:]}": f"{s.dest}=False" for s in SETTINGS
                                                         if s.is_bool}, **_COMMAND_OPTIONS}
_BOOLEAN = {s.flag for s in SETTINGS if s.is_bool}
_OPTION = re.compile(r"--[a-z][a-z0-9-]*(?:/--no-[a-z0-9-]+)?")
#: A value after an option: a placeholder (FILE), numbers (80,95), none, alternatives (a|b), or a word before ':' / ' ('.
_VALUE = re.compile(r" (?P<v>[A-Z][A-Z_]*\b|none\b|[-+]?\d[\d.,]*(?<![.,])|[a-z]+(?:\|[a-z]+)+|<[^>]*>|[^\s:()]+(?=:| \())")


class ForecasterWarning(UserWarning):
    """A note about a result worth seeing but not an error: an undefined metric, series left out, a model that
    lost to a baseline (the CLI prints these as ``forecast: warning:`` lines)."""


def python_message(text: str) -> str:
    """A library message as a Python caller reads it: each command-line option named by its keyword.

    Example:
        >>> python_message("column 'y' (--target): line 5 holds 'x'")
        "column 'y' (target=): line 5 holds 'x'"
        >>> python_message("set --missing interpolate|ffill (data.missing) to fill them")
        "set missing='interpolate'|'ffill' (data.missing) to fill them"
        >>> python_message("--horizon: expected 1..24, got 30; retrain with --levels 80,95 or --levels none")
        'horizon: expected 1..24, got 30; retrain with levels=[80, 95] or levels=[]'
    """

    out, pos = [], 0
    for m in _OPTION.finditer(text):
        flag = m.group(0).split("/")[0]
        keyword = _KEYWORD_OF.get(flag)
        if keyword is None:
            continue
        end, rest = m.end(), text[m.end():]
        value = None if "=" in keyword or flag in _BOOLEAN or rest.startswith(":") else _VALUE.match(rest)
        if value is not None:
            keyword, end = f"{keyword}={_python_value(value.group('v'))}", end + len(value.group(0))
        elif "=" not in keyword and not rest.startswith(":"):
            keyword += "="
        out += [text[pos:m.start()], keyword]
        pos = end
    return "".join([*out, text[pos:]])


def _python_value(value: str) -> str:
    if value == "none":
        return "[]"
    if "|" in value:
        return "|".join(f"'{v}'" for v in value.split("|"))
    if re.fullmatch(r"[-+]?\d+(\.\d+)?", value) or re.fullmatch(r"[A-Z][A-Z_]*", value) or value.startswith("<"):
        return value
    if re.fullmatch(r"\d+(,\d+)+", value):
        return "[" + ", ".join(value.split(",")) + "]"
    return repr(value)


def _printer(line: str) -> None:
    print(line, flush=True)


#: Modules whose Python warnings are the framework's business, not the caller's (deprecations inside Keras...).
_NOISY = r"(keras|tensorflow|tf2onnx|onnx|onnxruntime|absl|google|h5py|statsforecast|numba|tqdm|coreforecast|utilsforecast)(\.|$)"


@contextmanager
def _calling(verbose: bool = False) -> Iterator[Progress | None]:
    """Around every public call: frameworks' warnings off, progress lines when ``verbose``, and the library's
    errors re-raised as one line naming keywords (their traceback starts here: the message says it all)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=_NOISY)
        try:
            yield _printer if verbose else None
        except ForecasterError as exc:
            exc.args = (python_message(str(exc)), *exc.args[1:])
            raise exc.with_traceback(None) from None


def _quiet_tensorflow() -> None:
    """TensorFlow imported without its C++ banner (the CLI does the same before training)."""
    from forecaster.models.network.tensorflow_quiet import import_tensorflow_quietly

    import_tensorflow_quietly()


def _note(text: str) -> None:
    warnings.warn(python_message(text), ForecasterWarning, stacklevel=4)


# --- keywords and data -------------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """numpy scalars and arrays, pandas indexes, tuples and sets as the plain values config validation reads."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)) or type(value).__name__ in ("Index", "Series"):
        items = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
        return [_plain(v) for v in items]
    return value


def _unknown(where: str, keyword: str, valid: Sequence[str]) -> KeywordError:
    if keyword == "data":
        return KeywordError(f"{where}() takes the data as its first argument (df: a DataFrame, a Series or a file "
                            "path), not data=")
    close = difflib.get_close_matches(keyword, list(valid), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; valid keywords: {', '.join(sorted(valid))}"
    return KeywordError(f"{where}() got an unexpected keyword argument '{keyword}'{hint}")


def _overrides(where: str, settings: Mapping[str, Any], own: Sequence[str]) -> dict[str, Any]:
    """Dotted config keys from keyword arguments; an unknown keyword is a :class:`KeywordError`."""
    out = {}
    for keyword, value in settings.items():
        s = KEYWORDS.get(keyword)
        if s is None:
            raise _unknown(where, keyword, [*KEYWORDS, *own])
        out[s.key] = _plain(value)
    return out


def _source(df: Any, *, future: bool = False) -> tuple[pd.DataFrame | None, str]:
    """``(frame, label)`` of a DataFrame or Series, or ``(None, path)`` of a file path."""
    import pandas as pd

    from forecaster.data.load import FRAME_SOURCE, FUTURE_SOURCE

    what = "future" if future else "df"
    if isinstance(df, (str, os.PathLike)):
        return None, os.fspath(df)
    if isinstance(df, pd.Series):
        label = FUTURE_SOURCE if future else SERIES_SOURCE
        if not isinstance(df.index, (pd.DatetimeIndex, pd.MultiIndex)):
            raise DataError(f"{label}: expected a Series with a DatetimeIndex (or an (id, time) MultiIndex), got an "
                            f"index of {df.index.dtype}; or pass a long-format DataFrame")
        return df.to_frame(name=str(df.name) if df.name is not None else "value"), label
    if isinstance(df, pd.DataFrame):
        return df, FUTURE_SOURCE if future else FRAME_SOURCE
    raise DataError(f"{what}: expected a pandas DataFrame, a Series with a DatetimeIndex or a file path, got "
                    f"{type(df).__name__}")


def _int(value: Any, name: str, at_least: int) -> int:
    value = _plain(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < at_least:
        raise ConfigError(f"{name}: expected an integer >= {at_least}, got {value!r}")
    return value


def _names(value: Any, name: str) -> list[str]:
    """A list of names given as a list or as ``"a,b"``."""
    value = _plain(value)
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{name}: expected a list of names such as ['gru', 'mlp'], got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class _Data:
    """The table a run was trained on when it is not a file (forecasts read it again, as from ``--data``)."""

    frame: pd.DataFrame
    label: str


def _model_name(target: str) -> str:
    """A model name (``output.name``) from a target column: ``sales``, ``my_sales``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", target).strip("._-") or "series"


def _configure(where: str, df: Any, settings: Mapping[str, Any], config: str | os.PathLike[str] | None,
               own: Sequence[str]) -> tuple[RunConfig, Any, _Data | None]:
    """The resolved config, the loaded and checked data (a Panel) and the frame to keep, if any."""
    from forecaster import config as configuration
    from forecaster.data.load import load
    from forecaster.models.catalog import choices

    overrides = _overrides(where, settings, own)
    config = Path(config) if config is not None else None
    frame, path = _source(df)
    overrides["data.path"] = path
    given = set(configuration.load(config)) if config is not None else set()
    if "output.tensorboard" not in overrides and "output.tensorboard" not in given:
        overrides["output.tensorboard"] = False  # nothing written outside the run until it is saved
    cfg = configuration.resolve(config, overrides, choices=choices())
    panel = load(cfg, frame=frame)
    if frame is not None and cfg.output.name is None:  # a frame has no file name: the model is named after its target
        cfg = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, name=_model_name(panel.first.target)))
    return cfg, panel, _Data(frame, path) if frame is not None else None


class _Home:
    """A temporary models folder where a result's run lives until it is saved; removed with the result."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="forecaster-"))
        weakref.finalize(self, shutil.rmtree, self.root, ignore_errors=True)  # at exit too, silently

    def run_dir(self, cfg: RunConfig, label: str) -> Path:
        from forecaster.workflows.train import default_run_dir

        here = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, models_dir=str(self.root)))
        return default_run_dir(here, label)


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
        _note(f"{exc}; the run will not be logged")
        return None
    return uri


def _log(uri: str | None, cfg: RunConfig, run_dir: Path, kind: str, rows: list[dict[str, Any]],
         cells: Sequence[Any]) -> None:
    from forecaster.workflows.tracking import log_run

    if uri is not None:
        try:
            log_run(uri, cfg, run_dir, rows, cells, kind=kind)
        except ConfigError as exc:
            _note(f"{exc}; the run was not logged")


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
            ``id_col``, ``known_covariates``, ``epochs``, ``units``, ``levels``, ``name``...

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
    with _calling(verbose) as say:
        from forecaster.models.catalog import check_cells

        _overrides("compare", settings, own)  # a misspelt keyword first
        names = _names(cells, "--cells")
        check_cells(names)
        chosen = _names(strategies, "--strategies") if strategies is not None else None
        seeds, folds = _int(repeats, "--repeats", 1), _int(backtest, "--backtest", 0)
        _check_executor(executor, ray_address)
        cfg, panel, data = _configure("compare", df, settings, config, own)
        from forecaster.workflows import compare as flow
        from forecaster.workflows.tracking import staged_logs
        from forecaster.workflows.train import prepare_run

        uri = _tracking(cfg)
        with staged_logs():  # TensorBoard logs (tensorboard=True) kept only if the run completes
            prep = prepare_run(cfg, panel)
            _quiet_tensorflow()
            home = _Home()
            result = flow.compare(cfg, cells=names, repeats=seeds, progress=say, backtest=folds, prep=prep, strategies=chosen,
                                  executor=executor, ray_address=ray_address, run_dir=home.run_dir(cfg, "compare"))
        import types

        seeds = len({t.seed for t in result.trials}) > 1
        _log(uri, cfg, result.run_dir, "compare", result.rows,
             [types.SimpleNamespace(name=f"{t.name}.seed{t.seed}" if seeds else t.name, fit=t.result.fit)
              for t in result.trials])
        for line in result.warnings:
            _note(line)
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
    with _calling(verbose) as say:
        cfg, panel, data = _configure("train", df, settings, config, ("config", "verbose"))
        from forecaster.models.network.model import leaderboard_name
        from forecaster.workflows.tracking import staged_logs
        from forecaster.workflows.train import prepare_run
        from forecaster.workflows.train import train as flow

        uri = _tracking(cfg)
        with staged_logs():
            prep = prepare_run(cfg, panel)
            _quiet_tensorflow()
            home = _Home()
            result = flow(cfg, prep, progress=say, run_dir=home.run_dir(cfg, cfg.model.cell))
        _log(uri, cfg, result.run_dir, "train", result.leaderboard, result.cells)
        for line in result.warnings:
            _note(line)
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
    with _calling(verbose) as say:
        _overrides("backtest", settings, own)
        folds = _int(folds, "--folds", 1)
        _check_executor(executor, ray_address)
        cfg, panel, _ = _configure("backtest", df, settings, config, own)
        from forecaster.workflows.backtest import backtest as flow
        from forecaster.workflows.tracking import staged_logs

        _quiet_tensorflow()
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
    with _calling():
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


# --- results ----------------------------------------------------------------------------------------------------


def recommended_row(board: Mapping[str, Any]) -> str:
    """The row a leaderboard recommends: its own ``recommended`` field where the run records one, else the
    verdict's pick (:func:`forecaster.evaluation.verdict.verdict`): the best network unless a baseline scores
    lower or equal at the printed precision (then the simpler baseline), among rows that scored every series.

    Example:
        >>> rows = [{"name": "gru", "kind": "model", "mase": 0.8}, {"name": "ets", "kind": "baseline", "mase": 0.9}]
        >>> recommended_row({"rows": rows}), recommended_row({"rows": rows[:1] + [{**rows[1], "mase": 0.8001}]})
        ('gru', 'ets')
    """
    from forecaster.evaluation.verdict import partial

    given = board.get("recommended")
    if isinstance(given, Mapping):
        given = given.get("name")
    if isinstance(given, str):
        return given
    rows = [r for r in board.get("rows", []) if isinstance(r, Mapping)]
    key = "backtest_mase" if any(r.get("backtest_mase") is not None for r in rows) else "mase"
    scored = [r for r in rows if r.get(key) is not None and not r.get("error") and not partial(dict(r), rows)]  # type: ignore[arg-type]
    models = sorted((r for r in scored if r.get("kind") == "model"), key=lambda r: r[key])
    baselines = sorted((r for r in scored if r.get("kind") == "baseline"), key=lambda r: r[key])
    if not models:
        return str((baselines or rows)[0]["name"])
    best = models[0]
    if not baselines:
        return str(best["name"])
    top = baselines[0]
    if best[key] < top[key] and f"{best[key]:.3f}" != f"{top[key]:.3f}":
        return str(best["name"])
    return str(top["name"])


def _table_html(frame: pd.DataFrame) -> str:
    def fmt(column: str) -> Any:
        digits = 0 if column in ("params", "series") else 3

        def one(v: Any) -> str:
            if isinstance(v, float):
                return f"{v:.{digits}f}" if math.isfinite(v) else ""
            return str(v)

        return one

    return frame.to_html(index=False, na_rep="", formatters={c: fmt(c) for c in frame.columns}, border=0)


#: The leaderboard columns a result shows in a notebook (every column is in ``.leaderboard``).
_SHOWN = ("name", "kind", "params", "mase", "mase_std", "mase_median", "backtest_mase", "mae", "rmse", "smape",
          "coverage_80", "coverage_95", "train_seconds", "series", "error")


class Run:
    """A trained run: the folder the CLI writes, kept in a temporary folder until :meth:`save`.

    Attributes:
        config: the resolved :class:`~forecaster.config.RunConfig` (as ``config.yaml`` records it).
        warnings: the notes of the run (also issued as :class:`ForecasterWarning`).
        saved: where :meth:`save` put it last (``None`` until then).
    """

    _kind = "run"

    def __init__(self, run_dir: Path, config: RunConfig, *, home: _Home | None = None, data: _Data | None = None,
                 warnings: Sequence[str] = ()) -> None:
        self._run_dir = run_dir
        self._home = home
        self._data = data
        self.config = config
        self.warnings = list(warnings)
        self.saved: Path | None = None
        self._board: dict[str, Any] | None = None
        self._models: dict[Path, Model] = {}

    @property
    def path(self) -> Path:
        """The run folder as it is now (a temporary one until saved: use :meth:`save`'s path to keep it)."""
        return self._run_dir

    @property
    def name(self) -> str:
        """The model name (``name`` setting; for a DataFrame by default its target column)."""
        return self.config.model_name

    @property
    def board(self) -> dict[str, Any]:
        """``leaderboard.json`` as saved."""
        if self._board is None:
            from forecaster.artifacts import layout
            from forecaster.fs import read_json

            self._board = dict(read_json(self._run_dir / layout.LEADERBOARD_JSON, "leaderboard"))
        return self._board

    @property
    def leaderboard(self) -> pd.DataFrame:
        """One row per model (column ``name``): ``leaderboard.csv`` as saved, the same numbers, best first."""
        import pandas as pd

        from forecaster.artifacts import layout

        return pd.read_csv(self._run_dir / layout.LEADERBOARD_CSV, keep_default_na=False, na_values=[""])

    @property
    def verdict(self) -> str:
        """The plain-language verdict: which model to use for this data, and how sure (``forecast compare``'s)."""
        text = self.board.get("verdict")
        if isinstance(text, str):
            return text
        from forecaster.evaluation.verdict import verdict

        t = self.config.training
        many = self.board.get("id_col") is not None
        return verdict(self.board["rows"], repeats=1, epochs_cap=t.epochs, patience=t.patience,
                       subject="these series (mean MASE over series)" if many else "this series")

    @property
    def recommended(self) -> str:
        """The name of the row the verdict recommends (a name in ``leaderboard["name"]``), see :func:`recommended_row`."""
        return recommended_row(self.board)

    @property
    def series_metrics(self) -> pd.DataFrame | None:
        """A panel's scores of every row on every series (``series_metrics.csv``); ``None`` for one series."""
        import pandas as pd

        from forecaster.artifacts import layout

        path = self._run_dir / layout.SERIES_METRICS
        if not path.is_file():
            return None
        id_col = str(self.board.get("id_col") or self.config.data.id_col)
        return pd.read_csv(path, dtype={id_col: str}, keep_default_na=False, na_values=[""])

    def _default_row(self) -> str:
        return self.recommended

    def model(self, name: str | None = None) -> Model:
        """The saved row ``name`` (default: this result's own, see :meth:`forecast`) as a :class:`Model`.

        Raises:
            ArtifactError: ``name`` has no saved folder in the run (naming the rows that do).
        """
        from forecaster.artifacts import layout
        from forecaster.artifacts.run import best_cell, servable_rows

        with _calling():
            servable = [str(r["name"]) for r in servable_rows(self._run_dir)]
            wanted = name if name is not None else self._default_row()
            if wanted in servable:
                why = "the row asked for" if name is not None else f"the {self._kind}'s own row"
                return self._row(self._run_dir / wanted, why)
            if name is not None or not servable:
                raise ArtifactError(f"{self._run_dir}: row {wanted!r} has no saved {layout.MANIFEST} to serve; "
                                    f"saved rows: {', '.join(servable) or 'none'}")
            cell = best_cell(self._run_dir)
            _note(f"{wanted} (recommended) has no saved folder in this run; forecasting with {cell.name}, the best "
                  "saved row (lowest test MASE)")
            return self._row(cell, "the best saved row of the run (lowest test MASE)")

    def _row(self, cell_dir: Path, why: str) -> Model:
        """The row's :class:`Model`, loaded once (an ONNX session is built per load)."""
        if cell_dir not in self._models:
            self._models[cell_dir] = Model(cell_dir, why, data=self._data, owner=self)
        return self._models[cell_dir]

    @staticmethod
    def _future_for(model: Model, future: Any) -> Any:
        """``future`` if ``model`` reads known covariates; a run's statistical row reads the target alone, so for
        it the values given for the run are left out, and said."""
        if future is None or model.known_covariates:
            return future
        _note(f"future: {model.name} reads the target alone (no known covariates); the values given were not used")
        return None

    def predict(self, df: Any = None, horizon: int | None = None, future: Any = None, series: Any = None,
                levels: Sequence[int] | None = None) -> pd.DataFrame:
        """:meth:`Model.predict` of :meth:`model` (``df`` default: the training data)."""
        model = self.model()
        return model.predict(df, horizon=horizon, future=self._future_for(model, future), series=series, levels=levels)

    def forecast(self, horizon: int | None = None, future: Any = None, levels: Sequence[int] | None = None, *,
                 series: Any = None) -> pd.DataFrame:
        """The forecast past the end of the training data, as ``forecast predict --model <run>`` writes it:
        ``[<id_col>,] timestamp, yhat, lo-80, hi-80, ...``, ``horizon`` rows per series.

        Served by this result's own row (a comparison: the recommended one, or the best saved row while
        the recommended has no folder; a train: the cell trained).

        Args:
            horizon: steps (default and at most: the trained horizon).
            future: the known covariates' values after the end of each series (a DataFrame with the time
                column, the id column of a panel and each known covariate; or a file), needed when the
                run has ``known_covariates``.
            levels: interval levels among the calibrated ones (default: all; ``[]``: none).
            series: a panel's ids to forecast (default: every series).
        """
        model = self.model()
        return model.predict(None, horizon=horizon, future=self._future_for(model, future), series=series,
                             levels=levels)

    def plot(self, series: str | None = None, *, names: Sequence[str] | None = None, future: Any = None,
             last: int | None = None) -> Figure:
        """The end of the training series and the forecasts past it, with the first row's widest interval.

        Args:
            series: a panel's series id (default: the first).
            names: the rows to draw (default: this result's own row and the best network).
            future: as :meth:`forecast`'s.
            last: history steps drawn (default: three horizons or seasons, at least 48).

        Returns:
            A matplotlib Figure (not left open in pyplot: a notebook shows it once, as the cell's value).
        """
        with _calling():
            first = self.model(names[0] if names else None)
            rows = [first.name, *(names[1:] if names else [self._best_network()])]
            shown = list(dict.fromkeys(n for n in rows if n))
            panel = first._panel(None)
            sid = series if series is not None else panel.series[0].series_id
            match = [s for s in panel.series if s.series_id == sid]
            if not match:
                raise DataError(f"--series: {sid!r} is not a series of the training data ({len(panel.series)} series)")
            s = match[0]
            horizon = first.horizon
            tail = last if last is not None else max(3 * horizon, 3 * int(self.board.get("season") or 1), 48)
            history = s.frame[s.target].iloc[-tail:]
            with warnings.catch_warnings():  # a drawn row that lost to a baseline: the picture shows it
                warnings.simplefilter("ignore", ForecasterWarning)
                models = [first if n == first.name else self.model(n) for n in shown]
                frames = [(m.name, m.predict(series=[sid] if sid is not None else None,
                                             future=self._future_for(m, future))) for m in models]
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(10, 4.5))
        plt.close(fig)  # returned, not kept by pyplot: shown once
        ax.plot(history.index, history.to_numpy(), color="black", lw=1.5, label="actual")
        for k, (n, fc) in enumerate(frames):
            lo = sorted(c for c in fc.columns if c.startswith("lo-"))
            if k == 0 and lo:
                widest = max(lo, key=lambda c: int(c[3:]))
                ax.fill_between(fc["timestamp"], fc[widest], fc["hi-" + widest[3:]], color=f"C{k}", alpha=0.2,
                                label=f"{n} {widest[3:]}% interval")
            ax.plot(fc["timestamp"], fc["yhat"], color=f"C{k}", marker="o", ms=3, label=f"{n} forecast")
        who = f" (series {sid})" if sid is not None else ""
        ax.set(title=f"{s.target}{who}: the last {len(history)} steps and the {horizon}-step forecast", xlabel=s.time_col,
               ylabel=s.target)
        ax.legend(fontsize=8)
        fig.autofmt_xdate()
        fig.tight_layout()
        return fig

    def _best_network(self) -> str | None:
        from forecaster.artifacts.run import servable_rows

        rows = [r for r in servable_rows(self._run_dir) if r.get("kind") == "model" and r.get("mase") is not None]
        return str(min(rows, key=lambda r: float(r["mase"]))["name"]) if rows else None

    def save(self, models_dir: str | os.PathLike[str] | None = None) -> Path:
        """Save the run where the CLI would: ``<models_dir>/<name>/runs/<run id>/`` (default ``models_dir``: the
        setting's, ``models``), atomically, byte for byte the folder trained. ``forecast predict --model
        <models_dir>/<name>`` then serves it, and :func:`load` loads it.

        Returns:
            The saved run folder (saving again to the same place returns it again).

        Raises:
            ArtifactError: another run is already saved under that path.
        """
        from forecaster.artifacts import layout
        from forecaster.fs import staged_run

        with _calling():
            root = self._home.root if self._home is not None else self._run_dir.parents[2]
            final = Path(models_dir if models_dir is not None else self.config.output.models_dir) / \
                self._run_dir.relative_to(root)
            board = (self._run_dir / layout.LEADERBOARD_JSON).read_bytes()
            if (final / layout.LEADERBOARD_JSON).is_file() and (final / layout.LEADERBOARD_JSON).read_bytes() == board:
                return final
            with staged_run(final) as tmp:
                shutil.copytree(self._run_dir, tmp, symlinks=True, dirs_exist_ok=True)
            self.saved = final
            return final

    def __repr__(self) -> str:
        where = f"saved={str(self.saved)!r}" if self.saved is not None else "not saved"
        return (f"{type(self).__name__}(name={self.name!r}, rows={len(self.board['rows'])}, "
                f"recommended={self.recommended!r}, {where})")

    def _repr_html_(self) -> str:
        board = self.leaderboard
        shown = board[[c for c in _SHOWN if c in board.columns and board[c].notna().any()]]
        esc = html.escape
        notes = "".join(f"<li>{esc(python_message(w))}</li>" for w in self.warnings)
        where = f"saved at {esc(str(self.saved))}" if self.saved is not None else "not saved yet: <code>.save()</code>"
        return (f"<div><p><b>{esc(type(self).__name__)}</b> {esc(self.name)} ({where})</p>{_table_html(shown)}"
                f"<p><b>Verdict:</b> {esc(python_message(self.verdict))}</p>"
                f"<p><b>Recommended:</b> {esc(self.recommended)}</p>"
                + (f"<ul>{notes}</ul>" if notes else "") + "</div>")


class Comparison(Run):
    """What :func:`compare` returns: the leaderboard (mean ± std over seeds), the verdict, the recommended row,
    forecasts from it, plots and the run folder to save.

    Attributes:
        conditions: what every row shared (windows, split, seeds...), as the report's conditions table.
    """

    _kind = "comparison"

    @property
    def conditions(self) -> dict[str, Any]:
        return dict(self.board.get("conditions") or {})


class Trained(Run):
    """What :func:`train` returns: one cell trained beside the baselines; its forecasts come from that cell."""

    _kind = "trained cell"

    def __init__(self, run_dir: Path, config: RunConfig, *, row: str, **kwargs: Any) -> None:
        super().__init__(run_dir, config, **kwargs)
        self.row = row

    def _default_row(self) -> str:
        return self.row


class Model:
    """A saved row ready to forecast (a network served by ONNX Runtime or Keras, or a statistical model).

    Attributes:
        path: the row's folder.
        why: why that folder (as ``forecast predict`` says on stderr).
    """

    def __init__(self, cell_dir: Path, why: str, *, data: _Data | None = None, owner: Any = None) -> None:
        from forecaster.workflows.predict import load_model, needs_tensorflow

        if needs_tensorflow(cell_dir):
            _quiet_tensorflow()
        self.path = Path(cell_dir)
        self.why = why
        self._loaded = load_model(self.path)
        self._data = data
        self._owner = owner  # keeps a result's temporary folder alive while its model is used

    @property
    def name(self) -> str:
        """The row's name (its folder's): ``gru``, ``ets``..."""
        return self.path.name

    @property
    def horizon(self) -> int:
        """The trained horizon (the most steps :meth:`predict` gives)."""
        return int(self._loaded.horizon)

    @property
    def known_covariates(self) -> list[str]:
        """The known covariates the row reads (their values after the end of the series: ``future=``)."""
        return [str(c) for c in self._loaded.manifest["data"].get("known", [])]

    @property
    def manifest(self) -> dict[str, Any]:
        """The row's checked ``manifest.json``."""
        return dict(self._loaded.manifest)

    @property
    def leaderboard(self) -> pd.DataFrame | None:
        """The leaderboard of the run the row belongs to (``None`` for a folder outside a run)."""
        import pandas as pd

        from forecaster.artifacts import layout

        path = self.path.parent / layout.LEADERBOARD_CSV
        return pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else None

    def _panel(self, df: Any) -> Any:
        from forecaster.workflows.predict import load_for_predict

        if df is None:
            if self._data is not None:
                return load_for_predict(self._loaded, self._data.frame, label=self._data.label)
            return load_for_predict(self._loaded, None)
        frame, path = _source(df)
        return load_for_predict(self._loaded, frame if frame is not None else path, label=path)

    def _future(self, future: Any) -> pd.DataFrame | None:
        from forecaster.workflows.predict import read_future

        frame, path = _source(future, future=True) if future is not None else (None, None)
        out = read_future(self._loaded, frame if frame is not None else path)
        if future is not None and out is None:  # as the CLI: a statistical row of a run with known covariates
            _note(f"--future: {self.name} is a statistical model and reads the target alone; the values given were not "
                  "used")
        return out

    def predict(self, df: Any = None, horizon: int | None = None, future: Any = None, series: Any = None,
                levels: Sequence[int] | None = None) -> pd.DataFrame:
        """Forecast past the end of every series of ``df`` (default: the training data): ``forecast predict``.

        Args:
            df: the series to forecast from, as the row was trained (a DataFrame, a Series or a file);
                default: the training data (a run trained on a DataFrame in this session keeps it; a saved
                one trained on a DataFrame needs it given again).
            horizon: steps (default and at most: the trained horizon).
            future: the known covariates' values after the end of each series (see :meth:`Run.forecast`).
            series: a panel's ids to forecast (a list, or one id); default: every series.
            levels: interval levels among the calibrated ones (default: all; ``[]``: none).

        Returns:
            ``[<id_col>,] timestamp, yhat, lo-80, hi-80, ...``: ``horizon`` rows per series, rounded as
            ``forecast predict`` writes them (the same numbers).

        Raises:
            ConfigError: a horizon beyond the trained one, an uncalibrated level, missing ``future``.
            DataError: ``df`` cannot be used as the row was trained (one line naming the column).

        Example:
            >>> load("models/sales").predict(horizon=6, levels=[80])  # doctest: +SKIP
        """
        from forecaster.artifacts.run import lost_to_baseline
        from forecaster.data.load import FUTURE_SOURCE
        from forecaster.workflows.formats import by_series
        from forecaster.workflows.predict import beyond_history, forecast

        with _calling():
            h = _int(horizon, "--horizon", 1) if horizon is not None else None
            wanted = _series(series)
            served = _levels(levels)
            panel = self._panel(df)
            future_frame = self._future(future)
            if wanted and panel.id_col is None:
                raise ConfigError(f"--series: {self.path} forecasts one series (trained without --id-col)")
            notes: list[str] = []
            source = str(future) if isinstance(future, (str, os.PathLike)) else FUTURE_SOURCE
            frame = forecast(self._loaded, panel, h, served, series=wanted, future=future_frame, future_source=source,
                             notes=notes)
            far = beyond_history(frame, panel)
            for note in [*notes, *([far] if far else [])]:
                _note(note)
            lost = lost_to_baseline(self.path)
            if lost is not None:
                _note(f"{self.name} lost to the {lost[0]} baseline on its own test windows (MASE {lost[2]:.3f} vs "
                      f"{lost[1]:.3f}); the baseline may serve this series better")
            return by_series(frame, panel.id_col).reset_index(drop=True)

    def __repr__(self) -> str:
        return f"Model(name={self.name!r}, horizon={self.horizon}, path={str(self.path)!r})"

    def _repr_html_(self) -> str:
        d, w = self._loaded.manifest["data"], self._loaded.manifest["window"]
        facts = {"path": str(self.path), "why": self.why, "target": d.get("target"), "freq": w.get("freq"),
                 "lookback": w.get("lookback"), "horizon": w.get("horizon"), "series id": d.get("id_col"),
                 "known covariates": ", ".join(d.get("known", [])) or None, "trained on": d.get("path")}
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in facts.items() if v is not None)
        return f"<div><p><b>Model</b> {html.escape(self.name)}</p><table>{rows}</table></div>"


def _series(series: Any) -> list[str] | None:
    series = _plain(series)
    if series is None:
        return None
    ids = [series] if isinstance(series, str) else series
    if not isinstance(ids, list) or not ids or not all(isinstance(s, str) and s for s in ids):
        raise ConfigError(f"series: expected a series id or a non-empty list of ids, got {series!r}")
    twice = next((s for s in ids if ids.count(s) > 1), None)
    if twice is not None:
        raise ConfigError(f"series: {twice!r} is given {ids.count(twice)} times; give each series once")
    return ids


def _levels(levels: Any) -> tuple[int, ...] | None:
    from forecaster.evaluation.intervals import parse_levels

    levels = _plain(levels)
    if levels is None:
        return None
    try:
        return parse_levels(levels if isinstance(levels, list) else [levels], where="levels")
    except (ValueError, TypeError):
        raise ConfigError(f"levels: expected integer percentages in 1..99 such as [80, 95] (or [] for none), got "
                          f"{levels!r}") from None


class Backtest:
    """What :func:`backtest` returns: every fold's scores and their mean over folds, as DataFrames."""

    def __init__(self, result: Any) -> None:
        self._result = result

    @property
    def folds(self) -> pd.DataFrame:
        """One row per fold and model: ``fold, cutoff, train_rows, test_windows, name, mae, rmse, smape, mase, ...``."""
        import pandas as pd

        r = self._result
        keys = r.metric_keys()
        return pd.DataFrame([{"fold": f.fold, "cutoff": f.cutoff, "train_rows": f.train_rows,
                              "test_windows": f.test_windows, "name": name, **{k: s.get(k) for k in keys},
                              "error": s.get("error")} for f in r.folds for name, s in f.scores.items()])

    @property
    def mean(self) -> pd.DataFrame:
        """One row per model: each metric's mean over folds and its std (``mase``, ``mase_std``...), best first."""
        import pandas as pd

        frame = pd.DataFrame([{"name": name, **v} for name, v in self._result.summary().items()])
        return frame.sort_values("mase", na_position="last", kind="stable").reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``forecast backtest`` saves (without the model path)."""
        return dict(self._result.to_dict())

    def __repr__(self) -> str:
        return f"Backtest(cell={self._result.cell!r}, folds={len(self._result.folds)})"

    def _repr_html_(self) -> str:
        mean = self.mean
        cols = [c for c in ("name", "mase", "mase_std", "mae", "rmse", "smape", "coverage_80", "coverage_95")
                if c in mean.columns]
        return (f"<div><p><b>Backtest</b> of {html.escape(self._result.cell)} over {len(self._result.folds)} folds "
                f"(refit per fold): mean over folds</p>{_table_html(mean[cols])}</div>")
