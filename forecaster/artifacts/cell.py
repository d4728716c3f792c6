"""A saved cell folder: written with a hashed manifest, checked and loaded (never unpickled).

Each cell's ``manifest.json`` records the window spec, the data file's hash and row count,
library versions and a SHA-256 of every file, so a truncated or swapped file is reported
instead of served. A loaded cell (:class:`LoadedCell`) is a model of the leaderboard contract
(:class:`forecaster.contract.Model`): it forecasts at origins with its own scaler and strategy.

Example:
    >>> loaded = load_for_serving("models/seattle-temps/runs/<id>/lstm")  # doctest: +SKIP
    >>> loaded.backend, loaded.strategy, loaded.predict(values, origins, 24).shape  # doctest: +SKIP
    ('onnx', 'direct', (1291, 24))
"""

from __future__ import annotations

import json
import platform
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forecaster.artifacts import layout, runtime
from forecaster.artifacts.io import atomic_path, atomic_write_text, json_ready, read_json
from forecaster.contract import Capabilities, Kind
from forecaster.errors import ArtifactError
from forecaster.inference import KerasRuntime, NetworkForecaster, Predictor
from forecaster.intervals import Calibration
from forecaster.windows import Scaler, SeriesScalers, read_scaler

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from forecaster.prepared import Prepared

__all__ = [
    "BACKENDS", "LoadedCell", "write_cell", "write_cell_manifest", "is_per_series",
    "write_statistical", "is_statistical",
    "read_spec", "read_calibration", "library_versions", "check_cell", "load_cell", "load_for_serving",
]

#: ``auto``: ONNX when ``model.onnx`` exists, else Keras.
BACKENDS = ("auto", "onnx", "keras")


def library_versions() -> dict[str, str]:
    """Versions recorded in every manifest."""
    import keras
    import numpy
    import pandas
    import tensorflow

    import forecaster

    return {
        "forecaster": forecaster.__version__,
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
    }


def _sha256(path: Path) -> str:
    from forecaster.data import file_sha256

    return file_sha256(path)


def write_cell_manifest(cell_dir: Path, *, cell: str, window: dict[str, Any], data: dict[str, Any],
                        kind: str | None = None) -> None:
    """Write ``manifest.json`` last, with hashes of the files already in ``cell_dir``."""
    manifest = {
        "format": layout.FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **({"kind": kind} if kind else {}),
        "cell": cell,
        "window": window,
        "data": data,
        "libraries": library_versions(),
        # every file, nested ones too (a --per-series cell's series/<k>/ networks) by their relative path
        "files": {p.relative_to(cell_dir).as_posix(): _sha256(p) for p in sorted(cell_dir.rglob("*")) if p.is_file()},
    }
    manifest = json_ready(manifest)
    manifest[_SELF] = _manifest_digest(manifest)
    atomic_write_text(cell_dir / layout.MANIFEST, json.dumps(manifest, indent=2))


#: The manifest's own checksum: SHA-256 of its canonical JSON without this key. An edited field
#: (a ``strategy`` changes every forecast) is then reported as corruption, like an edited file.
#: Manifests written before it have none and are read as before.
_SELF = "manifest_sha256"


def _manifest_digest(manifest: dict[str, Any]) -> str:
    import hashlib

    body = {k: v for k, v in manifest.items() if k != _SELF}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def _check_manifest_fields(manifest: dict[str, Any], where: str) -> None:
    """Every field a loader uses, of the right type and range (a tampered or foreign manifest is refused)."""
    from forecaster.strategies import STRATEGIES

    def bad(field: str, expected: str, got: Any) -> ArtifactError:
        return ArtifactError(f"{where}: '{field}' must be {expected}, got {str(got)[:60]!r}; "
                             "retrain or pick another run")

    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    window, data, files = manifest["window"], manifest["data"], manifest["files"]
    if not isinstance(window, dict) or not isinstance(data, dict):
        raise bad("window", "a mapping", window)
    for key in ("lookback", "horizon"):
        if not whole(window[key]) or window[key] < 1:
            raise bad(f"window.{key}", "an integer >= 1", window[key])
    if not isinstance(window["freq"], str) or not window["freq"]:
        raise bad("window.freq", "a pandas frequency", window["freq"])
    try:
        import pandas as pd

        pd.tseries.frequencies.to_offset(window["freq"])
    except (ValueError, TypeError):
        raise bad("window.freq", "a pandas frequency (h, D, W-SUN, MS...)", window["freq"]) from None
    if window.get("strategy", "direct") not in STRATEGIES:
        raise bad("window.strategy", " or ".join(STRATEGIES), window.get("strategy"))
    split = window.get("split")
    if split is not None and not (isinstance(split, dict) and all(whole(split.get(k)) and split[k] >= 0
                                                                  for k in ("train_end", "val_end", "n"))):
        raise bad("window.split", "train_end, val_end and n as integers", split)
    if not isinstance(data["target"], str) or not isinstance(data["covariates"], list) or not all(
            isinstance(c, str) for c in data["covariates"]):
        raise bad("data.covariates", "a list of column names", data["covariates"])
    for key in ("known", "static", "static_columns"):
        named = data.get(key, [])
        if not isinstance(named, list) or not all(isinstance(c, str) for c in named):
            raise bad(f"data.{key}", "a list of column names", named)
    levels = data.get("static_levels", {})
    if not isinstance(levels, dict) or not all(isinstance(v, list) and all(isinstance(x, str) for x in v)
                                               for v in levels.values()):
        raise bad("data.static_levels", "a mapping of column names to lists of categories", levels)
    if not isinstance(data.get("calendar", False), bool):
        raise bad("data.calendar", "true or false", data.get("calendar"))
    if "id_col" in data and not (isinstance(data["id_col"], str) and data["id_col"]):
        raise bad("data.id_col", "a column name", data["id_col"])
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items()):
        raise bad("files", "a mapping of file names to checksums", files)


def _write_onnx(cell_dir: Path, model: Any, label: str) -> None:
    """``model.onnx`` beside ``model.keras``; a failed export costs the fast predict path, not the run."""
    try:
        runtime.export_onnx(model, cell_dir / layout.ONNX_FILE)
    except Exception as exc:
        warnings.warn(f"{label}: ONNX export failed ({exc.__class__.__name__}: {exc}); "
                      "predict will use Keras", RuntimeWarning, stacklevel=2)


def write_cell(
    cell_dir: Path,
    *,
    cell: str,
    model: Any,
    scaler: Scaler | SeriesScalers,
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


def _write_outputs(cell_dir: Path, scaler: Scaler | SeriesScalers, calibration: Calibration | None,
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
    return Calibration.from_dict(read_json(path, "interval calibration"), source=str(path),
                                 horizon=int(manifest["window"]["horizon"]))


def write_statistical(cell_dir: Path, *, name: str, spec: dict[str, Any], metrics: dict[str, Any],
                      window: dict[str, Any], data: dict[str, Any], calibration: Calibration | None = None) -> None:
    """Write a statistical row's folder: its spec (plain JSON: structure, parameters and, since state format 1,
    the fitted state predict serves from; see :mod:`forecaster.statistical_state`), calibration, metrics and
    manifest."""
    cell_dir.mkdir()
    atomic_write_text(cell_dir / layout.SPEC_FILE, json.dumps(json_ready(spec), indent=2))
    _write_calibration(cell_dir, calibration)
    atomic_write_text(cell_dir / layout.METRICS_FILE, json.dumps(json_ready(metrics), indent=2))
    write_cell_manifest(cell_dir, cell=name, window=window, data=data, kind=layout.STATISTICAL)


def is_statistical(manifest: dict[str, Any]) -> bool:
    """Whether a checked manifest describes a statistical row's folder (not a network's)."""
    return manifest.get("kind") == layout.STATISTICAL


def is_per_series(manifest: dict[str, Any]) -> bool:
    """Whether a checked manifest describes a ``--per-series`` cell (one network per series)."""
    return manifest.get("kind") == layout.PER_SERIES


def read_spec(cell_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A statistical row's checked manifest and its spec.

    Raises:
        ArtifactError: the folder is not an intact statistical row.
    """
    from forecaster.statistical_state import SpecError, check_spec

    manifest = check_cell(cell_dir)
    spec = read_json(cell_dir / layout.SPEC_FILE, "statistical model spec")
    if not is_statistical(manifest) or not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ArtifactError(f"{cell_dir}: not a statistical model's folder (expected {layout.SPEC_FILE} with a 'name')")
    try:
        check_spec(spec)  # its own schema: names, seasons and orders in range, a state that fits its structure
    except SpecError as exc:
        raise ArtifactError(f"{cell_dir / layout.SPEC_FILE}: {exc}; the saved model is unusable: retrain it") from None
    season = manifest.get("window", {}).get("season")
    if season is not None and season != spec["season"]:
        raise ArtifactError(f"{cell_dir / layout.SPEC_FILE}: season {spec['season']} disagrees with the manifest's "
                            f"{season}; the saved model is unusable: retrain it")
    return manifest, spec


@dataclass(frozen=True)
class LoadedCell:
    """A trained cell ready to predict: its runtime, scaler and manifest.

    ``model`` is the runtime (:class:`~forecaster.inference.Predictor`): ONNX Runtime, or the
    Keras model in safe mode (whose attributes, e.g. ``layers``, it passes through).
    """

    path: Path
    model: Predictor  # a --per-series cell: its first series' network (``members`` holds them all)
    scaler: Scaler | SeriesScalers  # one per series for a panel's network(s)
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
    def panel(self) -> bool:
        """A panel's network(s) (one scaler per series, ``data.id_col`` in the manifest)."""
        return isinstance(self.scaler, SeriesScalers)

    @property
    def per_series(self) -> bool:
        """One network per series (trained ``--per-series``), not one global network."""
        return bool(self.members)

    @property
    def forecaster(self) -> NetworkForecaster:
        if isinstance(self.scaler, SeriesScalers):
            raise ArtifactError(f"{self.path}: a panel's network forecasts one series at a time (LoadedCell.on)")
        return NetworkForecaster(self.model, self.scaler, self.lookback, self.strategy)

    def on(self, series_id: str) -> NetworkForecaster:
        """A panel network's forecaster for one of its series (that series' scaler).

        Raises:
            ArtifactError: the model was not trained on that series.
        """
        if not isinstance(self.scaler, SeriesScalers):
            return self.forecaster
        if series_id not in self.scaler:
            raise ArtifactError(f"{self.path}: series {series_id!r} was not in the training data")
        model = self.members[self.scaler.index(series_id)] if self.members else self.model
        return NetworkForecaster(model, self.scaler.of(series_id), self.lookback, self.strategy)

    def fit(self, prep: Prepared) -> LoadedCell:
        """A saved cell is already fitted: it is scored as it is (with its own scaler)."""
        return self

    def predict(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        """Forecast at origins (the model contract); ``values`` in the original units."""
        return self.forecaster.predict(values, origins, horizon)


def check_cell(cell_dir: Path) -> dict[str, Any]:
    """Validate a cell folder's manifest and file hashes without loading the model."""
    manifest = read_json(cell_dir / layout.MANIFEST, "run manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != layout.FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ArtifactError(f"{cell_dir}: unsupported run format {found!r}; this version reads {layout.FORMAT!r}")
    where = f"{cell_dir}/{layout.MANIFEST}"
    try:
        _check_manifest_fields(manifest, where)
    except (KeyError, TypeError) as exc:
        raise ArtifactError(f"{where}: incomplete manifest (missing {exc})") from None
    if _SELF in manifest and manifest[_SELF] != _manifest_digest(manifest):
        raise ArtifactError(f"{where}: corrupt (edited after it was saved: its own checksum differs); "
                            "retrain or pick another run")
    files = manifest["files"]
    optional = tuple(n for n in layout.OPTIONAL_CELL_FILES
                     if (cell_dir / n).exists() or (n in files and n not in layout.FALLBACK_FILES))
    if is_statistical(manifest):
        own: tuple[str, ...] = layout.STATISTICAL_FILES
    elif is_per_series(manifest):
        own = (layout.SCALER_FILE, *_series_files(cell_dir, files, where))
    else:
        own = layout.REQUIRED_CELL_FILES
    required = (*own, *optional)
    for name in required:
        path = cell_dir / name
        if not path.is_file():
            raise ArtifactError(f"{path}: missing from the saved run; retrain or pick another run")
        if files.get(name) != _sha256(path):
            raise ArtifactError(
                f"{path}: corrupt (checksum differs from {layout.MANIFEST}); retrain or pick another run"
            )
    return manifest


_SERIES_FILE = re.compile(rf"{layout.SERIES_DIR}/(\d+)/({re.escape(layout.KERAS_FILE)}|{re.escape(layout.ONNX_FILE)})")


def _series_files(cell_dir: Path, files: dict[str, str], where: str) -> list[str]:
    """A ``--per-series`` cell's hashed network files: every ``series/<k>/model.keras`` (k = 0..n-1),
    and each ``model.onnx`` that is there (Keras serves a series whose export failed)."""
    found = {m.group(1) for m in map(_SERIES_FILE.fullmatch, files) if m}
    n = len(found)
    if not n or found != {str(k) for k in range(n)}:
        raise ArtifactError(f"{where}: a per-series cell must list series/0..n-1/{layout.KERAS_FILE}; "
                            "retrain or pick another run")
    out = [f"{layout.SERIES_DIR}/{k}/{layout.KERAS_FILE}" for k in range(n)]
    return out + [name for k in range(n) if (cell_dir / (name := f"{layout.SERIES_DIR}/{k}/{layout.ONNX_FILE}")).exists()
                  or (name in files and layout.ONNX_FILE not in layout.FALLBACK_FILES)]


def _scaler(path: Path) -> Scaler | SeriesScalers:
    source = path / layout.SCALER_FILE
    return read_scaler(read_json(source, "scaler"), source=str(source))


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
    scaler = _scaler(path)
    if is_per_series(manifest):
        members = Members([sub / layout.KERAS_FILE for sub in _member_dirs(path, manifest, scaler)],
                          lambda file: KerasRuntime(_keras(file)))
        return LoadedCell(path=path, model=members[0], scaler=scaler, manifest=manifest, members=members)
    return LoadedCell(path=path, model=KerasRuntime(_keras(path / layout.KERAS_FILE)), scaler=scaler, manifest=manifest)


def _check_keras_version(path: Path, manifest: dict[str, Any]) -> None:
    saved_keras = str(manifest.get("libraries", {}).get("keras", "?"))
    import keras

    if saved_keras.split(".")[0] != keras.__version__.split(".")[0]:
        raise ArtifactError(
            f"{path}: saved with Keras {saved_keras}, this is Keras {keras.__version__}; retrain the model"
        )


def _keras(file: Path) -> Any:
    """A saved Keras model, loaded with ``safe_mode=True`` (no code runs from the file)."""
    import keras

    try:
        from forecaster.architectures import custom_objects

        return keras.saving.load_model(file, custom_objects=custom_objects(), compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad file
        raise ArtifactError(f"{file}: cannot be loaded ({exc.__class__.__name__}: {exc})") from None


def _member_dirs(path: Path, manifest: dict[str, Any], scaler: Scaler | SeriesScalers) -> list[Path]:
    """A checked ``--per-series`` cell's network folders, one per series of its scaler: exactly those its
    manifest lists (hashed), and nothing else under ``series/``."""
    listed = {m.group(1) for m in map(_SERIES_FILE.fullmatch, manifest["files"]) if m}
    on_disk = {p.name for p in (path / layout.SERIES_DIR).iterdir() if p.is_dir()}
    n = len(scaler.ids) if isinstance(scaler, SeriesScalers) else 1
    if not isinstance(scaler, SeriesScalers) or len(listed) != n or on_disk != listed:
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
    return LoadedCell(path=path, model=runtime.OnnxRuntime(onnx_path, threads=threads), scaler=_scaler(path),
                      manifest=manifest)


def _serve_per_series(path: Path, backend: str, threads: int | None) -> LoadedCell:
    """A ``--per-series`` cell with each series' network on ONNX Runtime (Keras for a series without
    ``model.onnx`` under ``auto``)."""
    manifest = check_cell(path)
    if not is_per_series(manifest):
        raise ArtifactError(f"{path}: a '{layout.SERIES_DIR}' folder in a cell that is not per-series; "
                            "retrain or pick another run")
    scaler = _scaler(path)
    dirs = _member_dirs(path, manifest, scaler)
    missing = [sub for sub in dirs if not (sub / layout.ONNX_FILE).is_file()]
    if missing and backend == "onnx":
        raise ArtifactError(f"{missing[0] / layout.ONNX_FILE}: missing ({len(missing)} of {len(dirs)} series' networks "
                            "have no ONNX export); serve them with the Keras backend")
    if missing:
        _check_keras_version(path, manifest)

    def load(sub: Path) -> Predictor:
        if (sub / layout.ONNX_FILE).is_file():  # one thread each: a series is one window, and there may be thousands
            return runtime.OnnxRuntime(sub / layout.ONNX_FILE, threads=threads or 1)
        return KerasRuntime(_keras(sub / layout.KERAS_FILE))

    members = Members(dirs, load)
    return LoadedCell(path=path, model=members[0], scaler=scaler, manifest=manifest, members=members)
