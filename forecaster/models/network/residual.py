"""The residual design of the networks: what they correct, and the least-squares start of their linear path.

A residual network forecasts the better of naive and seasonal naive on the training windows plus
a learned correction in units of that baseline's error (:func:`residual_base`); its linear path
starts at the ridge least-squares fit of what the baseline misses (:func:`linear_correction`).
:func:`start` computes both on the training windows of a :class:`~forecaster.data.prepared.Prepared`
(one series or every series' windows stacked).

Example:
    >>> y = np.tile([0.0, 5.0, 1.0], 20)
    >>> residual_base(y, np.arange(6, 57), 3, season=3, lookback=6).name
    'seasonal_naive'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from forecaster.models.naive import naive, seasonal_naive

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.data.prepared import Prepared

__all__ = ["ResidualBase", "residual_base", "linear_correction", "start", "LINEAR_MAX_WINDOWS", "LINEAR_MAX_VALUES"]


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
    #: least-squares start for the linear part, ``(kernel (lookback * n_features, steps), bias (steps,))``
    #: in units of ``scale`` (see :func:`linear_correction`); ``None``: no linear part.
    linear: tuple[np.ndarray, np.ndarray] | None = None


def residual_base(
    y: np.ndarray, first_targets: np.ndarray, horizon: int, *, season: int, lookback: int,
    seasons: Sequence[int] = (),
) -> ResidualBase:
    """Choose, on the training windows only, the baseline a residual network should correct.

    Seasonal naive of each period (``season`` and every one of ``seasons``) that fits in the
    lookback competes with naive; the lowest error on the given windows wins (hourly traffic:
    the week, 168, rather than the day). The network then learns a correction to
    that forecast, measured in units of the baseline's own error, so it starts close to the
    baseline and Adam's step size matches the size of what is left to learn.

    Args:
        y: the target over the training rows (any units).
        first_targets: first target row of each training window.
        horizon: steps each window forecasts.
        season: the series' period.
        lookback: input steps per window (seasonal naive must find its values inside them).
        seasons: further periods to try (e.g. the week of hourly data).

    Example:
        >>> y = np.tile([0.0, 5.0, 1.0], 20)
        >>> b = residual_base(y, np.arange(6, 57), 3, season=3, lookback=6)
        >>> b.name, b.season, b.scale
        ('seasonal_naive', 3, 1.0)
    """
    from forecaster.data.windows import target_windows

    y = np.asarray(y, dtype=np.float64)
    targets = target_windows(y, np.asarray(first_targets), horizon)

    def rms(pred: np.ndarray) -> float:
        return float(np.sqrt(np.mean((targets - pred) ** 2)))

    chosen = ResidualBase("naive", None, rms(naive(y, first_targets, horizon)))
    for period in sorted({season, *seasons}):
        if 1 < period <= lookback:
            seasonal_rms = rms(seasonal_naive(y, first_targets, horizon, season=period))
            if seasonal_rms < chosen.scale:
                chosen = ResidualBase("seasonal_naive", period, seasonal_rms)
    if not (np.isfinite(chosen.scale) and chosen.scale > 1e-6):  # a constant (or perfectly periodic) part
        chosen = ResidualBase(chosen.name, chosen.season, 1.0)
    return chosen


#: Windows sampled (evenly over the training part) to fit :func:`linear_correction`, at most: a
#: least-squares fit of ``lookback * n_features + 1`` coefficients needs far fewer. Wide windows
#: get fewer (at most :data:`LINEAR_MAX_VALUES` input values, 40 MB, but 4 per coefficient).
LINEAR_MAX_WINDOWS = 50_000
LINEAR_MAX_VALUES = 5_000_000


def linear_correction(
    values: np.ndarray, first_targets: np.ndarray, steps: int, base: ResidualBase, *, lookback: int
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares linear correction to ``base`` on the training windows: the network's start.

    Inputs are each window as the residual network sees it (the target channel centred on its
    last value, covariates as they are), flattened; the fitted quantity is what ``base`` misses,
    ``target - base forecast``, in units of ``base.scale``. A ridge penalty of 1e-4 of the mean
    input variance keeps the solve stable when inputs are collinear (a periodic series).

    Why: a recurrent network trained by Adam with early stopping did not find even a linear
    drift correction on a smooth hourly series (test MASE 1.25, worse than seasonal naive's
    1.23, where seasonal naive plus the last day's drift scores 0.51 and a least-squares fit
    0.49). Starting the linear part there leaves the network the non-linear rest.

    Args:
        values: scaled training rows ``(n, n_features)``, target in column 0.
        first_targets: first target row of each training window.
        steps: output steps.
        base: the chosen baseline (:func:`residual_base`, measured on ``values[:, 0]``).
        lookback: input steps per window.

    Returns:
        ``(kernel, bias)`` of shapes ``(lookback * n_features, steps)`` and ``(steps,)``.
    """
    values = np.asarray(values, dtype=np.float64)
    first = np.asarray(first_targets)
    width = lookback * values.shape[1]
    most = min(LINEAR_MAX_WINDOWS, max(4 * width, LINEAR_MAX_VALUES // width))
    if len(first) > most:
        first = first[np.linspace(0, len(first) - 1, most).round().astype(int)]
    y = values[:, 0]
    x = values[first[:, None] + np.arange(-lookback, 0)[None, :]]  # (n, lookback, n_features)
    x[:, :, 0] -= y[first - 1][:, None]
    x = x.reshape(len(first), -1)
    if base.season:
        forecast = seasonal_naive(y, first, steps, season=base.season)
    else:
        forecast = naive(y, first, steps)
    miss = (y[first[:, None] + np.arange(steps)[None, :]] - forecast) / base.scale
    design = np.hstack([x, np.ones((len(first), 1))])
    gram = design.T @ design
    # (a floor keeps a constant series, whose centred windows are all zero, solvable: its correction is 0)
    ridge = max(1e-4 * np.trace(gram[:-1, :-1]) / max(1, x.shape[1]), 1e-8)
    gram[np.arange(x.shape[1]), np.arange(x.shape[1])] += ridge
    coef = np.linalg.solve(gram, design.T @ miss)
    return coef[:-1].astype(np.float32), coef[-1].astype(np.float32)


def start(prep: Prepared, steps: int, *, linear: bool = True) -> ResidualBase:
    """The baseline a residual network corrects, chosen on every series' training windows (scaled), with the
    least-squares start of its linear correction when ``linear``."""
    sp = prep.split
    first = sp.first_targets("train")
    base = residual_base(prep.scaled[:, 0], first, steps, season=prep.season, lookback=sp.lookback,
                         seasons=prep.seasons)
    if not linear:
        return base
    return dataclasses.replace(base, linear=linear_correction(prep.scaled, first, steps, base, lookback=sp.lookback))
