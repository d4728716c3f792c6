"""Train on a panel: one global network per cell over every series, every baseline per series.

Each row of a panel leaderboard is scored on every series' own test windows with that series'
own MASE scale, then pooled: the mean over series of each metric (``mase``), the median MASE
(``mase_median``) and how many series the row scored. The per-series scores go to
``series_metrics.csv`` in the run folder. Intervals are calibrated once per row on every
series' validation errors divided by that series' standard deviation (so a large series does
not set the width of a small one) and measured on all test windows the same way.

Example:
    >>> from forecaster import config
    >>> cfg = config.resolve(overrides={"data.path": "data/tourism_panel.csv", "data.id_col": "series_id"})  # doctest: +SKIP
    >>> result = train(cfg, cells=["gru"])  # doctest: +SKIP
    >>> result.leaderboard[0]["mase"], result.leaderboard[0]["mase_median"]  # doctest: +SKIP
    (1.41, 1.32)
"""

from __future__ import annotations

import copy
import dataclasses
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from forecaster import intervals, lineup, metrics, network, pipeline, scoring
from forecaster.artifacts import layout
from forecaster.artifacts.cell import write_cell
from forecaster.artifacts.io import atomic_write_text
from forecaster.artifacts.run import store_run
from forecaster.baselines import Linear
from forecaster.config import RunConfig, dump_yaml
from forecaster.errors import ForecasterError
from forecaster.network import CellResult
from forecaster.panel import PanelPrepared, describe, prepare_panel, series_counts, skipped_note
from forecaster.prepared import Prepared, future_index
from forecaster.windows import SeriesScalers

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.contract import Model

__all__ = ["PanelScored", "score_rows", "score_saved", "train_cell", "score_baselines", "train", "save_run", "future",
           "series_table", "POOLED_CALIBRATION_WINDOWS", "PANEL_COLUMNS"]

Progress = Callable[[str], None]

#: Validation windows calibrating one row's intervals over all series, at most (spread over the series).
POOLED_CALIBRATION_WINDOWS = 5000

PANEL_COLUMNS = (*pipeline.LEADERBOARD_COLUMNS[:11], "mase_median", "series", *pipeline.LEADERBOARD_COLUMNS[11:])


@dataclass
class PanelScored:
    """One row of a panel run: its scores on each series, pooled, and its pooled calibration."""

    name: str
    kind: str
    per_series: list[dict[str, Any] | None]  # aligned with the panel's items; None where it failed
    scores: dict[str, Any]
    calibration: intervals.Calibration | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)  # (series id, reason)


def _pool(per: Sequence[dict[str, Any] | None], errors: Sequence[tuple[str, str]], name: str) -> dict[str, Any]:
    """Mean over series of each metric, the median MASE, the series scored, warnings and failures."""
    ok = [s for s in per if s is not None]
    out: dict[str, Any] = {"series": len(ok), "warnings": []}
    for key in scoring.METRIC_KEYS:
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


def _calibrate(pairs: Sequence[tuple[Model, Prepared, np.ndarray]], levels: Sequence[int],
               scores: dict[str, Any]) -> intervals.Calibration | None:
    """The pooled, scaled conformal calibration of one row, measured on every test window (adds to ``scores``)."""
    if not levels or not pairs:
        return None
    cap = max(1, POOLED_CALIBRATION_WINDOWS // len(pairs))
    vt, vp, tt, tp = [], [], [], []
    try:
        for model, item, test_pred in pairs:
            idx = scoring.calibration_windows(item)
            if len(idx) > cap:
                idx = idx[np.unique(np.linspace(0, len(idx) - 1, cap).round().astype(np.int64))]
            twin = model.calibration_model(item) if hasattr(model, "calibration_model") else model
            pred = np.asarray(twin.predict(item.values, item.origins("val")[idx], item.split.horizon), dtype=np.float64)
            s = float(item.scaler.scale_[0])
            vt.append(item.targets("val")[idx] / s)
            vp.append(pred / s)
            tt.append(item.test_targets / s)
            tp.append(test_pred / s)
        cal = dataclasses.replace(intervals.calibrate(np.concatenate(vt), np.concatenate(vp), levels), scaled=True)
    except (ForecasterError, ValueError, ArithmeticError) as exc:
        scores["warnings"] = sorted({*scores["warnings"], f"no intervals ({exc})"})
        return None
    measured = intervals.evaluate(np.concatenate(tt), np.concatenate(tp), cal)
    scores["intervals"] = {"n_calibration_windows": cal.n_windows, "units": "each series' standard deviation",
                           **{str(level): {**m, "radius": list(cal.radius_of(level))} for level, m in measured.items()}}
    scores.update(intervals.flat(measured))
    scores["warnings"] = sorted({*scores["warnings"], *cal.warnings()})
    return cal


#: After this many series, a row whose projected time over every series exceeds :data:`ETA_AFTER_S` says so.
ETA_SAMPLE, ETA_AFTER_S = 20, 60.0


def score_rows(make: Callable[[Prepared], Model], pp: PanelPrepared, *, levels: Sequence[int] = (),
               fit: bool = True, name: str = "", kind: str = "baseline", progress: Progress | None = None) -> PanelScored:
    """Fit (when ``fit``) and score ``make(item)`` on every series; a series where it fails is named, not fatal.

    ``name`` and ``kind`` label the row when no model could even be made; ``progress`` receives one
    line when the row will take over a minute on every series (statistical fits on a large panel)."""
    per: list[dict[str, Any] | None] = []
    errors: list[tuple[str, str]] = []
    pairs = []
    began = time.perf_counter()
    for k, item in enumerate(pp.items):
        if progress is not None and k == ETA_SAMPLE and len(pp.items) > 2 * ETA_SAMPLE:
            eta = (time.perf_counter() - began) / ETA_SAMPLE * (len(pp.items) - ETA_SAMPLE)
            if eta > ETA_AFTER_S:
                progress(f"baseline {name}: about {eta / 60:.0f} more minute(s) for {len(pp.items):,} series "
                         "(leave it out of --baselines to skip it)")
        t0 = time.perf_counter()
        try:
            model = make(item)
            name, kind = model.name, model.kind
            if fit:
                model.fit(item)
            t1 = time.perf_counter()
            pred = scoring.predict_part(model, item, "test")
            t2 = time.perf_counter()
        except (ForecasterError, ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            per.append(None)
            errors.append((str(item.series.series_id), str(exc).splitlines()[0][:200] or exc.__class__.__name__))
            continue
        scores = scoring.score(item, pred)
        scores.update(fit_seconds=t1 - t0, predict_seconds=t2 - t1)
        per.append(scores)
        pairs.append((model, item, pred))
    pooled = _pool(per, errors, name)
    cal = _calibrate(pairs, levels, pooled)
    return PanelScored(name=name, kind=kind, per_series=per, scores=pooled, calibration=cal, errors=errors)


def score_saved(loaded: Any, pp: PanelPrepared, metric: str) -> float | None:
    """A saved panel network's pooled ``metric`` on ``pp``'s test windows (the retrain gate's champion re-score).

    Raises:
        ArtifactError: it is not a panel's network, or was not trained on a series of ``pp``
            (a new series: it could not serve it).
        DataError: its lookback reaches before the start of a series' data.
    """
    from forecaster.artifacts.cell import LoadedCell
    from forecaster.errors import ArtifactError, DataError
    from forecaster.network import SeriesView
    from forecaster.windows import SeriesScalers

    if not isinstance(loaded, LoadedCell) or not isinstance(loaded.scaler, SeriesScalers):
        raise ArtifactError(f"{loaded.path}: not a panel's network (trained without --id-col)")
    scalers = loaded.scaler
    new = [sid for sid in pp.ids if sid not in scalers]
    failed = [sid for sid in new if sid in (loaded.manifest["data"].get("series_last") or {})]
    if failed:
        raise ArtifactError(f"it has no network for series {failed[0]!r} ({len(failed)} whose training failed) and "
                            "cannot serve it")
    if new:
        raise ArtifactError(f"it was not trained on series {new[0]!r} ({len(new)} new in the data) and cannot serve it")
    list(loaded.members)  # load every network now: a broken one is an unusable champion, not a series it failed on
    short = [p.series.series_id for p in pp.items if loaded.lookback > int(p.origins("test").min())]
    if short:
        raise DataError(f"the champion's lookback {loaded.lookback} reaches before the start of series {short[0]!r}")
    scored = score_rows(lambda item: SeriesView(loaded.name, loaded.capabilities, loaded.on(str(item.series.series_id))),
                        pp, fit=False, name=loaded.name, kind="model")
    value = scored.scores.get(metric)
    return float(value) if value is not None else None


def score_baselines(pp: PanelPrepared, cfg: RunConfig, progress: Progress | None = None) -> list[PanelScored]:
    """Every ``--baselines`` row fitted and scored on each series on its own."""
    say = progress or (lambda _msg: None)
    for note in lineup.slow_notes(cfg.model.baselines):
        say(f"baseline {note}")
    names = [m.name for m in lineup.make_baselines(cfg.model.baselines)]
    out = []
    for k, name in enumerate(names):
        t0 = time.perf_counter()

        def make(_item: Prepared, k: int = k) -> Model:
            return lineup.make_baselines(cfg.model.baselines)[k]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", metrics.MetricWarning)
            if name == "linear":  # one least-squares map over every series' windows, as the networks learn
                scored = score_rows(_global_linear(pp), pp, levels=cfg.forecast.levels, fit=False, name=name)
            else:
                scored = score_rows(make, pp, levels=cfg.forecast.levels, name=name, progress=progress)
        if len(pp.items) > 1:
            say(f"baseline {name}: {len(pp.items)} series in {time.perf_counter() - t0:.1f}s")
        if scored.scores["error"]:
            say(f"baseline {scored.scores['error']}")
        out.append(scored)
    return out


def _global_linear(pp: PanelPrepared) -> Callable[[Prepared], Model]:
    """The linear row of a panel: fitted once on every series' (scaled) training windows, like the
    networks, and applied to each series with its own scaler. Fitted per series, its
    ``lookback + 1`` coefficients would rest on a few dozen windows of a short series (MASE 2.4
    against 0.5 for naive on the shipped employment panel)."""
    fitted = None
    failure: Exception | None = None
    try:
        fitted = Linear().fit(pp)  # type: ignore[arg-type]  # duck-typed: split, scaler, residual_base
    except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
        failure = exc

    def make(item: Prepared) -> Model:
        if fitted is None:
            raise ValueError(f"the global linear fit failed ({failure})")
        view = copy.copy(fitted)
        view.scaler_ = item.scaler
        return view

    return make


def future(model_of: Callable[[Prepared], Model | None], pp: PanelPrepared,
           cal: intervals.Calibration | None) -> pd.DataFrame:
    """``<id_col>, timestamp, yhat[, lo-80, hi-80...]``: the horizon after the end of every series (long format)
    by ``model_of(item)`` (a series it gives no model is left out: its per-series network failed).

    Empty when known covariates are inputs (their future values come with ``forecast predict --future``).
    """
    h, id_col = pp.split.horizon, pp.panel.id_col
    if pp.items[0].series.known:
        return pd.DataFrame({id_col: [], "timestamp": pd.DatetimeIndex([]), "yhat": []})
    frames = []
    for item in pp.items:
        s, model = item.series, model_of(item)
        if model is None:
            continue
        yhat = model.predict(item.values, np.array([item.split.n]), h)[0]
        bands = cal.columns(yhat, scale=float(item.scaler.scale_[0])) if cal is not None else {}
        frames.append(pd.DataFrame({id_col: s.series_id, "timestamp": future_index(s.frame.index[-1], s.freq, h),
                                    "yhat": yhat, **bands}))
    return pd.concat(frames, ignore_index=True)


def train_cell(pp: PanelPrepared, cfg: RunConfig, cell: str, *, progress: Progress | None = None,
               callbacks: Sequence[Any] = (), checkpoint: Any = None) -> tuple[CellResult, PanelScored]:
    """One global network over every series (or, under ``model.per_series``, one network per series),
    scored per series and pooled (seeded from ``cfg``; ``checkpoint`` makes the fit resumable)."""
    if cfg.model.per_series:
        return _train_per_series(pp, cfg, cell, progress=progress, callbacks=callbacks, checkpoint=checkpoint)
    net = network.NetworkModel(cell, cfg, progress=progress, callbacks=callbacks, checkpoint=checkpoint).fit(pp)
    scored = score_rows(lambda item: net.on(item.scaler), pp, levels=cfg.forecast.levels, fit=False, name=net.name,
                        kind="model")
    result = CellResult(
        cell=cell, model=net.model_, params=int(net.model_.count_params()), fit=net.fit_, scores=scored.scores,
        forecast=future(lambda item: net.on(item.scaler), pp, scored.calibration), strategy=net.strategy,
        base=net.base_, linear_choice=net.linear_choice_, train_seconds=net.train_seconds_,
        epochs_total=net.epochs_total_, network=net, calibration=scored.calibration,
    )
    return result, scored


@dataclass(frozen=True)
class SeriesFits:
    """The fits of a ``--per-series`` cell's networks, read like one fit (``training.FitResult``'s fields).

    ``history`` is the mean curve over the series still training at each epoch (with how many
    were: ``series``), ``epochs_run`` and ``best_epoch`` the mean over series (rounded),
    ``best_val_loss`` the mean; ``by_series`` has every series' own rows (``history.csv``).
    """

    ids: tuple[str, ...]
    fits: tuple[Any, ...]
    windows_trained: int = 0  # training windows x epochs, summed over every fit of every series

    @property
    def by_series(self) -> pd.DataFrame:
        return pd.concat([f.history.assign(series=sid) for sid, f in zip(self.ids, self.fits)], ignore_index=True)[
            ["series", *self.fits[0].history.columns]]

    @property
    def history(self) -> pd.DataFrame:
        return mean_curve(pd.concat([f.history for f in self.fits], ignore_index=True))

    @property
    def epochs_run(self) -> int:
        return round(float(np.mean([f.epochs_run for f in self.fits])))

    @property
    def best_epoch(self) -> int:
        return round(float(np.mean([f.best_epoch for f in self.fits])))

    @property
    def best_val_loss(self) -> float:
        return float(np.mean([f.best_val_loss for f in self.fits]))

    @property
    def seconds(self) -> float:
        return float(sum(f.seconds for f in self.fits))


def mean_curve(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-epoch rows of many fits (a ``--per-series`` cell's ``history.csv``) as one curve: the mean
    ``loss`` and ``val_loss`` of the fits still training at each epoch, their ``seconds`` summed, and
    how many they were (``series``)."""
    return rows.groupby("epoch", as_index=False).agg(loss=("loss", "mean"), val_loss=("val_loss", "mean"),
                                                     seconds=("seconds", "sum"), series=("loss", "size"))


#: Series whose start a ``--per-series`` fit announces, at most (then one line every tenth of them).
ANNOUNCED_SERIES = 20


def _train_per_series(pp: PanelPrepared, cfg: RunConfig, cell: str, *, progress: Progress | None,
                      callbacks: Sequence[Any], checkpoint: Any) -> tuple[CellResult, PanelScored]:
    """One network per series, each trained on its own windows (and scaler) only, scored as the global one is.

    A series whose network cannot be trained (it diverged) is a named failure of the row; the
    others are kept. ``CellResult.model`` is then ``{series id: Keras model}`` of the trained ones.
    """
    from forecaster.errors import TrainingError

    say = progress or (lambda _msg: None)
    nets: dict[str, network.NetworkModel] = {}
    n = len(pp.items)
    every = max(1, n // 10)

    def make(item: Prepared) -> Model:
        sid = str(item.series.series_id)
        k = len(nets)
        if n <= ANNOUNCED_SERIES or k % every == 0:
            say(f"  {cell}: series {k + 1}/{n} ({sid})")
        net = network.NetworkModel(cell, cfg, callbacks=callbacks, log_name=f"{cell}-series{k}",
                                   checkpoint=checkpoint.child(f"series-{k}") if checkpoint is not None else None)
        nets[sid] = net
        return net

    scored = score_rows(make, pp, levels=cfg.forecast.levels, fit=True, name=network.leaderboard_name(
        cell, cfg.model.strategy), kind="model")
    kept = {sid: nets[sid] for sid, s in zip(pp.ids, scored.per_series) if s is not None}
    if not kept:
        raise TrainingError(f"{cell}: no per-series network could be trained ({scored.scores['error']})")
    models = {sid: net.model_ for sid, net in kept.items()}
    windows = {str(p.series.series_id): len(p.split.starts("train")) for p in pp.items}
    fits = SeriesFits(tuple(kept), tuple(net.fit_ for net in kept.values()),
                      windows_trained=sum(windows[sid] * net.epochs_total_ for sid, net in kept.items()))
    result = CellResult(
        cell=cell, model=models, params=int(sum(m.count_params() for m in models.values())), fit=fits,
        scores=scored.scores, forecast=future(lambda item: kept.get(str(item.series.series_id)), pp, scored.calibration),
        strategy=next(iter(kept.values())).strategy, base=None,
        train_seconds=float(sum(net.train_seconds_ for net in kept.values())),
        epochs_total=int(sum(net.epochs_total_ for net in kept.values())), calibration=scored.calibration,
    )
    return result, scored


def series_table(pp: PanelPrepared, rows: Sequence[PanelScored]) -> pd.DataFrame:
    """Every row's scores on every series: ``<id_col>, name, kind, mae, rmse, smape, mape, mase, error``."""
    records = []
    for row in rows:
        failed = dict(row.errors)
        for item, s in zip(pp.items, row.per_series):
            sid = str(item.series.series_id)
            rec: dict[str, Any] = {pp.panel.id_col: sid, "name": row.name, "kind": row.kind}
            rec.update({k: (s or {}).get(k) for k in scoring.METRIC_KEYS})
            rec["error"] = failed.get(sid)
            records.append(rec)
    return pd.DataFrame.from_records(records)


def _records(pp: PanelPrepared, cfg: RunConfig, strategy: str) -> dict[str, dict[str, Any]]:
    """The manifest's ``window`` and ``data`` records of a panel run's folders."""
    first = pp.items[0].series
    known, static = list(first.known), list(first.static)
    return {
        "window": {"lookback": pp.split.lookback, "horizon": pp.split.horizon, "freq": first.freq,
                   "season": pp.season, "seasons": list(pp.seasons), "strategy": strategy},
        "data": {"path": pp.panel.path, "sha256": pp.panel.sha256, "rows": pp.panel.rows, "target": first.target,
                 "covariates": [c for c in first.covariates if c not in known and c not in static], "known": known,
                 "static": static, "static_columns": list(pp.panel.static_columns),
                 "static_levels": {c: list(v) for c, v in pp.panel.static_levels.items()},
                 "calendar": pp.calendar, "time_col": first.time_col, "missing": cfg.data.missing,
                 "id_col": pp.panel.id_col, **series_counts(pp),
                 "first": str(min(p.series.frame.index[0] for p in pp.items)),
                 "last": str(max(p.series.frame.index[-1] for p in pp.items)),
                 # each series' own end: a retrain counts new rows per series (a ragged panel's early
                 # finishers get rows before the latest timestamp of all)
                 "series_last": {str(p.series.series_id): str(p.series.frame.index[-1]) for p in pp.items},
                 "n_filled": sum(p.series.n_filled for p in pp.items)},
    }


def save_run(final: Path, pp: PanelPrepared, cfg: RunConfig, results: Sequence[CellResult],
             scored: Sequence[PanelScored], rows: list[dict[str, Any]], *, columns: Sequence[str] = PANEL_COLUMNS,
             board_extra: dict[str, Any] | None = None, extra: Callable[[Path], None] | None = None) -> None:
    """Write a panel run atomically: config, one folder per network (per-series scalers), the leaderboard
    and ``series_metrics.csv``."""
    resolved = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, target=pp.items[0].series.target,
                                                                 time_col=pp.items[0].series.time_col),
                                   window=dataclasses.replace(cfg.window, lookback=pp.split.lookback))
    base = {s.name: s.scores for s in scored if s.kind != "model"}

    def write_cells(tmp: Path) -> None:
        for c in results:
            metrics = {"cell": c.cell, "test": c.scores, "baselines": base, "season": pp.season,
                       "residual_base": c.base.name if c.base is not None else None,
                       "series": len(pp.items), "params": c.params, "epochs_run": c.fit.epochs_run,
                       "best_epoch": c.fit.best_epoch, "best_val_loss": c.fit.best_val_loss,
                       "train_seconds": c.train_seconds, "epochs_total": c.epochs_total,
                       **pipeline.learning_record(c, pp)}
            scaler, history = pp.scaler, c.fit.history
            if isinstance(c.model, dict):  # --per-series: the network of each series trained, their scalers
                ids = list(c.model)
                scaler, history = SeriesScalers(ids, [scaler.of(sid) for sid in ids]), c.fit.by_series
                metrics.update(networks="one per series", series_trained=len(ids))
            write_cell(tmp / c.name, cell=c.cell, model=c.model, scaler=scaler, metrics=metrics, history=history,
                       forecast=c.forecast, calibration=c.calibration, **_records(pp, cfg, c.strategy))

    def write_extra(tmp: Path) -> None:
        atomic_write_text(tmp / layout.SERIES_METRICS, series_table(pp, scored).to_csv(index=False))
        if extra is not None:
            extra(tmp)

    board = {"season": pp.season, "n_test_windows": len(pp.split.starts("test")), **series_counts(pp),
             "id_col": pp.panel.id_col, **(board_extra or {}), "rows": rows}
    store_run(final, config_yaml=dump_yaml(resolved), write_cells=write_cells, board=board, columns=columns,
              extra=write_extra)


def leaderboard(results: Sequence[CellResult], base: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`forecaster.pipeline.leaderboard` rows with the median MASE and the series scored."""
    rows = pipeline.leaderboard(results, base)
    pooled = {**{c.name: c.scores for c in results}, **base}
    for row in rows:
        row["mase_median"] = pooled[row["name"]].get("mase_median")
        row["series"] = pooled[row["name"]].get("series")
    return rows


def begin(cfg: RunConfig, pp: PanelPrepared | None, progress: Progress | None
          ) -> tuple[PanelPrepared, str | None, list[PanelScored]]:
    """The start of a panel run: prepare (unless ``pp`` is given), say what it holds and which series were
    skipped, and score every baseline per series. Returns the panel, the skipped note and the baselines."""
    say = progress or (lambda _msg: None)
    pp = pp if pp is not None else prepare_panel(cfg)
    say(describe(pp))
    note = skipped_note(pp)
    if note:
        say(note)
    return pp, note, score_baselines(pp, cfg, progress)


def train(cfg: RunConfig, pp: PanelPrepared | None = None, *, cells: Sequence[str] | None = None,
          progress: Progress | None = None, run_dir: Path | None = None, checkpoint: Any = None) -> pipeline.RunResult:
    """Train each cell globally on the panel beside the per-series baselines, and save one run.

    Raises:
        DataError, TrainingError, ArtifactError: nothing is saved in any of these cases.
    """
    cells = list(cells or [cfg.model.cell])
    say = progress or (lambda _msg: None)
    pp, note, scored = begin(cfg, pp, progress)
    results = []
    for cell in cells:
        how = "one network per series" if cfg.model.per_series else "one network"
        say(f"training {cell} on {len(pp.items)} series ({how}, seed {cfg.training.seed}, up to {cfg.training.epochs} "
            "epochs)")
        result, row = train_cell(pp, cfg, cell, progress=progress,
                                 checkpoint=checkpoint.child(cell) if checkpoint is not None else None)
        results.append(result)
        scored.append(row)
    base = {s.name: s.scores for s in scored if s.kind != "model"}
    rows = leaderboard(results, base)
    final = run_dir or pipeline.default_run_dir(cfg, cells[0] if len(cells) == 1 else "compare")
    save_run(final, pp, cfg, results, scored, rows)
    return pipeline.RunResult(run_dir=final, leaderboard=rows, cells=results, season=pp.season,
                              warnings=pipeline.run_warnings(results, base) + ([note] if note else []))
