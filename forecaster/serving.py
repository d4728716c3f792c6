"""Deprecated home of TensorFlow-free serving: kept as re-exports for one release.

See :mod:`forecaster.artifacts.runtime` (``OnnxRuntime``, ``export_onnx``) and
:func:`forecaster.artifacts.cell.load_for_serving`.
"""

from __future__ import annotations

from forecaster.artifacts.cell import BACKENDS, load_for_serving
from forecaster.artifacts.layout import ONNX_FILE
from forecaster.artifacts.runtime import OnnxRuntime, export_onnx

#: The former name of :class:`~forecaster.artifacts.runtime.OnnxRuntime`.
OnnxModel = OnnxRuntime

__all__ = ["ONNX_FILE", "BACKENDS", "OnnxModel", "export_onnx", "load_for_serving"]
