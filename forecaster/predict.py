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
from forecaster.data import Panel, SeriesFrame, load_future, load_panel, load_series
from forecaster.errors import ArtifactError, ConfigError, DataError
from forecaster.prepared import input_values

__all__ = ["LoadedStatistical", "load_model", "load_for_predict", "forecast", "forecast_panel", "interval_levels",
           "rounded", "OUTPUT_DIGITS", "forecast_windows", "predict_from_dir", "read_future", "to_json"]


@dataclass(frozen=True)
class LoadedStatistical:
    """A saved statistical row (its spec, plain JSON, never unpickled).

    Since state format 1 the spec holds the fitted state, and predict forecasts from it with numpy
    (:mod:`forecaster.statistical_state`: parameters frozen, as the leaderboard scored it, no
    statsforecast import). A spec saved before, or an mstl one, is refitted as before: the
    structure its training fit selected (ETS components, ARIMA orders...) with its parameters
    re-estimated on the data given to predict (see :func:`forecaster.statistical.forecast_future`).
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

    def future(self, y: np.ndarray, horizon: int, series: str = "") -> np.ndarray:
        """``horizon`` steps after ``y``: from the saved state with numpy (parameters frozen, as scored),
        or, for a spec saved without one (before state format 1, or mstl), by refitting its structure.

        Raises:
            ArtifactError: the saved model cannot forecast this series (exit 4, "saved model unusable").
        """
        from forecaster.statistical_state import StateError
        from forecaster.statistical_state import forecast as from_state

        try:
            out = from_state(self.spec, y, horizon, series)
        except (StateError, ValueError, ArithmeticError) as exc:
            raise ArtifactError(f"{self.path}: the saved {self.spec.get('name')} model cannot forecast this series "
                                f"({exc}); the saved model is unusable: retrain it") from None
        if out is not None:
            return out
        import importlib.util

        if importlib.util.find_spec("statsforecast") is None:  # the serving image has ONNX Runtime only
            raise ArtifactError(f"{self.path}: a statistical model ({self.spec.get('name')}) is refitted to serve, "
                                "which needs statsforecast: serve it with the full installation or training image")
        from forecaster.statistical import FitFailed, forecast_future

        try:
            return forecast_future(y, horizon, self.spec)
        except FitFailed as exc:  # the saved structure does not fit this series: the model, not the training
            raise ArtifactError(f"{self.path}: refitting the saved {self.spec.get('name')} model failed "
                                f"({exc.reason}); the saved model is unusable: retrain it") from None


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
) -> Any:
    """Load ``data`` (default: the series the cell was trained on) with the cell's settings: a
    :class:`~forecaster.data.SeriesFrame`, or a :class:`~forecaster.data.Panel` for a panel's network.

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
               "missing": missing or d.get("missing", "error"), "known": d.get("known", [])}
    if d.get("id_col"):
        panel = load_panel(path, id_col=d["id_col"], static=d.get("static_columns", d.get("static", [])),
                           static_levels=d.get("static_levels", {}), **options)
        _same_freq(path, panel.first.freq, freq)
        return panel
    try:  # the file's own frequency first, so a daily file given to an hourly model says so
        series = load_series(path, **options)
    except DataError as exc:
        if "frequency" not in str(exc) and "missing from the" not in str(exc):
            raise
        series = load_series(path, **options, freq=freq)
    _same_freq(path, series.freq, freq)
    return series


def _same_freq(path: Path, found: str, freq: str) -> None:
    if pd.tseries.frequencies.to_offset(found) != pd.tseries.frequencies.to_offset(freq):
        raise DataError(f"{path}: the data's frequency is {found!r}, the model's is {freq!r}; "
                        "forecast with a model trained on this frequency")


def read_future(loaded: LoadedCell | LoadedStatistical, path: str | Path | None) -> pd.DataFrame | None:
    """The ``--future`` file's known covariates for a model that uses some (``None`` for one that does not).

    Raises:
        ConfigError: the model uses known covariates and no file was given.
    """
    d = loaded.manifest["data"]
    known = d.get("known", [])
    if not known or isinstance(loaded, LoadedStatistical):  # a statistical row reads the target alone
        return None
    if path is None:
        raise ConfigError(f"--future: {loaded.path} uses known covariates ({', '.join(known)}); pass their values "
                          f"for the {loaded.horizon} steps after the end of each series with --future FILE")
    return load_future(path, time_col=d.get("time_col") or "timestamp", known=known, id_col=d.get("id_col"))


def _window(loaded: LoadedCell, series: SeriesFrame, future: pd.DataFrame | None, source: str) -> np.ndarray:
    """The last ``lookback`` input rows of ``series`` as the model reads them (known covariates and calendar
    inputs led by the trained horizon, see :func:`forecaster.prepared.input_values`)."""
    d = loaded.manifest["data"]
    known, calendar = d.get("known", []), bool(d.get("calendar", False))
    lb, h = loaded.lookback, loaded.horizon
    if not known and not calendar:
        return series.frame.to_numpy(dtype=np.float64)[-lb:]  # columns: target, covariates (as loaded)
    values = input_values(series, h, calendar=calendar, future=future)[-lb:]
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        r, c = (int(v) for v in bad[0])
        n = len(series.frame)
        when = pd.date_range(series.frame.index[0], periods=n + h, freq=series.freq)[n - lb + r + h]
        who = f" for series {series.series_id!r}" if series.series_id is not None else ""
        raise DataError(f"{source}: no value of '{series.columns[c]}'{who} at {when}; the model needs every known "
                        f"covariate at each of the {h} steps after the end of the series")
    return values


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
             levels: Sequence[int] | None = None, future: pd.DataFrame | None = None,
             future_source: str = "--future") -> pd.DataFrame:
    """Forecast ``horizon`` steps (default: the trained horizon) after the end of ``series``.

    With a calibrated folder the frame also holds ``lo-<L>, hi-<L>`` for each of ``levels``
    (default: every calibrated level; ``()``: the point forecast only).

    Raises:
        ConfigError: ``horizon`` exceeds the trained horizon, or a level is not calibrated.
        DataError: fewer rows than the lookback.
    """
    h = _horizon(loaded, horizon)
    cal, served = interval_levels(loaded, levels)
    if len(series.frame) < loaded.lookback:
        raise DataError(
            f"{series.path}: {len(series.frame)} rows are fewer than the model's lookback of {loaded.lookback}"
        )
    if isinstance(loaded, LoadedStatistical):
        yhat = loaded.future(series.frame[series.target].to_numpy(dtype=np.float64), h)
    else:
        values = _window(loaded, series, future, future_source)
        yhat = forecast_windows(loaded, values[None, ...], h)[0]
    _check_output(loaded, yhat, (h,))
    index = pd.date_range(series.frame.index[-1], periods=h + 1, freq=series.freq)[1:]
    bands = cal.columns(yhat, served) if cal is not None and served else {}
    return pd.DataFrame({"timestamp": index, "yhat": yhat, **bands})


def _horizon(loaded: LoadedCell | LoadedStatistical, horizon: int | None) -> int:
    trained = loaded.horizon
    h = trained if horizon is None else horizon
    if not 1 <= h <= trained:
        raise ConfigError(f"--horizon: expected 1..{trained} (the model was trained for {trained} steps), got {h}")
    return h


def _check_output(loaded: LoadedCell | LoadedStatistical, yhat: np.ndarray, shape: tuple[int, ...]) -> None:
    if np.shape(yhat) != shape:  # the manifest's horizon and the network's outputs disagree
        raise ArtifactError(f"{loaded.path}: the model produced {np.shape(yhat)[-1] if np.ndim(yhat) else np.size(yhat)} "
                            f"step(s) where its manifest promises {shape[-1]}; "
                            "the run is inconsistent: retrain or pick another run")
    if not np.isfinite(yhat).all():  # a tampered or broken artifact must not be served as numbers
        raise ArtifactError(f"{loaded.path}: the model produced {int((~np.isfinite(yhat)).sum())} non-finite forecast "
                            "value(s) (NaN or inf); the saved model is broken: retrain or pick another run")


def forecast_panel(loaded: LoadedCell, panel: Panel, horizon: int | None = None, levels: Sequence[int] | None = None,
                   *, series: Sequence[str] | None = None, future: pd.DataFrame | None = None,
                   future_source: str = "--future", notes: list[str] | None = None) -> pd.DataFrame:
    """Forecast every series of ``panel`` the network was trained on (or ``series``) in one batched call
    (one call per series for a ``--per-series`` cell: a network each).

    Returns the long format ``<id_col>, timestamp, yhat[, lo-80, hi-80, ...]``. Series the model was
    not trained on, and series shorter than its lookback, are left out with a line in ``notes``
    (a ``series`` id among them is an error).

    Raises:
        DataError: a ``series`` id is not in the file, or cannot be forecast.
        ConfigError: ``horizon`` or ``levels`` as in :func:`forecast`.
    """
    from forecaster.windows import SeriesScalers

    if not isinstance(loaded, LoadedCell) or not isinstance(loaded.scaler, SeriesScalers):
        raise ArtifactError(f"{loaded.path}: not a panel's network; forecast one series per file with it")
    h = _horizon(loaded, horizon)
    cal, served = interval_levels(loaded, levels)
    id_col = loaded.manifest["data"]["id_col"]
    by_id = {str(s.series_id): s for s in panel.series}
    if series:
        unknown = [sid for sid in series if sid not in by_id]
        if unknown:
            raise DataError(f"--series: {unknown[0]!r} is not a series of {panel.path} ({len(by_id)} series, "
                            f"column '{id_col}')")
    wanted = list(series) if series else list(by_id)
    trained_on = loaded.manifest["data"].get("series_last") or {}  # every series of its training run
    failed = [sid for sid in wanted if sid not in loaded.scaler and sid in trained_on]  # --per-series: no network
    new = [sid for sid in wanted if sid not in loaded.scaler and sid not in trained_on]
    short = [sid for sid in wanted if sid in loaded.scaler and len(by_id[sid].frame) < loaded.lookback]
    if series and (failed or new or short):
        sid = (failed or new or short)[0]
        why = ("has no network (its training failed)" if failed else "was not in the training data" if new
               else f"has fewer rows than the lookback of {loaded.lookback}")
        raise DataError(f"--series: series {sid!r} {why}; the model cannot forecast it")
    from forecaster.panel import MAX_LISTED

    for group, why in ((failed, "no network: its training failed"), (new, "not in the training data"),
                       (short, f"fewer rows than the lookback {loaded.lookback}")):
        if group and notes is not None:
            shown = ", ".join(group[:MAX_LISTED]) + (f", ... ({len(group)} in all)" if len(group) > MAX_LISTED else "")
            notes.append(f"{len(group)} series left out ({why}): {shown}")
    served_ids = [sid for sid in wanted if sid in loaded.scaler and sid not in short]
    if not served_ids:
        raise DataError(f"{panel.path}: none of its series can be forecast by {loaded.path} (not in the training "
                        "data, or shorter than the lookback)")
    given = set(future.index.get_level_values(0)) if future is not None else set()

    def future_of(sid: str) -> pd.DataFrame | None:
        if future is None:
            return None
        if sid not in given:
            raise DataError(f"{future_source}: no rows for series {sid!r}; the model needs its known covariates "
                            "after the end of every series it forecasts")
        return future.loc[sid]

    windows = np.stack([_window(loaded, by_id[sid], future_of(sid), future_source) for sid in served_ids])
    scalers = [loaded.scaler.of(sid) for sid in served_ids]
    mean = np.stack([s.mean_ for s in scalers])
    scale = np.stack([s.scale_ for s in scalers])
    if loaded.per_series:  # a network per series (--per-series): one call each
        yhat = np.concatenate([loaded.on(sid).predict_rows(windows[k:k + 1], h, mean[k:k + 1], scale[k:k + 1])
                               for k, sid in enumerate(served_ids)])
    else:
        yhat = loaded.on(served_ids[0]).predict_rows(windows, h, mean, scale)
    _check_output(loaded, yhat, (len(served_ids), h))
    return _long_frame(id_col, served_ids, [by_id[sid].frame.index[-1] for sid in served_ids], panel.first.freq,
                       yhat, cal.columns(yhat, served, scale=scale[:, :1] if cal.scaled else 1.0)
                       if cal is not None and served else {})


def _long_frame(id_col: str, ids: Sequence[str], lasts: Sequence[pd.Timestamp], freq: str, yhat: np.ndarray,
                bands: dict[str, np.ndarray]) -> pd.DataFrame:
    """``<id_col>, timestamp, yhat, <bands>``: ``h`` rows per series, its timestamps continuing its own last one."""
    h = yhat.shape[1]
    offset = pd.tseries.frequencies.to_offset(freq)
    last = pd.DatetimeIndex(lasts)
    steps = np.stack([(last + k * offset).to_numpy() for k in range(1, h + 1)], axis=1)  # (n, h), vectorised per step
    return pd.DataFrame({id_col: np.repeat(np.asarray(ids, dtype=object), h), "timestamp": steps.ravel(),
                         "yhat": yhat.ravel(), **{k: np.asarray(v).ravel() for k, v in bands.items()}})


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
    data_ = load_for_predict(loaded, data)
    if isinstance(data_, Panel):
        return forecast_panel(loaded, data_, horizon, levels)  # type: ignore[arg-type]
    return forecast(loaded, data_, horizon, levels)


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
    values = [c for c in frame.columns if c != "timestamp" and pd.api.types.is_numeric_dtype(frame[c])]
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
    ids = [c for c in frame.columns if c != "timestamp" and not pd.api.types.is_numeric_dtype(frame[c])]  # a panel's id
    values = [c for c in frame.columns if c != "timestamp" and c not in ids]
    records = [
        {**{c: str(v) for c, v in zip(ids, row[: len(ids)])}, "timestamp": row[len(ids)].isoformat(),
         **{c: float(v) for c, v in zip(values, row[len(ids) + 1 :])}}
        for row in frame[[*ids, "timestamp", *values]].itertuples(index=False)
    ]
    return json.dumps({**meta, "forecast": records}, indent=2)
