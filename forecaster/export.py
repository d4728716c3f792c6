"""Deprecated home of the run format: kept as re-exports for one release.

The saved-run format lives in :mod:`forecaster.artifacts` now (layout, atomic I/O, cell
folders, run folders, the champion pointer). Import from there.
"""

from __future__ import annotations

from forecaster.artifacts.cell import LoadedCell, check_cell, library_versions, load_cell, write_cell_manifest
from forecaster.artifacts.io import atomic_write_text, json_ready, new_run_id, read_json, staged_run
from forecaster.artifacts.layout import FORMAT
from forecaster.artifacts.run import best_cell, resolve_cell_dir

__all__ = [
    "FORMAT", "atomic_write_text", "staged_run", "new_run_id", "library_versions", "write_cell_manifest",
    "LoadedCell", "load_cell", "check_cell", "read_json", "resolve_cell_dir", "best_cell", "json_ready",
]
