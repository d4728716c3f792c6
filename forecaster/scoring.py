"""One scoring path: any model of the contract, on the windows of a part, in the original units.

Train, compare, backtest (refit or fixed) and the retrain gate all score through
:func:`score_model`: the model forecasts at every origin of the part from ``prep.values``
(rows before each origin only) and :func:`score` computes every metric against the part's
targets with the training part's MASE scale, collecting undefined-metric warnings instead of
raising them. :func:`fit_and_score` does the same for a list of models and turns a model that
fails to fit or predict into a row with its one-line reason, never a crash.

Example:
    >>> from forecaster import config
    >>> from forecaster.baselines import Naive
    >>> from forecaster.prepared import prepare
    >>> prep = prepare(config.resolve())  # doctest: +SKIP
    >>> round(score_model(Naive().fit(prep), prep)["mase"], 3)  # doctest: +SKIP
    14.215
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from forecaster import intervals, metrics
from forecaster.errors import ForecasterError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Sequence

    from forecaster.contract import Model
    from forecaster.prepared import Prepared

__all__ = ["score", "predict_part", "score_model", "Scored", "fit_and_score", "METRIC_KEYS", "calibrate_model",
           "add_intervals", "calibrate_and_measure", "calibration_windows", "MAX_CALIBRATION_WINDOWS"]

#: Metric keys of every scores dict (``per_step_mae`` and ``warnings`` come with them).
METRIC_KEYS = ("mae", "rmse", "smape", "mape", "mase")


def score(prep: Prepared, y_pred: np.ndarray, part: str = "test") -> dict[str, Any]:
    """Every metric of ``y_pred`` against ``part``'s targets; warnings listed under ``"warnings"``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", metrics.MetricWarning)
        scores = metrics.score(prep.targets(part), y_pred, insample=prep.insample, season=prep.season)
    scores["warnings"] = sorted({str(c.message) for c in caught})
    return scores


def predict_part(model: Model, prep: Prepared, part: str = "test") -> np.ndarray:
    """``model``'s ``(n_windows, horizon)`` forecasts at every origin of ``part``."""
    return np.asarray(model.predict(prep.values, prep.origins(part), prep.split.horizon), dtype=np.float64)


def score_model(model: Model, prep: Prepared, part: str = "test") -> dict[str, Any]:
    """Score a fitted model on ``part``'s windows (see :func:`score`)."""
    return score(prep, predict_part(model, prep, part), part)


#: Validation windows at most that calibrate a model's intervals, spread evenly over the part:
#: enough for a 95 % rank many times over, and cheap for the statistical models, which forecast
#: origin by origin (ARIMA's test forecasts alone take 88 s on the hourly sample).
MAX_CALIBRATION_WINDOWS = 500


def calibration_windows(prep: Prepared) -> np.ndarray:
    """Indices of the validation windows that calibrate intervals (all, or an even spread of them)."""
    n = len(prep.origins("val"))
    if n <= MAX_CALIBRATION_WINDOWS:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, MAX_CALIBRATION_WINDOWS).round().astype(np.int64))


def calibrate_model(model: Model, prep: Prepared, levels: Sequence[int]) -> intervals.Calibration | None:
    """Conformal interval radii of a fitted model from its errors on the validation windows (never test).

    ``None`` when no levels are asked for.

    Raises:
        ValueError: the validation forecasts are not finite.
    """
    if not levels:
        return None
    idx = calibration_windows(prep)
    # a model fitted on the validation rows too (the statistical ones) calibrates with a twin that was not
    twin = model.calibration_model(prep) if hasattr(model, "calibration_model") else model
    pred = twin.predict(prep.values, prep.origins("val")[idx], prep.split.horizon)
    return intervals.calibrate(prep.targets("val")[idx], np.asarray(pred, dtype=np.float64), levels)


def add_intervals(scores: dict[str, Any], prep: Prepared, pred: np.ndarray, cal: intervals.Calibration | None,
                  part: str = "test") -> dict[str, Any]:
    """Add the intervals' measured coverage, width and Winkler score on ``part`` to ``scores`` (in place).

    ``scores["intervals"]`` holds every level's record (and the calibration's window count), and
    ``coverage_80``, ``width_80``, ``winkler_80``... are leaderboard columns.
    """
    if cal is None:
        return scores
    measured = intervals.evaluate(prep.targets(part), pred, cal)
    scores["intervals"] = {"n_calibration_windows": cal.n_windows,
                           **{str(level): {**m, "radius": list(cal.radius_of(level))} for level, m in measured.items()}}
    scores.update(intervals.flat(measured))
    scores["warnings"] = sorted({*scores.get("warnings", []), *cal.warnings()})
    return scores


def calibrate_and_measure(model: Model, prep: Prepared, pred: np.ndarray, scores: dict[str, Any],
                          levels: Sequence[int], part: str = "test") -> intervals.Calibration | None:
    """:func:`calibrate_model` then :func:`add_intervals`; a model whose validation forecasts are not
    finite keeps its point scores, with a warning instead of intervals."""
    try:
        cal = calibrate_model(model, prep, levels)
    except (ForecasterError, ValueError, ArithmeticError) as exc:
        scores["warnings"] = sorted({*scores.get("warnings", []), f"{model.name}: no intervals ({exc})"})
        return None
    add_intervals(scores, prep, pred, cal, part)
    return cal


@dataclass
class Scored:
    """One model fitted and scored: its scores (or why it has none) and its seconds."""

    model: Model
    scores: dict[str, Any] = field(default_factory=dict)
    pred: np.ndarray | None = None
    fit_seconds: float | None = None
    predict_seconds: float | None = None
    error: str | None = None
    calibration: intervals.Calibration | None = None

    @property
    def name(self) -> str:
        return self.model.name


def _failed(reason: str) -> dict[str, Any]:
    return {**dict.fromkeys(METRIC_KEYS), "per_step_mae": None, "warnings": [], "error": reason}


def fit_and_score(models: Sequence[Model], prep: Prepared, part: str = "test", *,
                  levels: Sequence[int] = (), progress: Callable[[str], None] | None = None) -> list[Scored]:
    """Fit each model on ``prep`` and score it on ``part``; a failure is a row with its reason.

    With ``levels``, each model's conformal intervals are calibrated on the validation windows
    and measured on ``part`` (see :func:`add_intervals`).

    ``progress`` receives a line when a statistical model starts (its fit, test forecasts and
    calibration took ~50 s on a half-hourly year, in silence before) and one per model when it
    is done, with its seconds.

    Expected failures (the library's typed errors, a model's own ``ValueError``) become rows; a
    bug elsewhere still surfaces.
    """
    out = []
    say = progress or (lambda _msg: None)
    for model in models:
        t0 = time.perf_counter()
        if hasattr(model, "history"):  # a statistical model: seconds to minutes
            say(f"baseline {model.name}: fitting on {prep.split.val_end:,} rows, forecasting "
                f"{len(prep.origins(part)):,} {part} origins{' and calibrating' if levels else ''}")
        out.append(_fit_and_score_one(model, prep, part, levels))
        done = out[-1]
        say(f"baseline {model.name}: {time.perf_counter() - t0:.1f}s"
            + (f" (MASE {done.scores['mase']:.3f})" if done.error is None and done.scores.get("mase") is not None else ""))
    return out


def _fit_and_score_one(model: Model, prep: Prepared, part: str, levels: Sequence[int]) -> Scored:
    """One model of :func:`fit_and_score`."""
    t0 = time.perf_counter()
    try:
        model.fit(prep)
        t1 = time.perf_counter()
        pred = predict_part(model, prep, part)
        t2 = time.perf_counter()
    except (ForecasterError, ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        reason = str(exc).splitlines()[0][:300] if str(exc).strip() else exc.__class__.__name__
        return Scored(model, _failed(f"{model.name} failed: {reason}"), error=reason)
    scores = score(prep, pred, part)
    scores.update(fit_seconds=t1 - t0, predict_seconds=t2 - t1)
    cal = calibrate_and_measure(model, prep, pred, scores, levels, part)
    return Scored(model, scores, pred, t1 - t0, t2 - t1, calibration=cal)
