"""The verdict of a run from its scored rows: each row's losses on the same units, then one test for every pair.

:func:`decide` gathers what :func:`forecaster.evaluation.verdict.judge` compares: every row's
per-unit losses (:func:`forecaster.evaluation.scoring.unit_losses`: a test origin of every series, each
series a block; with ``--backtest`` a fold), one line per seed for a network trained with
several, and reads the significance level and the coverage tolerance from the config
(``verdict.level``, ``verdict.coverage_tolerance``). ``train``, ``compare`` and the retrain all
decide through it, so their verdicts follow one rule.

Example:
    >>> v = decide(cfg, prep, rows, {"gru": [scored_gru], "ets": [scored_ets]})  # doctest: +SKIP
    >>> v.recommended, v.equal_to  # doctest: +SKIP
    ('ets', ['gru'])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from forecaster.config import RunConfig
from forecaster.data.prepared import Prepared
from forecaster.evaluation.scoring import Scored, unit_blocks, unit_losses
from forecaster.evaluation.verdict import Verdict, judge

__all__ = ["decide", "row_losses", "fold_losses", "subject_of"]


def subject_of(prep: Prepared) -> str:
    """What was forecast, as the verdict names it."""
    if prep.panel.id_col is None:
        return "this series"
    return f"these {len(prep.items)} series (the row's score is the mean of theirs)"


def row_losses(prep: Prepared, scored: Mapping[str, Sequence[Scored | None]], metric: str = "mase"
               ) -> dict[str, np.ndarray]:
    """Each row's ``(seeds, units)`` losses on the test windows (rows with no scored seed left out)."""
    out = {}
    for name, runs in scored.items():
        lines = [unit_losses(prep, s, metric) for s in runs if s is not None and not s.error]
        if lines:
            out[name] = np.stack(lines)
    return out


def fold_losses(results: Mapping[str, Sequence[Any]], rows: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Each row's ``(seeds, folds)`` MASE from a comparison's backtests (:func:`~forecaster.workflows.backtest.
    cells_backtest`: one result per seed of each cell; the baselines' folds are in every result)."""
    out: dict[str, np.ndarray] = {}
    first = next(iter(results.values()))[0]

    def mase(fold: Any, name: str) -> float:
        v = fold.scores.get(name, {}).get("mase")
        return float(v) if v is not None else np.nan

    for row in rows:
        name = row["name"]
        if row.get("kind") == "model" and name in results:
            out[name] = np.array([[mase(f, name) for f in r.folds] for r in results[name]], dtype=np.float64)
        elif row.get("kind") != "model":
            out[name] = np.array([[mase(f, name) for f in first.folds]], dtype=np.float64)
    return out


def decide(cfg: RunConfig, prep: Prepared, rows: Sequence[dict[str, Any]],
           scored: Mapping[str, Sequence[Scored | None]], *, backtests: Mapping[str, Sequence[Any]] | None = None
           ) -> Verdict:
    """The verdict of a run's leaderboard ``rows``: on the test windows' losses of every ``scored`` row (name ->
    its scored seeds), or with ``backtests`` (a comparison's ``--backtest``) on each fold's MASE."""
    common: dict[str, Any] = {"level": cfg.verdict.level, "coverage_tolerance": cfg.verdict.coverage_tolerance,
                              "epochs_cap": cfg.training.epochs, "patience": cfg.training.patience,
                              "subject": subject_of(prep)}
    if backtests:
        return judge(rows, fold_losses(backtests, rows), unit="folds", lag=0, key="backtest_mase", **common)
    many = prep.panel.id_col is not None
    return judge(rows, row_losses(prep, scored), unit="origins", lag=prep.split.horizon - 1, key="mase",
                 blocks=unit_blocks(prep) if many else None, **common)
