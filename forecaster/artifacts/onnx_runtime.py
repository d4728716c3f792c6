"""The ONNX runtime of a saved network: ``model.onnx`` run by ONNX Runtime, no TensorFlow.

Every saved cell holds ``model.onnx`` beside ``model.keras`` (written by :func:`export_onnx`
at save time and hashed in the manifest like every other file). Nothing here imports
TensorFlow or Keras, so a fresh ``forecast predict`` process starts in well under a second
instead of the 3-5 s that ``import keras`` alone costs.

Example:
    >>> rt = OnnxRuntime("models/seattle-temps/runs/<id>/lstm/model.onnx")  # doctest: +SKIP
    >>> rt.backend, rt(windows).shape  # doctest: +SKIP
    ('onnx', (1, 24))
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from forecaster.errors import ArtifactError
from forecaster.fs import atomic_path

__all__ = ["OnnxRuntime", "export_onnx"]


class OnnxRuntime:
    """A saved network run by ONNX Runtime, called like a Keras model (a :class:`~forecaster.models.network.inference.Predictor`).

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads for ONNX Runtime (``None``: its default, all cores).

    Calling it with ``(batch, lookback, features)`` windows returns a float32 numpy array
    ``(batch, outputs)``; the ``training`` keyword is accepted and ignored.
    """

    backend = "onnx"

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

    @property
    def io_shape(self) -> tuple[int | None, int | None, int | None]:
        """``(steps, columns, outputs)`` of the graph's windows in and forecasts out (``None``: a dimension it
        leaves open)."""
        def fixed(dims: Any, k: int) -> int | None:
            dim = dims[k] if len(dims) > k else None
            return dim if isinstance(dim, int) else None

        into, out = self.session.get_inputs()[0].shape, self.session.get_outputs()[0].shape
        return fixed(into, 1), fixed(into, 2), fixed(out, len(out) - 1)

    def __call__(self, windows: Any, training: bool = False) -> np.ndarray:
        x = np.ascontiguousarray(windows, dtype=np.float32)
        out: np.ndarray = self.session.run([self.output_name], {self.input_name: x})[0]
        return out


def export_onnx(model: Any, path: Path) -> None:
    """Write ``model`` (a called Keras model) as ONNX to ``path`` atomically.

    tf2onnx writes in place, so the file is written under a temporary name in the same folder
    and renamed; a failed export leaves nothing behind.
    """
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # keras' tf2onnx numpy-2 patch trips a FutureWarning
        model.export(str(tmp), format="onnx", verbose=False)
