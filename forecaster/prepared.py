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
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecaster import baselines, metrics
from forecaster.config import RunConfig
from forecaster.data import SeriesFrame, load_series
from forecaster.errors import DataError
from forecaster.windows import Scaler, Split, make_dataset, split, target_windows

__all__ = ["Prepared", "prepare", "load", "describe", "future_index"]


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
        least-squares start of its linear correction when ``linear``."""
        sp = self.split
        train, first = self.scaled[: sp.train_end], sp.first_targets("train")
        base = baselines.residual_base(train[:, 0], first, steps, season=self.season, lookback=sp.lookback)
        if not linear:
            return base
        return dataclasses.replace(base, linear=baselines.linear_correction(train, first, steps, base, lookback=sp.lookback))

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


def load(cfg: RunConfig) -> SeriesFrame:
    """Load and validate the configured series."""
    d = cfg.data
    return load_series(
        d.path, target=d.target, time_col=d.time_col, covariates=d.covariates, missing=d.missing, freq=d.freq
    )


def prepare(cfg: RunConfig, series: SeriesFrame | None = None, *, sp: Split | None = None) -> Prepared:
    """Split and scale the series once for every cell of a run.

    Args:
        cfg: the resolved configuration.
        series: an already loaded series (default: load ``cfg.data``).
        sp: an explicit split (a backtest fold); its ``n`` may be shorter than the series, which
            is then cut at ``sp.n`` so nothing after the fold is even held in memory.
    """
    series = series if series is not None else load(cfg)
    w = cfg.window
    values = series.frame.to_numpy(dtype=np.float64)
    if sp is None:
        sp = split(len(values), lookback=w.lookback, horizon=w.horizon, val=w.val, test=w.test, source=series.path)
    values = values[: sp.n]
    scaler = Scaler(series.columns).fit(values[: sp.train_end])
    season = w.season or metrics.infer_season(series.freq)
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
    )


def describe(prep: Prepared) -> str:
    """One line: the data, its frequency and season, and the window counts per part."""
    sp = prep.split
    return (
        f"data: {prep.series.path} ({sp.n} rows, freq {prep.series.freq}, season {prep.season}); windows "
        f"train {len(sp.starts('train'))} / val {len(sp.starts('val'))} / test {len(sp.starts('test'))}"
    )
