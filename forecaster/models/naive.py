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

from typing import TYPE_CHECKING, Any

import numpy as np

from forecaster.models.contract import Capabilities, Kind

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.data.prepared import Prepared, PreparedSeries

__all__ = ["naive", "seasonal_naive", "Naive", "SeasonalNaive"]


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

    def on(self, item: PreparedSeries) -> Naive:
        return self

    def spec(self) -> dict[str, Any]:
        """What a saved row records (nothing is learned)."""
        return {"name": self.name}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Naive:
        return cls()

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

    def on(self, item: PreparedSeries) -> SeasonalNaive:
        return self

    def spec(self) -> dict[str, Any]:
        """What a saved row records: its period."""
        return {"name": self.name, "season": int(self.season_)}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> SeasonalNaive:
        """The saved row (its ``season`` checked: an integer >= 1).

        Raises:
            ValueError: the season is missing or out of range.
        """
        season = spec.get("season")
        if not isinstance(season, int) or isinstance(season, bool) or season < 1:
            raise ValueError(f"'season' must be an integer >= 1, got {str(season)[:40]!r}")
        model = cls(season)
        model.season_ = season
        return model

    def predict(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        return seasonal_naive(np.asarray(values)[:, 0], origins, horizon, season=self.season_)
