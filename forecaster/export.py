"""Run directories: written atomically, loaded with checks, never unpickled.

Layout (see docs/architecture.md)::

    <models_dir>/<name>/runs/<run-id>/
        config.yaml  leaderboard.json  leaderboard.csv
        <cell>/model.keras  scaler.json  metrics.json  history.csv  forecast.csv  manifest.json
    <models_dir>/<name>/champion.json     # optional: which run/cell serves by default

A run directory is built under a hidden temporary name beside its final place and renamed
into place only when complete, so an interrupted or failed run leaves nothing behind.
Each cell's ``manifest.json`` records the window spec, the data file's hash and row count,
library versions and a SHA-256 of every file, so a truncated or swapped file is reported
instead of served.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecaster.errors import ArtifactError
from forecaster.windows import Scaler

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from forecaster.serving import OnnxModel

__all__ = [
    "FORMAT",
    "atomic_write_text",
    "staged_run",
    "new_run_id",
    "library_versions",
    "write_cell_manifest",
    "LoadedCell",
    "load_cell",
    "read_json",
    "resolve_cell_dir",
    "json_ready",
]

#: Version tag of the run-directory format written by this code.
FORMAT = "forecaster-run/1"
_CELL_FILES = ("model.keras", "scaler.json")
_OPTIONAL_CELL_FILES = ("model.onnx",)  # hashed when present; runs saved before ONNX export lack it


def json_ready(value: Any) -> Any:
    """Replace NaN/inf floats by ``None`` (JSON has no NaN) recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder and ``os.replace``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def new_run_id(label: str) -> str:
    """A sortable, unique run id: ``YYYYmmdd-HHMMSS-<label>-<4 hex>`` (UTC)."""
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{label}-{secrets.token_hex(2)}"


@contextlib.contextmanager
def staged_run(final: Path) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``final`` only if the block succeeds.

    On any exception (Ctrl-C included) the temporary directory is removed and ``final`` is
    never created.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise ArtifactError(f"{final}: already exists; refusing to overwrite a saved run")
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    try:
        yield tmp
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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


def write_cell_manifest(cell_dir: Path, *, cell: str, window: dict[str, Any], data: dict[str, Any]) -> None:
    """Write ``manifest.json`` last, with hashes of the files already in ``cell_dir``."""
    manifest = {
        "format": FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cell": cell,
        "window": window,
        "data": data,
        "libraries": library_versions(),
        "files": {p.name: _sha256(p) for p in sorted(cell_dir.iterdir()) if p.is_file()},
    }
    atomic_write_text(cell_dir / "manifest.json", json.dumps(json_ready(manifest), indent=2))


def read_json(path: Path, what: str) -> Any:
    """Read a JSON artifact; a missing or malformed file is an :class:`ArtifactError`."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: {what} is corrupt ({exc.__class__.__name__}: {exc})") from None


@dataclass(frozen=True)
class LoadedCell:
    """A trained cell ready to predict: the network, its scaler and its manifest."""

    path: Path
    model: keras.Model | OnnxModel  # both take (batch, lookback, features) -> (batch, outputs)
    scaler: Scaler
    manifest: dict[str, Any]

    @property
    def backend(self) -> str:
        """``"onnx"`` (ONNX Runtime, no TensorFlow) or ``"keras"``."""
        return "keras" if type(self.model).__name__ != "OnnxModel" else "onnx"

    @property
    def lookback(self) -> int:
        return int(self.manifest["window"]["lookback"])

    @property
    def horizon(self) -> int:
        return int(self.manifest["window"]["horizon"])


def check_cell(cell_dir: Path) -> dict[str, Any]:
    """Validate a cell folder's manifest and file hashes without loading the model."""
    manifest = read_json(cell_dir / "manifest.json", "run manifest")
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        found = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise ArtifactError(f"{cell_dir}: unsupported run format {found!r}; this version reads {FORMAT!r}")
    try:
        window, data, files = manifest["window"], manifest["data"], manifest["files"]
        int(window["lookback"]), int(window["horizon"]), str(window["freq"])
        str(data["target"]), list(data["covariates"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{cell_dir}/manifest.json: incomplete manifest (missing {exc})") from None
    optional = [n for n in _OPTIONAL_CELL_FILES if (cell_dir / n).exists()]
    for name in (*_CELL_FILES, *optional):
        path = cell_dir / name
        if not path.is_file():
            raise ArtifactError(f"{path}: missing from the saved run; retrain or pick another run")
        if files.get(name) != _sha256(path):
            raise ArtifactError(
                f"{path}: corrupt (checksum differs from manifest.json); retrain or pick another run"
            )
    return manifest


def load_cell(cell_dir: str | Path) -> LoadedCell:
    """Load a trained cell with Keras ``safe_mode=True`` after checking its manifest.

    Raises:
        ArtifactError: the folder is not a complete, intact run of a compatible version.
    """
    path = Path(cell_dir)
    manifest = check_cell(path)
    saved_keras = str(manifest.get("libraries", {}).get("keras", "?"))
    import keras

    if saved_keras.split(".")[0] != keras.__version__.split(".")[0]:
        raise ArtifactError(
            f"{path}: saved with Keras {saved_keras}, this is Keras {keras.__version__}; retrain the model"
        )
    scaler = Scaler.from_dict(read_json(path / "scaler.json", "scaler"), source=str(path / "scaler.json"))
    try:
        from forecaster.architectures import custom_objects

        model = keras.saving.load_model(
            path / "model.keras", custom_objects=custom_objects(), compile=False, safe_mode=True
        )
    except Exception as exc:  # Keras raises many types for a bad file
        raise ArtifactError(f"{path / 'model.keras'}: cannot be loaded ({exc.__class__.__name__}: {exc})") from None
    return LoadedCell(path=path, model=model, scaler=scaler, manifest=manifest)


def _runs(model_dir: Path) -> list[Path]:
    runs = model_dir / "runs"
    if not runs.is_dir():
        return []
    return sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))


def best_cell(run_dir: Path) -> Path:
    """The cell folder of a run with the lowest test MASE (then MAE) in its leaderboard."""
    board = read_json(run_dir / "leaderboard.json", "leaderboard")
    try:
        rows = [r for r in board["rows"] if r.get("kind") == "model"]
    except (KeyError, TypeError, AttributeError):
        raise ArtifactError(f"{run_dir}/leaderboard.json: unexpected content") from None
    if not rows:
        raise ArtifactError(f"{run_dir}: the run holds no trained model")

    def key(row: dict[str, Any]) -> tuple[float, float]:
        mase = row.get("mase")
        return (math.inf if mase is None else float(mase), float(row.get("mae") or math.inf))

    return run_dir / str(min(rows, key=key)["name"])


def resolve_cell_dir(model: str | Path, models_dir: str | Path = "models") -> Path:
    """Turn ``--model`` into a cell folder.

    Accepts a cell folder (has ``manifest.json``), a run folder (its best cell), or a model
    name's folder (its ``champion.json`` when present, otherwise the newest run's best cell);
    a bare name is also looked up under ``models_dir``.
    """
    path = Path(model)
    if not path.exists() and not path.is_absolute() and (Path(models_dir) / path).exists():
        path = Path(models_dir) / path
    if not path.is_dir():
        raise ArtifactError(f"--model {model}: no such model folder (looked in . and {models_dir}/)")
    if (path / "manifest.json").exists():
        return path
    if (path / "leaderboard.json").exists():
        return best_cell(path)
    champion = path / "champion.json"
    if champion.exists():
        pointer = read_json(champion, "champion pointer")
        try:
            target = path / str(pointer["path"])
        except (KeyError, TypeError):
            raise ArtifactError(f"{champion}: expected a JSON object with a 'path' key") from None
        if not target.is_dir():
            raise ArtifactError(f"{champion}: points to {target}, which does not exist")
        return target if (target / "manifest.json").exists() else best_cell(target)
    runs = _runs(path)
    if not runs:
        raise ArtifactError(f"--model {model}: no trained run found (expected {path}/runs/<run-id>/)")
    return best_cell(runs[-1])
