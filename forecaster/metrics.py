"""Error metrics in the original units, and the season used to scale MASE.

All metrics take ``y_true`` and ``y_pred`` of shape ``(n_windows, horizon)`` and pool every
window and every horizon step. MAPE is undefined where an actual is 0: it is reported as
``None`` with a :class:`MetricWarning`, never a crash or an infinity. MASE divides by the
in-sample (training part) seasonal-naive MAE, so 1.0 means "as good as repeating last season".

Example:
    >>> import numpy as np
    >>> y = np.array([[1.0, 2.0]]); p = np.array([[1.5, 2.0]])
    >>> score(y, p, insample=np.array([0.0, 1.0, 2.0, 3.0]), season=1)["mae"]
    0.25
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

__all__ = ["MetricWarning", "infer_season", "natural_seasons", "mae", "rmse", "smape", "mape", "mase", "per_step_mae", "score"]


class MetricWarning(UserWarning):
    """A metric is undefined for this data and is reported as missing."""


def infer_season(freq: str) -> int:
    """Steps per natural cycle of a pandas frequency alias.

    Sub-daily steps give steps per day (30min -> 48, hourly -> 24), daily -> 7, weekly -> 52,
    monthly -> 12, quarterly -> 4; anything else (yearly, irregular business calendars) -> 1.

    Example:
        >>> infer_season("h"), infer_season("D"), infer_season("MS")
        (24, 7, 12)
    """
    import pandas as pd

    offset = pd.tseries.frequencies.to_offset(freq)
    name = type(offset).__name__
    if name in {"MonthBegin", "MonthEnd", "BusinessMonthBegin", "BusinessMonthEnd"} and offset.n == 1:
        return 12
    if name in {"QuarterBegin", "QuarterEnd", "BQuarterBegin", "BQuarterEnd"} and offset.n == 1:
        return 4
    if name == "Week" and offset.n == 1:
        return 52
    if name == "BusinessDay" and offset.n == 1:
        return 5
    try:
        nanos = int(offset.nanos)
    except (AttributeError, ValueError):  # calendar offsets (yearly...) have no fixed length
        return 1
    day = 86_400 * 10**9
    if nanos == day:
        return 7
    if nanos < day and day % nanos == 0:
        steps = day // nanos
        return int(steps) if steps <= 1440 else 60  # per-second data: a minute's cycle
    return 1


def natural_seasons(season: int, freq: str | None) -> list[int]:
    """Every natural cycle of a frequency, the series' ``season`` first among them, ascending.

    Sub-daily data has the day and the week (30min: 48 and 336; hourly: 24 and 168), daily data
    the week and the year (7 and 365); other frequencies their one season (weekly 52, monthly 12,
    quarterly 4). Periods of 1 are left out.

    Example:
        >>> natural_seasons(24, "h"), natural_seasons(48, "30min"), natural_seasons(7, "D"), natural_seasons(12, "MS")
        ([24, 168], [48, 336], [7, 365], [12])
    """
    candidates = {season}
    if freq:
        import pandas as pd

        try:
            nanos = int(pd.tseries.frequencies.to_offset(freq).nanos)
        except (AttributeError, ValueError):  # calendar offsets (weekly, monthly...) have no fixed length
            nanos = 0
        day = 86_400 * 10**9
        if 0 < nanos < day and day % nanos == 0:
            per_day = day // nanos
            if per_day <= 1440:  # up to minutes: a day and a week; per-second data keeps its own cycle
                candidates |= {int(per_day), int(7 * per_day)}
        elif nanos == day:
            candidates |= {7, 365}
    return sorted(p for p in candidates if p > 1)


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import mean_absolute_error

    return float(mean_absolute_error(np.ravel(y_true), np.ravel(y_pred)))


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    from sklearn.metrics import root_mean_squared_error

    return float(root_mean_squared_error(np.ravel(y_true), np.ravel(y_pred)))


def smape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Symmetric MAPE in percent (0-200); a pair where both values are 0 counts as no error."""
    t, p = np.ravel(y_true).astype(np.float64), np.ravel(y_pred).astype(np.float64)
    denom = np.abs(t) + np.abs(p)
    ratio = np.divide(2.0 * np.abs(p - t), denom, out=np.zeros_like(denom), where=denom != 0)
    return float(100.0 * ratio.mean())


def mape(y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    """MAPE in percent, or ``None`` (with a warning) when any actual is 0."""
    t = np.ravel(y_true)
    if np.any(t == 0):
        warnings.warn(
            f"MAPE is undefined: {int(np.sum(t == 0))} actual value(s) are 0; reported as missing",
            MetricWarning,
            stacklevel=2,
        )
        return None
    from sklearn.metrics import mean_absolute_percentage_error

    return float(100.0 * mean_absolute_percentage_error(t, np.ravel(y_pred)))


def mase_scale(insample: np.ndarray, season: int) -> float | None:
    """In-sample seasonal-naive MAE (falls back to lag 1 when the sample is shorter than a season)."""
    y = np.ravel(insample).astype(np.float64)
    m = season if len(y) > season else 1
    if len(y) <= m:
        return None
    scale = float(np.mean(np.abs(y[m:] - y[:-m])))
    return scale if scale > 0 else None


def mase(y_true: np.ndarray, y_pred: np.ndarray, *, insample: np.ndarray, season: int) -> float | None:
    """Mean absolute scaled error, or ``None`` (with a warning) for a constant training series."""
    scale = mase_scale(insample, season)
    if scale is None:
        warnings.warn("MASE is undefined: the training series has no seasonal variation", MetricWarning, stacklevel=2)
        return None
    return mae(y_true, y_pred) / scale


def per_step_mae(y_true: np.ndarray, y_pred: np.ndarray) -> list[float]:
    """MAE of each horizon step (index 0 is one step ahead)."""
    return [float(v) for v in np.mean(np.abs(np.asarray(y_true) - np.asarray(y_pred)), axis=0)]


def score(y_true: np.ndarray, y_pred: np.ndarray, *, insample: np.ndarray, season: int) -> dict[str, Any]:
    """Every metric at once, as a JSON-friendly dict."""
    return {
        "mae": mae(y_true, y_pred),
        "rmse": rmse(y_true, y_pred),
        "smape": smape(y_true, y_pred),
        "mape": mape(y_true, y_pred),
        "mase": mase(y_true, y_pred, insample=insample, season=season),
        "per_step_mae": per_step_mae(y_true, y_pred),
    }
