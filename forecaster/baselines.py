"""Naive baselines, scored on exactly the same windows as the networks.

Each takes the full target series (original units), the row of every window's first target
step and the horizon, and returns ``(n_windows, horizon)`` forecasts that only use values
before each window's first target step.

Example:
    >>> import numpy as np
    >>> y = np.arange(10.0)
    >>> naive(y, np.array([5]), 3).tolist()
    [[4.0, 4.0, 4.0]]
    >>> seasonal_naive(y, np.array([5]), 3, season=2).tolist()
    [[3.0, 4.0, 3.0]]
"""

from __future__ import annotations

import numpy as np

__all__ = ["naive", "seasonal_naive", "BASELINES"]


def naive(y: np.ndarray, first_targets: np.ndarray, horizon: int) -> np.ndarray:
    """Repeat the last observed value for every step."""
    last = np.asarray(y, dtype=np.float64)[np.asarray(first_targets) - 1]
    return np.repeat(last[:, None], horizon, axis=1)


def seasonal_naive(y: np.ndarray, first_targets: np.ndarray, horizon: int, *, season: int) -> np.ndarray:
    """Repeat the last observed season: step ``k`` copies the value ``season * ceil((k+1)/season)`` earlier."""
    k = np.arange(horizon)
    lag = season * ((k // season) + 1)
    rows = np.asarray(first_targets)[:, None] + k[None, :] - lag[None, :]
    if rows.min() < 0:
        raise ValueError(f"seasonal naive needs {int(-rows.min())} more rows of history before the first window")
    return np.asarray(y, dtype=np.float64)[rows]


#: Baselines scored in every run, by name.
BASELINES = ("naive", "seasonal_naive")
