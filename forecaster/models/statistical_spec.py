"""The schema of a statistical row's ``spec.json`` and its saved state, checked before anything is served.

A spec names its model (one of :data:`NAMES`), the season and the structure its fit selected
(ETS components, Theta's type, ARIMA's orders, MSTL's seasons) and, since state format 1, the
fitted state per series (:mod:`forecaster.models.statistical_state` serves it). Every field a
forecast reads is range-checked here, so a tampered or foreign file is refused with the field
named (exit 4 at predict), never served, and never allowed to allocate gigabytes.

Example:
    >>> check_spec({"name": "prophet"})
    Traceback (most recent call last):
    ...
    forecaster.models.statistical_spec.SpecError: name: expected one of ets, theta, arima, mstl, got 'prophet'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["NAMES", "STATE_FORMAT", "SINGLE", "MAX_SEASON", "MAX_ORDER", "MAX_STATES", "SpecError", "StateError",
           "check_spec", "has_state"]

#: The statistical models a spec may name (the registry of :mod:`forecaster.models.statistical`).
NAMES = ("ets", "theta", "arima", "mstl")
#: The ``state`` layout this version writes and reads.
STATE_FORMAT = 1
#: Key of the state of a file of one series (a panel keys each series by its id).
SINGLE = ""
#: Largest season, order or state a spec may hold: far above any real one, low enough that a
#: tampered number cannot make a predict allocate gigabytes.
MAX_SEASON = 100_000
MAX_ORDER = 50
MAX_STATES = 4_000


class SpecError(ValueError):
    """A spec that breaks its schema (the caller names the file: exit 4)."""


class StateError(ValueError):
    """A saved state that cannot be applied to the series given (the caller names the file: exit 4)."""


# -- schema ---------------------------------------------------------------------------------------


def _int(v: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise SpecError(f"{what}: expected an integer in {lo}..{hi}, got {v!r}")
    return v


def _num(v: Any, what: str, *, none: bool = False) -> float | None:
    if v is None and none:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise SpecError(f"{what}: expected a finite number{' or null' if none else ''}, got {v!r}")
    return float(v)


def _nums(v: Any, what: str, n: int | None = None) -> list[float]:
    if not isinstance(v, list) or (n is not None and len(v) != n):
        raise SpecError(f"{what}: expected a list of {n if n is not None else 'some'} numbers, got "
                        f"{type(v).__name__}{f' of {len(v)}' if isinstance(v, list) else ''}")
    return [float(_num(x, f"{what}[{i}]")) for i, x in enumerate(v)]  # type: ignore[arg-type]


def _choice(v: Any, what: str, options: tuple[Any, ...]) -> Any:
    if v not in options:
        raise SpecError(f"{what}: expected one of {', '.join(map(str, options))}, got {v!r}")
    return v


def _dict(v: Any, what: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise SpecError(f"{what}: expected an object, got {type(v).__name__}")
    return v


def check_spec(spec: Any) -> None:
    """Check a statistical row's spec against its schema; the first problem raises :class:`SpecError`.

    The name must be one of :data:`NAMES`; the season an integer the fitted rows can hold (a
    seasonal structure needs ``2 <= season < n_fit``, a decomposed theta ``4 <= 2 season <=
    n_fit``, so an impossible season is refused rather than silently served as a non-seasonal
    model); each structure's fields come from their closed sets and its orders lie in range;
    a state, when present, must match its structure (lengths, finite numbers).

    Example:
        >>> check_spec({"name": "prophet"})
        Traceback (most recent call last):
        ...
        forecaster.models.statistical_spec.SpecError: name: expected one of ets, theta, arima, mstl, got 'prophet'
    """
    spec = _dict(spec, "spec")
    name = _choice(spec.get("name"), "name", NAMES)
    n_fit = spec.get("n_fit")
    if n_fit is not None:
        n_fit = _int(n_fit, "n_fit", 4, 10**9)
    season = _int(spec.get("season"), "season", 1, MAX_SEASON)
    history = spec.get("history")
    if history is not None:
        _int(history, "history", 2, 10**9)
    model = _dict(spec.get("model"), "model")
    seasonal = False
    if name == "ets":
        _choice(model.get("error"), "model.error", ("A", "M"))
        trend = _choice(model.get("trend"), "model.trend", ("N", "A", "M"))
        seasonal = _choice(model.get("season"), "model.season", ("N", "A", "M")) != "N"
        if _choice(model.get("damped"), "model.damped", (True, False)) and trend == "N":
            raise SpecError("model.damped: a damped trend needs a trend (model.trend is N)")
    elif name == "theta":
        _choice(model.get("type"), "model.type", ("STM", "OTM", "DSTM", "DOTM"))
        decomposed = _choice(model.get("decomposition"), "model.decomposition", (None, "multiplicative", "additive"))
        if decomposed and (season < 4 or (n_fit is not None and 2 * season > n_fit)):  # AutoTheta's own test
            raise SpecError(f"season: a decomposed theta needs 4 <= season <= half the {n_fit} rows fitted, "
                            f"got {season}")
    elif name == "arima":
        order = model.get("order")
        sorder = model.get("seasonal_order")
        for what, o in (("model.order", order), ("model.seasonal_order", sorder)):
            if not isinstance(o, list) or len(o) != 3:
                raise SpecError(f"{what}: expected [p, d, q], got {o!r}")
            for i, v in enumerate(o):
                _int(v, f"{what}[{i}]", 0, MAX_ORDER)
        period = _int(model.get("period"), "model.period", 1, MAX_SEASON)
        seasonal = any(sorder)  # type: ignore[arg-type]
        if seasonal and period != season:
            raise SpecError(f"model.period: {period} differs from the spec's season {season}")
        _choice(model.get("include_mean"), "model.include_mean", (True, False))
        _choice(model.get("include_drift"), "model.include_drift", (True, False))
    else:  # mstl
        seasons = spec.get("seasons")
        if not isinstance(seasons, list) or not seasons:
            raise SpecError(f"seasons: expected a list of seasonal periods, got {seasons!r}")
        for i, p in enumerate(seasons):
            _int(p, f"seasons[{i}]", 2, MAX_SEASON)
            if n_fit is not None and 2 * p > n_fit:
                raise SpecError(f"seasons[{i}]: {p} needs two cycles, more than the {n_fit} rows fitted")
        trend = _dict(model.get("trend"), "model.trend")
        _choice(trend.get("error"), "model.trend.error", ("A", "M"))
        _choice(trend.get("trend"), "model.trend.trend", ("N", "A", "M"))
        _choice(trend.get("damped"), "model.trend.damped", (True, False))
    if seasonal and season < 2:
        raise SpecError(f"season: a seasonal {name} structure needs a season >= 2, got {season}")
    if seasonal and n_fit is not None and season >= n_fit:  # statsforecast fits no season the rows cannot hold
        raise SpecError(f"season: a seasonal {name} structure's season {season} is not shorter than the {n_fit} rows "
                        "it was fitted on")
    state = spec.get("state")
    if state is not None:
        state = _dict(state, "state")
        if state.get("format") != STATE_FORMAT:
            raise SpecError(f"state.format: expected {STATE_FORMAT}, got {state.get('format')!r} "
                            "(written by another version: retrain it)")
        series = _dict(state.get("series"), "state.series")
        if name == "mstl" and series:
            raise SpecError("state: mstl has no saved state")
        for sid, one in series.items():
            _check_state(name, spec, _dict(one, f"state.series[{sid!r}]"), f"state.series[{sid!r}]")


def _check_state(name: str, spec: dict[str, Any], st: dict[str, Any], where: str) -> None:
    if name == "ets":
        comp = st.get("components")
        model = spec["model"]
        want = model["error"] + model["trend"] + model["season"] + ("D" if model["damped"] else "N")
        if comp != want:
            raise SpecError(f"{where}.components: expected {want} (the spec's model), got {comp!r}")
        m = _int(st.get("m"), f"{where}.m", 1, MAX_SEASON)
        if comp[2] != "N" and m != spec["season"]:
            raise SpecError(f"{where}.m: {m} differs from the spec's season {spec['season']}")
        for k in ("alpha", "beta", "gamma", "phi"):
            _num(st.get(k), f"{where}.{k}")
        if not 0 < st["alpha"] <= 1:
            raise SpecError(f"{where}.alpha: expected 0 < alpha <= 1, got {st['alpha']!r}")
        _nums(st.get("init"), f"{where}.init", 1 + (comp[1] != "N") + (m if comp[2] != "N" else 0))
    elif name == "theta":
        _choice(st.get("modeltype"), f"{where}.modeltype", ("STM", "OTM", "DSTM", "DOTM"))
        _int(st.get("m"), f"{where}.m", 1, MAX_SEASON)
        for k in ("alpha", "theta", "initial_smoothed"):
            _num(st.get(k), f"{where}.{k}")
        if st["theta"] == 0 or st["alpha"] == 0:
            raise SpecError(f"{where}: alpha and theta must be non-zero, got {st['alpha']!r}, {st['theta']!r}")
        if st.get("history") is not None:
            _int(st.get("history"), f"{where}.history", 4, 10**9)
    elif name == "arima":
        arma = st.get("arma")
        if not isinstance(arma, list) or len(arma) != 7:
            raise SpecError(f"{where}.arma: expected [p, q, P, Q, period, d, D], got {arma!r}")
        p, q, sp, sq, period, d, sd = (_int(v, f"{where}.arma[{i}]", 0, MAX_SEASON) for i, v in enumerate(arma))
        m = spec["model"]
        if [p, d, q] != m["order"] or [sp, sd, sq] != m["seasonal_order"] or period != m["period"]:
            raise SpecError(f"{where}.arma: {arma} disagrees with the spec's orders {m['order']} {m['seasonal_order']} "
                            f"period {m['period']}")
        ncoef = p + q + sp + sq + int(st.get("intercept") is not None) + int(st.get("drift") is not None)
        _nums(st.get("coef"), f"{where}.coef", p + q + sp + sq)
        _num(st.get("intercept"), f"{where}.intercept", none=True)
        _num(st.get("drift"), f"{where}.drift", none=True)
        if st.get("intercept") is not None and d + sd:
            raise SpecError(f"{where}.intercept: a differenced model has no intercept")
        if st.get("drift") is not None and d + sd != 1:
            raise SpecError(f"{where}.drift: only a model differenced once has a drift")
        rd = max(p + period * sp, q + period * sq + 1) + d + period * sd
        if rd > MAX_STATES or ncoef > 4 * MAX_ORDER:
            raise SpecError(f"{where}: a state of {rd} values is beyond this version's limit ({MAX_STATES})")
        resume = st.get("resume")
        if resume is not None:
            resume = _dict(resume, f"{where}.resume")
            _int(resume.get("n"), f"{where}.resume.n", 1, 10**9)
            if not isinstance(resume.get("sha256"), str) or len(resume["sha256"]) != 64:
                raise SpecError(f"{where}.resume.sha256: expected 64 hex digits")
            _nums(resume.get("a"), f"{where}.resume.a", rd)
            _nums(resume.get("P"), f"{where}.resume.P", rd * rd)


def has_state(spec: Mapping[str, Any], series: str = SINGLE) -> bool:
    """Whether ``spec`` carries a state for ``series`` (else predict refits, as before format 1)."""
    state = spec.get("state")
    return isinstance(state, dict) and isinstance(state.get("series"), dict) and series in state["series"]
