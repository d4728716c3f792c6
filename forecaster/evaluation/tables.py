"""The report's tables and words: the leaderboard's columns (accuracy first, cost after), the per-fold backtest
table, the horizon axis in the data's units, and the notes under the tables (shared by ``report.md``,
``report.html`` and the terminal's leaderboard).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecaster.evaluation import intervals

__all__ = ["Served", "Section", "steps_ahead", "table_rows", "fold_table", "plain", "spread_note", "COVERED_NOTE"]


@dataclass(frozen=True)
class Served:
    """The row ``forecast predict`` serves from the run (the verdict's recommended row when it has a folder), its
    forecast past the end of every series (``[<id_col>,] timestamp, yhat, lo-80...``), its calibration and why."""

    name: str
    kind: str
    forecast: Any
    calibration: Any
    why: str



_FREQ_WORDS = {"h": "hour", "d": "day", "b": "business day", "w": "week", "ms": "month", "me": "month", "m": "month",
               "qs": "quarter", "qe": "quarter", "q": "quarter", "ys": "year", "ye": "year", "y": "year", "a": "year",
               "as": "year", "min": "minute", "t": "minute", "s": "second", "bms": "business month", "sms": "half-month"}


def steps_ahead(freq: str | None) -> str:
    """The horizon axis in the data's own units: ``months ahead``, ``hours ahead``, ``30-minute steps ahead``.

    Example:
        >>> steps_ahead("MS"), steps_ahead("h"), steps_ahead("30min"), steps_ahead("W-SUN"), steps_ahead(None)
        ('months ahead', 'hours ahead', '30-minute steps ahead', 'weeks ahead', 'steps ahead')
    """
    if not freq:
        return "steps ahead"
    import pandas as pd

    try:
        offset = pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        return "steps ahead"
    code = str(offset.rule_code).split("-")[0].lower()
    word = _FREQ_WORDS.get(code)
    if word is None:
        return f"steps ahead ({freq})"
    return f"{word}s ahead" if offset.n == 1 else f"{offset.n}-{word} steps ahead"



#: The leaderboard's columns: accuracy first (MASE, then the intervals' coverage, then the other errors), cost after.
_ACCURACY = (
    ("name", "model", 0), ("backtest_mase", "backtest MASE", 3), ("mase", "MASE", 3),
    ("mase_vs_seasonal_naive", "MASE / snaive", 3), ("mase_median", "median MASE", 3), ("series", "series", 0),
)
_ERRORS = (("mae", "MAE", 3), ("rmse", "RMSE", 3), ("smape", "sMAPE %", 2), ("mape", "MAPE %", 2))
_COST = (
    ("params", "params", 0), ("epochs_run", "epochs", 1), ("best_epoch", "best", 1),
    ("train_seconds", "train s", 1), ("fit_seconds", "fit s", 2), ("predict_seconds", "predict s", 2),
    ("seconds_per_epoch", "s/epoch", 2), ("train_windows_per_s", "train win/s", 0),
    ("inference_backend", "serving", 0), ("latency_single_ms", "1-window ms", 2),
    ("batch_windows_per_s", "batch win/s", 0),
)
_TABLE = (*_ACCURACY, *_ERRORS, *_COST)


def cell_text(row: dict[str, Any], key: str, digits: int) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        whole = digits <= 1 and float(value).is_integer()  # 30 epochs, not 30.0
        text = f"{value:,.0f}" if whole else f"{value:,.{digits}f}"
        std = row.get(f"{key}_std")
        return f"{text} ± {std:.{digits}f}" if std else text
    return str(value)


def table_rows(rows: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and formatted cells of the leaderboard (shared by the terminal, Markdown and HTML): accuracy first
    (MASE, the intervals' coverage on the test windows, pooled and on a panel its worst series), then the other
    errors, then cost.

    Columns with no value in any row (e.g. backtest MASE without ``--backtest``) are left out.
    """
    def present(cols: Sequence[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
        return [c for c in cols if any(r.get(c[0]) is not None for r in rows)]

    first, rest = present(_ACCURACY), present((*_ERRORS, *_COST))
    covered = [(k, f"{level}% covered") for k, level in intervals.coverage_columns(rows)]
    covered += [(f"{k}_min", f"{level}% worst series") for k, level in intervals.coverage_columns(rows)
                if any(r.get(f"{k}_min") is not None for r in rows)]
    covered.sort(key=lambda kh: int(kh[1].partition("%")[0]))
    header = [h for _, h, _ in first] + [h for _, h in covered] + [h for _, h, _ in rest]
    body = [[cell_text(r, k, d) for k, _, d in first]
            + ["-" if r.get(k) is None else intervals.percent(r[k]) for k, _ in covered]
            + [cell_text(r, k, d) for k, _, d in rest] for r in rows]
    return header, body


COVERED_NOTE = ("'N% covered' is the share of test targets inside the N% prediction interval (split conformal, "
                 "calibrated on the validation windows' errors per horizon step; the test part is never used to "
                 "calibrate); width and Winkler score per level are in leaderboard.csv.")


def plain(value: Any) -> str:
    """A condition's value as text a reader expects: lists joined, mappings as ``key value`` pairs."""
    if isinstance(value, dict):
        return ", ".join(f"{k} {plain(v)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(plain(v) for v in value) or "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def spread_note(rows: Sequence[dict[str, Any]]) -> str:
    """What the table's numbers are; the ``±`` explained only when some row has one (several seeds)."""
    note = "Metrics are on the test windows in the original units"
    if any(r.get(f"{m}_std") for r in rows for m in ("mae", "rmse", "smape", "mase")):
        note += "; ± is the standard deviation over seeds"
    return note + "."


#: One extra table of a report: title, header, body, a note under it.
Section = tuple[str, list[str], list[list[str]], str]


def fold_table(backtests: dict[str, list[dict[str, Any]]] | None,
               rows: Sequence[dict[str, Any]]) -> Section | None:
    """The per-fold backtest table: each fold's cut-off and every row's MASE on it (a network's: the mean over
    its seeds), then the mean over folds, in the leaderboard's order (``None`` without a backtest).

    Example:
        >>> runs = {"gru": [{"folds": [{"fold": 1, "cutoff": "2010-01-01", "test_windows": 9,
        ...                             "scores": {"gru": {"mase": 0.5}, "naive": {"mase": 1.0}}}]}]}
        >>> fold_table(runs, [{"name": "gru", "kind": "model"}, {"name": "naive", "kind": "baseline"}])[2]
        [['1', '2010-01-01', '9', '0.500', '1.000'], ['mean', '', '', '0.500', '1.000']]
    """
    if not backtests:
        return None
    first = next(iter(backtests.values()))[0]["folds"]
    names = [r["name"] for r in rows if r["name"] in backtests or (r.get("kind") != "model"
                                                                   and r["name"] in first[0]["scores"])]

    def mase(name: str, k: int) -> float | None:
        runs = backtests.get(name) or [{"folds": first}]
        vals = [run["folds"][k]["scores"].get(name, {}).get("mase") for run in runs]
        vals = [float(v) for v in vals if v is not None]
        return float(np.mean(vals)) if vals else None

    per = {n: [mase(n, k) for k in range(len(first))] for n in names}
    body = [[str(f["fold"]), str(f["cutoff"]), str(f["test_windows"]),
             *["-" if per[n][k] is None else f"{per[n][k]:.3f}" for n in names]] for k, f in enumerate(first)]
    means = {n: [v for v in per[n] if v is not None] for n in names}
    body.append(["mean", "", "", *[f"{np.mean(means[n]):.3f}" if means[n] else "-" for n in names]])
    header = ["fold", "cut-off", "test windows", *[f"{n.replace('_', ' ')} MASE" for n in names]]
    note = ("Each fold refits every row on the rows before its cut-off and scores it on the windows of its block; "
            "the verdict's test is paired over these folds.")
    return "Backtest: MASE per fold", header, body, note

