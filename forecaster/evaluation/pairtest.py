"""The paired test behind the verdict (:mod:`forecaster.evaluation.verdict`): a Diebold-Mariano test of two rows'
losses on the same units, Newey-West (HAC) variance for overlapping multi-step windows, the Harvey-Leybourne-
Newbold small-sample correction, a panel's series as independent blocks and a network's seeds pooled (their
spread joins the variance). The verdict's module docstring says what a loss is and why each choice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PairTest", "paired_test", "DEFAULT_LEVEL"]

#: The significance level when none is configured (``verdict.level``).
DEFAULT_LEVEL = 0.05

@dataclass(frozen=True)
class PairTest:
    """One paired test of row ``a`` against row ``b`` on the same units (``mean_difference`` is ``a - b``:
    negative when ``a`` has the lower loss).

    Attributes:
        n: units both rows have a loss on (origins, series or folds).
        statistic: the HLN-corrected Diebold-Mariano statistic (NaN: too few units to test).
        p_value: two-sided, against Student's t with ``df`` degrees of freedom (NaN: not tested).
        df: degrees of freedom (``n - 1``, or Welch-Satterthwaite's with seed spread).
        ci: the ``1 - level`` confidence interval of the mean difference.
        level: the significance level the test is read at.
        seeds: seeds pooled in ``a`` and in ``b`` (0: a deterministic row).
    """

    a: str
    b: str
    n: int
    mean_difference: float
    statistic: float
    p_value: float
    df: float
    ci: tuple[float, float]
    level: float
    seeds: tuple[int, int] = (0, 0)

    @property
    def significant(self) -> bool:
        """Whether the difference is significant at :attr:`level` (never, when it could not be tested)."""
        return bool(np.isfinite(self.p_value) and self.p_value < self.level)

    def lower(self) -> str | None:
        """The row significantly lower (better), or ``None`` when they are equal at the level."""
        if not self.significant:
            return None
        return self.a if self.mean_difference < 0 else self.b

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "n": self.n, "mean_difference": _num(self.mean_difference),
                "statistic": _num(self.statistic), "p_value": _num(self.p_value), "df": _num(self.df),
                "ci": [_num(self.ci[0]), _num(self.ci[1])], "significant": self.significant,
                "lower": self.lower(), "seeds": list(self.seeds)}


def _num(value: float) -> float | None:
    """A JSON number (``None`` for NaN; an infinite statistic stays as big as a float allows)."""
    if value is None or math.isnan(value):
        return None
    return float(max(min(value, 1.7976931348623157e308), -1.7976931348623157e308))


def _hln_factor(n: int, h: int) -> float:
    """Harvey-Leybourne-Newbold's correction of the DM statistic for ``n`` losses of ``h``-step forecasts:
    ``sqrt((n + 1 - 2h + h(h - 1) / n) / n)`` (``h <= n / 2``: see :func:`_block`); with ``h = 1`` it turns the
    variance's divisor ``n`` into ``n - 1`` (the paired t-test)."""
    return math.sqrt((n + 1 - 2 * h + h * (h - 1) / n) / n)


def _hac_variance(d: np.ndarray, lag: int) -> float:
    """Newey-West (Bartlett kernel) variance of the mean of ``d`` with ``lag`` lags (statsmodels' HAC
    covariance of a regression on a constant, without its small-sample scaling)."""
    if lag <= 0:
        return float(np.var(d) / len(d))
    from statsmodels.regression.linear_model import OLS

    fit = OLS(d, np.ones(len(d))).fit(cov_type="HAC", cov_kwds={"maxlags": lag, "use_correction": False})
    return float(fit.bse[0] ** 2)


def _block(d: np.ndarray, horizon: int) -> float:
    """The HLN-corrected Newey-West variance of the mean of one series' loss differences ``d`` (of ``horizon``-step
    windows: ``horizon - 1`` lags). A part with fewer than ``2 * horizon`` windows is read with ``n // 2`` steps,
    where the correction stays defined (its windows overlap too much to estimate more lags)."""
    n = len(d)
    h = max(1, min(horizon, n // 2))
    return _hac_variance(d, h - 1) / _hln_factor(n, h) ** 2


def paired_test(a: np.ndarray, b: np.ndarray, *, lag: int = 0, level: float = DEFAULT_LEVEL,
                names: tuple[str, str] = ("a", "b"), seeded: tuple[bool, bool] = (True, True),
                blocks: np.ndarray | None = None) -> PairTest:
    """Diebold-Mariano test of two rows' losses on the same units, series as blocks, seeds pooled.

    The difference tested is the mean over series (``blocks``) of each series' mean loss difference: the
    difference of the rows' pooled scores. Each series' variance is Newey-West's over its own windows with
    ``lag`` lags and the HLN correction; series are independent blocks (their variances add, each weighted as
    the pooled score weighs it), the degrees of freedom combined by Welch-Satterthwaite. One series (no
    ``blocks``) is the classic HLN-corrected DM test against ``t(n - 1)``.

    Args:
        a, b: ``(seeds, units)`` losses (a 1-D array is one seed); NaN where a row has no loss on a unit
            (the unit is left out of the pair).
        lag: Newey-West lags within a series (``horizon - 1`` for overlapping windows; 0 for folds).
        level: the significance level (the confidence interval is ``1 - level``).
        names: the rows' names, kept in the result.
        seeded: whether each row's seeds vary (a network: its seed-to-seed spread joins the variance);
            a deterministic row (a baseline) has none.
        blocks: the series of each unit (``None``: one series). A series with fewer than 2 units both rows
            have is left out.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> base = rng.normal(1.0, 0.2, 300)
        >>> t = paired_test(base - 0.05, base + rng.normal(0, 0.05, 300))
        >>> t.significant, t.lower(), round(t.mean_difference, 2)
        (True, 'a', -0.05)
        >>> seeds_a = np.stack([base - 0.10, base + 0.06])   # the seeds disagree: their spread dominates
        >>> seeds_b = np.stack([base + 0.02, base - 0.02])
        >>> paired_test(seeds_a, seeds_b).significant
        False
    """
    from scipy import stats

    a2, b2 = np.atleast_2d(np.asarray(a, dtype=np.float64)), np.atleast_2d(np.asarray(b, dtype=np.float64))
    where = np.zeros(a2.shape[1], dtype=np.int64) if blocks is None else np.asarray(blocks)
    keep = np.isfinite(a2).all(axis=0) & np.isfinite(b2).all(axis=0)
    d = a2.mean(axis=0) - b2.mean(axis=0)
    parts = [idx for k in np.unique(where) if (idx := np.flatnonzero(keep & (where == k))).size >= 2]
    ka, kb = len(a2) if seeded[0] else 0, len(b2) if seeded[1] else 0
    n = int(sum(len(idx) for idx in parts))
    nan = float("nan")
    if not parts:
        diff = float(np.mean(d[keep])) if keep.any() else nan
        return PairTest(names[0], names[1], int(keep.sum()), diff, nan, nan, nan, (nan, nan), level, (ka, kb))
    m = len(parts)
    mean = float(np.mean([d[idx].mean() for idx in parts]))
    series = [(_block(d[idx], lag + 1) / m ** 2, len(idx) - 1) for idx in parts]
    hac = sum(v for v, _ in series)
    terms = [(hac, hac ** 2 / sum(v ** 2 / f for v, f in series) if hac > 0 else n - 1)]
    for k, rows in ((ka, a2), (kb, b2)):
        if k >= 2:  # each seed's pooled score (mean over series of its mean loss): their spread
            pooled = np.mean([rows[:, idx].mean(axis=1) for idx in parts], axis=0)
            terms.append((float(np.var(pooled, ddof=1) / k), k - 1))
    var = sum(v for v, _ in terms)
    if var <= 0 or not np.isfinite(var):
        exact = mean == 0 or not np.isfinite(mean)
        stat = 0.0 if exact else math.copysign(math.inf, mean)
        return PairTest(names[0], names[1], n, mean, stat, 1.0 if exact else 0.0, float(n - 1), (mean, mean), level,
                        (ka, kb))
    df = var ** 2 / sum(v ** 2 / f for v, f in terms if v > 0)
    se = math.sqrt(var)
    stat = mean / se
    p = float(2 * stats.t.sf(abs(stat), df))
    half = float(stats.t.ppf(1 - level / 2, df)) * se
    return PairTest(names[0], names[1], n, mean, stat, p, float(df), (mean - half, mean + half), level, (ka, kb))
