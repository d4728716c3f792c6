"""Run tracking: TensorBoard logs of every fit (on by default) and MLflow runs (when a URI is given).

- TensorBoard: each fit of a cell in this process (not in a Ray worker) writes its per-epoch ``loss``
  and ``val_loss`` under ``<models_dir>/<name>/tensorboard/<time>-<cell>-seed<N>-<pid>.<k>[/linear|/plain]``, so
  ``tensorboard --logdir models/<name>`` shows every run, cell and seed side by side. Keras'
  own ``TensorBoard`` callback writes them (no graph, no profiling). A registry retrain writes
  under ``tensorboard/version-<N>/``, pruned with its version. Inside :func:`staged_logs` (every
  ``forecast`` command, and each retrain's version) the logs are written under a hidden
  ``.tmp-logs-*`` folder and moved into place only when the block ends normally (or after its run
  was saved): a refused, failed, full-disk or interrupted run leaves no logs behind.
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
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from forecaster.config import RunConfig, to_dict
from forecaster.errors import ConfigError

__all__ = ["tensorboard_dir", "tensorboard_group", "staged_logs", "STALE_LOGS_SECONDS", "tensorboard_available",
           "tensorboard_callback", "mlflow_uri", "log_run", "saved_run", "check_tracking_uri", "MLFLOW_PROBE_SECONDS",
           "MLFLOW_DEADLINE", "MLFLOW_HTTP_DEFAULTS", "TENSORBOARD_DIR"]

TENSORBOARD_DIR = "tensorboard"


_FITS = itertools.count(1)
_GROUP: ContextVar[str | None] = ContextVar("tensorboard_group", default=None)


@dataclass
class _Stage:
    """The logs of the fits inside one :func:`staged_logs` block: written under a hidden folder made in each
    log root at its first fit, moved into that root at the end."""

    saved: int  # runs saved when the block began (staged_logs' ``saved()``)
    tmps: dict[Path, Path] = field(default_factory=dict)  # log root -> its hidden staging folder

    def folder(self, root: Path) -> Path:
        if root not in self.tmps:
            root.mkdir(parents=True, exist_ok=True)
            _remove_stale_logs(root)
            self.tmps[root] = Path(tempfile.mkdtemp(prefix=f".tmp-logs-{os.getpid()}-", dir=root))
        return self.tmps[root]

    def commit(self) -> None:
        for root, tmp in self.tmps.items():
            with suppress(OSError):  # the run is saved: a log that cannot move is lost, not an error
                for child in sorted(tmp.iterdir()):
                    os.replace(child, root / child.name)
            shutil.rmtree(tmp, ignore_errors=True)

    def discard(self) -> None:  # (the log root stays, if empty: another process may be logging there now)
        for tmp in self.tmps.values():
            shutil.rmtree(tmp, ignore_errors=True)


#: A staging folder of logs whose process is gone and that is older than this was left by a killed process:
#: the next fit logging there removes it (a live one of another machine on a shared disk is spared an hour).
STALE_LOGS_SECONDS = 3600.0


def _remove_stale_logs(root: Path) -> None:
    for tmp in root.glob(".tmp-logs-*"):
        pid = tmp.name.split("-")[2] if tmp.name.count("-") >= 3 else ""  # .tmp-logs-<pid>-<random>
        with suppress(OSError, ValueError):
            if tmp.is_symlink() or not tmp.is_dir() or time.time() - tmp.stat().st_mtime < STALE_LOGS_SECONDS:
                continue
            try:
                os.kill(int(pid), 0)  # still running here: its logs are being written
                continue
            except ProcessLookupError:
                shutil.rmtree(tmp, ignore_errors=True)


_STAGE: ContextVar[_Stage | None] = ContextVar("tensorboard_stage", default=None)


@contextmanager
def staged_logs(saved: Callable[[], int] = lambda: 0) -> Iterator[None]:
    """The TensorBoard logs of the fits inside are kept only if the block ends normally, or if a run was
    saved inside it before it failed (``saved()``, a count of the runs saved, grew: an interrupt after
    the save): "nothing written" holds for logs too.

    They are written under a hidden ``.tmp-logs-<pid>-*`` folder beside their final place (TensorBoard
    shows them live) and moved into place at the end; one left by a killed process is removed by the
    next fit logging there (:data:`STALE_LOGS_SECONDS`).
    """
    stage = _Stage(saved=saved())
    token = _STAGE.set(stage)
    try:
        yield
    except BaseException:
        stage.commit() if saved() > stage.saved else stage.discard()
        raise
    else:
        stage.commit()
    finally:
        _STAGE.reset(token)


@contextmanager
def tensorboard_group(name: str, saved: Callable[[], int] = lambda: 0) -> Iterator[None]:
    """Fits started inside write their logs under ``tensorboard/<name>/`` (a registry version's
    ``version-<N>``, deleted when that version is pruned), staged (:func:`staged_logs`, ``saved`` as
    there): a version never saved leaves none."""
    token = _GROUP.set(name)
    try:
        with staged_logs(saved):
            yield
    finally:
        _GROUP.reset(token)


def tensorboard_dir(cfg: RunConfig, cell: str) -> Path:
    """Where one fit of ``cell`` (with ``cfg``'s seed) writes its TensorBoard logs: a folder of its own
    (the process and a counter keep two fits started in one second, backtest folds say, apart),
    inside the current :func:`tensorboard_group` if any, and inside :func:`staged_logs`' hidden
    folder while one is open."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    name = f"{stamp}-{cell}-seed{cfg.training.seed}-{os.getpid()}.{next(_FITS)}"
    root = Path(cfg.output.models_dir) / cfg.model_name / TENSORBOARD_DIR
    group = _GROUP.get()
    root = root / group if group else root
    stage = _STAGE.get()
    return stage.folder(root) / name if stage is not None else root / name


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


#: Seconds a tracking server has to answer :func:`check_tracking_uri` (a closed port answers at once).
MLFLOW_PROBE_SECONDS = 3.0
#: Seconds the logging of one run may take in all (params, metrics, the run folder's files); past it the
#: run is reported as not logged (MLflow may keep a partial run) and the command goes on.
MLFLOW_DEADLINE = 60.0
#: MLflow's HTTP client while logging, unless the environment sets them: its defaults (120 s a request, 7
#: retries with exponential backoff) kept a command waiting past 100 s on a closed port.
MLFLOW_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "10", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
                        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
#: URI schemes of MLflow's database stores (``sqlite:///mlflow.db``, ``postgresql+psycopg2://...``).
_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")


def check_tracking_uri(uri: str, *, timeout: float = MLFLOW_PROBE_SECONDS) -> None:
    """Check, within ``timeout`` seconds, that the installed MLflow can log to ``uri``.

    A server (``http(s)://``) must answer an HTTP request to its ``/health`` (any HTTP status counts:
    a proxy may guard it); a database store (``sqlite:``, ``postgresql:``...) needs SQLAlchemy and
    Alembic, which ``mlflow-skinny`` alone lacks; a folder store (``file:``) needs nothing. Other
    schemes (``databricks``) are left to the bounded logging call.

    Raises:
        ConfigError: one line naming the URI, what failed and what to do.
    """
    import importlib.util
    from urllib.parse import urlsplit

    if importlib.util.find_spec("mlflow") is None:
        raise ConfigError("--mlflow-uri: MLflow is not installed; pip install 'forecaster[tracking]'")
    scheme = urlsplit(uri).scheme.lower().partition("+")[0]
    if scheme in _SQL_SCHEMES:
        lacking = [m for m in ("sqlalchemy", "alembic") if importlib.util.find_spec(m) is None]
        if lacking:
            have = next((f"{d} {v}" for d in ("mlflow", "mlflow-skinny") if (v := _installed(d))), "MLflow")
            raise ConfigError(f"--mlflow-uri {uri}: a database store needs {' and '.join(lacking)}, which this "
                              f"install ({have}) lacks; pip install 'forecaster[tracking]' (it brings them), or log "
                              "to a folder (file:./mlruns) or a server (http://host:5000)")
        return
    if scheme not in ("http", "https"):
        return
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout):
            pass
    except urllib.error.HTTPError:
        return  # a server answered (a proxy may guard /health): MLflow's own calls say the rest
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        said = (f"no answer within {timeout:g} s" if isinstance(reason, TimeoutError) or "timed out" in str(reason)
                else getattr(reason, "strerror", None) or str(reason) or reason.__class__.__name__)
        import ssl

        if isinstance(reason, ssl.SSLError):
            return  # a TLS server answered; MLflow's own settings (MLFLOW_TRACKING_INSECURE_TLS...) decide
        raise ConfigError(f"--mlflow-uri {uri}: no tracking server answers there ({said}); start it or fix the "
                          "URI") from None


def _installed(dist: str) -> str | None:
    """The installed version of distribution ``dist`` (``None``: not installed)."""
    import importlib.metadata as md

    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _bounded(work: Any, seconds: float) -> Any:
    """``work()`` in a daemon thread, waited for ``seconds`` at most; its exception is raised here.

    Raises:
        TimeoutError: still running after ``seconds`` (the thread is left to end on its own: every
            request it makes has its own timeout, and it does not keep the process alive).
    """
    import threading

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="mlflow-log", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"did not finish within {seconds:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


@contextmanager
def _quiet_loggers(*names: str) -> Iterator[None]:
    """Errors only from these loggers while inside (MLflow and urllib3 log each retry on stderr; the one
    line that matters is ours)."""
    import logging

    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)


def log_run(uri: str, cfg: RunConfig, run_dir: Path, rows: Sequence[dict[str, Any]], cells: Sequence[Any] = (),
            *, kind: str = "train", deadline: float = MLFLOW_DEADLINE) -> str:
    """Log a saved run to MLflow; returns the MLflow run id.

    The call is bounded: :func:`check_tracking_uri` first (a few seconds), then MLflow's HTTP client
    with :data:`MLFLOW_HTTP_DEFAULTS` (unless the environment sets them), the whole logging within
    ``deadline`` seconds.

    Args:
        uri: the tracking URI (``http://host:5000``, ``file:///path/mlruns``, ``sqlite:///...``).
        cfg: the run's configuration (its params).
        run_dir: the saved run folder (its artifacts).
        rows: the leaderboard.
        cells: the networks' results (``CellResult``): their per-epoch losses.
        kind: a tag: ``train``, ``compare``, ``retrain``.

    Raises:
        ConfigError: MLflow is not installed, the store cannot be used or reached, it refused the run,
            or the logging did not finish within ``deadline``.
    """
    try:
        check_tracking_uri(uri)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; the run was saved in {run_dir} but not logged") from None
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError("--mlflow-uri: MLflow is not installed; pip install 'forecaster[tracking]'") from None
    for key, value in MLFLOW_HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
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

    # MLflow's own deprecation notices (file stores...) are silenced by filters on MLflow's modules, added
    # here in the calling thread: `warnings.catch_warnings` inside `log` would swap the process-wide filter
    # list from the logging thread, and a call past its deadline keeps running there, so every warning of the
    # process (a user's notebook, the next run) stayed ignored until MLflow gave up (seen as a lost warning).
    warnings.filterwarnings("ignore", module=r"mlflow(\.|$)")

    def log() -> str:
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
        return str(run_id)

    try:
        with _quiet_loggers("mlflow", "urllib3", "alembic"):
            return str(_bounded(log, deadline))
    except Exception as exc:  # a tracking server down, a bad URI: the run is saved; say why it was not logged
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__
        raise ConfigError(f"--mlflow-uri {uri}: the run was saved in {run_dir} but not logged ({first})") from None
