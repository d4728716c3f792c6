"""One scoring path: any model of the contract, on every series' windows of a part, then pooled.

Train, compare, backtest (refit or fixed) and the retrain gate all score through :func:`score_row`:
the row is fitted (once for a global model, per series for a local one), each series is forecast
at every origin of the part from its own rows before each origin, and :func:`score` computes every
metric against that series' targets with its own training part's MASE scale, collecting
undefined-metric warnings instead of raising them. The per-series scores are then pooled (the
mean over series of each metric, the median MASE); a pool of one is that series' scores as they
are. A model that fails to fit or forecast is a row (or a series) with its one-line reason,
never a crash. Intervals are calibrated once per row, on every series' validation errors.

Example:
    >>> from forecaster import config
    >>> from forecaster.data.prepared import prepare
    >>> from forecaster.models.local import PerSeries
    >>> from forecaster.models.naive import Naive
    >>> prep = prepare(config.resolve())  # doctest: +SKIP
    >>> round(score_row(PerSeries(Naive), prep).scores["mase"], 3)  # doctest: +SKIP
    14.215
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from forecaster.evaluation import intervals, metrics
from forecaster.models.local import FAILURES, reason_of
from forecaster.types import Progress

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.data.prepared import Prepared, PreparedSeries
    from forecaster.models.contract import Forecaster, Model

__all__ = ["score", "predict_part", "Scored", "score_row", "series_table", "METRIC_KEYS", "calibration_windows",
           "MAX_CALIBRATION_WINDOWS", "POOLED_CALIBRATION_WINDOWS", "add_intervals", "failed_scores", "local_scale",
           "never_negative", "coverage_summary", "unit_losses", "unit_blocks", "SCALE_UNITS_TEXT", "NONNEGATIVE_NOTE"]

#: Metric keys of every scores dict (``per_step_mae`` and ``warnings`` come with them).
METRIC_KEYS = ("mae", "rmse", "smape", "mape", "mase")

#: Validation windows at most that calibrate a model's intervals on one series, spread evenly over
#: the part: enough for a 95 % rank many times over, and cheap for the statistical models, which
#: forecast origin by origin (ARIMA's test forecasts alone take 88 s on the hourly sample).
MAX_CALIBRATION_WINDOWS = 500

#: Validation windows calibrating one row's intervals over all series, at most (spread over the series).
POOLED_CALIBRATION_WINDOWS = 5000


def score(item: PreparedSeries, y_pred: np.ndarray, part: str = "test") -> dict[str, Any]:
    """Every metric of ``y_pred`` against ``part``'s targets of one series; warnings under ``"warnings"``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", metrics.MetricWarning)
        scores = metrics.score(item.targets(part), y_pred, insample=item.insample, season=item.season)
    scores["warnings"] = sorted({str(c.message) for c in caught})
    return scores


def predict_part(model: Forecaster, item: PreparedSeries, part: str = "test") -> np.ndarray:
    """``model``'s ``(n_windows, horizon)`` forecasts at every origin of one series' ``part``."""
    return np.asarray(model.predict(item.values, item.origins(part), item.split.horizon), dtype=np.float64)


def calibration_windows(item: PreparedSeries, cap: int = MAX_CALIBRATION_WINDOWS) -> np.ndarray:
    """Indices of one series' validation windows that calibrate intervals (all, or an even spread of ``cap``)."""
    n = len(item.origins("val"))
    if n <= cap:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, cap).round().astype(np.int64))


def failed_scores(reason: str) -> dict[str, Any]:
    """The scores of a row that has none, with its reason."""
    return {**dict.fromkeys(METRIC_KEYS), "per_step_mae": None, "warnings": [], "error": reason}


@dataclass
class Scored:
    """One row scored on every series: its per-series scores (``None`` where it failed), the pool,
    its calibration and its test forecasts.

    Attributes:
        model: the fitted row (what is saved and served).
        name, kind: the row's name and kind.
        per_series: aligned with ``prep.items``; ``None`` where the row failed on that series.
        scores: the pooled scores (a pool of one: that series' scores).
        calibration: the conformal calibration (``None`` without levels, or when it failed).
        errors: ``(series id, reason)`` of each series it failed on.
        preds: the test forecasts per series (``None`` where it failed).
        fit_seconds: seconds spent fitting the row.
    """

    model: Any
    name: str
    kind: str
    per_series: list[dict[str, Any] | None]
    scores: dict[str, Any]
    calibration: intervals.Calibration | None = None
    errors: list[tuple[str | None, str]] = field(default_factory=list)
    preds: list[np.ndarray | None] = field(default_factory=list)
    fit_seconds: float = 0.0

    @property
    def error(self) -> str | None:
        """Why the row has no scores at all (``None`` when it has some)."""
        return self.scores.get("error")


def _pool(per: Sequence[dict[str, Any] | None], errors: Sequence[tuple[str | None, str]], name: str, *,
          many: bool) -> dict[str, Any]:
    """Mean over series of each metric, the median MASE, the series scored, warnings and failures.

    The series of a file of one (``many`` false) are its scores (or its failure) as they are.
    """
    if not many:
        if per[0] is None:
            return failed_scores(f"{name} failed: {errors[0][1]}")
        return dict(per[0])
    ok = [s for s in per if s is not None]
    out: dict[str, Any] = {"series": len(ok), "warnings": []}
    for key in METRIC_KEYS:
        vals = np.array([s[key] for s in ok if s.get(key) is not None and np.isfinite(s[key])], dtype=np.float64)
        out[key] = float(vals.mean()) if vals.size else None
        if key == "mase":
            out["mase_median"] = float(np.median(vals)) if vals.size else None
            if vals.size < len(ok):
                out["warnings"].append(f"MASE undefined on {len(ok) - vals.size} series (a constant training part)")
    steps = [s["per_step_mae"] for s in ok if s.get("per_step_mae") is not None]
    out["per_step_mae"] = np.mean(np.asarray(steps, dtype=np.float64), axis=0).tolist() if steps else None
    out["fit_seconds"] = float(sum(s.get("fit_seconds") or 0.0 for s in ok))
    out["predict_seconds"] = float(sum(s.get("predict_seconds") or 0.0 for s in ok))
    found = sorted({w for s in ok for w in s.get("warnings", [])})
    out["warnings"] += found[:5] + ([f"... {len(found) - 5} more warnings"] if len(found) > 5 else [])
    out["error"] = None
    if errors:  # on some series: a warning (the row is scored, and served, on the others); on all: its error
        sid, reason = errors[0]
        if ok:
            out["warnings"].insert(0, f"{name} failed on {len(errors)} of {len(per)} series (first {sid!r}: {reason}); "
                                      f"its scores are over the other {len(ok)}")
        else:
            out["error"] = f"{name} failed on every series (first {sid!r}: {reason})"
    return out


def add_intervals(scores: dict[str, Any], targets: np.ndarray, pred: np.ndarray, cal: intervals.Calibration | None,
                  *, scale: np.ndarray | float = 1.0) -> dict[str, Any]:
    """Add the intervals' measured coverage, width and Winkler score to ``scores`` (in place).

    ``targets``/``pred`` are ``(n_windows, horizon)``; a scaled calibration (a panel's) is measured
    on them divided by ``scale`` (each window's series scale, ``(n_windows, 1)``).
    ``scores["intervals"]`` holds every level's record (and the calibration's window count), and
    ``coverage_80``, ``width_80``, ``winkler_80``... are leaderboard columns.
    """
    if cal is None:
        return scores
    measured = intervals.evaluate(targets / scale, pred / scale, cal)
    units = {"units": SCALE_UNITS_TEXT if cal.scale_unit == "mase" else "each series' standard deviation"} \
        if cal.scaled else {}
    floor = {"nonnegative": NONNEGATIVE_NOTE} if cal.nonnegative else {}
    scores["intervals"] = {"n_calibration_windows": cal.n_windows, **units, **floor,
                           **{str(level): {**m, "radius": list(cal.radius_of(level))} for level, m in measured.items()}}
    scores.update(intervals.flat(measured))
    scores["warnings"] = sorted({*scores.get("warnings", []), *cal.warnings()})
    return scores


#: What a panel's interval radii are measured in (``scores["intervals"]["units"]``).
SCALE_UNITS_TEXT = "each series' in-sample seasonal-naive MAE (the MASE scale)"

#: Why an interval has no bound below 0 (``scores["intervals"]["nonnegative"]``, the predict note).
NONNEGATIVE_NOTE = "no bound below 0: the target is never negative in the training rows (or declared so, --nonnegative)"


def local_scale(item: PreparedSeries) -> float:
    """The scale a panel's interval radii are multiplied by for one series: its in-sample seasonal-naive MAE on
    its training rows (the MASE scale), so a smooth series gets an interval as narrow as its own steps are,
    not as wide as its whole history's spread; a series without one (a constant training part) falls back
    to its scaler's standard deviation (1 for a constant), never 0.

    Example:
        >>> from types import SimpleNamespace
        >>> item = SimpleNamespace(insample=np.array([106.0, 105.7, 105.4, 105.1]), season=1,
        ...                        scaler=SimpleNamespace(scale_=np.array([0.4])))
        >>> round(local_scale(item), 3)
        0.3
    """
    scale = metrics.mase_scale(item.insample, item.season)
    if scale is not None and np.isfinite(scale) and scale > 0:
        return float(scale)
    std = float(item.scaler.scale_[0])
    return std if np.isfinite(std) and std > 0 else 1.0


def never_negative(items: Sequence[PreparedSeries]) -> bool:
    """Whether the target is never negative in any series' training rows (intervals then get no bound below 0)."""
    return all(float(np.min(item.insample)) >= 0 for item in items if len(item.insample))


def _series_coverage(cal: intervals.Calibration, targets: Sequence[np.ndarray], preds: Sequence[np.ndarray],
                     scales: Sequence[float]) -> list[dict[str, float]]:
    """Each series' own test coverage per level (``coverage_80``...), measured as the pooled one is."""
    out = []
    for t, p, sc in zip(targets, preds, scales):
        measured = intervals.evaluate(t / sc, p / sc, cal)
        out.append({f"coverage_{level}": m["coverage"] for level, m in measured.items()})
    return out


def coverage_summary(per: Sequence[dict[str, Any] | None], ids: Sequence[str | None],
                     levels: Sequence[int]) -> dict[str, Any]:
    """The distribution of per-series coverage, per level: ``coverage_80_median``, ``coverage_80_min`` (the worst
    series) and ``coverage_80_min_series`` (its id): pooled coverage can hide a series far below nominal."""
    out: dict[str, Any] = {}
    for level in levels:
        key = f"coverage_{level}"
        got = [(s[key], sid) for s, sid in zip(per, ids) if s is not None and s.get(key) is not None]
        if not got:
            continue
        values = np.array([v for v, _ in got])
        worst = int(np.argmin(values))
        out.update({f"{key}_median": float(np.median(values)), f"{key}_min": float(values[worst]),
                    f"{key}_min_series": str(got[worst][1])})
    return out


def _calibrate(pairs: Sequence[tuple[PreparedSeries, Forecaster, np.ndarray]], levels: Sequence[int],
               scores: dict[str, Any], name: str, *, part: str, scaled: bool,
               nonnegative: bool = False) -> tuple[intervals.Calibration | None, list[dict[str, float]]]:
    """One row's conformal calibration on every series' validation errors, measured on every window of ``part``
    (adds to ``scores``), and each series' own coverage. ``scaled`` (a panel): errors are divided by each
    series' local scale (:func:`local_scale`, the MASE scale) so a large series does not set the width of a
    small one, nor a long history's spread the width of a smooth series; a file of one series is calibrated
    in its own units. ``nonnegative``: no bound below 0."""
    if not levels or not pairs:
        return None, []
    cap = max(1, POOLED_CALIBRATION_WINDOWS // len(pairs))
    vt, vp, tt, tp, scales = [], [], [], [], []
    try:
        for item, forecaster, test_pred in pairs:
            idx = calibration_windows(item)
            if len(idx) > cap:
                idx = idx[np.unique(np.linspace(0, len(idx) - 1, cap).round().astype(np.int64))]
            # a model fitted on the validation rows too (the statistical ones) calibrates with a twin that was not
            twin = forecaster.calibration_model(item) if hasattr(forecaster, "calibration_model") else forecaster
            pred = np.asarray(twin.predict(item.values, item.origins("val")[idx], item.split.horizon), dtype=np.float64)
            s = local_scale(item) if scaled else 1.0
            vt.append(item.targets("val")[idx] / s)
            vp.append(pred / s)
            tt.append(item.targets(part))
            tp.append(test_pred)
            scales.append(s)
        cal = intervals.calibrate(np.concatenate(vt), np.concatenate(vp), levels)
    except (*FAILURES, RuntimeError) as exc:
        scores["warnings"] = sorted({*scores.get("warnings", []), f"{name}: no intervals ({reason_of(exc)})"})
        return None, []
    cal = dataclasses.replace(cal, nonnegative=nonnegative)
    if scaled:
        cal = dataclasses.replace(cal, scaled=True, scale_unit="mase",
                                  scales=tuple((str(item.series_id), sc) for (item, _f, _p), sc in zip(pairs, scales)))
    window_scales = np.concatenate([np.full((len(p), 1), sc) for p, sc in zip(tp, scales)])
    add_intervals(scores, np.concatenate(tt), np.concatenate(tp), cal, scale=window_scales)
    return cal, _series_coverage(cal, tt, tp, scales)


def score_row(model: Model, prep: Prepared, *, levels: Sequence[int] = (), fit: bool = True, part: str = "test",
              progress: Progress | None = None, nonnegative: bool | None = None) -> Scored:
    """Fit (when ``fit``) and score one row on every series of ``prep``; a failure is named, never raised.

    A global model's fit failure fails the row on every series; a local model (fitted per series)
    fails only on the series whose fit failed. A network's fit failure is raised (``TrainingError``:
    the trial failed, see :mod:`forecaster.workflows.executor`); a ``--per-series`` network's on some
    series is a warning of its row like any local model's. ``nonnegative`` (``forecast.nonnegative``):
    intervals with no bound below 0; ``None``: when the target is never negative in any training part.
    """
    name, kind = model.name, model.kind
    many = prep.panel.id_col is not None
    t0 = time.perf_counter()
    if fit:
        try:
            model.fit(prep)
        except FAILURES as exc:
            if model.capabilities.network:
                raise
            reason = reason_of(exc)
            return Scored(model, name, kind, [None] * len(prep.items),
                          failed_scores(f"{name} failed on every series (first {prep.ids[0]!r}: {reason})" if many
                                        else f"{name} failed: {reason}"),
                          errors=[(sid, reason) for sid in prep.ids], preds=[None] * len(prep.items))
    fit_seconds = time.perf_counter() - t0
    per: list[dict[str, Any] | None] = []
    preds: list[np.ndarray | None] = []
    errors: list[tuple[str | None, str]] = []
    pairs = []
    own = getattr(model, "fit_seconds", None)  # a local model's per-series fit time
    for item in prep.items:
        t1 = time.perf_counter()
        try:
            forecaster = model.on(item)
            pred = predict_part(forecaster, item, part)
        except FAILURES as exc:
            per.append(None)
            preds.append(None)
            errors.append((item.series_id, reason_of(exc)))
            continue
        t2 = time.perf_counter()
        scores = score(item, pred, part)
        series_fit = own(item) if own is not None else fit_seconds / len(prep.items)
        scores.update(fit_seconds=series_fit, predict_seconds=t2 - t1)
        per.append(scores)
        preds.append(pred)
        pairs.append((item, forecaster, pred))
    pooled = _pool(per, errors, name, many=many)
    cal = None
    if not pooled.get("error"):
        floor = never_negative(prep.items) if nonnegative is None else nonnegative
        cal, covered = _calibrate(pairs, levels, pooled, name, part=part, scaled=many, nonnegative=floor)
        if many and cal is not None:
            served = [s for s in per if s is not None]
            for s, c in zip(served, covered):
                s.update(c)
            pooled.update(coverage_summary(per, prep.ids, cal.levels))
    return Scored(model, name, kind, per, pooled, calibration=cal, errors=errors, preds=preds,
                  fit_seconds=fit_seconds)


def series_table(prep: Prepared, rows: Sequence[Scored]) -> pd.DataFrame:
    """Every row's scores on every series: ``<id_col>, name, kind, mae, rmse, smape, mape, mase[, coverage_80,
    coverage_95...], error`` (each series' own interval coverage on its test windows)."""
    out = []
    covered = sorted({k for row in rows for s in row.per_series if s for k in s if k.startswith("coverage_")},
                     key=lambda k: int(k.rpartition("_")[2]))
    for row in rows:
        failed = dict(row.errors)
        for item, s in zip(prep.items, row.per_series):
            rec: dict[str, Any] = {str(prep.panel.id_col): item.series_id, "name": row.name, "kind": row.kind}
            rec.update({k: (s or {}).get(k) for k in (*METRIC_KEYS, *covered)})
            rec["error"] = failed.get(item.series_id)
            out.append(rec)
    return pd.DataFrame.from_records(out)


def _window_losses(item: PreparedSeries, pred: np.ndarray | None, metric: str, part: str) -> np.ndarray:
    """One series' loss per window of ``part`` (NaN throughout when it has no forecast or no MASE scale)."""
    n = len(item.origins(part))
    if pred is None:
        return np.full(n, np.nan)
    t, p = np.asarray(item.targets(part), dtype=np.float64), np.asarray(pred, dtype=np.float64)
    err = t - p
    if metric == "mase":
        scale = metrics.mase_scale(item.insample, item.season)
        return np.abs(err).mean(axis=1) / scale if scale else np.full(n, np.nan)
    if metric == "mae":
        return np.abs(err).mean(axis=1)
    if metric == "rmse":
        return (err ** 2).mean(axis=1)
    if metric == "smape":
        denom = np.abs(t) + np.abs(p)
        ratio = np.divide(2.0 * np.abs(p - t), denom, out=np.zeros_like(denom), where=denom != 0)
        return 100.0 * ratio.mean(axis=1)
    raise ValueError(f"unit_losses: unknown metric {metric!r} (mase, mae, rmse, smape)")


def unit_losses(prep: Prepared, row: Scored, metric: str = "mase", part: str = "test") -> np.ndarray:
    """The losses a paired test of two rows compares (:mod:`forecaster.evaluation.verdict`): one per window of
    ``part`` (each forecast origin) of every series, the series one after another (:func:`unit_blocks` says
    which series each is), NaN where the row has none (a failed series, an undefined MASE).

    A window's loss is its mean absolute error over its horizon steps in MASE units (``metric="mase"``;
    ``"mae"``: in the target's units; ``"rmse"``: its mean squared error; ``"smape"``: its sMAPE), so the mean
    of a series' losses is its score, and the mean over series of those is the row's pooled score.
    Neighbouring windows of a series share targets (they overlap by ``horizon - 1`` steps): the test's
    variance allows for it, series by series.

    Example:
        >>> from types import SimpleNamespace
        >>> item = SimpleNamespace(origins=lambda part: np.arange(2), targets=lambda part: np.array([[1.0, 2.0], [2.0, 3.0]]),
        ...                        insample=np.array([0.0, 1.0, 2.0]), season=1)
        >>> prep = SimpleNamespace(items=[item, item])
        >>> row = SimpleNamespace(preds=[np.array([[1.5, 2.0], [2.0, 2.0]]), None])
        >>> unit_losses(prep, row).tolist()
        [0.25, 0.5, nan, nan]
    """
    preds = list(row.preds) or [None] * len(prep.items)
    return np.concatenate([_window_losses(item, pred, metric, part) for item, pred in zip(prep.items, preds)])


def unit_blocks(prep: Prepared, part: str = "test") -> np.ndarray:
    """The series (its position) of each loss of :func:`unit_losses`: the test's blocks.

    Example:
        >>> from types import SimpleNamespace
        >>> prep = SimpleNamespace(items=[SimpleNamespace(origins=lambda part, n=n: np.arange(n)) for n in (2, 3)])
        >>> unit_blocks(prep).tolist()
        [0, 0, 1, 1, 1]
    """
    return np.concatenate([np.full(len(item.origins(part)), k, dtype=np.int64) for k, item in enumerate(prep.items)])
