"""Forecast past the end of every series of a file with a saved row (one series or many, one path).

The data is validated exactly as in training (same columns, same missing-value policy, same
frequency); each series' last ``lookback`` rows are scaled with its saved scaler, the network's
output is returned in the original units with timestamps continuing the series' frequency, with
the conformal prediction intervals calibrated at training time (``calibration.json``). A global
network forecasts every series in one batched call; a statistical row refits each series' saved
structure.

Example:
    >>> out = predict_from_dir("models/seattle_temps_2010", horizon=6)  # doctest: +SKIP
    >>> list(out.columns)  # doctest: +SKIP
    ['timestamp', 'yhat', 'lo-80', 'hi-80', 'lo-95', 'hi-95']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecaster.artifacts.baseline import LoadedBaseline, load_baseline
from forecaster.artifacts.cell import LoadedCell, check_cell, load_for_serving, read_calibration
from forecaster.artifacts.manifest import is_baseline, is_network, is_statistical
from forecaster.artifacts.run import resolve_cell_dir
from forecaster.artifacts.statistical import LoadedStatistical, load_statistical
from forecaster.data.frame import Panel
from forecaster.data.load import FRAME_SOURCE, FUTURE_SOURCE, Source, is_frame_source, load_future, load_panel, load_series
from forecaster.data.prepared import MAX_LISTED
from forecaster.errors import ArtifactError, ConfigError, DataError

__all__ = ["Loaded", "load_model", "load_for_predict", "forecast", "interval_levels", "forecast_windows",
           "predict_from_dir", "read_future", "needs_tensorflow", "beyond_history", "RANGE_MULTIPLE"]

#: What a folder of a run serves: each forecasts its frames (``forecast_frames``) its own way.
Loaded = LoadedCell | LoadedStatistical | LoadedBaseline


def needs_tensorflow(cell_dir: Path) -> bool:
    """Whether serving ``cell_dir`` needs TensorFlow (a network saved without its ONNX copy: the Keras
    fallback); a statistical row and an ONNX network do not (checked again, fully, by :func:`load_model`)."""
    from forecaster.artifacts import layout
    from forecaster.fs import read_json

    try:
        manifest = read_json(cell_dir / layout.MANIFEST, "run manifest")
    except ArtifactError:
        return False  # load_model reports it
    if isinstance(manifest, dict) and not is_network(manifest):
        return False
    onnx = (cell_dir / layout.ONNX_FILE).is_file() or (cell_dir / layout.SERIES_DIR / "0" / layout.ONNX_FILE).is_file()
    return not onnx


def load_model(cell_dir: str | Path, *, backend: str = "auto") -> Loaded:
    """Load what a folder of a run serves: a network (ONNX or Keras), a statistical row's specs, or a
    baseline row (naive, seasonal naive, linear).

    Raises:
        ArtifactError: the folder is incomplete, corrupt or of an unknown kind.
    """
    path = Path(cell_dir)
    manifest = check_cell(path)
    if is_statistical(manifest):
        return load_statistical(path)
    if is_baseline(manifest):
        return load_baseline(path)
    return load_for_serving(path, backend=backend)


def load_for_predict(loaded: Loaded, data: Source | None = None, *, missing: str | None = None,
                     label: str = FRAME_SOURCE) -> Panel:
    """Load ``data`` (default: the file the row was trained on) with the row's settings, as a
    :class:`~forecaster.data.frame.Panel` (a file of one series: a panel of one).

    Args:
        loaded: the row.
        data: the series to forecast from: a file, or a DataFrame (named ``label`` in messages).
        missing: override the missing-value policy the row was trained with.

    Raises:
        DataError: also when the file's own frequency differs from the model's, and when ``data`` is not
            given and the row was trained on a DataFrame (no file to read again).
    """
    d = loaded.manifest["data"]
    freq = loaded.manifest["window"]["freq"]
    if data is None and is_frame_source(d["path"]):
        raise DataError(f"{loaded.path}: trained on a pandas DataFrame in memory ({d['path']}), not a file; pass the "
                        "series to forecast from with --data")
    source: Source = data if data is not None else d["path"]
    path = Path(label) if isinstance(source, pd.DataFrame) else Path(source)
    if data is None and not path.exists():
        raise DataError(f"{path}: the training data file is gone; pass the series with --data")
    options = {"target": d["target"], "time_col": d.get("time_col"), "covariates": d["covariates"],
               "missing": missing or d.get("missing", "error"), "known": d.get("known", []), "label": label}
    if d.get("id_col"):
        panel = load_panel(source, id_col=d["id_col"], static=d.get("static_columns", d.get("static", [])),
                           static_levels=d.get("static_levels", {}), **options)
        _same_freq(path, panel.first.freq, freq)
        return panel
    try:  # the file's own frequency first, so a daily file given to an hourly model says so
        series = load_series(source, **options)
    except DataError as exc:
        if "frequency" not in str(exc) and "missing from the" not in str(exc):
            raise
        series = load_series(source, **options, freq=freq)
    _same_freq(path, series.freq, freq)
    return Panel.of(series)


def _same_freq(path: Path, found: str, freq: str) -> None:
    if pd.tseries.frequencies.to_offset(found) != pd.tseries.frequencies.to_offset(freq):
        raise DataError(f"{path}: the data's frequency is {found!r}, the model's is {freq!r}; "
                        "forecast with a model trained on this frequency")


def read_future(loaded: Loaded, path: Source | None) -> pd.DataFrame | None:
    """The ``--future`` file's known covariates for a model that uses some (``None`` for one that does not);
    ``path`` may be the table itself (a DataFrame, named :data:`~forecaster.data.load.FUTURE_SOURCE`).

    Raises:
        ConfigError: the model uses known covariates and no file was given, or it has none and one was (a row
            that reads the target alone, naive or statistical, returns ``None``: the caller says it is unused).
    """
    d = loaded.manifest["data"]
    known = d.get("known", [])
    if not loaded.capabilities.uses_covariates:  # a naive or statistical row reads the target alone
        return None
    shown = FUTURE_SOURCE if isinstance(path, pd.DataFrame) else path
    if not known and path is not None:  # given for nothing: a wrong model or a wrong file, never silently dropped
        raise ConfigError(f"--future {shown}: {loaded.path} was trained without known covariates (--known-covariates) "
                          "and reads no future values; leave out --future, or serve the model trained with them")
    if not known:
        return None
    if path is None:
        raise ConfigError(f"--future: {loaded.path} uses known covariates ({', '.join(known)}); pass their values "
                          f"for the {loaded.horizon} steps after the end of each series with --future FILE")
    return load_future(path, time_col=d.get("time_col") or "timestamp", known=known, id_col=d.get("id_col"))


def interval_levels(loaded: Loaded, levels: Sequence[int] | None) -> tuple[Any, tuple[int, ...]]:
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


def _horizon(loaded: Loaded, horizon: int | None) -> int:
    trained = loaded.horizon
    h = trained if horizon is None else horizon
    if not 1 <= h <= trained:
        raise ConfigError(f"--horizon: expected 1..{trained} (the model was trained for {trained} steps), got {h}")
    return h


def _check_output(loaded: Loaded, yhat: np.ndarray, shape: tuple[int, ...]) -> None:
    if np.shape(yhat) != shape:  # the manifest's horizon and the network's outputs disagree
        raise ArtifactError(f"{loaded.path}: the model produced {np.shape(yhat)[-1] if np.ndim(yhat) else np.size(yhat)} "
                            f"step(s) where its manifest promises {shape[-1]}; "
                            "the run is inconsistent: retrain or pick another run")
    if not np.isfinite(yhat).all():  # a tampered or broken artifact must not be served as numbers
        raise ArtifactError(f"{loaded.path}: the model produced {int((~np.isfinite(yhat)).sum())} non-finite forecast "
                            "value(s) (NaN or inf); the saved model is broken: retrain or pick another run")


def _served_ids(loaded: Loaded, panel: Panel, series: Sequence[str] | None, notes: list[str] | None) -> list[str | None]:
    """The series to forecast: every series of ``panel`` (or ``series``) the row can serve. Series it was not
    trained on, whose training failed, or shorter than its lookback are left out with a line in ``notes``
    (a ``series`` id among them is an error; a file of one series reports its own error).

    Raises:
        DataError: a ``series`` id is not in the file or cannot be forecast, or no series can be.
    """
    if panel.id_col is None:
        s = panel.first
        if len(s.frame) < loaded.lookback:
            raise DataError(f"{s.path}: {len(s.frame)} rows are fewer than the model's lookback of {loaded.lookback}")
        if not loaded.serves(None):
            raise ArtifactError(f"{loaded.path}: it forecasts the series of a panel (trained with --id-col); "
                                "pass a file of that panel")
        return [None]
    id_col = panel.id_col
    by_id = {s.series_id: s for s in panel.series}
    if series:
        unknown = [sid for sid in series if sid not in by_id]
        if unknown:
            raise DataError(f"--series: {unknown[0]!r} is not a series of {panel.path} ({len(by_id)} series, "
                            f"column '{id_col}')")
    wanted: list[str | None] = list(series) if series else list(by_id)
    trained_on = loaded.manifest["data"].get("series_last") or {}  # every series of its training run
    failed = [sid for sid in wanted if not loaded.serves(sid) and sid in trained_on]  # --per-series: no network
    new = [sid for sid in wanted if not loaded.serves(sid) and sid not in trained_on]
    short = [sid for sid in wanted if loaded.serves(sid) and len(by_id[sid].frame) < loaded.lookback]
    what = "network" if isinstance(loaded, LoadedCell) else "model"
    if series and (failed or new or short):
        sid = (failed or new or short)[0]
        why = (f"has no {what} (its training failed)" if failed else "was not in the training data" if new
               else f"has fewer rows than the lookback of {loaded.lookback}")
        raise DataError(f"--series: series {sid!r} {why}; the model cannot forecast it")
    for group, why in ((failed, f"no {what}: its training failed"), (new, "not in the training data"),
                       (short, f"fewer rows than the lookback {loaded.lookback}")):
        if group and notes is not None:
            shown = ", ".join(map(str, group[:MAX_LISTED])) + (f", ... ({len(group)} in all)" if len(group) > MAX_LISTED
                                                                else "")
            notes.append(f"{len(group)} series left out ({why}): {shown}")
    served = [sid for sid in wanted if loaded.serves(sid) and sid not in short]
    if not served:
        raise DataError(f"{panel.path}: none of its series can be forecast by {loaded.path} (not in the training "
                        "data, or shorter than the lookback)")
    return served


def forecast(loaded: Loaded, panel: Panel, horizon: int | None = None, levels: Sequence[int] | None = None, *,
             series: Sequence[str] | None = None, future: pd.DataFrame | None = None,
             future_source: str = "--future", notes: list[str] | None = None) -> pd.DataFrame:
    """Forecast ``horizon`` steps (default: the trained horizon) after the end of every series of ``panel``
    the row can serve (or of ``series``).

    Returns ``[<id_col>,] timestamp, yhat[, lo-80, hi-80, ...]`` (the id column for a panel only): ``h``
    rows per series, its timestamps continuing its own last one. With a calibrated folder the frame
    also holds ``lo-<L>, hi-<L>`` for each of ``levels`` (default: every calibrated level; ``()``: the
    point forecast only). Series left out are named in ``notes`` (see :func:`_served_ids`).

    Raises:
        ConfigError: ``horizon`` exceeds the trained horizon, or a level is not calibrated.
        DataError: fewer rows than the lookback, a ``series`` id that cannot be forecast.
        ArtifactError: the saved row produced something it does not promise.
    """
    h = _horizon(loaded, horizon)
    cal, served = interval_levels(loaded, levels)
    ids = _served_ids(loaded, panel, series, notes)
    by_id = {s.series_id: s for s in panel.series}
    frames = [by_id[sid] for sid in ids]
    yhat, scale = loaded.forecast_frames(frames, h, future, future_source)
    _check_output(loaded, yhat, (len(frames), h))
    bands = {}
    if cal is not None and served:  # a scaled calibration's own scales, else (older runs) the training scaler's
        scales = np.array([[cal.scale_of(sid, float(scale[k, 0]))] for k, sid in enumerate(ids)])
        bands = cal.columns(yhat, served, scale=scales if cal.scaled else 1.0)
    return _long_frame(panel.id_col, ids, [s.frame.index[-1] for s in frames], panel.first.freq, yhat, bands)


def _long_frame(id_col: str | None, ids: Sequence[str | None], lasts: Sequence[pd.Timestamp], freq: str,
                yhat: np.ndarray, bands: dict[str, np.ndarray]) -> pd.DataFrame:
    """``[<id_col>,] timestamp, yhat, <bands>``: ``h`` rows per series, its timestamps continuing its own last one."""
    h = yhat.shape[1]
    offset = pd.tseries.frequencies.to_offset(freq)
    last = pd.DatetimeIndex(lasts)
    steps = np.stack([(last + k * offset).to_numpy() for k in range(1, h + 1)], axis=1)  # (n, h), vectorised per step
    index = pd.DatetimeIndex(steps.ravel(), tz=last.tz) if last.tz is not None else steps.ravel()
    idcol = {id_col: np.repeat(np.asarray(ids, dtype=object), h)} if id_col else {}
    return pd.DataFrame({**idcol, "timestamp": index, "yhat": yhat.ravel(),
                         **{k: np.asarray(v).ravel() for k, v in bands.items()}})


#: A point forecast further than this many times the range of the target values given (max - min) past either
#: end of that range is served with a warning: a network trained through a 1e30 spike served 3.1e26 for a series
#: at 5. Wide enough for a trend carried over a horizon as long as the history (1x), tight enough for blow-ups.
RANGE_MULTIPLE = 10.0


def beyond_history(frame: pd.DataFrame, panel: Panel, k: float = RANGE_MULTIPLE) -> str | None:
    """A warning when a forecast leaves ``[min - k * span, max + k * span]`` of its series' target values given
    (``span = max - min``; a constant series: its level's size, at least 1), for every served kind
    (network, statistical, panel, per series); ``None`` when every forecast stays inside.

    ``frame`` is what :func:`forecast` returned (a panel's ids in its id column).

    Example:
        >>> from forecaster.data.load import load_series
        >>> s = Panel.of(load_series("data/sunspots_yearly.csv"))
        >>> beyond_history(pd.DataFrame({"yhat": [50.0, 1e9]}), s)[:41]
        'the forecast reaches 1e+09, more than 10x'
        >>> beyond_history(pd.DataFrame({"yhat": [50.0, 60.0]}), s) is None
        True
    """
    frames = {s.series_id: s for s in panel.series}
    groups = frame.groupby(panel.id_col, sort=False)["yhat"] if panel.id_col else [(None, frame["yhat"])]
    bad = []
    for sid, served in groups:
        one = frames.get(None if sid is None else str(sid))
        if one is None:
            continue
        y = one.frame[one.target].to_numpy(dtype=np.float64)
        yhat = served.to_numpy(dtype=np.float64)
        lo, hi = float(np.min(y)), float(np.max(y))
        span = hi - lo if hi > lo else max(abs(hi), 1.0)
        worst = float(yhat[np.argmax(np.abs(yhat - (lo + hi) / 2))])  # the forecast furthest from the history
        if worst < lo - k * span or worst > hi + k * span:
            bad.append((sid, worst, lo, hi))
    if not bad:
        return None
    if bad[0][0] is None:
        _, worst, lo, hi = bad[0]
        return (f"the forecast reaches {worst:g}, more than {k:g}x the range of the series' values given past either "
                f"end ({lo:g} to {hi:g}); check the data and the model before using it")
    shown = ", ".join(f"{sid} ({worst:g}; history {lo:g} to {hi:g})" for sid, worst, lo, hi in bad[:MAX_LISTED])
    more = f", ... ({len(bad)} in all)" if len(bad) > MAX_LISTED else ""
    return (f"{len(bad)} series forecast more than {k:g}x the range of their values given past either end: "
            f"{shown}{more}; check the data and the model before using them")


def forecast_windows(loaded: LoadedCell, windows: np.ndarray, horizon: int | None = None) -> np.ndarray:
    """Forecast a batch of windows of a file of one series in one inference call, in the original units.

    Many forecast origins are stacked into one ``(batch, lookback, features)`` array and go through
    the network together (a panel's series are forecast together by :func:`forecast`).

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
        return loaded.forecaster_of(loaded.scaler.ids[0]).predict_windows(x, h)
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
