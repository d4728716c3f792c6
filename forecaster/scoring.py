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

from forecaster import metrics
from forecaster.errors import ForecasterError

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    from forecaster.contract import Model
    from forecaster.prepared import Prepared

__all__ = ["score", "predict_part", "score_model", "Scored", "fit_and_score", "METRIC_KEYS"]

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


@dataclass
class Scored:
    """One model fitted and scored: its scores (or why it has none) and its seconds."""

    model: Model
    scores: dict[str, Any] = field(default_factory=dict)
    pred: np.ndarray | None = None
    fit_seconds: float | None = None
    predict_seconds: float | None = None
    error: str | None = None

    @property
    def name(self) -> str:
        return self.model.name


def _failed(reason: str) -> dict[str, Any]:
    return {**dict.fromkeys(METRIC_KEYS), "per_step_mae": None, "warnings": [], "error": reason}


def fit_and_score(models: Sequence[Model], prep: Prepared, part: str = "test") -> list[Scored]:
    """Fit each model on ``prep`` and score it on ``part``; a failure is a row with its reason.

    Expected failures (the library's typed errors, a model's own ``ValueError``) become rows; a
    bug elsewhere still surfaces.
    """
    out = []
    for model in models:
        t0 = time.perf_counter()
        try:
            model.fit(prep)
            t1 = time.perf_counter()
            pred = predict_part(model, prep, part)
            t2 = time.perf_counter()
        except (ForecasterError, ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            reason = str(exc).splitlines()[0][:300] if str(exc).strip() else exc.__class__.__name__
            out.append(Scored(model, _failed(f"{model.name} failed: {reason}"), error=reason))
            continue
        scores = score(prep, pred, part)
        scores.update(fit_seconds=t1 - t0, predict_seconds=t2 - t1)
        out.append(Scored(model, scores, pred, t1 - t0, t2 - t1))
    return out
