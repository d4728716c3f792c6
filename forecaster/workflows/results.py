"""What a run produces: trained cells, scored rows, and the leaderboard built from them.

Example:
    >>> rows = leaderboard([], [], many=False)
    >>> rows
    []
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecaster.evaluation import intervals
from forecaster.evaluation.scoring import METRIC_KEYS, Scored
from forecaster.evaluation.verdict import Verdict
from forecaster.models.network.model import leaderboard_name
from forecaster.models.network.residual import ResidualBase

__all__ = ["CellResult", "RunResult", "SeriesFits", "mean_curve", "leaderboard", "run_warnings", "LEADERBOARD_COLUMNS",
           "PANEL_COLUMNS"]

LEADERBOARD_COLUMNS = (
    "name", "kind", "params", "epochs_run", "best_epoch", "train_seconds",
    "mae", "rmse", "smape", "mape", "mase", "mase_vs_seasonal_naive", "fit_seconds", "predict_seconds", "stopped",
    "error",
)

#: A panel's leaderboard adds the median MASE over series and the series each row scored.
PANEL_COLUMNS = (*LEADERBOARD_COLUMNS[:11], "mase_median", "series", *LEADERBOARD_COLUMNS[11:])


@dataclass
class CellResult:
    """One trained cell: its model, training record, scored row and future forecast.

    ``model`` is the Keras model, or ``{series id: Keras model}`` for a ``--per-series`` cell (whose
    ``fit`` is then a :class:`SeriesFits`).
    """

    cell: str
    model: Any
    params: int
    fit: Any  # training.FitResult, or SeriesFits
    scores: dict[str, Any]
    forecast: pd.DataFrame
    strategy: str = "direct"
    base: ResidualBase | None = None  # what the network corrects; None without the residual design
    linear_choice: dict[str, float] | None = None  # model.linear null: validation loss of the linear start and the base
    train_seconds: float = 0.0  # the cell's fit (a --per-series cell: every series' fit)
    epochs_total: int = 0  # epochs of every fit of the cell
    network: Any = None  # the fitted row model (NetworkModel, or PerSeries of them)
    calibration: Any = None  # intervals.Calibration from the validation windows; None without --levels
    row: Scored | None = None  # the row scored per series

    @property
    def name(self) -> str:
        """Folder and leaderboard name: the cell, suffixed by a non-default strategy."""
        return leaderboard_name(self.cell, self.strategy)

    @property
    def test_pred(self) -> np.ndarray | None:
        """The test forecasts of a file of one series (``(n_test_windows, horizon)``)."""
        if self.row is None or len(self.row.preds) != 1:
            return None
        return self.row.preds[0]


@dataclass
class RunResult:
    """What a train produced: the saved run and its leaderboard rows."""

    run_dir: Path
    leaderboard: list[dict[str, Any]]
    cells: list[CellResult] = field(default_factory=list)
    season: int = 1
    warnings: list[str] = field(default_factory=list)  # undefined metrics etc., for the user to see
    verdict: Verdict | None = None  # what the run recommends and why (leaderboard.json's "verdict")
    scored: list[Scored] = field(default_factory=list)  # the baseline rows, scored per series

    @property
    def recommended(self) -> str | None:
        """The row the run recommends (``forecast predict`` serves it when it has a folder)."""
        return self.verdict.recommended if self.verdict is not None else None


def mean_curve(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-epoch rows of many fits (a ``--per-series`` cell's ``history.csv``) as one curve: the mean
    ``loss`` and ``val_loss`` of the fits still training at each epoch, their ``seconds`` summed, and
    how many they were (``series``)."""
    return rows.groupby("epoch", as_index=False).agg(loss=("loss", "mean"), val_loss=("val_loss", "mean"),
                                                     seconds=("seconds", "sum"), series=("loss", "size"))


@dataclass(frozen=True)
class SeriesFits:
    """The fits of a ``--per-series`` cell's networks, read like one fit (``training.FitResult``'s fields).

    ``history`` is the mean curve over the series still training at each epoch (with how many
    were: ``series``), ``epochs_run`` and ``best_epoch`` the mean over series (rounded),
    ``best_val_loss`` the mean; ``by_series`` has every series' own rows (``history.csv``).
    """

    ids: tuple[str | None, ...]
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


def _row(name: str, kind: str, scores: dict[str, Any], reference: dict[str, Any], many: bool,
         **extra: Any) -> dict[str, Any]:
    ref = reference.get("mase")
    mase = scores.get("mase")
    row = {"name": name, "kind": kind, "params": None, "epochs_run": None, "best_epoch": None, "train_seconds": None,
           "fit_seconds": scores.get("fit_seconds"), "predict_seconds": scores.get("predict_seconds")}
    row.update(extra)
    row.update({k: scores.get(k) for k in METRIC_KEYS})
    row.update({k: scores[k] for k in (*intervals.flat_keys([scores]), *intervals.series_coverage_keys([scores]))})
    row["mase_vs_seasonal_naive"] = (mase / ref) if (mase is not None and ref) else None
    row["error"] = scores.get("error")
    if many:
        row["mase_median"] = scores.get("mase_median")
        row["series"] = scores.get("series")
    return row


def leaderboard(cells: Sequence[CellResult], base: Sequence[Scored], *, many: bool) -> list[dict[str, Any]]:
    """One row per cell and baseline, networks first (``many``: a panel's, with the median MASE and series)."""
    ref = next((s.scores for s in base if s.name == "seasonal_naive"), {})
    rows = [
        _row(c.name, "model", c.scores, ref, many, params=c.params, epochs_run=c.fit.epochs_run,
             best_epoch=c.fit.best_epoch, train_seconds=round(c.train_seconds, 3),
             stopped=getattr(c.fit, "stop_reason", None))
        for c in cells
    ]
    rows += [_row(s.name, "baseline", s.scores, ref, many) for s in base]
    return rows


def run_warnings(cells: Sequence[CellResult], base: Sequence[Scored]) -> list[str]:
    """Every distinct metric warning of a run (undefined MAPE or MASE...), baselines included."""
    found = [w for s in base for w in s.scores.get("warnings", [])]
    found += [w for c in cells for w in c.scores.get("warnings", [])]
    return list(dict.fromkeys(found))
