"""A saved cell folder: written with a hashed manifest, checked and loaded (never unpickled).

Each cell's ``manifest.json`` records the window spec, the data file's hash and row count,
library versions and a SHA-256 of every file, so a truncated or swapped file is reported
instead of served. A loaded cell (:class:`LoadedCell`) is a model of the leaderboard contract
(:class:`forecaster.models.contract.Model`): it forecasts at origins with its own scaler and strategy.

Example:
    >>> loaded = load_for_serving("models/seattle-temps/runs/<id>/lstm")  # doctest: +SKIP
    >>> loaded.backend, loaded.strategy, loaded.predict(values, origins, 24).shape  # doctest: +SKIP
    ('onnx', 'direct', (1291, 24))
"""

from __future__ import annotations

import errno
import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forecaster.artifacts import layout
from forecaster.artifacts import onnx_runtime as runtime
from forecaster.artifacts.manifest import (
    SERIES_FILE,
    check_agreement,
    check_cell,
    check_network,
    is_per_series,
    is_statistical,
    library_versions,
    write_cell_manifest,
)
from forecaster.data.features import future_of, last_window
from forecaster.data.scaling import SeriesScalers, check_readable, read_scaler
from forecaster.errors import ArtifactError, DataError
from forecaster.evaluation.intervals import Calibration
from forecaster.fs import atomic_path, atomic_write_text, json_ready, read_json
from forecaster.models.contract import Capabilities, Kind
from forecaster.models.network.inference import KerasRuntime, NetworkForecaster, Predictor

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from forecaster.data.frame import SeriesFrame
    from forecaster.data.prepared import Prepared, PreparedSeries

__all__ = [
    "BACKENDS", "LoadedCell", "write_cell", "write_cell_manifest", "is_per_series",
    "write_spec_row", "is_statistical",
    "read_calibration", "library_versions", "check_cell", "load_cell", "load_for_serving",
]

#: ``auto``: ONNX when ``model.onnx`` exists, else Keras.
BACKENDS = ("auto", "onnx", "keras")


#: Errors of the disk, not of the export: the run cannot be saved either, so they end it (exit 8, the file named).
_DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})


def _write_onnx(cell_dir: Path, model: Any, label: str) -> None:
    """``model.onnx`` beside ``model.keras``; a failed export costs the fast predict path, not the run, unless
    the disk refused (full, read-only, failing): that is raised, naming the file."""
    try:
        runtime.export_onnx(model, cell_dir / layout.ONNX_FILE)
    except OSError as exc:
        if exc.errno in _DISK_ERRORS:
            raise
        warnings.warn(f"{label}: ONNX export failed ({exc.__class__.__name__}: {exc}); "
                      "predict will use Keras", RuntimeWarning, stacklevel=2)
    except Exception as exc:
        warnings.warn(f"{label}: ONNX export failed ({exc.__class__.__name__}: {exc}); "
                      "predict will use Keras", RuntimeWarning, stacklevel=2)


def write_cell(
    cell_dir: Path,
    *,
    cell: str,
    model: Any,
    scaler: SeriesScalers,
    metrics: dict[str, Any],
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    window: dict[str, Any],
    data: dict[str, Any],
    calibration: Calibration | None = None,
) -> None:
    """Write one trained network's folder: model (Keras + ONNX), scaler, calibration, metrics, history,
    forecast, manifest.

    Args:
        cell_dir: the folder to create (inside a staged run).
        cell: the cell name recorded in the manifest.
        model: the trained Keras model; or ``{series id: model}`` (``--per-series``): the network of
            the k-th series of ``scaler`` (a ``SeriesScalers`` of those ids, in that order) goes to
            ``series/<k>/``, and the manifest's kind says so.
        scaler: its scaler.
        metrics: ``metrics.json``'s content.
        history: per-epoch losses.
        forecast: ``timestamp, yhat`` after the end of the series.
        window, data: the manifest's ``window`` (lookback, horizon, freq, season, strategy, split)
            and ``data`` (path, hash, columns...) records.
        calibration: the conformal interval radii (``None``: point forecasts only).
    """
    cell_dir.mkdir()
    kind = None
    if isinstance(model, Mapping):
        if not isinstance(scaler, SeriesScalers) or list(model) != scaler.ids or not model:
            raise ValueError(f"{len(model)} networks for the series of {type(scaler).__name__}")
        for k, (sid, network) in enumerate(model.items()):
            sub = cell_dir / layout.SERIES_DIR / str(k)
            sub.mkdir(parents=True)
            _write_network(sub, network, label=f"{cell_dir.name} series {sid!r}")
        kind = layout.PER_SERIES
    else:
        _write_network(cell_dir, model)
    _write_outputs(cell_dir, scaler, calibration, metrics, history, forecast)
    write_cell_manifest(cell_dir, cell=cell, window=window, data=data, kind=kind)


def _write_network(cell_dir: Path, model: Any, *, label: str | None = None) -> None:
    with atomic_path(cell_dir / layout.KERAS_FILE, suffix=".keras") as tmp:
        model.save(tmp)
    _write_onnx(cell_dir, model, label or cell_dir.name)


def _write_outputs(cell_dir: Path, scaler: SeriesScalers, calibration: Calibration | None,
                   metrics: dict[str, Any], history: pd.DataFrame, forecast: pd.DataFrame) -> None:
    atomic_write_text(cell_dir / layout.SCALER_FILE, scaler.to_json())
    _write_calibration(cell_dir, calibration)
    atomic_write_text(cell_dir / layout.METRICS_FILE, json.dumps(json_ready(metrics), indent=2))
    atomic_write_text(cell_dir / layout.HISTORY_FILE, history.to_csv(index=False))
    stamped = forecast.assign(timestamp=forecast["timestamp"].map(lambda ts: ts.isoformat()))
    atomic_write_text(cell_dir / layout.FORECAST_FILE, stamped.to_csv(index=False))


def _write_calibration(cell_dir: Path, calibration: Calibration | None) -> None:
    if calibration is not None:
        atomic_write_text(cell_dir / layout.CALIBRATION_FILE, json.dumps(calibration.to_dict(), indent=2))


def read_calibration(cell_dir: Path, manifest: dict[str, Any]) -> Calibration | None:
    """A checked folder's interval calibration (``None`` when it was saved without one).

    Call after :func:`check_cell` (which verified the file's hash).

    Raises:
        ArtifactError: the file is unreadable, or a field is of the wrong type or range.
    """
    path = cell_dir / layout.CALIBRATION_FILE
    if not path.is_file():
        return None
    calibration = Calibration.from_dict(read_json(path, "interval calibration"), source=str(path),
                                        horizon=int(manifest["window"]["horizon"]))
    check_agreement(cell_dir, manifest, calibration=calibration)
    return calibration


def write_spec_row(cell_dir: Path, *, kind: str, name: str, spec: dict[str, Any], metrics: dict[str, Any],
                   window: dict[str, Any], data: dict[str, Any], calibration: Calibration | None = None,
                   scaler: SeriesScalers | None = None) -> None:
    """Write the folder of a row served from a plain-JSON spec: a statistical row (``kind``
    ``layout.STATISTICAL``: structure, parameters and, since state format 1, the fitted state predict serves
    from; see :mod:`forecaster.models.statistical_state`) or a baseline row (``layout.BASELINE``: naive,
    seasonal naive, or the linear map with its ``scaler``), with calibration, metrics and manifest."""
    cell_dir.mkdir()
    atomic_write_text(cell_dir / layout.SPEC_FILE, json.dumps(json_ready(spec), indent=2))
    if scaler is not None:
        atomic_write_text(cell_dir / layout.SCALER_FILE, scaler.to_json())
    _write_calibration(cell_dir, calibration)
    atomic_write_text(cell_dir / layout.METRICS_FILE, json.dumps(json_ready(metrics), indent=2))
    write_cell_manifest(cell_dir, cell=name, window=window, data=data, kind=kind)


@dataclass(frozen=True)
class LoadedCell:
    """A trained cell ready to predict: its runtime, scaler and manifest.

    ``model`` is the runtime (:class:`~forecaster.models.network.inference.Predictor`): ONNX Runtime, or the
    Keras model in safe mode (whose attributes, e.g. ``layers``, it passes through).
    """

    path: Path
    model: Predictor  # a --per-series cell: its first series' network (``members`` holds them all)
    scaler: SeriesScalers  # one row per series (a file of one series: the id None)
    manifest: dict[str, Any]
    members: Sequence[Predictor] = ()  # --per-series: the network of each series (aligned with scaler.ids), lazy

    kind: Kind = "model"
    capabilities = Capabilities(uses_covariates=True, network=True, saves=True)

    @property
    def backend(self) -> str:
        """``"onnx"`` (ONNX Runtime, no TensorFlow) or ``"keras"``."""
        return self.model.backend

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def lookback(self) -> int:
        return int(self.manifest["window"]["lookback"])

    @property
    def horizon(self) -> int:
        return int(self.manifest["window"]["horizon"])

    @property
    def strategy(self) -> str:
        """``direct`` or ``recursive``: how the network produces its horizon."""
        return str(self.manifest["window"].get("strategy", "direct"))

    @property
    def per_series(self) -> bool:
        """One network per series (trained ``--per-series``), not one global network."""
        return bool(self.members)

    def serves(self, series_id: str | None) -> bool:
        """Whether it has a network and a scaler for ``series_id`` (``None``: a file of one series)."""
        return series_id in self.scaler

    def forecaster_of(self, series_id: str | None) -> NetworkForecaster:
        """The network forecasting one of its series, with that series' scaler.

        Raises:
            ArtifactError: the model was not trained on that series.
        """
        if series_id not in self.scaler:
            raise ArtifactError(f"{self.path}: series {series_id!r} was not in the training data")
        model = self.members[self.scaler.index(series_id)] if self.members else self.model
        return NetworkForecaster(model, self.scaler.of(series_id), self.lookback, self.strategy)

    def fit(self, prep: Prepared) -> LoadedCell:
        """A saved cell is already fitted: it is scored as it is (with its own scalers)."""
        return self

    def on(self, item: PreparedSeries) -> NetworkForecaster:
        """The saved network forecasting one series of prepared data (the model contract)."""
        return self.forecaster_of(item.series_id)

    def forecast_frames(self, frames: Sequence[SeriesFrame], horizon: int, future: pd.DataFrame | None = None,
                        source: str = "--future") -> tuple[np.ndarray, np.ndarray]:
        """``horizon`` steps after the end of each series, ``(n, horizon)``, and each series' target scale
        ``(n, 1)``: one batched call for a global network, one per series for a ``--per-series`` cell.

        Raises:
            DataError: a window's known covariates are missing after the end, or a value does not standardise
                within float32 with the series' saved scaler.
            ArtifactError: the runtime rejects the window (manifest and network disagree).
        """
        calendar = bool(self.manifest["data"].get("calendar", False))
        windows = np.stack([self._readable(s, last_window(s, self.lookback, self.horizon, calendar=calendar,
                                                          future=future_of(future, s, source), source=source))
                            for s in frames])
        scalers = [self.scaler.of(s.series_id) for s in frames]
        mean, scale = np.stack([s.mean_ for s in scalers]), np.stack([s.scale_ for s in scalers])
        try:
            if self.per_series:  # a network per series (--per-series): one call each
                yhat = np.concatenate([self.forecaster_of(s.series_id).predict_rows(
                    windows[k:k + 1], horizon, mean[k:k + 1], scale[k:k + 1]) for k, s in enumerate(frames)])
            else:
                yhat = self.forecaster_of(frames[0].series_id).predict_rows(windows, horizon, mean, scale)
        except (ArtifactError, DataError):
            raise
        except Exception as exc:  # the runtime rejected the window: manifest and network disagree
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__
            raise ArtifactError(f"{self.path}: the saved network rejects a window of shape {tuple(windows.shape)} "
                                f"described by manifest.json ({first}); the run is inconsistent: retrain or pick "
                                "another run") from None
        return yhat, scale[:, :1]

    def _readable(self, series: SeriesFrame, values: np.ndarray) -> np.ndarray:
        """``values``, once they standardise within float32 with the series' saved scaler (a value of ``1e300``
        is the data's problem, named, not a broken model's NaN)."""
        scaler = self.scaler.of(series.series_id)
        source = series.path + (f": series {series.series_id!r}" if series.series_id is not None else "")
        check_readable(values, scaler, source=source, index=series.frame.index, offset=len(series.frame) - len(values))
        return values


def _scaler(path: Path, manifest: dict[str, Any]) -> SeriesScalers:
    """The checked folder's scaler, refused unless its columns and series are those its manifest names."""
    source = path / layout.SCALER_FILE
    scaler = read_scaler(read_json(source, "scaler"), source=str(source))
    check_agreement(path, manifest, scaler)
    return scaler


def _network(path: Path, manifest: dict[str, Any], predictor: Predictor) -> Predictor:
    """``predictor``, refused unless its input width, window and outputs are what the manifest says."""
    check_network(path, manifest, getattr(predictor, "io_shape", None))
    return predictor


def load_cell(cell_dir: str | Path) -> LoadedCell:
    """Load a trained cell with Keras ``safe_mode=True`` after checking its manifest.

    Raises:
        ArtifactError: the folder is not a complete, intact run of a compatible version.
    """
    path = Path(cell_dir)
    manifest = check_cell(path)
    if is_statistical(manifest):
        raise ArtifactError(f"{path}: a statistical model's folder, not a network; serve it with `forecast predict`")
    _check_keras_version(path, manifest)
    scaler = _scaler(path, manifest)
    if is_per_series(manifest):
        members = Members([sub / layout.KERAS_FILE for sub in _member_dirs(path, manifest, scaler)],
                          lambda file: _network(file.parent, manifest, KerasRuntime(_keras(file))))
        return LoadedCell(path=path, model=members[0], scaler=scaler, manifest=manifest, members=members)
    model = _network(path, manifest, KerasRuntime(_keras(path / layout.KERAS_FILE)))
    return LoadedCell(path=path, model=model, scaler=scaler, manifest=manifest)


def _check_keras_version(path: Path, manifest: dict[str, Any]) -> None:
    saved_keras = str(manifest.get("libraries", {}).get("keras", "?"))
    from forecaster.models.network.tensorflow_quiet import import_tensorflow_quietly

    import_tensorflow_quietly()  # (a --per-series cell's Keras fallback may be the first import)
    import keras

    if saved_keras.split(".")[0] != keras.__version__.split(".")[0]:
        raise ArtifactError(
            f"{path}: saved with Keras {saved_keras}, this is Keras {keras.__version__}; retrain the model"
        )


def _keras(file: Path) -> Any:
    """A saved Keras model, loaded with ``safe_mode=True`` (no code runs from the file). TensorFlow's first
    import goes through :func:`~forecaster.models.network.tensorflow_quiet.import_tensorflow_quietly` (a ``--per-series`` cell
    falls back to Keras for one series whose ONNX export failed, long after the CLI chose ONNX)."""
    from forecaster.models.network.tensorflow_quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    try:
        from forecaster.models.network.cells import custom_objects

        return keras.saving.load_model(file, custom_objects=custom_objects(), compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad file
        raise ArtifactError(f"{file}: cannot be loaded ({exc.__class__.__name__}: {exc})") from None


def _member_dirs(path: Path, manifest: dict[str, Any], scaler: SeriesScalers) -> list[Path]:
    """A checked ``--per-series`` cell's network folders, one per series of its scaler: exactly those its
    manifest lists (hashed), and nothing else under ``series/``."""
    listed = {m.group(1) for m in map(SERIES_FILE.fullmatch, manifest["files"]) if m}
    on_disk = {p.name for p in (path / layout.SERIES_DIR).iterdir() if p.is_dir()}
    n = len(scaler.ids)
    if scaler.single or len(listed) != n or on_disk != listed:
        extra = sorted(on_disk - listed)
        detail = f" ({layout.SERIES_DIR}/{extra[0]} is not in {layout.MANIFEST})" if extra else ""
        raise ArtifactError(f"{path}: {len(on_disk)} per-series networks for {n} series in {layout.SCALER_FILE}"
                            f"{detail}; retrain or pick another run")
    return [path / layout.SERIES_DIR / str(k) for k in range(n)]


class Members(Sequence[Predictor]):
    """A ``--per-series`` cell's networks, each loaded the first time it is used (a request for one series
    of many loads one)."""

    def __init__(self, files: Sequence[Path], load: Any) -> None:
        self._files, self._load = list(files), load
        self._loaded: dict[int, Predictor] = {}

    def __len__(self) -> int:
        return len(self._files)

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return [self[i] for i in range(*k.indices(len(self)))]
        k = range(len(self))[k]  # a negative index: its position (one cache entry per network)
        if k not in self._loaded:
            self._loaded[k] = self._load(self._files[k])
        return self._loaded[k]


def load_for_serving(cell_dir: str | Path, *, backend: str = "auto", threads: int | None = None) -> LoadedCell:
    """Load a cell to predict with: ONNX Runtime when ``model.onnx`` is there, else Keras.

    The manifest and the SHA-256 of ``model.keras``, ``scaler.json`` and (when present)
    ``model.onnx`` are checked first, as :func:`load_cell` does.

    Args:
        cell_dir: a cell folder (see :func:`~forecaster.artifacts.run.resolve_cell_dir`).
        backend: ``auto`` (ONNX if present, else Keras), ``onnx`` (required) or ``keras``.
        threads: ONNX Runtime intra-op threads (``None``: its default).

    Raises:
        ArtifactError: the folder is incomplete or corrupt, or ``backend="onnx"`` and there is
            no ``model.onnx``.
    """
    if backend not in BACKENDS:
        raise ArtifactError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    path = Path(cell_dir)
    if backend != "keras" and (path / layout.SERIES_DIR).is_dir():  # --per-series (the manifest says; checked there)
        return _serve_per_series(path, backend, threads)
    onnx_path = path / layout.ONNX_FILE
    if backend == "keras" or (backend == "auto" and not onnx_path.is_file()):
        return load_cell(path)
    if not onnx_path.is_file():
        raise ArtifactError(f"{onnx_path}: missing; this run has no ONNX export (serve it with the Keras backend)")
    manifest = check_cell(path)  # also verifies model.onnx's hash
    scaler = _scaler(path, manifest)  # the roles first: the network's width is checked against them
    model = _network(path, manifest, runtime.OnnxRuntime(onnx_path, threads=threads))
    return LoadedCell(path=path, model=model, scaler=scaler, manifest=manifest)


def _serve_per_series(path: Path, backend: str, threads: int | None) -> LoadedCell:
    """A ``--per-series`` cell with each series' network on ONNX Runtime (Keras for a series without
    ``model.onnx`` under ``auto``)."""
    manifest = check_cell(path)
    if not is_per_series(manifest):
        raise ArtifactError(f"{path}: a '{layout.SERIES_DIR}' folder in a cell that is not per-series; "
                            "retrain or pick another run")
    scaler = _scaler(path, manifest)
    dirs = _member_dirs(path, manifest, scaler)
    missing = [sub for sub in dirs if not (sub / layout.ONNX_FILE).is_file()]
    if missing and backend == "onnx":
        raise ArtifactError(f"{missing[0] / layout.ONNX_FILE}: missing ({len(missing)} of {len(dirs)} series' networks "
                            "have no ONNX export); serve them with the Keras backend")
    if missing:
        _check_keras_version(path, manifest)

    def load(sub: Path) -> Predictor:
        if (sub / layout.ONNX_FILE).is_file():  # one thread each: a series is one window, and there may be thousands
            return _network(sub, manifest, runtime.OnnxRuntime(sub / layout.ONNX_FILE, threads=threads or 1))
        return _network(sub, manifest, KerasRuntime(_keras(sub / layout.KERAS_FILE)))

    members = Members(dirs, load)
    return LoadedCell(path=path, model=members[0], scaler=scaler, manifest=manifest, members=members)
