"""Run tracking: TensorBoard logs of every fit (on by default) and MLflow runs (when a URI is given).

- TensorBoard: each fit of a cell in this process (not in a Ray worker) writes its per-epoch ``loss``
  and ``val_loss`` under ``<models_dir>/<name>/tensorboard/<time>-<cell>-seed<N>-<pid>.<k>[/linear|/plain]``, so
  ``tensorboard --logdir models/<name>`` shows every run, cell and seed side by side. Keras'
  own ``TensorBoard`` callback writes them (no graph, no profiling). A registry retrain writes
  under ``tensorboard/version-<N>/``, pruned with its version.
- MLflow: with ``--mlflow-uri`` (or ``$MLFLOW_TRACKING_URI``) a saved run is logged as one MLflow
  run in the experiment named after the model: the resolved config as params, each network's
  per-epoch losses as metric histories (``gru.loss``, ``gru.val_loss``), every leaderboard row's
  scores (``gru.mase``, ``ets.coverage_80``...), and the run folder as artifacts. MLflow is an
  optional dependency (``pip install 'forecaster[tracking]'``), imported only then.

Example:
    >>> log_run("file:///tmp/mlruns", cfg, result.run_dir, result.leaderboard, result.cells)  # doctest: +SKIP
    'a1b2c3...'
"""

from __future__ import annotations

import itertools
import math
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from forecaster.config import RunConfig, to_dict
from forecaster.errors import ConfigError

__all__ = ["tensorboard_dir", "tensorboard_group", "tensorboard_available", "tensorboard_callback", "mlflow_uri", "log_run",
           "saved_run",
           "TENSORBOARD_DIR"]

TENSORBOARD_DIR = "tensorboard"


_FITS = itertools.count(1)
_GROUP: ContextVar[str | None] = ContextVar("tensorboard_group", default=None)


@contextmanager
def tensorboard_group(name: str) -> Iterator[None]:
    """Fits started inside write their logs under ``tensorboard/<name>/`` (a registry version's
    ``version-<N>``, deleted when that version is pruned)."""
    token = _GROUP.set(name)
    try:
        yield
    finally:
        _GROUP.reset(token)


def tensorboard_dir(cfg: RunConfig, cell: str) -> Path:
    """Where one fit of ``cell`` (with ``cfg``'s seed) writes its TensorBoard logs: a folder of its own
    (the process and a counter keep two fits started in one second, backtest folds say, apart),
    inside the current :func:`tensorboard_group` if any."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    name = f"{stamp}-{cell}-seed{cfg.training.seed}-{os.getpid()}.{next(_FITS)}"
    root = Path(cfg.output.models_dir) / cfg.model_name / TENSORBOARD_DIR
    group = _GROUP.get()
    return root / group / name if group else root / name


def tensorboard_available() -> bool:
    """Whether TensorBoard's summary writer is installed (a dependency; a trimmed install may lack it) and
    wanted here (a Ray worker sets ``FORECASTER_NO_TENSORBOARD``: its disk may not be the parent's)."""
    import importlib.util

    return not os.environ.get("FORECASTER_NO_TENSORBOARD") and importlib.util.find_spec("tensorboard") is not None


def tensorboard_callback(log_dir: Path) -> Any:
    """Keras' TensorBoard callback: per-epoch scalars only (no graph, histograms or profiler).

    Raises:
        OSError: ``log_dir`` cannot be created (a file in its path, a read-only disk), before any
            training, as one line rather than TensorFlow's error from inside the fit.
    """
    import keras

    log_dir.mkdir(parents=True, exist_ok=True)
    return keras.callbacks.TensorBoard(log_dir=str(log_dir), histogram_freq=0, write_graph=False,
                                       write_images=False, update_freq="epoch", profile_batch=0)


def saved_run(run_dir: Path) -> tuple[list[dict[str, Any]], list[Any]]:
    """A run folder already on disk (a retrain's version) as :func:`log_run` takes it: its leaderboard rows and,
    per network, its loss history (a ``--per-series`` cell's rows of every series: their mean curve).

    Raises:
        OSError, ValueError, KeyError: the leaderboard cannot be read.
    """
    import json
    import types

    import pandas as pd

    from forecaster.workflows.results import mean_curve

    rows = json.loads((run_dir / "leaderboard.json").read_text(encoding="utf-8"))["rows"]

    def curve(path: Path) -> pd.DataFrame:
        frame = pd.read_csv(path)
        return mean_curve(frame) if "series" in frame.columns else frame

    cells = [types.SimpleNamespace(name=r["name"], fit=types.SimpleNamespace(history=curve(h)))
             for r in rows if (h := run_dir / str(r["name"]) / "history.csv").is_file()]
    return rows, cells


def mlflow_uri(cfg: RunConfig) -> str | None:
    """``output.mlflow_uri``, else ``$MLFLOW_TRACKING_URI``, else ``None`` (no MLflow tracking)."""
    return cfg.output.mlflow_uri or os.environ.get("MLFLOW_TRACKING_URI") or None


def _flat(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _metric_name(text: str) -> str:
    """MLflow metric names allow letters, digits, ``_ - . /`` and spaces."""
    return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in text)


def log_run(uri: str, cfg: RunConfig, run_dir: Path, rows: Sequence[dict[str, Any]], cells: Sequence[Any] = (),
            *, kind: str = "train") -> str:
    """Log a saved run to MLflow; returns the MLflow run id.

    Args:
        uri: the tracking URI (``http://host:5000``, ``file:///path/mlruns``, ``sqlite:///...``).
        cfg: the run's configuration (its params).
        run_dir: the saved run folder (its artifacts).
        rows: the leaderboard.
        cells: the networks' results (``CellResult``): their per-epoch losses.
        kind: a tag: ``train``, ``compare``, ``retrain``.

    Raises:
        ConfigError: MLflow is not installed, or the tracking store refused the run.
    """
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError("--mlflow-uri: MLflow is not installed; pip install 'forecaster[tracking]'") from None
    if uri.startswith("file:") or "://" not in uri:  # a local folder store, asked for by name: MLflow 3 keeps it
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # in maintenance mode and refuses it otherwise
    from mlflow.entities import Metric, Param

    params: dict[str, str] = {}
    _flat("", {k: v for k, v in to_dict(cfg).items() if k != "schedule"}, params)
    now = int(time.time() * 1000)
    metrics: list[Metric] = []
    for c in cells:
        history = getattr(getattr(c, "fit", None), "history", None)
        if history is None:
            continue
        for col in ("loss", "val_loss"):
            if col in history:
                metrics += [Metric(_metric_name(f"{c.name}.{col}"), float(v), now, int(step))
                            for step, v in enumerate(history[col].tolist(), start=1) if math.isfinite(float(v))]
    for r in rows:
        for key, value in r.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value)):
                metrics.append(Metric(_metric_name(f"{r['name']}.{key}"), float(value), now, 0))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLflow's own deprecation notices (file stores...)
            client = MlflowClient(tracking_uri=uri)
            name = cfg.model_name
            experiment = client.get_experiment_by_name(name)
            experiment_id = experiment.experiment_id if experiment is not None else client.create_experiment(name)
            run = client.create_run(experiment_id, run_name=run_dir.name,
                                    tags={"forecaster.kind": kind, "forecaster.run_dir": str(run_dir)})
            run_id = run.info.run_id
            items = [Param(k, v[:6000]) for k, v in params.items()]
            for i in range(0, len(items), 100):  # MLflow's batch limits: 100 params, 1000 metrics
                client.log_batch(run_id, params=items[i : i + 100])
            for i in range(0, len(metrics), 1000):
                client.log_batch(run_id, metrics=metrics[i : i + 1000])
            client.set_tag(run_id, "forecaster.rows", str(len(rows)))
            client.log_artifacts(run_id, str(run_dir), artifact_path="run")
            client.set_terminated(run_id)
    except Exception as exc:  # a tracking server down, a bad URI: the run is saved; say why it was not logged
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__
        raise ConfigError(f"--mlflow-uri {uri}: the run was saved in {run_dir} but not logged ({first})") from None
    return str(run_id)
