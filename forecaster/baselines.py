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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from forecaster.contract import Capabilities, Kind

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.contract import Model
    from forecaster.prepared import Prepared

__all__ = [
    "naive", "seasonal_naive", "residual_base", "linear_correction", "linear_start", "LinearStart",
    "ResidualBase", "BASELINES", "RIDGE_GRID",
    "Naive", "SeasonalNaive", "Linear", "default_baselines",
]


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


class Naive:
    """The last observed value, repeated: the model contract's simplest member."""

    name = "naive"
    kind: Kind = "baseline"
    capabilities = Capabilities()

    def fit(self, prep: Prepared) -> Naive:
        return self

    def predict(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        return naive(np.asarray(values)[:, 0], origins, horizon)


class SeasonalNaive:
    """The last observed season, repeated; the period comes from the prepared run (``fit``)."""

    name = "seasonal_naive"
    kind: Kind = "baseline"
    capabilities = Capabilities()

    def __init__(self, season: int | None = None) -> None:
        self.season = season

    def fit(self, prep: Prepared) -> SeasonalNaive:
        self.season_ = self.season or prep.season
        return self

    def predict(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        return seasonal_naive(np.asarray(values)[:, 0], origins, horizon, season=self.season_)


class Linear:
    """The least-squares linear model the residual networks start from, alone (no network).

    On the training windows only: the better of naive and seasonal naive (:func:`residual_base`)
    plus a ridge least-squares map from the centred window (target minus its last value,
    covariates as they are) to what that baseline misses (:func:`linear_correction`). A network
    that does not beat this row adds nothing its linear start did not already do.
    """

    name = "linear"
    kind: Kind = "baseline"
    capabilities = Capabilities(uses_covariates=True)

    def fit(self, prep: Prepared) -> Linear:
        sp, h = prep.split, prep.split.horizon
        self.lookback_, self.scaler_ = sp.lookback, prep.scaler
        base = prep.residual_base(h, linear=True)
        assert base.linear is not None
        self.base_, (self.kernel_, self.bias_) = base, base.linear
        return self

    def predict(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        from forecaster.windows import origin_windows

        x = self.scaler_.transform(origin_windows(np.asarray(values, dtype=np.float64), origins, self.lookback_))
        x = x.astype(np.float64)
        last = x[:, -1, 0].copy()
        k = np.arange(horizon)
        if self.base_.season:
            lag = self.base_.season * ((k // self.base_.season) + 1)
            forecast = x[:, self.lookback_ + k - lag, 0]
        else:
            forecast = np.repeat(last[:, None], horizon, axis=1)
        x[:, :, 0] -= last[:, None]
        correction = x.reshape(len(x), -1) @ self.kernel_.astype(np.float64) + self.bias_.astype(np.float64)
        return self.scaler_.inverse_target(forecast + self.base_.scale * correction[:, :horizon])


def default_baselines() -> list[Model]:
    """The baselines scored in every run (fresh, unfitted instances)."""
    return [Naive(), SeasonalNaive()]


#: Baselines scored in every run, by name.
BASELINES = tuple(b.name for b in default_baselines())


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
    #: how ``linear`` was chosen on the validation windows (:func:`linear_start`), when it was
    start: LinearStart | None = None


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
    from forecaster.windows import target_windows

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

#: Ridge penalties tried by :func:`linear_start`, as fractions of the mean input variance; the
#: lowest validation loss wins (ties: the first, the weakest). 1e-4 was the one fixed penalty
#: before; a stronger one wins where the window is wide for the windows there are.
RIDGE_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


def _design(values: np.ndarray, first: np.ndarray, steps: int, base: ResidualBase, lookback: int,
            ) -> tuple[np.ndarray, np.ndarray]:
    """Each window as the residual network sees it (target centred on its last value), flattened, with a
    column of ones; and what ``base`` misses over its ``steps`` targets, in units of ``base.scale``."""
    y = values[:, 0]
    x = values[first[:, None] + np.arange(-lookback, 0)[None, :]]  # (n, lookback, n_features)
    x[:, :, 0] -= y[first - 1][:, None]
    x = x.reshape(len(first), -1)
    if base.season:
        forecast = seasonal_naive(y, first, steps, season=base.season)
    else:
        forecast = naive(y, first, steps)
    miss = (y[first[:, None] + np.arange(steps)[None, :]] - forecast) / base.scale
    return np.hstack([x, np.ones((len(first), 1))]), miss


def _sampled(first: np.ndarray, width: int) -> np.ndarray:
    most = min(LINEAR_MAX_WINDOWS, max(4 * width, LINEAR_MAX_VALUES // width))
    if len(first) > most:
        first = first[np.linspace(0, len(first) - 1, most).round().astype(int)]
    return first


def _solve(gram: np.ndarray, rhs: np.ndarray, fraction: float) -> np.ndarray:
    gram = gram.copy()
    k = gram.shape[0] - 1
    # (a floor keeps a constant series, whose centred windows are all zero, solvable: its correction is 0)
    ridge = max(fraction * np.trace(gram[:-1, :-1]) / max(1, k), 1e-8)
    gram[np.arange(k), np.arange(k)] += ridge
    return np.linalg.solve(gram, rhs)


def linear_correction(
    values: np.ndarray, first_targets: np.ndarray, steps: int, base: ResidualBase, *, lookback: int,
    ridge: float = RIDGE_GRID[0],
) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares linear correction to ``base`` on the training windows: the network's start.

    Inputs are each window as the residual network sees it (the target channel centred on its
    last value, covariates as they are), flattened; the fitted quantity is what ``base`` misses,
    ``target - base forecast``, in units of ``base.scale``. A ridge penalty (``ridge`` of the mean
    input variance; 1e-4 by default) keeps the solve stable when inputs are collinear (a periodic series).

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
        ridge: the penalty, a fraction of the mean input variance.

    Returns:
        ``(kernel, bias)`` of shapes ``(lookback * n_features, steps)`` and ``(steps,)``.
    """
    values = np.asarray(values, dtype=np.float64)
    first = _sampled(np.asarray(first_targets), lookback * values.shape[1])
    design, miss = _design(values, first, steps, base, lookback)
    coef = _solve(design.T @ design, design.T @ miss, ridge)
    return coef[:-1].astype(np.float32), coef[-1].astype(np.float32)


@dataclass(frozen=True)
class LinearStart:
    """The linear path's start chosen on the validation windows (see :func:`linear_start`).

    Attributes:
        kernel, bias: the least-squares correction (as :func:`linear_correction` returns it).
        ridge: the penalty chosen (a fraction of the mean input variance).
        val_loss: validation MSE (scaled series units) of the base plus this correction: the loss a
            residual network holding it, with a head that outputs zero, starts from.
        base_val_loss: validation MSE of the base alone (no correction).
        ridge_val_loss: ``{penalty: validation MSE}`` of every penalty tried.
    """

    kernel: np.ndarray
    bias: np.ndarray
    ridge: float
    val_loss: float
    base_val_loss: float
    ridge_val_loss: dict[float, float]


def linear_start(
    values: np.ndarray, first_targets: np.ndarray, val_first: np.ndarray, steps: int, base: ResidualBase, *,
    lookback: int, grid: Sequence[float] = RIDGE_GRID,
) -> LinearStart:
    """:func:`linear_correction` with its ridge penalty chosen on the validation windows.

    One Gram matrix of the training windows, one solve per penalty of ``grid``; the penalty with
    the lowest validation MSE wins (ties: the weakest). Test rows are never read.

    Args:
        values: scaled rows ``(n, n_features)`` reaching at least to the last validation target.
        first_targets: first target row of each training window.
        val_first: first target row of each validation window.
        steps, base, lookback: as :func:`linear_correction`.
        grid: the penalties tried.
    """
    values = np.asarray(values, dtype=np.float64)
    first = _sampled(np.asarray(first_targets), lookback * values.shape[1])
    design, miss = _design(values, first, steps, base, lookback)
    gram, rhs = design.T @ design, design.T @ miss
    vd, vmiss = _design(values, np.asarray(val_first), steps, base, lookback)
    scale2 = base.scale ** 2
    tried: dict[float, tuple[float, np.ndarray]] = {}
    for fraction in grid:
        coef = _solve(gram, rhs, fraction)
        tried[float(fraction)] = (float(np.mean((vd @ coef - vmiss) ** 2)) * scale2, coef)
    best = min(tried, key=lambda f: tried[f][0])
    loss, coef = tried[best]
    return LinearStart(coef[:-1].astype(np.float32), coef[-1].astype(np.float32), best, loss,
                       float(np.mean(vmiss ** 2)) * scale2, {f: v[0] for f, v in tried.items()})
