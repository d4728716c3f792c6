"""Seasons and the default lookback: the natural cycles of a frequency and what the data can hold.

The main season scales MASE and drives seasonal naive; every season the training part holds twice
may be used by the models (the residual start, the default lookback).

Example:
    >>> infer_season("h"), natural_seasons(24, "h")
    (24, [24, 168])
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from forecaster.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.config import RunConfig
    from forecaster.data.frame import Panel, SeriesFrame

__all__ = ["infer_season", "natural_seasons", "seasons_for", "lookback_candidates", "default_lookback", "choose_lookback",
           "window_lookback", "lookback_for", "median_series", "scored_series", "training_rows", "MIN_LOOKBACK",
           "MAX_LOOKBACK", "LOOKBACK_TIE", "LOOKBACK_SERIES"]


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


#: The default lookback's bounds (steps): at least the former fixed default, at most what keeps a
#: recurrent cell's windows cheap (a half-hourly week, 336 steps, plus a 48-step horizon fits).
MIN_LOOKBACK, MAX_LOOKBACK = 48, 400


def training_rows(cfg: RunConfig, n: int) -> int:
    """Rows of the training part of an ``n``-row series under ``cfg``'s split (the lookback plays no role)."""
    from forecaster.data.windows import part_rows

    w = cfg.window
    return n - part_rows(w.val, n) - part_rows(w.test, n)


def seasons_for(cfg: RunConfig, freq: str, n_train: int, source: str) -> tuple[int, tuple[int, ...], tuple[str, ...]]:
    """The main season (MASE, seasonal naive), every season the models may use, and notes on the ones left out.

    Inferred periods (:func:`forecaster.data.natural_seasons`) are kept when the training part
    holds at least two full cycles; periods given in ``window.seasons`` must be, or the data is refused.

    Raises:
        DataError: a given period is longer than half the training part.
    """
    w = cfg.window
    season = w.season or infer_season(freq)
    if w.seasons is not None:
        short = [p for p in w.seasons if 2 * p > n_train]
        if short:
            raise DataError(f"{source}: season {short[0]} (--seasons) needs two full cycles ({2 * short[0]} rows) in "
                            f"the training part, which has {n_train}; use more data or drop that period")
        return season, tuple(sorted({season, *w.seasons} - {1})), ()
    notes = []
    kept = []
    for p in natural_seasons(season, freq):
        if 2 * p <= n_train or p == season:
            kept.append(p)
        else:
            notes.append(f"season {p} left out: the training part's {n_train} rows hold fewer than two cycles")
    return season, tuple(kept), tuple(notes)


def lookback_candidates(seasons: tuple[int, ...], horizon: int, n_train: int) -> list[int]:
    """The season-aware lookbacks a series may get: :data:`MIN_LOOKBACK`, each season plus the horizon,
    and two main seasons, where the training part holds the span three times (and it stays within
    :data:`MAX_LOOKBACK`).

    Example:
        >>> lookback_candidates((24, 168), 24, 6000), lookback_candidates((52,), 24, 1500)
        ([48, 192], [48, 76, 104])
    """
    def fits(span: int) -> bool:
        return span <= MAX_LOOKBACK and 3 * (span + horizon) <= n_train

    spans = {p + horizon for p in seasons if fits(p + horizon)}
    if seasons and fits(2 * seasons[0]):
        spans.add(2 * seasons[0])
    return sorted({MIN_LOOKBACK, *(sp for sp in spans if sp >= horizon)})


def default_lookback(seasons: tuple[int, ...], horizon: int, n_train: int) -> int:
    """The longest of :func:`lookback_candidates`: the rule before the lookback was chosen by evidence (the
    fallback when no candidate can be scored, and what a plain ``prepare`` uses).

    ``season + horizon`` steps let a window see the same time one cycle back at every step it
    forecasts (hourly: 168 + 24); two cycles of the main season let it see its shape twice
    (weekly: 104).

    Example:
        >>> default_lookback((24, 168), 24, 6000), default_lookback((52,), 24, 1500), default_lookback((12,), 12, 400)
        (192, 104, 48)
    """
    return max(lookback_candidates(seasons, horizon, n_train))


#: Candidates whose validation loss is within this fraction of the best one count as tied; the
#: shortest of them is chosen (cheaper windows, fewer coefficients).
LOOKBACK_TIE = 0.005
#: Series of a panel the lookback is scored on, at most (evenly spread over the file's order).
LOOKBACK_SERIES = 40


def choose_lookback(scores: Mapping[int, float]) -> int:
    """The shortest lookback whose score is within :data:`LOOKBACK_TIE` of the lowest.

    Example:
        >>> choose_lookback({48: 0.30, 104: 0.2995, 192: 0.25})
        192
        >>> choose_lookback({48: 0.30, 104: 0.2995})
        48
    """
    best = min(scores.values())
    return min(c for c, v in scores.items() if v <= best * (1 + LOOKBACK_TIE))


def scored_series(panel: Panel) -> list[SeriesFrame]:
    """The series a lookback is scored on: every one, or :data:`LOOKBACK_SERIES` spread over the file."""
    series = list(panel.series)
    if len(series) > LOOKBACK_SERIES:
        series = [series[i] for i in np.linspace(0, len(series) - 1, LOOKBACK_SERIES).round().astype(int)]
    return series


def window_lookback(cfg: RunConfig, series: SeriesFrame) -> int:
    """``window.lookback``, or :func:`default_lookback` for this series when it is null."""
    if cfg.window.lookback is not None:
        return cfg.window.lookback
    n_train = training_rows(cfg, len(series.frame))
    _season, seasons, _notes = seasons_for(cfg, series.freq, n_train, series.path)
    return default_lookback(seasons, cfg.window.horizon, n_train)


def _median_series(panel: Panel) -> SeriesFrame:
    lengths = np.array([len(s.frame) for s in panel.series])
    return panel.series[int(np.argsort(lengths, kind="stable")[len(lengths) // 2])]


def median_series(panel: Panel) -> SeriesFrame:
    """The file's series of median length (the series itself for a file of one)."""
    return _median_series(panel)


def lookback_for(cfg: RunConfig, panel: Panel) -> int:
    """``window.lookback``, or :func:`default_lookback` for the file's series of median length (the series
    itself for a file of one). A run chooses among the candidates by evidence instead
    (:func:`forecaster.models.network.residual.lookback_choice`)."""
    return window_lookback(cfg, _median_series(panel))
