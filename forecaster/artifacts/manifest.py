"""A cell folder's ``manifest.json``: written last with a hash of every file and of itself, checked field
by field, and checked *against the other files* (:func:`check_agreement`).

The hashes give integrity, not authenticity: someone who edits a file can recompute them. So the
files must also agree with each other: the manifest's columns and roles with the scaler's columns,
its panel with the scaler's series ids, the network's input width and outputs with both, the
calibration's kind and series with the panel. A model whose files disagree is refused (exit 4)
naming what disagrees, instead of serving a forecast built from mismatched parts.

Example:
    >>> m = {"window": {"lookback": 3, "horizon": 2, "freq": "D", "strategy": "direct"},
    ...      "data": {"target": "y", "covariates": ["x"], "known": [], "calendar": False}}
    >>> expected_inputs(m)
    ('y', 'x')
    >>> check_network(Path("cell"), m, (3, 2, 2))
    >>> check_network(Path("cell"), m, (3, 1, 2))
    Traceback (most recent call last):
    ...
    forecaster.errors.ArtifactError: cell: the network reads 1 input columns per step, but manifest.json and \
scaler.json name 2 (y, x); its files disagree: retrain or pick another run
"""

from __future__ import annotations

import json
import platform
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecaster.artifacts import layout
from forecaster.errors import ArtifactError
from forecaster.fs import atomic_write_text, check_no_links, contained, json_ready, read_json

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.data.scaling import SeriesScalers
    from forecaster.evaluation.intervals import Calibration

__all__ = ["SELF_KEY", "library_versions", "sha256", "write_cell_manifest", "manifest_digest", "check_cell",
           "SERIES_FILE", "is_statistical", "is_baseline", "is_network", "is_per_series", "expected_inputs", "panel_ids",
           "check_agreement",
           "check_network", "check_statistical"]

#: What to do about any disagreement: the model cannot be trusted, so it is not served.
_RETRAIN = "its files disagree: retrain or pick another run"

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


def sha256(path: Path) -> str:
    from forecaster.fs import file_sha256

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
        "files": {p.relative_to(cell_dir).as_posix(): sha256(p) for p in sorted(cell_dir.rglob("*")) if p.is_file()},
    }
    manifest = json_ready(manifest)
    manifest[SELF_KEY] = manifest_digest(manifest)
    atomic_write_text(cell_dir / layout.MANIFEST, json.dumps(manifest, indent=2))


#: The manifest's own checksum: SHA-256 of its canonical JSON without this key. An edited field
#: (a ``strategy`` changes every forecast) is then reported as corruption, like an edited file.
#: Manifests written before it have none and are read as before.
SELF_KEY = "manifest_sha256"


def manifest_digest(manifest: dict[str, Any]) -> str:
    import hashlib

    body = {k: v for k, v in manifest.items() if k != SELF_KEY}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def _check_manifest_fields(manifest: dict[str, Any], where: str) -> None:
    """Every field a loader uses, of the right type and range (a tampered or foreign manifest is refused)."""
    from forecaster.models.network.strategies import STRATEGIES

    def bad(field: str, expected: str, got: Any) -> ArtifactError:
        return ArtifactError(f"{where}: '{field}' must be {expected}, got {str(got)[:60]!r}; "
                             "retrain or pick another run")

    def whole(value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    kinds = (layout.STATISTICAL, layout.BASELINE, layout.PER_SERIES)
    if manifest.get("kind") not in (None, *kinds):
        raise bad("kind", f"absent (a network) or one of {', '.join(kinds)}", manifest.get("kind"))
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
    if SELF_KEY in manifest and manifest[SELF_KEY] != manifest_digest(manifest):
        raise ArtifactError(f"{where}: corrupt (edited after it was saved: its own checksum differs); "
                            "retrain or pick another run")
    files = manifest["files"]
    check_no_links(cell_dir)  # nothing in the folder links elsewhere, and every path it names stays inside
    for name in files:
        contained(cell_dir, name, where)
    optional = tuple(n for n in layout.OPTIONAL_CELL_FILES
                     if (cell_dir / n).exists() or (n in files and n not in layout.FALLBACK_FILES))
    if is_statistical(manifest):
        own: tuple[str, ...] = layout.STATISTICAL_FILES
    elif is_baseline(manifest):
        own = (*layout.BASELINE_FILES, *((layout.SCALER_FILE,) if layout.SCALER_FILE in files else ()))
    elif is_per_series(manifest):
        own = (layout.SCALER_FILE, *_series_files(cell_dir, files, where))
    else:
        own = layout.REQUIRED_CELL_FILES
    required = (*own, *optional)
    for name in required:
        path = cell_dir / name
        if not path.is_file():
            raise ArtifactError(f"{path}: missing from the saved run; retrain or pick another run")
        if files.get(name) != sha256(path):
            raise ArtifactError(
                f"{path}: corrupt (checksum differs from {layout.MANIFEST}); retrain or pick another run"
            )
    return manifest


SERIES_FILE = re.compile(rf"{layout.SERIES_DIR}/([0-9]+)/({re.escape(layout.KERAS_FILE)}|{re.escape(layout.ONNX_FILE)})")


def _series_files(cell_dir: Path, files: dict[str, str], where: str) -> list[str]:
    """A ``--per-series`` cell's hashed network files: every ``series/<k>/model.keras`` (k = 0..n-1),
    and each ``model.onnx`` that is there (Keras serves a series whose export failed)."""
    found = {m.group(1) for m in map(SERIES_FILE.fullmatch, files) if m}
    n = len(found)
    if not n or found != {str(k) for k in range(n)}:
        raise ArtifactError(f"{where}: a per-series cell must list series/0..n-1/{layout.KERAS_FILE}; "
                            "retrain or pick another run")
    out = [f"{layout.SERIES_DIR}/{k}/{layout.KERAS_FILE}" for k in range(n)]
    return out + [name for k in range(n) if (cell_dir / (name := f"{layout.SERIES_DIR}/{k}/{layout.ONNX_FILE}")).exists()
                  or (name in files and layout.ONNX_FILE not in layout.FALLBACK_FILES)]


def is_statistical(manifest: dict[str, Any]) -> bool:
    """Whether a checked manifest describes a statistical row's folder (not a network's)."""
    return manifest.get("kind") == layout.STATISTICAL


def is_baseline(manifest: dict[str, Any]) -> bool:
    """Whether a checked manifest describes a naive, seasonal-naive or linear row's folder."""
    return manifest.get("kind") == layout.BASELINE


def is_network(manifest: dict[str, Any]) -> bool:
    """Whether a checked manifest describes a network's folder (one global network, or one per series)."""
    return manifest.get("kind") in (None, layout.PER_SERIES)


def is_per_series(manifest: dict[str, Any]) -> bool:
    """Whether a checked manifest describes a ``--per-series`` cell (one network per series)."""
    return manifest.get("kind") == layout.PER_SERIES


def expected_inputs(manifest: dict[str, Any]) -> tuple[str, ...]:
    """The input columns a network saved with ``manifest`` reads, in its order: target, past, static, known
    covariates, then the calendar inputs of its frequency (:attr:`forecaster.data.columns.Columns.inputs`)."""
    from forecaster.data.columns import Columns
    from forecaster.data.features import calendar_columns

    data, window = manifest["data"], manifest["window"]
    calendar = calendar_columns(str(window["freq"]), bool(data.get("calendar")))
    return Columns.from_manifest(data, calendar).inputs


def panel_ids(manifest: dict[str, Any]) -> list[str] | None:
    """The series a panel's model was trained on (``None``: a model of one series; ``[]``: a panel whose
    manifest does not list them)."""
    data = manifest["data"]
    if not data.get("id_col"):
        return None
    last = data.get("series_last")
    return [str(k) for k in last] if isinstance(last, dict) else []


def _listed(names: Sequence[Any], most: int = 6) -> str:
    shown = ", ".join(str(n) for n in names[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")


def check_agreement(path: Path, manifest: dict[str, Any], scaler: SeriesScalers | None = None,
                    calibration: Calibration | None = None) -> None:
    """Refuse a model whose manifest, scaler and calibration disagree (each file may be intact on its own).

    Checked: the scaler's columns are the inputs the manifest's roles name, in order; a panel's manifest
    goes with a scaler of its series (one series' with one scaler) and every scaled series is one the
    panel was trained on; the calibration covers the manifest's horizon, is scaled per series exactly
    when the model is a panel's, and names no series the panel does not have.

    Raises:
        ArtifactError: naming the two files and what disagrees.
    """
    ids = panel_ids(manifest)
    if scaler is not None:
        inputs = expected_inputs(manifest)
        if list(scaler.columns) != list(inputs):
            raise ArtifactError(f"{path}: {layout.SCALER_FILE} scales the columns ({_listed(scaler.columns)}), but "
                                f"{layout.MANIFEST}'s roles name ({_listed(inputs)}) as the inputs; {_RETRAIN}")
        if ids is None and not scaler.single:
            raise ArtifactError(f"{path}: {layout.SCALER_FILE} holds {len(scaler.ids)} series, but {layout.MANIFEST} "
                                f"is a model of one series (no id column); {_RETRAIN}")
        if ids is not None and scaler.single:
            raise ArtifactError(f"{path}: {layout.MANIFEST} is a panel's model (series by "
                                f"'{manifest['data']['id_col']}'), but {layout.SCALER_FILE} is of one series; {_RETRAIN}")
        _check_series(path, layout.SCALER_FILE, [str(i) for i in scaler.ids], ids)
    if calibration is not None:
        horizon = int(manifest["window"]["horizon"])
        if calibration.horizon != horizon:
            raise ArtifactError(f"{path}: {layout.CALIBRATION_FILE} covers {calibration.horizon} steps, but "
                                f"{layout.MANIFEST}'s horizon is {horizon}; {_RETRAIN}")
        if calibration.scaled != (ids is not None):
            said = ("scaled per series (a panel's)", "a model of one series") if calibration.scaled else \
                ("in the target's units (a model of one series)", "a panel's model")
            raise ArtifactError(f"{path}: {layout.CALIBRATION_FILE} is {said[0]}, but {layout.MANIFEST} is "
                                f"{said[1]}; {_RETRAIN}")
        _check_series(path, layout.CALIBRATION_FILE, [sid for sid, _ in calibration.scales], ids)


def _check_series(path: Path, file: str, named: Sequence[str], ids: Sequence[str] | None) -> None:
    """Every series ``file`` names is one of the panel's (a manifest without the list checks nothing)."""
    if not ids:
        return
    known = set(ids)
    stranger = next((sid for sid in named if sid not in known), None)
    if stranger is not None:
        raise ArtifactError(f"{path}: {file} has series {stranger!r}, which is not among the {len(ids)} series of "
                            f"{layout.MANIFEST} ({_listed(list(ids))}); {_RETRAIN}")
    if len(set(named)) != len(named):
        twice = next(sid for sid in named if list(named).count(sid) > 1)
        raise ArtifactError(f"{path}: {file} lists series {twice!r} twice; {_RETRAIN}")


def check_network(path: Path, manifest: dict[str, Any], shape: tuple[int | None, int | None, int | None] | None,
                  ) -> None:
    """Refuse a network whose input (steps, columns) or output width is not what the manifest says:
    ``lookback`` steps of :func:`expected_inputs` columns in, ``horizon`` steps out (one for ``recursive``).

    ``shape`` is ``(steps, columns, outputs)``; a dimension the runtime leaves open (``None``) is not checked.
    """
    if shape is None:
        return
    from forecaster.models.network.strategies import output_steps

    window = manifest["window"]
    steps, columns, outputs = shape
    inputs = expected_inputs(manifest)
    if columns is not None and columns != len(inputs):
        raise ArtifactError(f"{path}: the network reads {columns} input columns per step, but {layout.MANIFEST} and "
                            f"{layout.SCALER_FILE} name {len(inputs)} ({_listed(inputs)}); {_RETRAIN}")
    lookback = int(window["lookback"])
    if steps is not None and steps != lookback:
        raise ArtifactError(f"{path}: the network reads windows of {steps} steps, but {layout.MANIFEST}'s lookback is "
                            f"{lookback}; {_RETRAIN}")
    strategy = str(window.get("strategy", "direct"))
    want = output_steps(strategy, int(window["horizon"]))
    if outputs is not None and outputs != want:
        raise ArtifactError(f"{path}: the network outputs {outputs} steps, but {layout.MANIFEST} says {want} "
                            f"(horizon {window['horizon']}, {strategy}); {_RETRAIN}")


def check_statistical(path: Path, manifest: dict[str, Any], spec: dict[str, Any]) -> None:
    """Refuse a statistical row whose spec and manifest disagree: a spec per series exactly when the manifest
    is a panel's, and only for series the panel has."""
    ids = panel_ids(manifest)
    per = spec.get("per_series")
    if per is None and ids is not None:
        raise ArtifactError(f"{path}: {layout.MANIFEST} is a panel's model, but {layout.SPEC_FILE} holds one spec, "
                            f"not one per series; {_RETRAIN}")
    if per is not None and ids is None:
        raise ArtifactError(f"{path}: {layout.SPEC_FILE} holds a spec per series, but {layout.MANIFEST} is a model "
                            f"of one series; {_RETRAIN}")
    if per is not None:
        _check_series(path, layout.SPEC_FILE, [str(k) for k in per], ids)
