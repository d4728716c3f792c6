"""Save a run: the resolved config, one folder per servable row, the leaderboard (one path for one series
or many).

A run folder is written atomically (:func:`forecaster.artifacts.run.store_run`). Every network
gets a cell folder (model, ONNX copy, scalers, calibration, metrics, history, forecast, hashed
manifest); every statistical row a spec folder (one spec per series of a panel), and every other
baseline (naive, seasonal naive, the linear map with its scalers) one too: every row is servable. A panel run also
writes ``series_metrics.csv`` (every row's scores on every series). The manifest records of a
file of one series keep the format runs of one series have always had (its split, no id column).

Example:
    >>> save_run(run_dir, prep, cfg, results, baselines, rows)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from forecaster.artifacts import layout
from forecaster.artifacts.baseline import baseline_spec
from forecaster.artifacts.cell import write_cell, write_spec_row
from forecaster.artifacts.run import store_run
from forecaster.config import RunConfig, dump_yaml
from forecaster.data.prepared import Prepared, series_counts
from forecaster.data.scaling import SeriesScalers
from forecaster.evaluation.scoring import Scored, series_table
from forecaster.fs import atomic_write_text
from forecaster.models.local import PerSeries
from forecaster.workflows.results import LEADERBOARD_COLUMNS, PANEL_COLUMNS, CellResult

__all__ = ["save_run", "records", "statistical_specs", "learning_record"]


def records(prep: Prepared, cfg: RunConfig, strategy: str) -> dict[str, dict[str, Any]]:
    """The manifest's ``window`` and ``data`` records of every folder of a run."""
    first = prep.items[0].series
    window: dict[str, Any] = {"lookback": prep.split.lookback, "horizon": prep.split.horizon, "freq": first.freq,
                              "season": prep.season, "seasons": list(prep.seasons), "strategy": strategy}
    columns = prep.columns
    roles = {"target": columns.target, "covariates": list(columns.past), "known": list(columns.known)}
    if prep.panel.id_col is None:
        s, sp = prep.single.series, prep.single.split
        window["split"] = {"train_end": sp.train_end, "val_end": sp.val_end, "n": sp.n}
        data = {"path": s.path, "sha256": s.sha256, "rows": len(s.frame), **roles, "calendar": prep.calendar,
                "time_col": s.time_col, "missing": cfg.data.missing, "first": str(s.frame.index[0]),
                "last": str(s.frame.index[-1]), "n_filled": s.n_filled}
        return {"window": window, "data": data}
    panel = prep.panel
    data = {"path": panel.path, "sha256": panel.sha256, "rows": panel.rows, **roles, "static": list(columns.static),
            "static_columns": list(panel.static_columns),
            "static_levels": {c: list(v) for c, v in panel.static_levels.items()},
            "calendar": prep.calendar, "time_col": first.time_col, "missing": cfg.data.missing,
            "id_col": panel.id_col, **series_counts(prep),
            "first": str(min(p.series.frame.index[0] for p in prep.items)),
            "last": str(max(p.series.frame.index[-1] for p in prep.items)),
            # each series' own end: a retrain counts new rows per series (a ragged panel's early
            # finishers get rows before the latest timestamp of all)
            "series_last": {str(p.series_id): str(p.series.frame.index[-1]) for p in prep.items},
            "n_filled": sum(p.series.n_filled for p in prep.items)}
    return {"window": window, "data": data}


def _cell_metrics(prep: Prepared, c: CellResult, base: dict[str, Any]) -> dict[str, Any]:
    out = {
        "cell": c.cell,
        "test": c.scores,
        "baselines": base,
        "season": prep.season,
        "residual_base": c.base.name if c.base is not None else None,
        "residual_season": c.base.season if c.base is not None else None,
        "seasons": list(prep.seasons),
        "linear_correction": c.base is not None and c.base.linear is not None,
        "linear_choice_val_loss": c.linear_choice,
        "n_test_windows": len(prep.split.starts("test")),
        "params": c.params,
        "epochs_run": c.fit.epochs_run,
        "best_epoch": c.fit.best_epoch,
        "best_val_loss": c.fit.best_val_loss,
        "train_seconds": c.train_seconds,
        "epochs_total": c.epochs_total,
        **learning_record(c, prep),
    }
    if prep.panel.id_col is not None:
        out["series"] = len(prep.items)
    return out


def learning_record(c: CellResult, prep: Prepared) -> dict[str, Any]:
    """How a cell learnt, for its ``metrics.json``: the validation loss of its start (the linear row),
    why it stopped early, its gain over the start in block standard errors, the batch it used, the
    steps its recurrent layer reads, the linear path's ridge, and the lookback candidates with the
    ``linear`` row's validation loss for each (empty when ``--lookback`` was given)."""
    fit, net, start = c.fit, c.network, c.base.start if c.base is not None else None
    return {
        "start_val_loss": getattr(fit, "start_val_loss", None),
        "stop_reason": getattr(fit, "stop_reason", None),
        "gain_z": getattr(fit, "gain_z", None),
        "batch_size": getattr(fit, "batch_size", None),
        "recurrent_steps": getattr(net, "recurrent_steps_", None),
        "linear_ridge": start.ridge if start is not None and c.base is not None and c.base.linear is not None else None,
        "lookback": prep.split.lookback,
        "lookback_candidates": {str(k): v for k, v in prep.lookback_scores.items()},
    }


def _write_cell(cell_dir: Path, prep: Prepared, cfg: RunConfig, c: CellResult, base: dict[str, Any]) -> None:
    metrics = _cell_metrics(prep, c, base)
    scaler, history = prep.scaler, c.fit.history
    if isinstance(c.model, dict):  # --per-series: the network of each series trained, their scalers
        ids = list(c.model)
        scaler, history = SeriesScalers(ids, [scaler.of(sid) for sid in ids]), c.fit.by_series
        metrics.update(networks="one per series", series_trained=len(ids))
    write_cell(cell_dir, cell=c.cell, model=c.model, scaler=scaler, metrics=metrics, history=history,
               forecast=c.forecast, calibration=c.calibration, **records(prep, cfg, c.strategy))


def statistical_specs(s: Scored) -> dict[str | None, dict[str, Any]] | None:
    """The fitted specs of a statistical row, by series id (``None``: not a statistical row, or it has
    no fitted series)."""
    row = s.model
    if s.error is not None or not isinstance(row, PerSeries) or not row.capabilities.saves or not row.models_:
        return None
    specs = {sid: m.spec() for sid, m in row.models_.items() if hasattr(m, "spec")}
    return specs or None


def _write_spec_row(cell_dir: Path, prep: Prepared, cfg: RunConfig, s: Scored, kind: str, spec: dict[str, Any]) -> None:
    """A row served from its spec: a statistical model (one spec per series of a panel) or a baseline (naive and
    seasonal naive read the target alone; the linear map reads every input column, with its scalers)."""
    rec = records(prep, cfg, "direct")
    linear = kind == layout.BASELINE and spec.get("name") == "linear"
    if not linear:  # the target alone: predict needs no other column
        rec["data"].update(covariates=[], known=[], calendar=False)
        if "static" in rec["data"]:
            rec["data"].update(static=[], static_columns=[], static_levels={})
    metrics = {"name": s.name, "test": s.scores, "season": prep.season, "n_test_windows": len(prep.split.starts("test"))}
    write_spec_row(cell_dir, kind=kind, name=s.name, spec=spec, metrics=metrics, calibration=s.calibration,
                   scaler=prep.scaler if linear else None, **rec)


def _row_spec(prep: Prepared, s: Scored) -> tuple[str, dict[str, Any]] | None:
    """The kind and spec a baseline row's folder saves (``None``: it failed, or has nothing to save)."""
    specs = statistical_specs(s)
    if specs is not None:
        return layout.STATISTICAL, specs[None] if prep.panel.id_col is None else {"name": s.name, "per_series": specs}
    if s.error is not None:
        return None
    spec = baseline_spec(s.model, prep.ids)
    return (layout.BASELINE, spec) if spec is not None else None


def save_run(
    final: Path,
    prep: Prepared,
    cfg: RunConfig,
    results: Sequence[CellResult],
    baselines: Sequence[Scored],
    rows: list[dict[str, Any]],
    *,
    columns: Sequence[str] | None = None,
    board_extra: dict[str, Any] | None = None,
    extra: Callable[[Path], None] | None = None,
) -> None:
    """Write a complete run directory atomically (:func:`forecaster.artifacts.run.store_run`).

    ``extra(tmp_dir)`` runs after the row folders are written and before the leaderboard, so it
    may measure the saved cells (updating ``rows``) and add files (a report, plots); the directory
    is renamed into place only after all of it. Every baseline row that scored gets a folder too (its
    spec), so ``forecast predict --model <run>/<name>`` serves any row of the leaderboard.
    """
    many = prep.panel.id_col is not None
    first = prep.items[0].series
    resolved = dataclasses.replace(  # what the defaults resolved to on this data, so a rerun repeats it
        cfg, data=dataclasses.replace(cfg.data, target=first.target, time_col=first.time_col),
        window=dataclasses.replace(cfg.window, lookback=prep.split.lookback),
        model=dataclasses.replace(cfg.model, baselines=tuple(s.name for s in baselines)),
    )
    base = {s.name: s.scores for s in baselines}

    def write_cells(tmp: Path) -> None:
        for c in results:
            _write_cell(tmp / c.name, prep, cfg, c, base)
        for s in baselines:
            saved = _row_spec(prep, s)
            if saved is not None:
                _write_spec_row(tmp / s.name, prep, cfg, s, *saved)

    def write_extra(tmp: Path) -> None:
        if many:
            rows_scored = [*baselines, *(c.row for c in results if c.row is not None)]
            atomic_write_text(tmp / layout.SERIES_METRICS, series_table(prep, rows_scored).to_csv(index=False))
        if extra is not None:
            extra(tmp)

    board = {"season": prep.season, "n_test_windows": len(prep.split.starts("test")),
             **({**series_counts(prep), "id_col": prep.panel.id_col} if many else {}), **(board_extra or {}),
             "rows": rows}
    store_run(final, config_yaml=dump_yaml(resolved), write_cells=write_cells, board=board,
              columns=columns or (PANEL_COLUMNS if many else LEADERBOARD_COLUMNS), extra=write_extra)
