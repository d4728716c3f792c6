"""The train pipeline, top to bottom: load -> split -> scale -> windows -> fit -> score -> export.

Every cell in one run sees exactly the same windows, split, scaler, epoch cap, stopping rule,
batch size and seed, and is scored beside the naive baselines on the same test windows.

Example:
    >>> from forecaster import config
    >>> result = train(config.resolve(overrides={"training.epochs": 3}))  # doctest: +SKIP
    >>> result.run_dir  # doctest: +SKIP
    PosixPath('models/seattle_temps_2010/runs/20261124-181502-lstm-3fa2')
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecaster import baselines, metrics
from forecaster.config import RunConfig, dump_yaml
from forecaster.data import SeriesFrame, load_series
from forecaster.errors import DataError, TrainingError
from forecaster.export import atomic_write_text, json_ready, new_run_id, staged_run, write_cell_manifest
from forecaster.windows import Scaler, Split, make_dataset, split, target_windows

__all__ = ["Prepared", "CellResult", "RunResult", "prepare", "train", "future_index", "LEADERBOARD_COLUMNS"]

Progress = Callable[[str], None]

LEADERBOARD_COLUMNS = (
    "name", "kind", "params", "epochs_run", "best_epoch", "train_seconds",
    "mae", "rmse", "smape", "mape", "mase", "mase_vs_seasonal_naive",
)


@dataclass(frozen=True)
class Prepared:
    """The shared inputs of every cell in a run."""

    series: SeriesFrame
    split: Split
    scaler: Scaler
    scaled: np.ndarray  # (n, n_features) float32, target in column 0
    season: int
    y: np.ndarray  # target in original units
    test_targets: np.ndarray  # (n_test_windows, horizon) original units

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


@dataclass
class CellResult:
    """One trained cell: its model, training record, test scores and future forecast."""

    cell: str
    model: Any
    params: int
    fit: Any  # training.FitResult
    scores: dict[str, Any]
    forecast: pd.DataFrame
    test_pred: np.ndarray | None = None  # (n_test_windows, horizon), original units
    strategy: str = "direct"
    base: baselines.ResidualBase | None = None  # what the network corrects; None without the residual design
    linear_choice: dict[str, float] | None = None  # model.linear null: best validation loss with and without
    train_seconds: float = 0.0  # every fit of the cell (both ways under model.linear null); ``fit`` is the kept one
    epochs_total: int = 0  # epochs of every fit of the cell

    @property
    def name(self) -> str:
        """Folder and leaderboard name: the cell, suffixed by a non-default strategy."""
        return self.cell if self.strategy == "direct" else f"{self.cell}-{self.strategy}"


@dataclass
class RunResult:
    """What :func:`train` produced: the saved run and its leaderboard rows."""

    run_dir: Path
    leaderboard: list[dict[str, Any]]
    cells: list[CellResult] = field(default_factory=list)
    season: int = 1
    warnings: list[str] = field(default_factory=list)  # undefined metrics etc., for the user to see


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
        season=season, y=y, test_targets=target_windows(y, first, w.horizon),
    )


def _score(prep: Prepared, y_pred: np.ndarray) -> dict[str, Any]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", metrics.MetricWarning)
        scores = metrics.score(prep.test_targets, y_pred, insample=prep.insample, season=prep.season)
    scores["warnings"] = sorted({str(c.message) for c in caught})
    return scores


def baseline_scores(prep: Prepared) -> dict[str, dict[str, Any]]:
    """Naive and seasonal-naive scores on the test windows."""
    first, h = prep.split.first_targets("test"), prep.split.horizon
    return {
        "naive": _score(prep, baselines.naive(prep.y, first, h)),
        "seasonal_naive": _score(prep, baselines.seasonal_naive(prep.y, first, h, season=prep.season)),
    }


def _forecast_frame(prep: Prepared, model: Any, strategy: str = "direct") -> pd.DataFrame:
    from forecaster.strategies import predict_windows

    sp, s = prep.split, prep.series
    window = prep.scaled[-sp.lookback :][None, ...]
    scaled = predict_windows(lambda x: model(x, training=False), window, strategy=strategy, horizon=sp.horizon)
    yhat = prep.scaler.inverse_target(scaled[0])
    index = future_index(s.frame.index[sp.n - 1], s.freq, sp.horizon)
    return pd.DataFrame({"timestamp": index, "yhat": yhat})


def train_cell(
    prep: Prepared, cfg: RunConfig, cell: str, *, progress: Progress | None = None, checkpoint: Any = None
) -> CellResult:
    """Build, fit and score one cell on the prepared windows (seeded from ``cfg``).

    ``checkpoint`` (a :class:`forecaster.checkpoint.Checkpoint`) makes the fit resumable.
    """
    from forecaster.architectures import build_model
    from forecaster.strategies import output_steps, rollout
    from forecaster.training import fit, seed_everything, shard_count, use_jit

    t, m = cfg.training, cfg.model
    horizon = prep.split.horizon
    steps = output_steps(m.strategy, horizon)
    train, val = (prep.dataset("train", batch_size=t.batch_size, shuffle=True, seed=t.seed),
                  prep.dataset("val", batch_size=t.batch_size))
    if m.strategy == "recursive":  # same windows, first target step only
        train, val = (d.map(lambda x, y: (x, y[:, :1])) for d in (train, val))
    jit = use_jit(t.jit_compile, len(prep.split.starts("train")), cell)
    # model.linear null: fit with and without the linear path, keep the lower validation loss
    # (the linear start won 2.5x on the hourly sample and lost 1.5-7 % on the daily one; see docs).
    variants = [False] if not m.residual else ([m.linear] if m.linear is not None else [True, False])
    fits: list[tuple[Any, baselines.ResidualBase | None, Any]] = []
    for linear in variants:
        base = prep.residual_base(steps, linear=linear) if m.residual else None
        seed_everything(t.seed)
        model = build_model(
            cell=cell, lookback=prep.split.lookback, n_features=prep.scaled.shape[1],
            horizon=steps, units=m.units, dropout=m.dropout, learning_rate=t.learning_rate,
            residual=m.residual, base=base,
        )
        part = checkpoint
        if len(variants) > 1:
            part = checkpoint.child("linear" if linear else "plain") if checkpoint is not None else None
            if progress is not None:
                progress(f"  {'with' if linear else 'without'} the linear path")
        try:
            fits.append((model, base, fit(model, train, val, epochs=t.epochs, patience=t.patience, progress=progress,
                                          checkpoint=part, jit_compile=jit,
                                          shards=shard_count(cell, t.batch_size, jit_compile=jit))))
        except TrainingError:
            if linear is variants[-1] and not fits:  # every variant diverged
                raise
    model, base, result = min(fits, key=lambda f: f[2].best_val_loss)
    choice = ({("linear" if f[1].linear is not None else "plain"): f[2].best_val_loss for f in fits}
              if len(variants) > 1 else None)
    test = prep.dataset("test", batch_size=t.batch_size)
    if m.strategy == "recursive":
        scaled_pred = np.concatenate(
            [rollout(lambda w: model(w, training=False), x.numpy(), horizon) for x, _ in test]
        )
    else:
        scaled_pred = model.predict(test, verbose=0)
    test_pred = prep.scaler.inverse_target(scaled_pred)
    return CellResult(
        cell=cell, model=model, params=int(model.count_params()), fit=result,
        scores=_score(prep, test_pred), forecast=_forecast_frame(prep, model, m.strategy), test_pred=test_pred,
        strategy=m.strategy, base=base, linear_choice=choice,
        train_seconds=sum(f[2].seconds for f in fits), epochs_total=sum(f[2].epochs_run for f in fits),
    )


def _row(name: str, kind: str, scores: dict[str, Any], reference: dict[str, Any], **extra: Any) -> dict[str, Any]:
    ref = reference.get("mase")
    mase = scores.get("mase")
    row = {"name": name, "kind": kind, "params": None, "epochs_run": None, "best_epoch": None, "train_seconds": None}
    row.update(extra)
    row.update({k: scores.get(k) for k in ("mae", "rmse", "smape", "mape", "mase")})
    row["mase_vs_seasonal_naive"] = (mase / ref) if (mase is not None and ref) else None
    return row


def leaderboard(cells: Sequence[CellResult], base: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per cell and baseline, models first."""
    ref = base["seasonal_naive"]
    rows = [
        _row(c.name, "model", c.scores, ref, params=c.params, epochs_run=c.fit.epochs_run,
             best_epoch=c.fit.best_epoch, train_seconds=round(c.train_seconds, 3))
        for c in cells
    ]
    rows += [_row(name, "baseline", scores, ref) for name, scores in base.items()]
    return rows


def _csv(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _write_onnx(cell_dir: Path, model: Any) -> None:
    """``model.onnx`` beside ``model.keras`` for TensorFlow-free predict (see :mod:`forecaster.serving`).

    A failed export costs the fast predict path, not the run: predict falls back to Keras.
    """
    from forecaster.serving import ONNX_FILE, export_onnx

    try:
        export_onnx(model, cell_dir / ONNX_FILE)
    except Exception as exc:
        warnings.warn(f"{cell_dir.name}: ONNX export failed ({exc.__class__.__name__}: {exc}); "
                      "predict will use Keras", RuntimeWarning, stacklevel=2)


def _write_cell(cell_dir: Path, prep: Prepared, cfg: RunConfig, c: CellResult, base: dict[str, Any]) -> None:
    s, sp = prep.series, prep.split
    cell_dir.mkdir()
    c.model.save(cell_dir / "model.keras")
    _write_onnx(cell_dir, c.model)
    (cell_dir / "scaler.json").write_text(prep.scaler.to_json(), encoding="utf-8")
    cell_metrics = {
        "cell": c.cell,
        "test": c.scores,
        "baselines": base,
        "season": prep.season,
        "residual_base": c.base.name if c.base is not None else None,
        "linear_correction": c.base is not None and c.base.linear is not None,
        "linear_choice_val_loss": c.linear_choice,
        "n_test_windows": int(prep.test_targets.shape[0]),
        "params": c.params,
        "epochs_run": c.fit.epochs_run,
        "best_epoch": c.fit.best_epoch,
        "best_val_loss": c.fit.best_val_loss,
        "train_seconds": c.train_seconds,  # every fit of the cell
        "epochs_total": c.epochs_total,
    }
    (cell_dir / "metrics.json").write_text(json.dumps(json_ready(cell_metrics), indent=2), encoding="utf-8")
    c.fit.history.to_csv(cell_dir / "history.csv", index=False)
    c.forecast.assign(timestamp=c.forecast["timestamp"].map(lambda ts: ts.isoformat())).to_csv(
        cell_dir / "forecast.csv", index=False
    )
    write_cell_manifest(
        cell_dir,
        cell=c.cell,
        window={"lookback": sp.lookback, "horizon": sp.horizon, "freq": s.freq, "season": prep.season,
                "strategy": c.strategy,
                "split": {"train_end": sp.train_end, "val_end": sp.val_end, "n": sp.n}},
        data={"path": s.path, "sha256": s.sha256, "rows": len(s.frame), "target": s.target,
              "covariates": list(s.covariates), "time_col": s.time_col, "missing": cfg.data.missing,
              "first": str(s.frame.index[0]), "last": str(s.frame.index[-1]), "n_filled": s.n_filled},
    )


def run_warnings(cells: Sequence[CellResult], base: dict[str, dict[str, Any]]) -> list[str]:
    """Every distinct metric warning of a run (undefined MAPE or MASE...), baselines included."""
    found = [w for scores in base.values() for w in scores.get("warnings", [])]
    found += [w for c in cells for w in c.scores.get("warnings", [])]
    return list(dict.fromkeys(found))


def describe(prep: Prepared) -> str:
    """One line: the data, its frequency and season, and the window counts per part."""
    sp = prep.split
    return (
        f"data: {prep.series.path} ({sp.n} rows, freq {prep.series.freq}, season {prep.season}); windows "
        f"train {len(sp.starts('train'))} / val {len(sp.starts('val'))} / test {len(sp.starts('test'))}"
    )


def default_run_dir(cfg: RunConfig, label: str) -> Path:
    """``<models_dir>/<name>/runs/<new run id>``."""
    return Path(cfg.output.models_dir) / cfg.model_name / "runs" / new_run_id(label)


def train(
    cfg: RunConfig,
    *,
    cells: Sequence[str] | None = None,
    progress: Progress | None = None,
    run_dir: Path | None = None,
    checkpoint: Any = None,
) -> RunResult:
    """Train each cell (default: ``cfg.model.cell``) on the same windows and save one run.

    Args:
        cfg: the resolved configuration.
        cells: cells to train under identical conditions.
        progress: receives human-readable progress lines (``None``: silent).
        run_dir: where to save the run (must not exist); default
            ``<models_dir>/<name>/runs/<new run id>``.
        checkpoint: a :class:`forecaster.checkpoint.Checkpoint`; each cell resumes from and
            saves to its own sub-folder (the caller clears it once the run is saved).

    Returns:
        The saved run directory and its leaderboard.

    Raises:
        DataError, TrainingError, ArtifactError: nothing is saved in any of these cases.
    """
    cells = list(cells or [cfg.model.cell])
    say = progress or (lambda _msg: None)
    prep = prepare(cfg)
    say(describe(prep))
    base = baseline_scores(prep)
    results = []
    for cell in cells:
        say(f"training {cell} (seed {cfg.training.seed}, up to {cfg.training.epochs} epochs)")
        results.append(train_cell(prep, cfg, cell, progress=progress,
                                  checkpoint=checkpoint.child(cell) if checkpoint is not None else None))
    rows = leaderboard(results, base)

    final = run_dir or default_run_dir(cfg, cells[0] if len(cells) == 1 else "compare")
    save_run(final, prep, cfg, results, base, rows)
    return RunResult(run_dir=final, leaderboard=rows, cells=results, season=prep.season,
                     warnings=run_warnings(results, base))


def save_run(
    final: Path,
    prep: Prepared,
    cfg: RunConfig,
    results: Sequence[CellResult],
    base: dict[str, dict[str, Any]],
    rows: list[dict[str, Any]],
    *,
    columns: Sequence[str] = LEADERBOARD_COLUMNS,
    board_extra: dict[str, Any] | None = None,
    extra: Callable[[Path], None] | None = None,
) -> None:
    """Write a complete run directory atomically: config, one folder per cell, leaderboard.

    ``extra(tmp_dir)`` runs after the cell folders are written and before the leaderboard, so it
    may measure the saved cells (updating ``rows``) and add files (a report, plots); the directory
    is renamed into place only after all of it.
    """
    resolved = dataclasses.replace(
        cfg, data=dataclasses.replace(cfg.data, target=prep.series.target, time_col=prep.series.time_col)
    )
    with staged_run(final) as tmp:
        atomic_write_text(tmp / "config.yaml", dump_yaml(resolved))
        for c in results:
            _write_cell(tmp / c.name, prep, cfg, c, base)
        if extra is not None:
            extra(tmp)
        board = {"season": prep.season, "n_test_windows": int(prep.test_targets.shape[0]), **(board_extra or {}),
                 "rows": rows}
        atomic_write_text(tmp / "leaderboard.json", json.dumps(json_ready(board), indent=2))
        atomic_write_text(tmp / "leaderboard.csv", _csv(rows, columns))
