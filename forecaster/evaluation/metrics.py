"""Error metrics in the original units (MASE scaled by the in-sample seasonal naive).

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

__all__ = ["MetricWarning", "mae", "rmse", "smape", "mape", "mase", "per_step_mae", "score"]


class MetricWarning(UserWarning):
    """A metric is undefined for this data and is reported as missing."""


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
