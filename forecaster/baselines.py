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

from dataclasses import dataclass

import numpy as np

__all__ = ["naive", "seasonal_naive", "residual_base", "ResidualBase", "BASELINES"]


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


@dataclass(frozen=True)
class ResidualBase:
    """The baseline a residual network corrects (see :func:`residual_base`).

    Attributes:
        name: ``"naive"`` or ``"seasonal_naive"``.
        season: the period copied by seasonal naive; ``None`` for naive.
        scale: root-mean-square error of that baseline on the training windows, in the units
            of the series it was measured on: the network's output is multiplied by it.
    """

    name: str
    season: int | None
    scale: float


def residual_base(
    y: np.ndarray, first_targets: np.ndarray, horizon: int, *, season: int, lookback: int
) -> ResidualBase:
    """Choose, on the training windows only, the baseline a residual network should correct.

    Seasonal naive is chosen when its period fits in the lookback and its error on the given
    windows is lower than naive's; otherwise naive. The network then learns a correction to
    that forecast, measured in units of the baseline's own error, so it starts close to the
    baseline and Adam's step size matches the size of what is left to learn.

    Args:
        y: the target over the training rows (any units).
        first_targets: first target row of each training window.
        horizon: steps each window forecasts.
        season: the series' period.
        lookback: input steps per window (seasonal naive must find its values inside them).

    Example:
        >>> y = np.tile([0.0, 5.0, 1.0], 20)
        >>> b = residual_base(y, np.arange(6, 57), 3, season=3, lookback=6)
        >>> b.name, b.season, b.scale
        ('seasonal_naive', 3, 1.0)
    """
    from forecaster.windows import target_windows

    y = np.asarray(y, dtype=np.float64)
    targets = target_windows(y, np.asarray(first_targets), horizon)

    def rms(pred: np.ndarray) -> float:
        return float(np.sqrt(np.mean((targets - pred) ** 2)))

    naive_rms = rms(naive(y, first_targets, horizon))
    chosen = ResidualBase("naive", None, naive_rms)
    if 1 < season <= lookback:
        seasonal_rms = rms(seasonal_naive(y, first_targets, horizon, season=season))
        if seasonal_rms < naive_rms:
            chosen = ResidualBase("seasonal_naive", season, seasonal_rms)
    if not (np.isfinite(chosen.scale) and chosen.scale > 1e-6):  # a constant (or perfectly periodic) part
        chosen = ResidualBase(chosen.name, chosen.season, 1.0)
    return chosen
