"""Forecast past the end of a series with a saved cell.

The data is validated exactly as in training (same columns, same missing-value policy, same
frequency); the last ``lookback`` rows are scaled with the saved scaler and the network's
output is returned in the original units with timestamps continuing the series' frequency,
with the conformal prediction intervals calibrated at training time (``calibration.json``).

Example:
    >>> out = predict_from_dir("models/seattle_temps_2010", horizon=6)  # doctest: +SKIP
    >>> list(out.columns)  # doctest: +SKIP
    ['timestamp', 'yhat', 'lo-80', 'hi-80', 'lo-95', 'hi-95']
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecaster.artifacts.cell import LoadedCell, is_statistical, load_for_serving, read_calibration, read_spec
from forecaster.artifacts.run import resolve_cell_dir
from forecaster.contract import Capabilities
from forecaster.data import SeriesFrame, load_series
from forecaster.errors import ArtifactError, ConfigError, DataError

__all__ = ["LoadedStatistical", "load_model", "load_for_predict", "forecast", "interval_levels", "rounded", "OUTPUT_DIGITS",
           "forecast_windows", "predict_from_dir",
           "to_json"]


@dataclass(frozen=True)
class LoadedStatistical:
    """A saved statistical row (its spec): refitted on the series it forecasts, never unpickled.

    The structure its training fit selected (ETS components, ARIMA orders...) is kept and its
    parameters are re-estimated on the data given to predict (see
    :func:`forecaster.statistical.forecast_future`).
    """

    path: Path
    spec: dict[str, Any]
    manifest: dict[str, Any]
    backend = "statsforecast"
    kind = "baseline"

    @property
    def name(self) -> str:
        return self.path.name

    capabilities = Capabilities(uses_covariates=False, saves=True)

    def fit(self, prep: Any) -> Any:
        """The saved structure with its parameters re-estimated on ``prep``'s train + validation rows
        (a contract model that forecasts at origins: the retrain gate re-scores a statistical champion so)."""
        from forecaster.statistical import from_spec

        object.__setattr__(self, "fitted_", from_spec(self.spec).fit(prep))  # frozen: the fit is a cache
        return self

    def predict(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        """Forecast at origins (the model contract), after :meth:`fit`."""
        fitted = getattr(self, "fitted_", None)
        if fitted is None:
            raise RuntimeError(f"{self.name}: call fit before predict")
        return np.asarray(fitted.predict(values, origins, horizon), dtype=np.float64)

    @property
    def horizon(self) -> int:
        return int(self.manifest["window"]["horizon"])

    @property
    def lookback(self) -> int:
        """Rows ``forecast`` requires at least (the refit itself checks what the model needs)."""
        return 1

    def future(self, y: np.ndarray, horizon: int) -> np.ndarray:
        import importlib.util

        if importlib.util.find_spec("statsforecast") is None:  # the serving image has ONNX Runtime only
            raise ArtifactError(f"{self.path}: a statistical model ({self.spec.get('name')}) is refitted to serve, "
                                "which needs statsforecast: serve it with the full installation or training image")
        from forecaster.statistical import forecast_future

        return forecast_future(y, horizon, self.spec)


def load_model(cell_dir: str | Path, *, backend: str = "auto") -> LoadedCell | LoadedStatistical:
    """Load what a folder of a run serves: a network (ONNX or Keras) or a statistical row's spec.

    Raises:
        ArtifactError: the folder is incomplete, corrupt or of an unknown kind.
    """
    from forecaster.artifacts.cell import check_cell

    path = Path(cell_dir)
    if is_statistical(check_cell(path)):
        manifest, spec = read_spec(path)
        return LoadedStatistical(path=path, spec=spec, manifest=manifest)
    return load_for_serving(path, backend=backend)


def load_for_predict(
    loaded: LoadedCell | LoadedStatistical, data: str | Path | None = None, *, missing: str | None = None
) -> SeriesFrame:
    """Load ``data`` (default: the series the cell was trained on) with the cell's settings.

    Args:
        loaded: the cell.
        data: the series to forecast from.
        missing: override the missing-value policy the cell was trained with.

    Raises:
        DataError: also when the file's own frequency differs from the model's.
    """
    d = loaded.manifest["data"]
    freq = loaded.manifest["window"]["freq"]
    path = Path(data) if data is not None else Path(d["path"])
    if data is None and not path.exists():
        raise DataError(f"{path}: the training data file is gone; pass the series with --data")
    options = {"target": d["target"], "time_col": d.get("time_col"), "covariates": d["covariates"],
               "missing": missing or d.get("missing", "error")}
    try:  # the file's own frequency first, so a daily file given to an hourly model says so
        series = load_series(path, **options)
    except DataError as exc:
        if "frequency" not in str(exc) and "missing from the" not in str(exc):
            raise
        series = load_series(path, **options, freq=freq)
    if pd.tseries.frequencies.to_offset(series.freq) != pd.tseries.frequencies.to_offset(freq):
        raise DataError(f"{path}: the data's frequency is {series.freq!r}, the model's is {freq!r}; "
                        "forecast with a model trained on this frequency")
    return series


def interval_levels(loaded: LoadedCell | LoadedStatistical, levels: Sequence[int] | None) -> tuple[Any, tuple[int, ...]]:
    """The folder's calibration and the levels to serve: ``levels``, or every calibrated one when ``None``.

    Raises:
        ConfigError: a level was not calibrated (naming the ones that were), or the model has no
            calibration and levels were asked for.
    """
    cal = read_calibration(loaded.path, loaded.manifest)
    if levels is None:
        return cal, cal.levels if cal is not None else ()
    wanted = tuple(sorted(set(levels)))
    if wanted and cal is None:
        raise ConfigError(f"--levels: {loaded.path} has no interval calibration (trained with --levels none, or "
                          "by a version before intervals); retrain it, or pass --levels none")
    missing = [v for v in wanted if cal is not None and v not in cal.levels]
    if missing:
        have = ", ".join(str(v) for v in cal.levels) if cal is not None else "none"
        raise ConfigError(f"--levels: {missing[0]} is not calibrated for {loaded.path} (it has {have}); "
                          f"pick from those, or retrain with --levels {','.join(str(v) for v in wanted)}")
    return cal, wanted


def forecast(loaded: LoadedCell | LoadedStatistical, series: SeriesFrame, horizon: int | None = None,
             levels: Sequence[int] | None = None) -> pd.DataFrame:
    """Forecast ``horizon`` steps (default: the trained horizon) after the end of ``series``.

    With a calibrated folder the frame also holds ``lo-<L>, hi-<L>`` for each of ``levels``
    (default: every calibrated level; ``()``: the point forecast only).

    Raises:
        ConfigError: ``horizon`` exceeds the trained horizon, or a level is not calibrated.
        DataError: fewer rows than the lookback.
    """
    trained = loaded.horizon
    h = trained if horizon is None else horizon
    if not 1 <= h <= trained:
        raise ConfigError(f"--horizon: expected 1..{trained} (the model was trained for {trained} steps), got {h}")
    cal, served = interval_levels(loaded, levels)
    if len(series.frame) < loaded.lookback:
        raise DataError(
            f"{series.path}: {len(series.frame)} rows are fewer than the model's lookback of {loaded.lookback}"
        )
    if isinstance(loaded, LoadedStatistical):
        yhat = loaded.future(series.frame[series.target].to_numpy(dtype=np.float64), h)
    else:
        values = series.frame[series.columns].to_numpy(dtype=np.float64)[-loaded.lookback :]
        yhat = forecast_windows(loaded, values[None, ...], h)[0]
    if np.shape(yhat) != (h,):  # the manifest's horizon and the network's outputs disagree
        raise ArtifactError(f"{loaded.path}: the model produced {np.size(yhat)} step(s) where its manifest promises {h}; "
                            "the run is inconsistent: retrain or pick another run")
    if not np.isfinite(yhat).all():  # a tampered or broken artifact must not be served as numbers
        raise ArtifactError(f"{loaded.path}: the model produced {int((~np.isfinite(yhat)).sum())} non-finite forecast "
                            "value(s) (NaN or inf); the saved model is broken: retrain or pick another run")
    index = pd.date_range(series.frame.index[-1], periods=h + 1, freq=series.freq)[1:]
    bands = cal.columns(yhat, served) if cal is not None and served else {}
    return pd.DataFrame({"timestamp": index, "yhat": yhat, **bands})


def forecast_windows(loaded: LoadedCell, windows: np.ndarray, horizon: int | None = None) -> np.ndarray:
    """Forecast a batch of windows in one inference call, in the original units.

    This is the batched core of :func:`forecast`: many series (or many forecast origins) are
    stacked into one ``(batch, lookback, features)`` array and go through the network together.

    Args:
        loaded: a cell from :func:`~forecaster.artifacts.cell.load_for_serving` or
            :func:`~forecaster.artifacts.cell.load_cell`.
        windows: ``(batch, lookback, features)`` unscaled values, columns ``[target, *covariates]``.
        horizon: steps per window (default: the trained horizon).

    Returns:
        ``(batch, horizon)`` float64 forecasts.

    Example:
        >>> forecast_windows(loaded, np.stack([w1, w2]), 24).shape  # doctest: +SKIP
        (2, 24)
    """
    h = loaded.horizon if horizon is None else horizon
    x = np.asarray(windows, dtype=np.float64)
    if x.ndim != 3 or x.shape[1] != loaded.lookback:
        raise DataError(f"windows: expected shape (batch, {loaded.lookback}, features), got {x.shape}")
    try:
        return loaded.forecaster.predict_windows(x, h)
    except Exception as exc:  # the runtime rejected the window: manifest and network disagree
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else exc.__class__.__name__
        raise ArtifactError(
            f"{loaded.path}: the saved network rejects a window of shape {tuple(x.shape)} described by "
            f"manifest.json ({first}); the run is inconsistent: retrain or pick another run"
        ) from None


def predict_from_dir(
    model: str | Path, *, data: str | Path | None = None, horizon: int | None = None, models_dir: str | Path = "models",
    levels: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Resolve ``--model``, load it safely (ONNX Runtime when exported), and forecast (see :func:`forecast`)."""
    loaded = load_model(resolve_cell_dir(model, models_dir))
    return forecast(loaded, load_for_predict(loaded, data), horizon, levels)


#: Significant digits of the largest value kept when a forecast is written (CSV, JSON): far more than
#: any forecast's accuracy, without the float noise of ``39.35858313136135``.
OUTPUT_DIGITS = 6


def rounded(frame: pd.DataFrame, digits: int = OUTPUT_DIGITS) -> pd.DataFrame:
    """``frame``'s value columns rounded to keep ``digits`` significant digits of the smallest value and
    three of the narrowest interval half-width (one number of decimals for every column).

    Example:
        >>> rounded(pd.DataFrame({"yhat": [39.35858313136135, 1.000004]}))["yhat"].tolist()
        [39.35858, 1.0]
        >>> rounded(pd.DataFrame({"yhat": [1234567.891], "lo-80": [1234567.591]})).iloc[0].tolist()
        [1234567.891, 1234567.591]
    """
    values = [c for c in frame.columns if c != "timestamp"]
    if not values or not len(frame):
        return frame
    arr = np.abs(frame[values].to_numpy(dtype=np.float64))
    smallest = arr[np.isfinite(arr) & (arr > 0)]
    need = [digits - 1 - int(np.floor(np.log10(smallest.min())))] if smallest.size else [digits]
    if "yhat" in frame and len(values) > 1:  # keep every band's half-width to 3 significant digits
        half = np.abs(frame[values].to_numpy(dtype=np.float64) - frame[["yhat"]].to_numpy(dtype=np.float64))
        half = half[np.isfinite(half) & (half > 0)]
        if half.size:
            need.append(2 - int(np.floor(np.log10(half.min()))))
    decimals = min(12, max(0, *need))
    return frame.assign(**{c: frame[c].round(decimals) for c in values})


def to_json(frame: pd.DataFrame, **meta: Any) -> str:
    """A forecast as JSON: ``{...meta, "forecast": [{"timestamp": ISO, "yhat": v, "lo-80": ...}, ...]}``."""
    values = [c for c in frame.columns if c != "timestamp"]
    records = [
        {"timestamp": row[0].isoformat(), **{c: float(v) for c, v in zip(values, row[1:])}}
        for row in frame[["timestamp", *values]].itertuples(index=False)
    ]
    return json.dumps({**meta, "forecast": records}, indent=2)
