"""What decides a promotion: the tested gate (the verdict's paired test of challenger and champion on the
challenger's holdout), the score gate it falls back on, the interval-coverage gate, the new-data checks,
and the champion re-scored on the challenger's holdout.

Example:
    >>> gate(0.8, 1.0, metric="mase", margin=0.1)[0]
    True
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecaster.artifacts.cell import LoadedCell
from forecaster.artifacts.statistical import LoadedStatistical
from forecaster.errors import ArtifactError, DataError
from forecaster.evaluation.verdict import PairTest, cheaper, cost_seconds, p_text

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.data.frame import Panel
    from forecaster.data.prepared import Prepared
    from forecaster.evaluation.scoring import Scored

__all__ = ["gate", "tested_gate", "coverage_gate", "check_new_data", "served_row", "unscored_series", "rescore_champion",
           "champion_row"]

def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def gate(challenger: float | None, champion: float | None, *, metric: str, margin: float,
         champion_version: int | None = None) -> tuple[bool, str]:
    """Decide whether a challenger's score beats the champion's by ``margin`` (lower is better).

    Returns:
        ``(promote, reason)``.

    Example:
        >>> gate(0.8, 1.0, metric="mase", margin=0.1)
        (True, 'mase 0.8000 < 0.9000 (champion 1.0000 - 10%)')
        >>> gate(float("nan"), 1.0, metric="mase", margin=0.0)[0]
        False
    """
    if not _finite(challenger):
        return False, f"challenger {metric} is {challenger}: not a finite score, never promoted"
    assert challenger is not None
    if champion_version is None and champion is None:
        return True, f"no champion yet; first valid version ({metric} {challenger:.4f})"
    if not _finite(champion):
        return True, f"champion {metric} is {champion}: the challenger ({challenger:.4f}) replaces it"
    assert champion is not None
    threshold = champion * (1 - margin) if champion >= 0 else champion * (1 + margin)
    detail = f"(champion {champion:.4f} - {margin:.0%})"
    if challenger < threshold:
        return True, f"{metric} {challenger:.4f} < {threshold:.4f} {detail}"
    return False, f"{metric} {challenger:.4f} does not beat {threshold:.4f} {detail}"


def tested_gate(test: PairTest, challenger: dict[str, Any], champion: dict[str, Any], *, metric: str, margin: float,
                champion_version: int | None = None) -> tuple[bool, str]:
    """Decide a promotion by the verdict's own rule (:mod:`forecaster.evaluation.verdict`): the challenger's and
    the champion's losses on the same holdout (``test``: challenger ``a``, champion ``b``). Promoted when the
    challenger is significantly better (and beats the champion by ``margin``), or not significantly different
    and cheaper (:func:`~forecaster.evaluation.verdict.cheaper`); the reason says which.

    Example:
        >>> from forecaster.evaluation.verdict import PairTest
        >>> t = PairTest("v2", "v1", 200, -0.004, -0.6, 0.55, 199.0, (-0.02, 0.01), 0.05)
        >>> gru = {"name": "gru", "kind": "model", "mase": 0.9004, "train_seconds": 30.0, "params": 5000}
        >>> ets = {"name": "ets", "kind": "baseline", "mase": 0.9043, "fit_seconds": 2.0}
        >>> promote, reason = tested_gate(t, gru, ets, metric="mase", margin=0.0, champion_version=1)
        >>> promote, reason[:60]
        (False, 'mase 0.9004 vs champion v1 0.9043: not significantly differe')
        >>> reason[60:]
        'nt (p 0.550 at the 5% level), and not cheaper (30.0 s against 2.0 s); kept'
    """
    a, b = float(challenger[metric]), float(champion[metric])
    who = f"champion v{champion_version}" if champion_version is not None else "the champion"
    head = f"{metric} {a:.4f} vs {who} {b:.4f}: "
    at = f"{p_text(test.p_value)} at the {100 * test.level:g}% level"  # a NaN p-value (no test possible): "untested"
    lower = test.lower()
    if lower == test.a:
        threshold = b * (1 - margin) if b >= 0 else b * (1 + margin)
        if a < threshold:
            return True, head + f"significantly better ({at})" + (f", beyond the margin ({margin:.0%})" if margin else "")
        return False, head + f"significantly better ({at}) but not by the margin ({threshold:.4f}, {margin:.0%}); kept"
    if lower == test.b:
        return False, head + f"significantly worse ({at}); kept"
    costs = f"{cost_seconds(challenger) or 0:.1f} s against {cost_seconds(champion) or 0:.1f} s"
    if cheaper(challenger, champion):
        return True, head + f"not significantly different ({at}), and cheaper ({costs})"
    return False, head + f"not significantly different ({at}), and not cheaper ({costs}); kept"


def champion_row(cell_dir: Path) -> dict[str, Any]:
    """The champion's leaderboard row in its own run (its costs), ``{}`` when the run records none."""
    from forecaster.artifacts import layout
    from forecaster.fs import read_json

    try:
        rows = read_json(cell_dir.parent / layout.LEADERBOARD_JSON, "leaderboard")["rows"]
        return dict(next(r for r in rows if isinstance(r, dict) and r.get("name") == cell_dir.name))
    except (ArtifactError, KeyError, TypeError, StopIteration):
        return {}


def coverage_gate(scores: dict[str, Any], levels: Sequence[int], tolerance: float | None) -> str | None:
    """Why a challenger's intervals keep it from promotion (``None``: they pass, or no tolerance is set).

    Each level's coverage on the holdout must lie within ``tolerance`` of nominal.

    Example:
        >>> coverage_gate({"coverage_80": 0.71, "coverage_95": 0.94}, (80, 95), 0.05)
        'the 80% interval covered 71.0% of the holdout, outside 80% +- 5 points'
        >>> coverage_gate({"coverage_80": 0.78}, (80,), 0.05) is None
        True
    """
    if tolerance is None:
        return None
    for level in sorted(levels):
        covered = scores.get(f"coverage_{level}")
        if covered is None:
            return f"the {level}% interval could not be measured on the holdout"
        if abs(covered - level / 100) > tolerance + 1e-12:
            return (f"the {level}% interval covered {100 * covered:.1f}% of the holdout, outside {level}% "
                    f"+- {100 * tolerance:g} points")
    return None


def check_new_data(panel: Panel, manifest: dict[str, Any], *, min_new_rows: int, horizon: int,
                   seen: dict[str, Any] | None = None) -> str | None:
    """Compare new data with what the champion was trained on.

    Args:
        panel: the data now (a file of one series: a panel of one).
        manifest: the champion's manifest (schema, frequency, horizon, and what it has seen).
        min_new_rows: rows needed after the last timestamp already trained on.
        horizon: the configured horizon.
        seen: the manifest of a newer version trained since (a kept challenger): its data counts
            as seen too, so data already trained on once is not retrained on every run.

    Returns:
        ``None`` when a retrain may go ahead, else the reason to skip it.
    """
    import pandas as pd

    data, window = manifest.get("data", {}), manifest.get("window", {})
    many = panel.id_col is not None
    if many != bool(data.get("id_col")):
        return ("schema differs from the champion's: " + (f"it forecasts many series by '{data.get('id_col')}'" if
                data.get("id_col") else "it forecasts one series per file") + "; train a new model name")
    one = panel.first
    alone = manifest.get("kind") == "statistical" or (  # naive and seasonal naive rows too (the linear map reads all)
        manifest.get("kind") == "baseline" and not any(data.get(k) for k in ("covariates", "static", "known")))
    if alone:  # it reads the target alone: the other columns are the challenger's
        if one.target != data.get("target"):
            return f"schema differs from the champion's: target {one.target!r}, expected {data.get('target')!r}"
    else:
        expected = [data.get("target"), *data.get("covariates", []), *data.get("static", []), *data.get("known", [])]
        if one.columns != expected:
            return f"schema differs from the champion's: columns {one.columns}, expected {expected}"
        for role, now, then in (("known covariates", one.known, data.get("known", [])),
                                ("static covariates", one.static, data.get("static", []))):
            if list(now) != list(then):  # the same columns in another role would feed the champion wrong inputs
                return f"schema differs from the champion's: {role} {list(now)}, expected {list(then)}"
    if window.get("freq") != one.freq:
        return f"frequency {one.freq!r} differs from the champion's {window.get('freq')!r}"
    if int(window.get("horizon", horizon)) != horizon:
        return f"horizon {horizon} differs from the champion's {window.get('horizon')}; scores would not compare"
    lasts = []
    for who, m in (("the champion's", manifest), ("the newest version's", seen or {})):
        with contextlib.suppress(KeyError, ValueError, TypeError, AttributeError):
            lasts.append((pd.Timestamp(m["data"]["last"]), who, m["data"].get("series_last")))
    if not lasts:
        return None
    last, who, per_series = max(lasts, key=lambda lw: lw[0])
    if many and isinstance(per_series, dict):  # each series after its own end; a new series counts whole
        new_rows = 0
        for s in panel.series:
            with contextlib.suppress(ValueError, TypeError):
                end = per_series.get(str(s.series_id))
                new_rows += len(s.frame) if end is None else int((s.frame.index > pd.Timestamp(end)).sum())
        if new_rows < min_new_rows:
            return (f"{new_rows} new rows after the end of each series in {who} data; need at least "
                    f"{min_new_rows}")
        return None
    new_rows = sum(int((s.frame.index > last).sum()) for s in panel.series)
    if new_rows < min_new_rows:
        return f"{new_rows} new rows after {who} last timestamp {last}; need at least {min_new_rows}"
    return None


def served_row(run_dir: Path, rows: Sequence[dict[str, Any]], fallback: str) -> dict[str, Any]:
    """The leaderboard row a version serves (:func:`~forecaster.artifacts.run.best_cell`: its recommended row)."""
    from forecaster.artifacts.run import best_cell

    try:
        name = best_cell(run_dir).name
    except ArtifactError:
        name = fallback
    return next((r for r in rows if r.get("name") == name), next(r for r in rows if r.get("name") == fallback))


def unscored_series(row: dict[str, Any], prep: Prepared) -> str | None:
    """On a panel, ``"the challenger scored 14 of 15 series"`` when its row left series out (a
    ``--per-series`` network that failed to train on them); ``None`` otherwise."""
    scored, total = row.get("series"), len(prep.items)
    if not isinstance(scored, int) or scored >= total:
        return None
    return f"the challenger scored {scored} of {total} series (no network for the others)"


def rescore_champion(cell_dir: Path, prep: Prepared, metric: str) -> Scored:
    """The champion scored on the challenger's test windows (same targets, same MASE scales), pooled over series
    as the challenger's is (``.scores[metric]``; its per-unit losses for the gate's test:
    :func:`~forecaster.evaluation.scoring.unit_losses`).

    A network is scored as saved; a statistical champion keeps its structure and re-estimates its
    parameters on the new train + validation rows, as it did when it was chosen.

    Raises:
        ArtifactError: it cannot be loaded, or has no model for a series of the data (a new series:
            it could not serve it), or fails on every series.
        DataError: its lookback reaches before the start of a series' data.
    """
    from forecaster.evaluation.scoring import score_row
    from forecaster.workflows.predict import load_model

    loaded = load_model(cell_dir, backend="keras")
    trained_on = loaded.manifest["data"].get("series_last") or {}
    missing = [sid for sid in prep.ids if not loaded.serves(sid)]
    failed = [sid for sid in missing if sid in trained_on]
    if failed:
        raise ArtifactError(f"it has no model for series {failed[0]!r} ({len(failed)} whose training failed) and "
                            "cannot serve it")
    if missing:
        what = f"series {missing[0]!r} ({len(missing)} new in the data)" if prep.panel.id_col else "this data"
        raise ArtifactError(f"it was not trained on {what} and cannot serve it")
    if isinstance(loaded, LoadedCell):
        list(loaded.members)  # load every network now: a broken one is an unusable champion, not a series it failed on
    if not isinstance(loaded, LoadedStatistical):  # a network or a baseline row reads a fixed window
        short = [p.series_id for p in prep.items if loaded.lookback > int(p.origins("test").min())]
        if short:
            where = f" of series {short[0]!r}" if prep.panel.id_col else " of the new data"
            raise DataError(f"the champion's lookback {loaded.lookback} reaches before the start{where}")
    scored = score_row(loaded, prep, fit=isinstance(loaded, LoadedStatistical))
    if scored.error:
        raise ArtifactError(scored.error)
    return scored
