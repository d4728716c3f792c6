"""Model inputs made from the data: calendar cycles, and known covariates led by the horizon.

Example:
    >>> idx = pd.date_range("2024-01-01", periods=3, freq="6h")
    >>> list(calendar_features(idx, "6h").columns)[:2]
    ['calendar_day_sin', 'calendar_day_cos']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.data.frame import SeriesFrame
from forecaster.errors import DataError

__all__ = ["calendar_features", "calendar_columns", "input_columns", "input_values", "last_window", "future_of", "future_index"]


def calendar_features(index: pd.DatetimeIndex, freq: str) -> pd.DataFrame:
    """Sine and cosine of the calendar cycles finer than a year that ``freq`` can show, at each timestamp.

    Sub-daily data gets the time of day and the day of the week, daily data the day of the week
    and of the year, weekly data the day of the year, monthly and quarterly data the month.
    Each cycle ``c`` in ``[0, 1)`` gives ``calendar_<name>_sin = sin(2 pi c)`` and ``_cos``.

    Raises:
        DataError: yearly (or coarser) data, which has no calendar cycle to add.

    Example:
        >>> idx = pd.date_range("2024-01-01", periods=3, freq="6h")
        >>> calendar_features(idx, "6h").round(3)["calendar_day_sin"].tolist()
        [0.0, 1.0, 0.0]
    """
    step = (index[0] + pd.tseries.frequencies.to_offset(freq)) - index[0] if len(index) else pd.Timedelta(0)
    day = pd.Timedelta(days=1)
    start_of_day = index.normalize()
    cycles: dict[str, np.ndarray] = {}
    if step < day:
        cycles["day"] = ((index - start_of_day) / day).to_numpy(dtype=np.float64)
    if step < pd.Timedelta(days=7):
        cycles["week"] = (index.dayofweek.to_numpy() + cycles.get("day", 0.0)) / 7.0
    if step < pd.Timedelta(days=28):
        cycles["year"] = (index.dayofyear.to_numpy() - 1) / np.where(index.is_leap_year, 366.0, 365.0)
    elif step < pd.Timedelta(days=365):
        cycles["year"] = (index.month.to_numpy() - 1) / 12.0
    if not cycles:
        raise DataError(f"--calendar: frequency {freq!r} is a year or longer; it has no calendar cycle to add "
                        "(drop --calendar)")
    out = {}
    for name, c in cycles.items():
        angle = 2 * np.pi * np.asarray(c, dtype=np.float64)
        out[f"calendar_{name}_sin"] = np.sin(angle)
        out[f"calendar_{name}_cos"] = np.cos(angle)
    return pd.DataFrame(out, index=index)


def calendar_columns(freq: str, calendar: bool) -> tuple[str, ...]:
    """The calendar input names for ``freq`` (``()`` when calendar inputs are off)."""
    if not calendar:
        return ()
    return tuple(calendar_features(pd.date_range("2024-01-01", periods=1, freq=freq), freq).columns)


def input_columns(series: SeriesFrame, calendar: bool) -> list[str]:
    """The model's input columns: the target, past covariates, known covariates, then calendar inputs."""
    return [*series.columns, *calendar_columns(series.freq, calendar)]


def input_values(series: SeriesFrame, horizon: int, *, calendar: bool = False,
                 future: pd.DataFrame | None = None) -> np.ndarray:
    """``(n, n_inputs)`` float64 rows in the original units, columns as :func:`input_columns`.

    Known covariates and calendar inputs are *led* by the horizon: row ``t`` holds their values at
    ``t + horizon``. A window ending at row ``o - 1`` then carries, in its last ``horizon`` rows,
    their values at the steps ``o .. o + horizon - 1`` it forecasts, with no change to the
    window's shape. The last ``horizon`` rows of a known covariate come from ``future`` (the
    values after the end, by timestamp) and are NaN without it; calendar inputs are always known.

    Example:
        >>> idx = pd.date_range("2024-01-01", periods=4, freq="D", name="d")
        >>> s = SeriesFrame(pd.DataFrame({"y": [1.0, 2, 3, 4], "promo": [0.0, 1, 0, 1]}, index=idx), "y", ("promo",),
        ...                 "D", "f.csv", "", "d", known=("promo",))
        >>> input_values(s, 2)[:, 1].tolist()  # row t: promo at t + 2
        [0.0, 1.0, nan, nan]
    """
    frame = series.frame
    known = list(series.known)
    past = [c for c in series.columns if c not in known]
    values = frame[past].to_numpy(dtype=np.float64)
    if not known and not calendar:
        return values
    n = len(frame)
    ext = pd.date_range(frame.index[0], periods=n + horizon, freq=series.freq, name=frame.index.name)
    lead = frame[known].reindex(ext)
    if future is not None and known:
        given = future[known].reindex(ext[n:])
        lead.iloc[n:] = given.to_numpy(dtype=np.float64)
    if calendar:
        lead = pd.concat([lead, calendar_features(ext, series.freq)], axis=1)
    return np.hstack([values, lead.to_numpy(dtype=np.float64)[horizon : horizon + n]])


def last_window(series: SeriesFrame, lookback: int, horizon: int, *, calendar: bool = False,
                future: pd.DataFrame | None = None, source: str = "--future") -> np.ndarray:
    """The last ``lookback`` input rows of ``series`` as a model reads them to forecast past its end: the
    columns of :func:`input_values` (known covariates and calendar inputs led by ``horizon``).

    Raises:
        DataError: a known covariate has no value at one of the ``horizon`` steps after the end (named by
            ``source``, the file or field the future values came from).

    Example:
        >>> idx = pd.date_range("2024-01-01", periods=4, freq="D", name="d")
        >>> s = SeriesFrame(pd.DataFrame({"y": [1.0, 2, 3, 4]}, index=idx), "y", (), "D", "f.csv", "", "d")
        >>> last_window(s, 2, 3).tolist()
        [[3.0], [4.0]]
    """
    if not series.known and not calendar:
        return series.frame.to_numpy(dtype=np.float64)[-lookback:]  # columns: target, covariates (as loaded)
    values = input_values(series, horizon, calendar=calendar, future=future)[-lookback:]
    bad = np.argwhere(~np.isfinite(values))
    if bad.size:
        r, c = (int(v) for v in bad[0])
        n = len(series.frame)
        when = pd.date_range(series.frame.index[0], periods=n + horizon, freq=series.freq)[n - lookback + r + horizon]
        who = f" for series {series.series_id!r}" if series.series_id is not None else ""
        raise DataError(f"{source}: no value of '{series.columns[c]}'{who} at {when}; the model needs every known "
                        f"covariate at each of the {horizon} steps after the end of the series")
    return values


def future_of(future: pd.DataFrame | None, series: SeriesFrame, source: str = "--future") -> pd.DataFrame | None:
    """The future values of known covariates for one series: a panel's ``future`` is indexed by
    ``(series id, timestamp)``, a single series' by timestamp alone.

    Raises:
        DataError: a panel's ``future`` has no rows for the series.
    """
    if future is None or series.series_id is None:
        return future
    try:
        if not isinstance(future.index, pd.MultiIndex):
            raise KeyError(series.series_id)
        rows: pd.DataFrame = future.loc[series.series_id]  # an indexed lookup: a thousand series stay cheap
        return rows
    except KeyError:
        raise DataError(f"{source}: no rows for series {series.series_id!r}; the model needs its known covariates "
                        "after the end of every series it forecasts") from None


def future_index(last: pd.Timestamp, freq: str, horizon: int, name: str | None = None) -> pd.DatetimeIndex:
    """The ``horizon`` timestamps after ``last`` on the series' frequency."""
    return pd.date_range(last, periods=horizon + 1, freq=freq, name=name)[1:]
