"""Prediction intervals by split conformal prediction, and how well they cover.

Every model of a leaderboard gets the same intervals, with no distributional assumption: the
absolute errors of its forecasts on the *validation* windows give, per horizon step, the
radius that covers a share ``level`` of them (the conformal quantile, rank
``ceil((n + 1) * level / 100)`` of ``n``). A forecast ``yhat`` then carries
``[yhat - r, yhat + r]`` at each level. The test windows are never used to calibrate; they
measure the result: empirical coverage against nominal, mean width and the Winkler score
(width plus ``2 / alpha`` times any miss; lower is better).

Validation windows overlap and errors are not exchangeable in time, so the guarantee is
approximate; the measured test coverage says how far off it is on each series.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.normal(size=(500, 3)); yhat = np.zeros((500, 3))
    >>> cal = calibrate(y, yhat, (80, 95))
    >>> [round(r, 1) for r in cal.radius_of(80)]
    [1.2, 1.2, 1.3]
    >>> scores = evaluate(rng.normal(size=(2000, 3)), np.zeros((2000, 3)), cal)
    >>> round(scores[80]["coverage"], 2), round(scores[95]["coverage"], 2)
    (0.79, 0.95)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecaster.errors import ArtifactError

__all__ = ["METHOD", "SCALE_UNITS", "Calibration", "calibrate", "measure", "evaluate", "flat", "flat_keys", "FLAT_KEYS",
           "coverage_columns",
           "percent", "min_windows", "SERIES_COVERAGE", "series_coverage_keys",
           "column_names", "parse_levels"]

#: ``method`` of a saved calibration: what :func:`calibrate` computes.
METHOD = "split-conformal-abs-error-per-step"

#: ``scale_unit`` of a scaled calibration: each series' in-sample seasonal-naive MAE (the MASE scale).
SCALE_UNITS = ("mase",)


def min_windows(level: int) -> int:
    """Calibration windows needed for the conformal guarantee at ``level`` % (95 -> 19, 80 -> 4).

    With fewer, the rank ``ceil((n + 1) * level / 100)`` exceeds ``n`` and the radius used is the
    largest validation error: an interval without its guarantee.
    """
    return math.ceil(level / (100 - level))


def _rank(n: int, level: int) -> int:
    """The conformal rank (1-based) of ``n`` sorted scores at an integer ``level`` (exact arithmetic)."""
    return min(n, -(-(n + 1) * level // 100))


@dataclass(frozen=True)
class Calibration:
    """Interval radii per level and horizon step, in the target's units (plain JSON when saved).

    Attributes:
        levels: nominal coverage in percent, ascending (e.g. ``(80, 95)``).
        radius: per level, the half-width of the interval at each horizon step.
        n_windows: validation windows the radii were computed from.
    """

    levels: tuple[int, ...]
    radius: tuple[tuple[float, ...], ...]
    n_windows: int
    #: radii in units of each series' own scale (a panel's pooled calibration): multiply by a series' scale
    #: (``bands(..., scale=)``, :meth:`scale_of`) to get its interval
    scaled: bool = False
    #: each series' scale, by id (a scaled calibration saved since the scales were recorded with it)
    scales: tuple[tuple[str, float], ...] = ()
    #: what :attr:`scales` measure: ``"mase"`` (each series' in-sample seasonal-naive MAE, since issue 26) or
    #: ``None`` (a run saved before: each series' standard deviation over its training rows)
    scale_unit: str | None = None
    #: no bound below 0 (a target never negative in training, or declared so): :meth:`bands` clips both bounds at 0
    nonnegative: bool = False

    def scale_of(self, series_id: str | None, default: float = 1.0) -> float:
        """The scale a series' radii are multiplied by (1 for an unscaled calibration; ``default`` for a series
        the calibration does not list: a run saved before the scales were recorded)."""
        if not self.scaled:
            return 1.0
        return dict(self.scales).get(str(series_id), default)

    @property
    def horizon(self) -> int:
        return len(self.radius[0]) if self.radius else 0

    def radius_of(self, level: int) -> tuple[float, ...]:
        return self.radius[self.levels.index(level)]

    def guaranteed(self, level: int) -> bool:
        """Whether there were enough validation windows for the conformal rank at ``level``."""
        return self.n_windows >= min_windows(level)

    def bands(self, yhat: np.ndarray, levels: Sequence[int] | None = None, *,
              scale: float | np.ndarray = 1.0) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """``{level: (lo, hi)}`` around forecasts ``yhat`` of shape ``(..., steps)``, ``steps <= horizon``
        (radii times ``scale``: a series' scale, or one per row, when :attr:`scaled`); both bounds clipped at 0
        when :attr:`nonnegative`."""
        yhat = np.asarray(yhat, dtype=np.float64)
        steps = yhat.shape[-1]
        if steps > self.horizon:
            raise ValueError(f"calibrated for {self.horizon} steps, asked for {steps}")
        out = {}
        for level in self.levels if levels is None else levels:
            r = np.asarray(self.radius_of(level)[:steps]) * np.asarray(scale, dtype=np.float64)
            lo, hi = yhat - r, yhat + r
            out[level] = (np.maximum(lo, 0.0), np.maximum(hi, 0.0)) if self.nonnegative else (lo, hi)
        return out

    def columns(self, yhat: np.ndarray, levels: Sequence[int] | None = None, *,
                scale: float | np.ndarray = 1.0) -> dict[str, np.ndarray]:
        """The output columns ``lo-80, hi-80, lo-95, hi-95`` (statsforecast's names) for 1-D ``yhat``."""
        cols: dict[str, np.ndarray] = {}
        for level, (lo, hi) in self.bands(yhat, levels, scale=scale).items():
            lo_name, hi_name = column_names(level)
            cols[lo_name], cols[hi_name] = lo, hi
        return cols

    def warnings(self) -> list[str]:
        """One line per level calibrated on too few windows for its guarantee."""
        return [f"the {level}% interval is calibrated on {self.n_windows} validation window(s), fewer than the "
                f"{min_windows(level)} its conformal guarantee needs: it is the largest validation error, "
                "its coverage not guaranteed (use a longer validation part, --val)"
                for level in self.levels if not self.guaranteed(level)]

    def to_dict(self) -> dict[str, Any]:
        return {"method": METHOD, "levels": list(self.levels), "n_windows": self.n_windows,
                "radius": {str(level): list(r) for level, r in zip(self.levels, self.radius)},
                **({"scaled": True} if self.scaled else {}),
                **({"scales": dict(self.scales)} if self.scales else {}),
                **({"scale_unit": self.scale_unit} if self.scale_unit else {}),
                **({"nonnegative": True} if self.nonnegative else {})}

    @classmethod
    def from_dict(cls, raw: Any, *, source: str = "calibration", horizon: int | None = None) -> Calibration:
        """Rebuild a saved calibration, checking every field (a tampered file is refused, not served).

        Raises:
            ArtifactError: naming ``source`` and the field.
        """
        def bad(what: str) -> ArtifactError:
            return ArtifactError(f"{source}: {what}; retrain or pick another run")

        if not isinstance(raw, dict) or raw.get("method") != METHOD:
            raise bad(f"not a calibration of method {METHOD!r}")
        levels, n, radius = raw.get("levels"), raw.get("n_windows"), raw.get("radius")
        if (not isinstance(levels, list) or not levels
                or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 99 for v in levels)
                or sorted(set(levels)) != levels):
            raise bad(f"'levels' must be ascending integers in 1..99, got {str(levels)[:80]}")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            raise bad(f"'n_windows' must be an integer >= 1, got {str(n)[:40]}")
        if not isinstance(radius, dict) or sorted(radius) != sorted(str(v) for v in levels):
            raise bad("'radius' must hold one list per level")
        rows = []
        for level in levels:
            r = radius[str(level)]
            if (not isinstance(r, list) or not r or (horizon is not None and len(r) != horizon)
                    or not all(_finite_nonnegative(v) for v in r)):
                want = f"{horizon} " if horizon is not None else ""
                raise bad(f"'radius' of level {level} must be {want}finite numbers >= 0")
            rows.append(tuple(float(v) for v in r))
        if len({len(r) for r in rows}) != 1:
            raise bad("'radius' lists differ in length")
        if any(any(a > b for a, b in zip(lo, hi)) for lo, hi in zip(rows, rows[1:])):
            raise bad("a higher level has a narrower interval")
        scaled = raw.get("scaled", False)
        if not isinstance(scaled, bool):
            raise bad(f"'scaled' must be true or false, got {str(scaled)[:40]}")
        scales = raw.get("scales", {})
        if not isinstance(scales, dict) or not all(isinstance(k, str) and _finite_nonnegative(v) and v > 0
                                                   for k, v in scales.items()):
            raise bad("'scales' must map series ids to finite numbers > 0")
        unit = raw.get("scale_unit")
        if unit is not None and unit not in SCALE_UNITS:
            raise bad(f"'scale_unit' must be one of {', '.join(SCALE_UNITS)}, got {str(unit)[:40]}")
        nonnegative = raw.get("nonnegative", False)
        if not isinstance(nonnegative, bool):
            raise bad(f"'nonnegative' must be true or false, got {str(nonnegative)[:40]}")
        return cls(levels=tuple(levels), radius=tuple(rows), n_windows=n, scaled=scaled,
                   scales=tuple((k, float(v)) for k, v in scales.items()), scale_unit=unit, nonnegative=nonnegative)


def _finite_nonnegative(v: Any) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v)) and v >= 0
    except OverflowError:  # an integer too large for a float
        return False


def column_names(level: int) -> tuple[str, str]:
    """``("lo-80", "hi-80")``."""
    return f"lo-{level}", f"hi-{level}"


def calibrate(y_true: np.ndarray, y_pred: np.ndarray, levels: Sequence[int]) -> Calibration:
    """Conformal radii per horizon step from calibration windows ``(n, horizon)`` (validation, never test).

    Raises:
        ValueError: no windows, mismatched shapes, non-finite errors, or a level outside 1..99.
    """
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape or y_true.ndim != 2 or len(y_true) == 0:
        raise ValueError(f"calibration needs matching (windows, horizon) arrays, got {y_true.shape} and {y_pred.shape}")
    errors = np.abs(y_true - y_pred)
    if not np.isfinite(errors).all():
        raise ValueError("calibration errors are not finite (a forecast is NaN or inf)")
    levels = sorted(set(int(v) for v in levels))
    if any(not 1 <= v <= 99 for v in levels):
        raise ValueError(f"levels must lie in 1..99, got {levels}")
    ordered = np.sort(errors, axis=0)
    n = len(errors)
    radius = tuple(tuple(float(v) for v in ordered[_rank(n, level) - 1]) for level in levels)
    return Calibration(levels=tuple(levels), radius=radius, n_windows=n)


def measure(y_true: np.ndarray, lo: np.ndarray, hi: np.ndarray, level: int) -> dict[str, Any]:
    """Coverage, its gap to nominal, mean width and Winkler score of one level's bounds (any intervals).

    ``coverage_gap`` is coverage minus nominal (negative: the interval is too narrow); the Winkler
    score is the width plus ``2 / alpha`` times the distance of each miss (lower is better).
    """
    y = np.asarray(y_true, dtype=np.float64)
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    alpha = 1 - level / 100
    inside = (y >= lo) & (y <= hi)
    penalty = (2 / alpha) * (np.maximum(lo - y, 0) + np.maximum(y - hi, 0))
    coverage = float(inside.mean())
    return {"coverage": coverage, "coverage_gap": coverage - level / 100, "width": float((hi - lo).mean()),
            "winkler": float((hi - lo + penalty).mean()),
            "coverage_per_step": [float(v) for v in inside.reshape(len(y), -1).mean(axis=0)]}


def evaluate(y_true: np.ndarray, y_pred: np.ndarray, cal: Calibration) -> dict[int, dict[str, Any]]:
    """:func:`measure` for each calibrated level on held-out windows ``(n, horizon)``."""
    return {level: measure(y_true, lo, hi, level) for level, (lo, hi) in cal.bands(y_pred).items()}


def flat(scores: dict[int, dict[str, Any]]) -> dict[str, float]:
    """Leaderboard columns of :func:`evaluate`'s result: ``coverage_80``, ``width_80``, ``winkler_80``..."""
    return {f"{key}_{level}": s[key] for level, s in scores.items() for key in FLAT_KEYS}


#: The leaderboard's interval columns, per level: ``coverage_80``, ``width_80``, ``winkler_80``.
FLAT_KEYS = ("coverage", "width", "winkler")


def flat_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The interval columns present in leaderboard ``rows``, by level then key (``coverage_80``, ...)."""
    found = {k for r in rows for k in r if k.partition("_")[0] in FLAT_KEYS and k.partition("_")[2].isdigit()}
    return sorted(found, key=lambda k: (int(k.partition("_")[2]), FLAT_KEYS.index(k.partition("_")[0])))


#: Per-series coverage columns of a panel's rows, per level: ``coverage_80_median``, ``coverage_80_min`` (the worst
#: series) and ``coverage_80_min_series`` (its id).
SERIES_COVERAGE = ("median", "min", "min_series")


def series_coverage_keys(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The per-series coverage columns present in ``rows`` (:data:`SERIES_COVERAGE`), by level.

    Example:
        >>> series_coverage_keys([{"coverage_95_min": 0.6, "coverage_80_median": 0.8, "coverage_80": 0.8}])
        ['coverage_80_median', 'coverage_95_min']
    """
    found = set()
    for r in rows:
        for k in r:
            head, _, rest = k.partition("_")
            level, _, tail = rest.partition("_")
            if head == "coverage" and level.isdigit() and tail in SERIES_COVERAGE:
                found.add(k)
    return sorted(found, key=lambda k: (int(k.split("_")[1]), SERIES_COVERAGE.index(k.split("_", 2)[2])))


def coverage_columns(rows: Sequence[dict[str, Any]]) -> list[tuple[str, int]]:
    """``(column, level)`` of every coverage column in ``rows``: ``[("coverage_80", 80), ...]``."""
    return [(k, int(k.partition("_")[2])) for k in flat_keys(rows) if k.startswith("coverage_")]


def percent(fraction: float) -> str:
    """A coverage as the tables print it: ``0.852`` -> ``'85.2%'``."""
    return f"{100 * fraction:.1f}%"


def parse_levels(levels: Sequence[int], where: str = "--levels") -> tuple[int, ...]:
    """Sorted unique levels, each an integer percent in 1..99.

    Raises:
        ValueError: naming ``where``.

    Example:
        >>> parse_levels([95, 80, 95])
        (80, 95)
    """
    out = sorted(set(levels))
    bad = [v for v in out if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 99]
    if bad:
        raise ValueError(f"{where}: expected integer percentages in 1..99 (e.g. 80,95), got {bad[0]!r}")
    return tuple(out)
