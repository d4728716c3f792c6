"""The file names of the saved-run format, spelled once.

Layout::

    <models_dir>/<name>/runs/<run-id>/        (or versions/<N>/ under the registry)
        config.yaml  leaderboard.json  leaderboard.csv  [report.html report.md plots/ backtest.json]
        <cell>/model.keras  model.onnx  scaler.json  calibration.json  metrics.json  history.csv  forecast.csv
                manifest.json
        <statistical row>/spec.json  calibration.json  metrics.json  manifest.json   (a statsforecast model: its spec
                and fitted state, served with numpy)
        <naive | seasonal_naive | linear>/spec.json  [scaler.json]  calibration.json  metrics.json  manifest.json
        <cell>/series/<k>/model.keras  model.onnx   (--per-series: the network of the k-th series of scaler.json)
                scaler.json  calibration.json  metrics.json  history.csv  forecast.csv  manifest.json
    <models_dir>/<name>/champion.json        which run/cell serves by default
"""

from __future__ import annotations

__all__ = [
    "FORMAT", "MANIFEST", "KERAS_FILE", "ONNX_FILE", "SCALER_FILE", "METRICS_FILE", "HISTORY_FILE",
    "FORECAST_FILE", "CONFIG_FILE", "LEADERBOARD_JSON", "LEADERBOARD_CSV", "CHAMPION_FILE", "RUNS_DIR",
    "SPEC_FILE", "CALIBRATION_FILE", "REQUIRED_CELL_FILES", "OPTIONAL_CELL_FILES", "FALLBACK_FILES", "STATISTICAL",
    "STATISTICAL_FILES", "SERIES_METRICS", "PER_SERIES", "SERIES_DIR", "BASELINE", "BASELINE_FILES",
]

#: Version tag of the run-directory format written by this code.
FORMAT = "forecaster-run/1"

MANIFEST = "manifest.json"
KERAS_FILE = "model.keras"
ONNX_FILE = "model.onnx"
SCALER_FILE = "scaler.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.csv"
FORECAST_FILE = "forecast.csv"
CONFIG_FILE = "config.yaml"
LEADERBOARD_JSON = "leaderboard.json"
LEADERBOARD_CSV = "leaderboard.csv"
CHAMPION_FILE = "champion.json"
SPEC_FILE = "spec.json"
CALIBRATION_FILE = "calibration.json"
SERIES_METRICS = "series_metrics.csv"  # a panel run: every row's scores on every series
RUNS_DIR = "runs"

#: Hashed and required in every cell folder.
REQUIRED_CELL_FILES = (KERAS_FILE, SCALER_FILE)
#: ``manifest["kind"]`` of a statistical row's folder (a network's manifest has no ``kind``).
STATISTICAL = "statistical"
#: ``manifest["kind"]`` of a panel cell trained ``--per-series``: one network per series under
#: ``series/<k>/`` (k: the series' position in ``scaler.json``), each file hashed in the one manifest.
PER_SERIES = "per_series"
SERIES_DIR = "series"
#: Hashed and required in a statistical row's folder.
STATISTICAL_FILES = (SPEC_FILE,)
#: ``manifest["kind"]`` of a naive, seasonal-naive or linear row's folder: ``spec.json`` (and, for linear,
#: ``scaler.json``, required whenever the manifest lists it).
BASELINE = "baseline"
BASELINE_FILES = (SPEC_FILE,)
#: Hashed when present (runs saved before ONNX export, or whose export failed, lack it; a model
#: trained with ``--levels none`` or before intervals has no calibration).
OPTIONAL_CELL_FILES = (ONNX_FILE, CALIBRATION_FILE)
#: Optional files whose absence has a fallback even where the manifest lists them (Keras serves
#: without ONNX); any other listed file must be there (a deleted calibration is an error, not
#: point forecasts served where intervals were promised).
FALLBACK_FILES = (ONNX_FILE,)
