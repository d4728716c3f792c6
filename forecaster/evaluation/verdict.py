"""The verdict of a comparison: what to use for this data, and how sure, from a paired test of the rows' losses.

One rule for every pair of rows (network or baseline, one seed or many): two rows are compared on
the same test windows with a Diebold-Mariano test of their loss differences (:func:`paired_test`),
every pair. A row is **in the running** when no other row is significantly better than it at
``level`` (5 % by default, ``verdict.level``); rows in the running are pairwise **equal** (were one
significantly better than another, the other would be out), and the **cheapest** of them is
recommended (fit + forecast seconds, then simplicity and parameters: :func:`cost_key`). Every
sentence of the verdict is a result of that one test, so no two sentences can disagree; and a row
is never recommended over one that is significantly better than it.

What a loss is depends on what was compared (:func:`forecaster.evaluation.scoring.unit_losses`):

- a file of one series: one loss per test origin (the window's mean absolute error in MASE
  units). Neighbouring windows overlap by ``horizon - 1`` steps, so their losses are correlated:
  the variance is Newey-West's (HAC, ``horizon - 1`` lags) with the Harvey-Leybourne-Newbold
  small-sample correction, and the statistic is read against Student's t with ``n - 1`` degrees
  of freedom (Harvey, Leybourne & Newbold 1997);
- a panel: the same losses of every series, stacked, each series an independent block: its own
  HLN-corrected Newey-West variance over its own windows, the blocks' variances added with the
  weight the pooled score (the mean over series) gives them, the degrees of freedom combined by
  Welch-Satterthwaite. A test over series alone (one MASE per series) has no power on a few
  series: on 3 it could not tell a MASE of 5 from 0.7;
- a backtest: one loss per fold (its MASE), no lag.

A network trained with several seeds is the mean of its seeds' losses, unit by unit, and the
spread of its seeds' mean losses (their variance over the number of seeds) is added to the
variance of the difference, the degrees of freedom combined by Welch-Satterthwaite: two cells
whose seeds disagree are not told apart. Baselines are deterministic (no seed term).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(0, 0.05, 200)
    >>> losses = {"gru": np.array([0.50 + noise]), "ets": np.array([0.51 + noise + rng.normal(0, 0.01, 200)]),
    ...           "naive": np.array([1.20 + rng.normal(0, 0.05, 200)])}
    >>> rows = [{"name": "gru", "kind": "model", "mase": 0.50, "train_seconds": 40.0},
    ...         {"name": "ets", "kind": "baseline", "mase": 0.51, "fit_seconds": 1.0, "predict_seconds": 0.5},
    ...         {"name": "naive", "kind": "baseline", "mase": 1.20, "fit_seconds": 0.0, "predict_seconds": 0.01}]
    >>> v = judge(rows, losses, unit="origins", lag=0)
    >>> v.recommended, v.best, v.equal_to
    ('gru', 'gru', [])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from forecaster.evaluation.pairtest import DEFAULT_LEVEL, PairTest, paired_test

__all__ = ["PairTest", "Verdict", "paired_test", "judge", "cost_seconds", "cost_key", "cheaper", "p_text", "still_improving",
           "partial", "Unit", "COMPLEXITY", "DEFAULT_LEVEL", "DEFAULT_TOLERANCE"]

#: What one loss of a test is: a test origin (of one series, or of each series of a panel), a backtest fold.
Unit = Literal["origins", "folds"]

#: The coverage tolerance when none is configured (``verdict.coverage_tolerance``); the significance level's
#: default (``verdict.level``) is :data:`~forecaster.evaluation.pairtest.DEFAULT_LEVEL`.
DEFAULT_TOLERANCE = 0.05

#: Simplicity among rows that cost the same (timings within a factor of 2): the naive rows first, then the
#: linear model, the statistical models, the networks (then by parameters).
COMPLEXITY = {"naive": 0, "seasonal_naive": 1, "linear": 2}


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


# ---------------------------------------------------------------------------------------------
# cost


def cost_seconds(row: dict[str, Any]) -> float | None:
    """What a row costs to fit and forecast, in seconds: a network's training time (``train_seconds``) or a
    baseline's ``fit_seconds``, plus its ``predict_seconds``; ``None`` when the row records neither."""
    fit = row.get("train_seconds")
    fit = row.get("fit_seconds") if fit is None else fit
    parts = [v for v in (fit, row.get("predict_seconds")) if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(sum(parts)) if parts else None


def cost_key(row: dict[str, Any]) -> tuple[int, int, float, float, str]:
    """The order of cheapness among equal rows: seconds to fit and forecast (:func:`cost_seconds`) in factor-2
    steps (below 0.5 s is one step: timings on a busy machine differ by more than that between runs), then
    simplicity (:data:`COMPLEXITY`: naive, seasonal naive, linear, statistical, network), then parameters,
    then the seconds themselves. A row with no recorded cost comes last.

    Example:
        >>> cost_key({"name": "naive", "kind": "baseline", "fit_seconds": 0.01, "predict_seconds": 0.02})[:3]
        (0, 0, 0.0)
        >>> cost_key({"name": "gru", "kind": "model", "train_seconds": 40.0, "params": 5000})[:3]
        (7, 4, 5000.0)
    """
    seconds = cost_seconds(row)
    step = 10 ** 6 if seconds is None else (0 if seconds <= 0.5 else math.ceil(math.log2(seconds / 0.5)))
    name = str(row.get("name"))
    simple = 4 if row.get("kind") == "model" else COMPLEXITY.get(name, 3)
    params = row.get("params")
    return (step, simple, float(params) if isinstance(params, (int, float)) else 0.0,
            seconds if seconds is not None else math.inf, name)


def cheaper(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether row ``a`` is cheaper than row ``b``, for one pair (the retrain gate): it costs less than half of
    ``b``'s seconds to fit and forecast, or, within a factor of 2 of each other, it is simpler or has fewer
    parameters (:func:`cost_key`'s order without its seconds). Two runs of one setup (the same row, kind and
    parameters) are never cheaper than each other: their timings differ by noise and warm-up only.

    Example:
        >>> gru = {"name": "gru", "kind": "model", "train_seconds": 40.0, "params": 5000}
        >>> cheaper({"name": "ets", "kind": "baseline", "fit_seconds": 2.0}, gru), cheaper({**gru, "train_seconds": 9.0}, gru)
        (True, False)
    """
    ca, cb = cost_seconds(a), cost_seconds(b)
    if ca is None or cb is None or [a.get(k) for k in ("name", "kind", "params")] == [b.get(k) for k in
                                                                                    ("name", "kind", "params")]:
        return False  # one setup run twice: a second fit in a warm process can take under half the first's time
    if ca < cb / 2 or cb < ca / 2:
        return ca < cb
    return cost_key(a)[1:3] < cost_key(b)[1:3]


# ---------------------------------------------------------------------------------------------
# the verdict


@dataclass
class Verdict:
    """What a comparison recommends and why, with every test behind it (``leaderboard.json``'s ``verdict``).

    Attributes:
        recommended: the row to use (``None``: no row could be ranked).
        best: the row with the lowest score.
        equal_to: the other rows in the running (no row significantly better than them): equal to the
            recommended one, and to each other.
        level: the significance level.
        tests: every pair of ranked rows (``a`` the lower-scoring).
        reason: why ``recommended``, in one sentence.
        text: the whole verdict in plain words.
        method: the test, in words.
        unit: what one loss is (``origins``, ``series``, ``folds``).
        key: the leaderboard column ranked (``mase``, ``backtest_mase``).
        coverage: one record per row whose interval covered less than nominal minus the tolerance.
    """

    recommended: str | None
    best: str | None
    equal_to: list[str]
    level: float
    tests: list[PairTest]
    reason: str
    text: str
    method: str
    unit: str
    key: str
    coverage_tolerance: float = DEFAULT_TOLERANCE
    coverage: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"recommended": self.recommended, "best": self.best, "equal_to": list(self.equal_to),
                "level": self.level, "method": self.method, "unit": self.unit, "key": self.key,
                "tests": [t.to_dict() for t in self.tests], "reason": self.reason,
                "coverage_tolerance": self.coverage_tolerance, "coverage": list(self.coverage), "text": self.text}


def _label(row: dict[str, Any] | str, rows: Mapping[str, dict[str, Any]] | None = None) -> str:
    """How a row is named in the verdict: networks in capitals, baselines in words."""
    if isinstance(row, str):
        row = (rows or {}).get(row, {"name": row, "kind": "baseline"})
    return str(row["name"]).replace("_", " ") if row.get("kind") == "baseline" else str(row["name"]).upper()


def p_text(p: float) -> str:
    """A p-value as the verdict prints it: ``p 0.041``, ``p < 0.001``, ``untested``."""
    if not np.isfinite(p):
        return "untested"
    return "p < 0.001" if p < 0.001 else f"p {p:.3f}"


def _pct(fraction: float) -> str:
    return f"{100 * fraction:g}%"


def _seconds(row: dict[str, Any]) -> str:
    """``(12.3 s)``: parenthesised, so a test masking timings finds it."""
    c = cost_seconds(row)
    return "(cost not recorded)" if c is None else f"({c:.1f} s)"


def _method(unit: str, n: int, lag: int, label: str, subject: str, series: int) -> str:
    if unit == "folds":
        return f"Diebold-Mariano test paired over the {n} backtest folds (each fold's {label}, no lag)"
    what = (f"each origin's mean absolute error over its {lag + 1} steps, in MASE units; Newey-West variance over up "
            f"to {lag} lag(s) for the overlapping windows, Harvey-Leybourne-Newbold small-sample correction")
    if series > 1:
        return (f"Diebold-Mariano test on the {n:,} test origins of {subject} ({what}; series by series, each series "
                "an independent block weighted as the mean over series weighs it)")
    return f"Diebold-Mariano test on the {n:,} test origins of {subject} ({what})"


def _pair_sentence(t: PairTest, rows: Mapping[str, dict[str, Any]], key: str, head: str) -> str:
    """``LSTM vs GRU: GRU 0.250 vs LSTM 0.262, p 0.030: GRU is lower.``: one test, one rule."""
    a, b = rows[t.a], rows[t.b]
    first, second = (a, b) if a[key] <= b[key] else (b, a)
    said = (f"{head}: {_label(first)} {first[key]:.3f} vs {_label(second)} {second[key]:.3f}, {p_text(t.p_value)}: ")
    lower = t.lower()
    return said + (f"{_label(rows[lower])} is significantly lower." if lower else "not significantly different.")


def judge(
    rows: Sequence[dict[str, Any]],
    losses: Mapping[str, np.ndarray],
    *,
    unit: Unit = "origins",
    lag: int = 0,
    level: float = DEFAULT_LEVEL,
    key: str = "mase",
    coverage_tolerance: float = DEFAULT_TOLERANCE,
    epochs_cap: int | None = None,
    patience: int = 0,
    subject: str = "this series",
    blocks: np.ndarray | None = None,
) -> Verdict:
    """Test every pair of rows, recommend the cheapest row that no row is significantly better than, and say it.

    Args:
        rows: leaderboard rows (``name``, ``kind``, ``key``; costs, coverage, ``series``...).
        losses: each row's ``(seeds, units)`` losses on the same units (see the module docstring); a row
            without losses is not ranked.
        unit, lag: what a loss is, and the test's Newey-West lags (``horizon - 1`` for origins).
        blocks: the series of each unit (a panel's origins; ``None``: one series, or folds).
        level: the significance level; ``coverage_tolerance``: how far below nominal a row's test coverage may
            fall before it is flagged.
        key: the column ranked (``mase``; ``backtest_mase`` after a backtest).
        epochs_cap, patience: name the cells still improving at the epoch cap.
        subject: what was forecast, in words (``this series``, ``these 15 series``).
    """
    label = "backtest MASE" if key.startswith("backtest") else "MASE"
    ranked = [r for r in rows if r.get(key) is not None and not r.get("error") and not partial(r, rows)
              and r["name"] in losses and np.isfinite(np.asarray(losses[r["name"]], dtype=np.float64)).any()]
    by_name = {r["name"]: r for r in ranked}
    n_units = max((np.asarray(v).shape[-1] for v in losses.values()), default=0)
    method = _method(unit, n_units, lag, label, subject, 1 if blocks is None else len(np.unique(blocks)))
    if not ranked:
        text = f"No row produced a {label} to compare (the training part has no variation to scale it by)."
        return Verdict(None, None, [], level, [], text, text, method, unit, key, coverage_tolerance)

    def test(a: str, b: str) -> PairTest:
        return paired_test(losses[a], losses[b], lag=lag, level=level, names=(a, b), blocks=blocks,
                           seeded=(by_name[a].get("kind") == "model", by_name[b].get("kind") == "model"))

    # equal scores (networks that forecast as the linear row) in a fixed order: simplicity, parameters, name, never
    # the timings, so the same run reads the same
    order = sorted(ranked, key=lambda r: (r[key], cost_key(r)[1:3], r["name"]))
    best = order[0]
    pairs = {(a["name"], b["name"]): test(a["name"], b["name"]) for i, a in enumerate(order) for b in order[i + 1:]}

    def between(a: str, b: str) -> PairTest:
        return pairs[(a, b)] if (a, b) in pairs else pairs[(b, a)]

    # a row is in the running when no row is significantly better than it; in the running, every pair is equal
    beaten = {r["name"]: [o["name"] for o in order if o is not r and between(o["name"], r["name"]).lower() == o["name"]]
              for r in order}
    running = [r for r in order if not beaten[r["name"]]] or [best]
    chosen = min(running, key=cost_key)
    at = f"at the {_pct(level)} level"
    lines = []
    if len(running) == 1:
        nearest = order[1] if len(order) > 1 else None
        reason = (f"{_label(chosen)} has the lowest {label} ({chosen[key]:.3f}) and is significantly lower than every "
                  f"other row {at}" + (f" (the nearest, {_label(nearest)} {nearest[key]:.3f}, "
                                       f"{p_text(between(chosen['name'], nearest['name']).p_value)})" if nearest else ""))
    elif chosen is best:
        others = [r for r in running if r is not chosen]
        said = ", ".join(f"{_label(r)} {r[key]:.3f} ({p_text(between(best['name'], r['name']).p_value)})" for r in others)
        reason = (f"{_label(best)} has the lowest {label} ({best[key]:.3f}); no row is significantly better {at}, "
                  f"{said} {'is' if len(others) == 1 else 'are'} not significantly different from it, and "
                  f"{_label(best)} is also the cheapest of them {_seconds(best)}")
    else:
        t = between(chosen["name"], best["name"])
        reason = (f"no row is significantly better than {_label(chosen)} ({label} {chosen[key]:.3f}) {at}, not even the "
                  f"lowest, {_label(best)} {best[key]:.3f} ({p_text(t.p_value)}), and it is the cheapest of the "
                  f"{len(running)} rows no row beats: {_label(chosen)} {_seconds(chosen)} to fit and forecast against "
                  f"{_label(best)} {_seconds(best)}")
    lines.append(f"Use {_label(chosen)}: {reason}.")
    shown = [r for r in running if r is not chosen and r is not best] if chosen is not best else []
    if shown:
        lines.append(f"Also not significantly different from {_label(best)}: "
                     + ", ".join(f"{_label(r)} {r[key]:.3f} ({p_text(between(best['name'], r['name']).p_value)})"
                                 for r in shown) + ".")
    out = [r for r in order if beaten[r["name"]]]
    if out:
        def by(r: dict[str, Any]) -> str:
            winner = best["name"] if best["name"] in beaten[r["name"]] else beaten[r["name"]][0]
            return (f"{_label(r)} {r[key]:.3f} ({p_text(between(winner, r['name']).p_value)}"
                    + ("" if winner == best["name"] else f", against {_label(by_name[winner])}") + ")")

        lines.append(f"Significantly worse than {_label(best)} {at}: " + ", ".join(by(r) for r in out) + ".")
    if chosen[key] >= 1.0:
        lines.append(f"{_label(chosen)}'s {label} {chosen[key]:.3f} is not below 1: no better than repeating the last "
                     "season in-sample; treat its forecasts with care.")
    if "lstm" in by_name and "gru" in by_name:
        lines.append(_pair_sentence(between("lstm", "gru"), by_name, key, "LSTM vs GRU"))
    if "lstm-tuned" in by_name and "gru-tuned" in by_name:  # each at its best, at the same tuning budget
        lines.append(_pair_sentence(between("lstm-tuned", "gru-tuned"), by_name, key,
                                    "LSTM vs GRU, each tuned at an equal budget"))
    recurrent = [by_name[c] for c in ("lstm", "gru") if c in by_name]
    if recurrent and "mlp" in by_name:
        rec = min(recurrent, key=lambda r: r[key])
        lines.append(_pair_sentence(between(rec["name"], "mlp"), by_name, key, f"Recurrence ({_label(rec)}) vs MLP"))
    lines.append(f"Test: {method}, at the {_pct(level)} level." + _seed_note(ranked, losses))
    models = [r for r in rows if r.get("kind") == "model" and r.get(key) is not None]
    for r in (r for r in models if r.get("stopped")):
        said = str(r["stopped"])
        lines.append(f"{_label(r)}: {said}" + ("; it forecasts as the linear row." if said.startswith("no gain") else "."))
    coverage, flagged = _coverage(chosen, ranked, coverage_tolerance)
    lines += flagged
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
    return Verdict(chosen["name"], best["name"], [r["name"] for r in running if r is not chosen], level,
                   list(pairs.values()), f"{reason}.", " ".join(lines), method, unit, key, coverage_tolerance,
                   coverage)


def _seed_note(ranked: Sequence[dict[str, Any]], losses: Mapping[str, np.ndarray]) -> str:
    seeds = sorted({np.atleast_2d(losses[r["name"]]).shape[0] for r in ranked if r.get("kind") == "model"})
    if not seeds:
        return ""
    if seeds[-1] >= 2:
        return (f" Each network's losses are the mean of its {'/'.join(map(str, seeds))} seeds, and their "
                "seed-to-seed spread is part of the test.")
    return " One seed per network: seed-to-seed noise is not in the test (rerun with --repeats 3 to include it)."


def _coverage(chosen: dict[str, Any], ranked: Sequence[dict[str, Any]],
              tolerance: float) -> tuple[list[dict[str, Any]], list[str]]:
    """Flag every ranked row whose test coverage falls short of nominal by more than ``tolerance``: pooled, or on
    a panel on its median series (pooled coverage can hide most series missing, a few far over); the
    sentences: the recommended row's coverage (pooled and, on a panel, its median and worst series) and the
    flags."""
    from forecaster.evaluation.intervals import coverage_columns, percent

    flags: list[dict[str, Any]] = []
    for r in ranked:
        for k, level in coverage_columns([r]):
            covered, median = r.get(k), r.get(f"{k}_median")
            short = [v for v in (covered, median) if v is not None and v < level / 100 - tolerance - 1e-12]
            if short:
                flags.append({"row": r["name"], "level": level, "coverage": covered, "median_series_coverage": median,
                              "shortfall": level / 100 - min(short), "worst_series": r.get(f"{k}_min_series"),
                              "worst_series_coverage": r.get(f"{k}_min"),
                              "on": "pooled" if covered is not None and covered in short else "median series"})
    lines = []
    covered_cols = coverage_columns([chosen])
    if covered_cols:
        parts = []
        for k, level in covered_cols:
            if chosen.get(k) is None:
                continue
            part = f"{level}% covered {percent(chosen[k])}"
            if chosen.get(f"{k}_min") is not None:
                part += (f" (median series {percent(chosen[f'{k}_median'])}, worst series "
                         f"{chosen[f'{k}_min_series']} {percent(chosen[f'{k}_min'])})")
            parts.append(part)
        if parts:
            lines.append(f"Intervals of {_label(chosen)} on the test windows: {', '.join(parts)}.")
    mine = [f for f in flags if f["row"] == chosen["name"]]
    if mine:
        said = ", ".join(f"the {f['level']}% interval covered {percent(f['coverage'])}" if f["on"] == "pooled" else
                         f"the {f['level']}% interval covered {percent(f['median_series_coverage'])} of the median "
                         "series" for f in mine)
        lines.append(f"Too narrow: for {_label(chosen)} {said}, short of nominal by more than {100 * tolerance:g} points "
                     "(--coverage-shortfall): read its intervals as optimistic; calibrate them on more validation "
                     "windows (a larger --val), or use an equal row whose intervals cover.")
    others = [f for f in flags if f["row"] != chosen["name"]]
    if others:
        named = {r["name"]: r for r in ranked}

        def covered_text(f: dict[str, Any]) -> str:
            return f"{f['level']}% covered " + (percent(f["coverage"]) if f["on"] == "pooled" else
                                                f"{percent(f['median_series_coverage'])} of the median series")

        rows_short = dict.fromkeys(f["row"] for f in others)  # one entry per row, its levels together
        lines.append(f"Intervals short of nominal by more than {100 * tolerance:g} points also for: "
                     + ", ".join(f"{_label(named[n])} ({', '.join(covered_text(f) for f in others if f['row'] == n)})"
                                 for n in rows_short) + ".")
    return flags, lines
