"""The saved-run format, owned in one place.

- :mod:`~forecaster.artifacts.layout`: the file names.
- :mod:`~forecaster.fs`: atomic writes, staged run folders, checked JSON reads.
- :mod:`~forecaster.artifacts.cell`: write a cell folder (hashed manifest), check and load it.
- :mod:`~forecaster.artifacts.onnx_runtime`: the ONNX runtime and export (no TensorFlow).
- :mod:`~forecaster.artifacts.run`: store a run, resolve ``--model``, the champion pointer.

Imports point down only: this package uses :mod:`forecaster.models.network.inference`,
:mod:`forecaster.data.windows` and :mod:`forecaster.errors`, never the pipeline, registry or CLI.
"""

from forecaster.artifacts.cell import LoadedCell, check_cell, load_cell, load_for_serving, write_cell
from forecaster.artifacts.run import best_cell, read_pointer, resolve_cell_dir, store_run, write_pointer
from forecaster.fs import atomic_write_text, json_ready, new_run_id, read_json, staged_run

__all__ = [
    "LoadedCell", "check_cell", "load_cell", "load_for_serving", "write_cell",
    "atomic_write_text", "json_ready", "new_run_id", "read_json", "staged_run",
    "best_cell", "read_pointer", "resolve_cell_dir", "store_run", "write_pointer",
]
