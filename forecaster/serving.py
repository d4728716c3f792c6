"""Serve a saved cell without TensorFlow: ``model.onnx`` run by ONNX Runtime.

Every saved cell holds ``model.onnx`` beside ``model.keras`` (written by :func:`export_onnx`
at save time, hashed in the manifest like every other file). :func:`load_for_serving` returns a
:class:`~forecaster.export.LoadedCell` whose ``model`` is an :class:`OnnxModel` when that file
is there, and falls back to the Keras model (``safe_mode=True``) when it is not (runs saved
before ONNX export existed, or where the export failed). Nothing on the ONNX path imports
TensorFlow or Keras, so a fresh ``forecast predict`` process starts in well under a second
instead of the 3-5 s that ``import keras`` alone costs.

The network is called on a *batch* of windows ``(batch, lookback, features)``: forecasting many
series (or many origins) is one inference call, see :func:`forecaster.predict.forecast_windows`.

Example:
    >>> loaded = load_for_serving("models/seattle-temps/runs/<id>/lstm")  # doctest: +SKIP
    >>> loaded.backend, loaded.model(windows).shape  # doctest: +SKIP
    ('onnx', (1, 24))
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from forecaster.errors import ArtifactError
from forecaster.export import LoadedCell, check_cell, load_cell, read_json
from forecaster.windows import Scaler

__all__ = ["ONNX_FILE", "BACKENDS", "OnnxModel", "export_onnx", "load_for_serving"]

#: File name of the ONNX export inside a cell folder.
ONNX_FILE = "model.onnx"
#: ``auto``: ONNX when ``model.onnx`` exists, else Keras.
BACKENDS = ("auto", "onnx", "keras")


class OnnxModel:
    """A saved network run by ONNX Runtime, called like a Keras model.

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads for ONNX Runtime (``None``: its default, all cores).

    Calling it with ``(batch, lookback, features)`` windows returns a float32 numpy array
    ``(batch, outputs)``; the ``training`` keyword is accepted and ignored so it can stand in
    for ``keras.Model.__call__``.
    """

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3  # errors only: no provider notices on the user's terminal
        if threads is not None:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise ArtifactError(f"{self.path}: cannot be loaded by ONNX Runtime ({exc.__class__.__name__}: {exc})") from None
        self.input_name = self.session.get_inputs()[0].name
        self.output_name = self.session.get_outputs()[0].name

    def __call__(self, windows: Any, training: bool = False) -> np.ndarray:
        x = np.ascontiguousarray(windows, dtype=np.float32)
        out: np.ndarray = self.session.run([self.output_name], {self.input_name: x})[0]
        return out


def export_onnx(model: Any, path: Path) -> None:
    """Write ``model`` (a called Keras model) as ONNX to ``path`` atomically.

    tf2onnx writes in place, so the file is written under a temporary name in the same folder
    and renamed; a failed export leaves nothing behind.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # keras' tf2onnx numpy-2 patch trips a FutureWarning
            model.export(tmp, format="onnx", verbose=False)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load_for_serving(cell_dir: str | Path, *, backend: str = "auto", threads: int | None = None) -> LoadedCell:
    """Load a cell to predict with: ONNX Runtime when ``model.onnx`` is there, else Keras.

    The manifest and the SHA-256 of ``model.keras``, ``scaler.json`` and (when present)
    ``model.onnx`` are checked first, as :func:`~forecaster.export.load_cell` does.

    Args:
        cell_dir: a cell folder (see :func:`~forecaster.export.resolve_cell_dir`).
        backend: ``auto`` (ONNX if present, else Keras), ``onnx`` (required) or ``keras``.
        threads: ONNX Runtime intra-op threads (``None``: its default).

    Returns:
        A :class:`~forecaster.export.LoadedCell`; ``backend`` tells which runtime serves it.

    Raises:
        ArtifactError: the folder is incomplete or corrupt, or ``backend="onnx"`` and there is
            no ``model.onnx``.
    """
    if backend not in BACKENDS:
        raise ArtifactError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    path = Path(cell_dir)
    onnx_path = path / ONNX_FILE
    if backend == "keras" or (backend == "auto" and not onnx_path.is_file()):
        return load_cell(path)
    if not onnx_path.is_file():
        raise ArtifactError(f"{onnx_path}: missing; this run has no ONNX export (serve it with the Keras backend)")
    manifest = check_cell(path)  # also verifies model.onnx's hash
    scaler = Scaler.from_dict(read_json(path / "scaler.json", "scaler"), source=str(path / "scaler.json"))
    return LoadedCell(path=path, model=OnnxModel(onnx_path, threads=threads), scaler=scaler, manifest=manifest)
