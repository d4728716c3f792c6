"""The prepared inputs of a run: the series loaded, split by time, scaled on the training rows.

Every model of a run (network, baseline, statistical) is fitted and scored on one
:class:`Prepared`: the same split, the same scaler, the same windows and the same MASE scale.

Example:
    >>> from forecaster import config
    >>> prep = prepare(config.resolve())  # doctest: +SKIP
    >>> prep.split.train_end, prep.season  # doctest: +SKIP
    (6132, 24)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecaster import baselines, metrics
from forecaster.config import RunConfig
from forecaster.data import SeriesFrame, calendar_features, load_series
from forecaster.errors import DataError
from forecaster.windows import Scaler, Split, make_dataset, split, target_windows

__all__ = ["Prepared", "prepare", "load", "describe", "future_index", "seasons_for", "default_lookback",
           "window_lookback", "lookback_candidates", "lookback_scores", "choose_lookback", "lookback_choice",
           "LOOKBACK_SERIES", "LOOKBACK_TIE", "training_rows", "MIN_LOOKBACK", "MAX_LOOKBACK", "input_columns",
           "input_values"]


@dataclass(frozen=True)
class Prepared:
    """The shared inputs of every model in a run: one split, one scaler, one set of windows.

    Attributes:
        series: the loaded series.
        split: the chronological split (row bounds, lookback, horizon).
        scaler: fitted on the training rows only.
        values: ``(n, n_features)`` float64 rows in the original units, target in column 0.
        scaled: the same rows scaled (float32), what the networks train on.
        season: the seasonal period (seasonal naive, MASE).
        y: the target column of ``values``.
        test_targets: ``(n_test_windows, horizon)`` targets of the test windows, original units.
    """

    series: SeriesFrame
    split: Split
    scaler: Scaler
    scaled: np.ndarray
    season: int
    y: np.ndarray
    test_targets: np.ndarray
    values: np.ndarray
    seasons: tuple[int, ...] = ()  # every period the models may use (season first among them), see seasons_for
    season_notes: tuple[str, ...] = ()  # inferred periods left out, and why
    calendar: bool = False  # calendar inputs were added (see input_values)
    lookback_scores: Mapping[int, float] = dataclasses.field(default_factory=dict)  # candidate -> linear val loss

    @property
    def columns(self) -> list[str]:
        """The input columns of ``values``: target, past covariates, known covariates, calendar inputs."""
        return list(self.scaler.columns)

    @property
    def has_future_inputs(self) -> bool:
        """Known covariates or calendar inputs: a window's last rows carry values of the steps it forecasts."""
        return bool(self.series.known) or self.calendar

    def origins(self, part: str) -> np.ndarray:
        """The forecast origin (first target row) of every window of ``part``."""
        return self.split.first_targets(part)

    def targets(self, part: str) -> np.ndarray:
        """``(n_windows, horizon)`` targets of ``part``'s windows, original units."""
        if part == "test":
            return self.test_targets
        return target_windows(self.y, self.origins(part), self.split.horizon)

    def residual_base(self, steps: int, *, linear: bool = True) -> baselines.ResidualBase:
        """The baseline a residual network corrects, chosen on the training windows only, with the
        least-squares start of its linear correction when ``linear`` (its ridge penalty chosen on the
        validation windows, :func:`forecaster.baselines.linear_start`)."""
        sp = self.split
        train, first = self.scaled[: sp.train_end], sp.first_targets("train")
        base = baselines.residual_base(train[:, 0], first, steps, season=self.season, lookback=sp.lookback,
                                       seasons=self.seasons)
        if not linear:
            return base
        start = baselines.linear_start(self.scaled[: sp.val_end], first, sp.first_targets("val"), steps, base,
                                       lookback=sp.lookback)
        return dataclasses.replace(base, linear=(start.kernel, start.bias), start=start)

    @property
    def insample(self) -> np.ndarray:
        """The training part of the target (scales MASE)."""
        return self.y[: self.split.train_end]

    def dataset(self, part: str, *, batch_size: int, shuffle: bool = False, seed: int | None = None) -> Any:
        sp = self.split
        return make_dataset(
            self.scaled, sp.starts(part), lookback=sp.lookback, horizon=sp.horizon,
            batch_size=batch_size, shuffle=shuffle, seed=seed,
        )


def future_index(last: pd.Timestamp, freq: str, horizon: int, name: str | None = None) -> pd.DatetimeIndex:
    """The ``horizon`` timestamps after ``last`` on the series' frequency."""
    return pd.date_range(last, periods=horizon + 1, freq=freq, name=name)[1:]


#: The default lookback's bounds (steps): at least the former fixed default, at most what keeps a
#: recurrent cell's windows cheap (a half-hourly week, 336 steps, plus a 48-step horizon fits).
MIN_LOOKBACK, MAX_LOOKBACK = 48, 400


def training_rows(cfg: RunConfig, n: int) -> int:
    """Rows of the training part of an ``n``-row series under ``cfg``'s split (the lookback plays no role)."""
    from forecaster.windows import _rows

    w = cfg.window
    return n - _rows(w.val, n) - _rows(w.test, n)


def seasons_for(cfg: RunConfig, freq: str, n_train: int, source: str) -> tuple[int, tuple[int, ...], tuple[str, ...]]:
    """The main season (MASE, seasonal naive), every season the models may use, and notes on the ones left out.

    Inferred periods (:func:`forecaster.metrics.natural_seasons`) are kept when the training part
    holds at least two full cycles; periods given in ``window.seasons`` must be, or the data is refused.

    Raises:
        DataError: a given period is longer than half the training part.
    """
    w = cfg.window
    season = w.season or metrics.infer_season(freq)
    if w.seasons is not None:
        short = [p for p in w.seasons if 2 * p > n_train]
        if short:
            raise DataError(f"{source}: season {short[0]} (--seasons) needs two full cycles ({2 * short[0]} rows) in "
                            f"the training part, which has {n_train}; use more data or drop that period")
        return season, tuple(sorted({season, *w.seasons} - {1})), ()
    notes = []
    kept = []
    for p in metrics.natural_seasons(season, freq):
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
    """The longest of :func:`lookback_candidates`: the former fixed rule (kept for ``--lookback`` help
    and as the fallback when no candidate can be scored).

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


def lookback_scores(cfg: RunConfig, series: list[SeriesFrame], candidates: list[int]) -> dict[int, float]:
    """Validation loss of the ``linear`` row per candidate lookback, averaged over ``series``.

    For each series and candidate: the series split as a run would split it, scaled on its training
    rows, the residual base chosen on its training windows and the linear start fitted there with
    its ridge chosen on the validation windows (:func:`forecaster.baselines.linear_start`); its
    validation MSE (scaled units) is the score. Every candidate is scored on the same validation
    targets (a window belongs to the part holding its first target, whatever its lookback). A
    series too short for a candidate is left out of every candidate's mean. Test rows are never read.
    """
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
                base = baselines.residual_base(scaled[: sp.train_end, 0], first, w.horizon, season=season,
                                               lookback=c, seasons=seasons)
                start = baselines.linear_start(scaled[: sp.val_end], first, sp.first_targets("val"), w.horizon,
                                               base, lookback=c)
                scores[c] = start.val_loss
        except (DataError, ValueError, np.linalg.LinAlgError):
            continue
        for c, v in scores.items():
            per[c].append(v)
    return {c: float(np.mean(v)) for c, v in per.items() if v and np.isfinite(np.mean(v))}


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


def lookback_choice(cfg: RunConfig, series: list[SeriesFrame], n_train: int) -> tuple[int, dict[int, float]]:
    """``window.lookback``, or the candidate (:func:`lookback_candidates`) whose ``linear`` row has the
    lowest validation loss (:func:`lookback_scores`), with every candidate's score.

    Why: a fixed rule (the longest season-aware span) gave the weekly CO2 series 104 steps, where
    48 scored better, and made every recurrent cell pay for 360 steps on a half-hourly year. The
    linear row's validation loss is one least-squares solve per candidate (about a second for a
    half-hourly year), and the network starts from that row.
    """
    if cfg.window.lookback is not None:
        return cfg.window.lookback, {}
    first = series[0]
    _season, seasons, _notes = seasons_for(cfg, first.freq, n_train, first.path)
    candidates = lookback_candidates(seasons, cfg.window.horizon, n_train)
    if len(candidates) == 1:
        return candidates[0], {}
    scores = lookback_scores(cfg, series, candidates)
    if not scores:
        return max(candidates), {}
    return choose_lookback(scores), scores


def window_lookback(cfg: RunConfig, series: SeriesFrame) -> int:
    """``window.lookback``, or the lookback chosen by :func:`lookback_choice` for this series when it is null."""
    return lookback_choice(cfg, [series], training_rows(cfg, len(series.frame)))[0]


def load(cfg: RunConfig) -> SeriesFrame:
    """Load and validate the configured series.

    Raises:
        DataError: also for a panel (``data.id_col``), which :mod:`forecaster.panel` loads.
    """
    d = cfg.data
    if d.id_col is not None:
        raise DataError(f"{d.path}: --id-col (a file of many series) works with `forecast train`, `compare`, "
                        "`predict`, `retrain` and `schedule`; backtest takes one series per file for now")
    return load_series(
        d.path, target=d.target, time_col=d.time_col, covariates=d.covariates, missing=d.missing, freq=d.freq,
        known=d.known_covariates,
    )


def input_columns(series: SeriesFrame, calendar: bool) -> list[str]:
    """The model's input columns: the target, past covariates, known covariates, then calendar inputs."""
    extra = list(calendar_features(series.frame.index[:1], series.freq).columns) if calendar else []
    return [*series.columns, *extra]


def input_values(series: SeriesFrame, horizon: int, *, calendar: bool = False,
                 future: pd.DataFrame | None = None) -> np.ndarray:
    """``(n, n_inputs)`` float64 rows in the original units, columns as :func:`input_columns`.

    Known covariates and calendar inputs are *led* by the horizon: row ``t`` holds their values at
    ``t + horizon``. A window ending at row ``o - 1`` then carries, in its last ``horizon`` rows,
    their values at the steps ``o .. o + horizon - 1`` it forecasts, with no change to the
    window's shape. The last ``horizon`` rows of a known covariate come from ``future`` (the
    values after the end, by timestamp) and are NaN without it; calendar inputs are always known.

    Example:
        >>> import pandas as pd
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


def prepare(cfg: RunConfig, series: SeriesFrame | None = None, *, sp: Split | None = None,
            static_stats: Mapping[str, tuple[float, float]] | None = None) -> Prepared:
    """Split and scale the series once for every cell of a run.

    Args:
        cfg: the resolved configuration.
        series: an already loaded series (default: load ``cfg.data``).
        sp: an explicit split (a backtest fold); its ``n`` may be shorter than the series, which
            is then cut at ``sp.n`` so nothing after the fold is even held in memory.
        static_stats: a panel's static covariates: ``column -> (mean, scale)`` over its series,
            used in place of this series' own statistics (a constant column scaled by itself
            would be 0 in every series, and tell them apart no longer).
    """
    series = series if series is not None else load(cfg)
    w = cfg.window
    calendar = cfg.data.calendar
    values = input_values(series, w.horizon, calendar=calendar)
    scores: Mapping[int, float] = {}
    if sp is None:
        lookback, scores = lookback_choice(cfg, [series], training_rows(cfg, len(series.frame)))
        sp = split(len(values), lookback=lookback, horizon=w.horizon, val=w.val, test=w.test, source=series.path)
    if (series.known or calendar) and sp.lookback < w.horizon:
        raise DataError(f"{series.path}: lookback {sp.lookback} is shorter than the horizon {w.horizon}; known "
                        "covariates and calendar inputs need lookback >= horizon (a window's last rows carry the "
                        "values of the steps it forecasts): raise --lookback")
    values = values[: sp.n]
    scaler = Scaler(input_columns(series, calendar)).fit(values[: sp.train_end])
    for col in series.static:
        if static_stats is None or col not in static_stats:
            raise DataError(f"{series.path}: static covariate '{col}' has no statistics over the panel's series")
        j = scaler.columns.index(col)
        scaler.mean_[j], scaler.scale_[j] = static_stats[col]
    season, seasons, notes = seasons_for(cfg, series.freq, sp.train_end, series.path)
    first = sp.first_targets("test")
    if season > int(first.min()):
        raise DataError(
            f"{series.path}: season {season} is longer than the {int(first.min())} rows before the test part; "
            "set window.season (--season) to a shorter cycle or use more data"
        )
    y = values[:, 0]
    return Prepared(
        series=series, split=sp, scaler=scaler, scaled=scaler.transform(values),
        season=season, y=y, test_targets=target_windows(y, first, w.horizon), values=values,
        seasons=seasons, season_notes=notes, calendar=calendar, lookback_scores=scores,
    )


def describe(prep: Prepared) -> str:
    """One line: the data, its frequency and season, and the window counts per part."""
    sp = prep.split
    extra = [p for p in prep.seasons if p != prep.season]
    seasons = f"season {prep.season}" + (f", also {','.join(map(str, extra))}" if extra else "")
    return (
        f"data: {prep.series.path} ({sp.n} rows{', ' + prep.series.filled_note if prep.series.filled_note else ''}, "
        f"freq {prep.series.freq}, {seasons}; lookback {sp.lookback}); "
        f"windows train {len(sp.starts('train'))} / val {len(sp.starts('val'))} / test {len(sp.starts('test'))}"
    )
