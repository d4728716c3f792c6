"""The plain-language verdict of a comparison: what to use for this data, and how sure.

Example:
    >>> rows = [{"name": "gru", "kind": "model", "mase": 0.8, "mase_std": 0.01},
    ...         {"name": "lstm", "kind": "model", "mase": 0.9, "mase_std": 0.01},
    ...         {"name": "seasonal_naive", "kind": "baseline", "mase": 1.2}]
    >>> verdict(rows, repeats=3).split(". ")[0]
    'MASE GRU 0.800 ± 0.010 vs LSTM 0.900 ± 0.010: GRU is better (gap 0.100 > spread 0.010)'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from forecaster.evaluation import intervals

__all__ = ["verdict", "still_improving", "partial"]


def partial(row: dict[str, Any], rows: Sequence[dict[str, Any]]) -> bool:
    """Whether a panel row scored fewer series than another row of its leaderboard (a ``--per-series``
    network or a statistical model that failed on some): its mean is over other series, so it is
    not ranked against the full rows."""
    counts = [r["series"] for r in rows if isinstance(r.get("series"), int)]
    return isinstance(row.get("series"), int) and bool(counts) and row["series"] < max(counts)


def still_improving(val_loss: Sequence[float], *, cap: int, patience: int, rel: float = 0.005) -> bool:
    """Whether a fit that used every epoch up to ``cap`` was still improving when it was cut.

    Read from the validation curve: the best loss of the last ``max(patience, 1)`` epochs beats
    the best before them by more than ``rel`` (0.5 %). A best epoch that falls late by a hair
    does not count, and neither does a fit that stopped early.

    Example:
        >>> still_improving([1.0, 0.8, 0.6, 0.5, 0.4], cap=5, patience=2)
        True
        >>> still_improving([1.0, 0.5, 0.5, 0.5, 0.4999], cap=5, patience=2)
        False
    """
    losses = [v for v in val_loss if v is not None]
    window = max(patience, 1)
    if len(losses) < cap or len(losses) <= window:
        return False
    before, last = min(losses[:-window]), min(losses[-window:])
    return last < before * (1 - rel) if before > 0 else last < before


def _label(row: dict[str, Any]) -> str:
    """How a row is named in the verdict: networks in capitals, baselines in words."""
    return str(row["name"]).replace("_", " ") if row.get("kind") == "baseline" else str(row["name"]).upper()


def _equal(a: float, b: float) -> bool:
    """Equal at the precision the verdict prints (three decimals)."""
    return f"{a:.3f}" == f"{b:.3f}"


def _pair(a: dict[str, Any], b: dict[str, Any], *, key: str, label: str, repeats: int) -> str:
    """One comparison sentence: the lower of two rows, equal when they print the same, and
    whether the gap beats the seed spread."""
    best, second = sorted((a, b), key=lambda r: r[key])

    def fmt(r: dict[str, Any]) -> str:
        std = r.get(f"{key}_std")
        return f"{_label(r)} {r[key]:.3f}" + (f" ± {std:.3f}" if std else "")

    tuned = all(str(r["name"]).endswith("-tuned") for r in (a, b))  # a tuned row is its best trial's one seed
    if tuned:
        repeats = 1
    gap = second[key] - best[key]
    noise = max(best.get(f"{key}_std") or 0.0, second.get(f"{key}_std") or 0.0)
    head = f"{label} {fmt(best)} vs {fmt(second)}"
    if _equal(best[key], second[key]):
        return f"{head}: equal at this precision."
    if repeats < 2:
        return (f"{head}: {_label(best)} scored lower, but with one seed the gap cannot be "
                + ("told from seed-to-seed noise (a tuned row is its best trial's one seed)." if tuned else
                   "told from seed-to-seed noise; rerun with --repeats 3."))
    if gap > noise:
        return f"{head}: {_label(best)} is better (gap {gap:.3f} > spread {noise:.3f})."
    return f"{head}: no clear difference (gap {gap:.3f} within spread {noise:.3f})."


def _pct(fraction: float) -> str:
    """A relative gap in percent: one decimal below 10 %, so 0.4 % does not print as 0 %."""
    pct = 100 * abs(fraction)
    return f"{pct:.1f}%" if pct < 10 else f"{pct:.0f}%"


def _versus(net: dict[str, Any], other: dict[str, Any], *, key: str) -> str:
    """``beats X (0.9) by 4%`` / ``equals X`` / ``loses to X (0.9) by 4%``."""
    a, b = net[key], other[key]
    if _equal(a, b):
        return f"equals {_label(other)} ({b:.3f})"
    word = "beats" if a < b else "loses to"
    return f"{word} {_label(other)} ({b:.3f}) by {_pct(1 - a / b)}" if b else f"{word} {_label(other)}"


def verdict(
    rows: Sequence[dict[str, Any]], *, repeats: int, key: str = "mase", epochs_cap: int | None = None, patience: int = 0,
    subject: str = "this series",
) -> str:
    """Plain-language answer: what to use for this series, which network wins, and by how much.

    - A winner among networks is declared only when the best cell's mean ``key`` (MASE, or
      backtest MASE) beats the runner-up's by more than the larger of their seed-to-seed standard
      deviations (which needs ``repeats >= 2``); two values equal at the printed precision are
      "equal". LSTM vs GRU is always answered when both ran.
    - Whether recurrence (the better of LSTM and GRU) beats the linear model and the MLP.
    - The best network against the *best* baseline row (naive, seasonal naive, linear,
      statistical models), and the best row overall: what to use. A MASE of 1 or more is never
      called a win (the in-sample seasonal naive does as well).
    - Cells still improving at the epoch cap (read from the validation curve, ``still_improving``
      in the rows; rows without it fall back to a best epoch within the last ``patience``).
    """
    scored = [r for r in rows if r.get(key) is not None and not r.get("error") and not partial(r, rows)]
    models = sorted((r for r in scored if r["kind"] == "model"), key=lambda r: r[key])
    baselines = sorted((r for r in scored if r["kind"] == "baseline"), key=lambda r: r[key])
    label = "backtest MASE" if key.startswith("backtest") else "MASE"
    if not models:
        return f"No model produced a {label} (the training series has no seasonal variation)."
    best = models[0]
    lines = []
    if len(models) > 1:
        lines.append(_pair(best, models[1], key=key, label=label, repeats=repeats))
    else:
        lines.append(f"{label} {_label(best)} {best[key]:.3f}.")
    named = {r["name"]: r for r in models}
    if "lstm" in named and "gru" in named and {best["name"], models[1]["name"]} != {"lstm", "gru"}:
        lines.append("LSTM vs GRU: " + _pair(named["lstm"], named["gru"], key=key, label=label, repeats=repeats))
    pair = {"lstm-tuned", "gru-tuned"}
    if pair <= set(named) and {best["name"], models[1]["name"]} != pair:  # each at its best, at the same budget
        lines.append("LSTM vs GRU, each tuned at an equal budget: "
                     + _pair(named["lstm-tuned"], named["gru-tuned"], key=key, label=label, repeats=repeats))
    recurrent = [named[c] for c in ("lstm", "gru") if c in named]
    others = [r for r in [named.get("mlp"), next((b for b in baselines if b["name"] == "linear"), None)] if r]
    if recurrent and others:
        rec = min(recurrent, key=lambda r: r[key])
        lines.append(f"Recurrence ({_label(rec)} {rec[key]:.3f}) "
                     + "; ".join(_versus(rec, o, key=key) for o in others) + ".")
    if baselines:
        top = baselines[0]
        if best[key] >= 1.0 and top[key] >= 1.0 and best[key] < top[key]:
            lines.append(f"The best network beats every baseline ({_label(top)} {label} {top[key]:.3f}) "
                         f"but its {label} {best[key]:.3f} is not below 1: no better than repeating last season "
                         "in-sample; not a win.")
        elif best[key] < top[key] and not _equal(best[key], top[key]):
            lines.append(f"It beats {_label(top)} ({label} {top[key]:.3f}) by "
                         f"{_pct(1 - best[key] / top[key])}, the best baseline: use {_label(best)}.")
        elif _equal(best[key], top[key]):
            lines.append(f"No network beats {_label(top)} ({label} {top[key]:.3f}, equal at this precision): "
                         f"use the simpler {_label(top)} for {subject}.")
        else:
            lines.append(f"No network beats {_label(top)} ({label} {top[key]:.3f}; the best network "
                         f"{_label(best)} {best[key]:.3f} is {_pct(best[key] / top[key] - 1)} worse): "
                         f"use the baseline for {subject}.")
    stopped = [r for r in models if r.get("stopped")]
    for r in stopped:
        said = str(r["stopped"])
        lines.append(f"{_label(r)}: {said}" + ("; it forecasts as the linear row." if said.startswith("no gain") else "."))
    covered = intervals.coverage_columns([best])
    if covered:
        said = ", ".join(f"{level}% interval covered {intervals.percent(best[k])}" for k, level in covered)
        lines.append(f"Intervals of {_label(best)} on the test windows: {said}.")
    if epochs_cap:
        capped = [
            r["name"].upper() for r in models if not r.get("stopped") and
            (r["still_improving"] if "still_improving" in r else
                (r.get("epochs_run") or 0) >= epochs_cap - 0.5 and (r.get("best_epoch") or 0) > epochs_cap - max(patience, 1))
        ]
        if capped:
            lines.append(f"{', '.join(capped)} still improved at the {epochs_cap}-epoch cap: rerun with more --epochs.")
    left = [r for r in rows if r.get(key) is not None and not r.get("error") and partial(r, rows)]
    if left:
        total = max(r["series"] for r in rows if isinstance(r.get("series"), int))
        lines.append("Not ranked (scored on fewer series, a mean over others): "
                     + ", ".join(f"{_label(r)} ({r['series']} of {total})" for r in left) + ".")
    return " ".join(lines)
