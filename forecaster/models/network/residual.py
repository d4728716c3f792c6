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
    from forecaster.config import RunConfig
    from forecaster.data.frame import Panel, SeriesFrame
    from forecaster.data.prepared import Prepared

__all__ = ["ResidualBase", "residual_base", "linear_correction", "linear_start", "LinearStart", "start",
           "lookback_scores", "lookback_choice", "RIDGE_GRID", "LINEAR_MAX_WINDOWS", "LINEAR_MAX_VALUES"]


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


def start(prep: Prepared, steps: int, *, linear: bool = True) -> ResidualBase:
    """The baseline a residual network corrects, chosen on every series' training windows (scaled), with the
    least-squares start of its linear correction when ``linear`` (its ridge penalty chosen on the validation
    windows, :func:`linear_start`; recorded as the base's ``start``)."""
    sp = prep.split
    first = sp.first_targets("train")
    base = residual_base(prep.scaled[:, 0], first, steps, season=prep.season, lookback=sp.lookback,
                         seasons=prep.seasons)
    if not linear:
        return base
    fitted = linear_start(prep.scaled, first, sp.first_targets("val"), steps, base, lookback=sp.lookback)
    return dataclasses.replace(base, linear=(fitted.kernel, fitted.bias), start=fitted)


def lookback_scores(cfg: RunConfig, series: Sequence[SeriesFrame], candidates: Sequence[int]) -> dict[int, float]:
    """Validation loss of the ``linear`` row per candidate lookback, averaged over ``series``.

    For each series and candidate: the series split as a run would split it, scaled on its training
    rows, the residual base chosen on its training windows and the linear start fitted there with
    its ridge chosen on the validation windows (:func:`linear_start`); its validation MSE (scaled
    units) is the score. Every candidate is scored on the same validation targets (a window belongs
    to the part holding its first target, whatever its lookback). A series too short for a candidate
    is left out of every candidate's mean. Test rows are never read.
    """
    from forecaster.data.features import input_columns, input_values
    from forecaster.data.scaling import Scaler
    from forecaster.data.seasons import seasons_for
    from forecaster.data.windows import split
    from forecaster.errors import DataError

    w = cfg.window
    per: dict[int, list[float]] = {c: [] for c in candidates}
    for s in series:
        values = input_values(s, w.horizon, calendar=cfg.data.calendar)
        scores = {}
        try:
            for c in candidates:
                sp = split(len(values), lookback=c, horizon=w.horizon, val=w.val, test=w.test, source=s.path)
                scaled = Scaler(input_columns(s, cfg.data.calendar)).fit(values[: sp.train_end]).transform(values)
                season, seasons, _notes = seasons_for(cfg, s.freq, sp.train_end, s.path)
                first = sp.first_targets("train")
                base = residual_base(scaled[: sp.train_end, 0], first, w.horizon, season=season, lookback=c,
                                     seasons=seasons)
                scores[c] = linear_start(scaled[: sp.val_end], first, sp.first_targets("val"), w.horizon, base,
                                         lookback=c).val_loss
        except (DataError, ValueError, np.linalg.LinAlgError):
            continue
        for c, v in scores.items():
            per[c].append(v)
    return {c: float(np.mean(v)) for c, v in per.items() if v and np.isfinite(np.mean(v))}


def lookback_choice(cfg: RunConfig, panel: Panel) -> tuple[int, dict[int, float]]:
    """``window.lookback``, or the season-aware candidate (:func:`~forecaster.data.seasons.lookback_candidates` of
    the series of median length) whose ``linear`` row has the lowest validation loss (:func:`lookback_scores`,
    over up to :data:`~forecaster.data.seasons.LOOKBACK_SERIES` series), with every candidate's score.

    Why: a fixed rule (the longest season-aware span) gave the weekly CO2 series 104 steps, where
    48 scored better, and made every recurrent cell pay for 360 steps on a half-hourly year. The
    linear row's validation loss is one least-squares solve per candidate (about a second for a
    half-hourly year), and the network starts from that row.
    """
    from forecaster.data.seasons import choose_lookback, lookback_candidates, median_series, scored_series, seasons_for, training_rows

    if cfg.window.lookback is not None:
        return cfg.window.lookback, {}
    median = median_series(panel)
    n_train = training_rows(cfg, len(median.frame))
    _season, seasons, _notes = seasons_for(cfg, median.freq, n_train, median.path)
    candidates = lookback_candidates(seasons, cfg.window.horizon, n_train)
    if len(candidates) == 1:
        return candidates[0], {}
    scores = lookback_scores(cfg, scored_series(panel), candidates)
    if not scores:
        return max(candidates), {}
    return choose_lookback(scores), scores
