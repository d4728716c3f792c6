"""Serve a saved statistical row from its fitted state, with numpy alone (no statsforecast import).

A statistical row's ``spec.json`` holds its structure and parameters, and since format 1 of
``"state"`` what forecasting needs (per series, keyed by series id; ``""`` for a file of one
series). :func:`forecast` applies it to the series given to ``forecast predict`` with every
parameter frozen, which is what statsforecast's ``forward`` does and what the leaderboard scored
at each test origin (:meth:`forecaster.models.statistical.StatisticalModel.predict`):

- ``ets``: the state recursion of statsforecast's C++ ``ets::Calc`` / ``Update`` from the fitted
  initial states over every row, then ``ets::Forecast`` (a Python loop; ~50 ms for 17,520 rows);
- ``theta``: the seasonality test (lag-``m`` autocorrelation), statsmodels' classical
  decomposition, ``theta::calc`` and ``theta::forecast`` over the last ``history`` rows;
- ``arima``: the Kalman filter of R's ``ARIMA_Like`` (statsforecast's ``arima_like``) with
  Gardner's initial covariance (``getQ0``), then the mean of ``kalman_forecast``. When the
  series starts with exactly the fitted rows (their SHA-256 is saved), the filter resumes from
  the state the fit ended in and runs over the new rows only.

``mstl`` has no saved state (its ``forward`` re-runs a loess decomposition): it is refitted as
before. Why numpy: importing statsforecast takes 2-5 s on this 2-core machine (pandas, scipy,
statsmodels), more than the whole 1 s budget of a predict from a fresh process; the fit checks
every state it saves against statsforecast's own forecast (:func:`agrees`) and saves none
rather than one that disagrees.

Example:
    >>> spec = {"name": "ets", "season": 1, "n_fit": 4, "model": {"error": "A", "trend": "N",
    ...         "season": "N", "damped": False}, "state": {"format": 1, "series": {"": {
    ...         "components": "ANNN", "m": 1, "alpha": 0.5, "beta": 0.0, "gamma": 0.0, "phi": 1.0,
    ...         "init": [10.0]}}}}
    >>> check_spec(spec)
    >>> forecast(spec, np.array([10.0, 12.0]), 2).tolist()
    [11.0, 11.0]
"""

from __future__ import annotations

import hashlib
import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["NAMES", "STATE_FORMAT", "SINGLE", "SpecError", "StateError", "check_spec", "forecast", "has_state",
           "ets_state", "theta_state", "arima_state", "agrees", "fingerprint", "getq0"]

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

_TOL, _HUGE = 1e-10, 1e10
#: scipy.stats.norm.ppf(0.95), the one-sided 5 % threshold of AutoTheta's seasonality test.
_Z95 = 1.6448536269514722


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
        forecaster.models.statistical_state.SpecError: name: expected one of ets, theta, arima, mstl, got 'prophet'
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


def fingerprint(y: np.ndarray) -> str:
    """SHA-256 of the rows as float64: whether a served series starts with exactly the fitted rows."""
    return hashlib.sha256(np.ascontiguousarray(y, dtype=np.float64).tobytes()).hexdigest()


def forecast(spec: Mapping[str, Any], y: np.ndarray, h: int, series: str = SINGLE) -> np.ndarray | None:
    """``h`` steps past the end of ``y`` from the saved state, parameters frozen; ``None`` without a state.

    Args:
        spec: a checked spec (:func:`check_spec`).
        y: the whole series in original units (the rows before the forecast).
        h: steps to forecast.
        series: which series' state (a panel's id; ``""`` for a file of one series).

    Raises:
        StateError: the state cannot be applied to ``y`` (too few rows...).
    """
    if not has_state(spec, series):
        return None
    st = spec["state"]["series"][series]
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.size == 0 or not np.isfinite(y).all():
        raise StateError(f"the series holds {int((~np.isfinite(y)).sum()) if y.size else 'no'} missing or "
                         "infinite value(s)")
    name = spec["name"]
    if name == "ets":
        return _ets_forecast(st, y, h)
    if name == "theta":
        return _theta_forecast(st, y, h)
    return _arima_forecast(st, y, h)


def agrees(ours: np.ndarray, theirs: np.ndarray, scale: float) -> bool:
    """Whether a forecast from a state equals the library's to ``1e-7`` of the series' scale."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    return ours.shape == theirs.shape and bool(np.all(np.abs(ours - theirs) <= 1e-7 * max(scale, 1e-12)))


# -- ETS ------------------------------------------------------------------------------------------


def ets_state(fitted: Mapping[str, Any]) -> dict[str, Any]:
    """The state of statsforecast's fitted ETS dict (``AutoETS().model_``): components, parameters,
    initial states. ``beta``/``gamma``/``phi`` hold the values its recursion uses (0, 0, 1 when unused)."""
    comp = str(fitted["components"])
    par = np.asarray(fitted["par"], dtype=np.float64)
    return {
        "components": comp, "m": int(fitted["m"]),
        "alpha": float(par[0]),
        "beta": float(par[1]) if comp[1] != "N" else 0.0,
        "gamma": float(par[2]) if comp[2] != "N" else 0.0,
        "phi": float(par[3]) if comp[3] != "N" else 1.0,
        "init": [float(v) for v in par[4:]],
    }


def _ets_forecast(st: Mapping[str, Any], y: np.ndarray, h: int) -> np.ndarray:
    if np.all(y == y[0]):  # statsforecast refits a flat model on a constant series: its forecast is that value
        return np.full(h, float(y[0]))
    trend, season = st["components"][1], st["components"][2]
    alpha, beta, gamma, phi = (float(st[k]) for k in ("alpha", "beta", "gamma", "phi"))
    m = max(int(st["m"]), 1)
    init = [float(v) for v in st["init"]]
    lvl = init[0]
    b = init[1] if trend != "N" else 0.0
    s: deque[float] = deque(init[1 + (trend != "N"):], maxlen=m) if season != "N" else deque([0.0] * m, maxlen=m)
    for yi in y.tolist():  # ets::Calc / ets::Update, state by state
        old_l, old_b = lvl, b
        if trend == "N":
            q, phi_b = old_l, 0.0
        elif trend == "A":
            phi_b = phi * old_b
            q = old_l + phi_b
        elif abs(phi - 1.0) < _TOL:
            phi_b = old_b
            q = old_l * old_b
        else:
            phi_b = old_b ** phi
            q = old_l * phi_b
        last = s[m - 1]
        if season == "N":
            p = yi
        elif season == "A":
            p = yi - last
        else:
            p = _HUGE if abs(last) < _TOL else yi / last
        lvl = q + alpha * (p - q)
        if trend != "N":
            if trend == "A":
                r = lvl - old_l
            else:
                r = _HUGE if abs(old_l) < _TOL else lvl / old_l
            b = phi_b + (beta / alpha) * (r - phi_b)
        if season != "N":
            if season == "A":
                t = yi - q
            else:
                t = _HUGE if abs(q) < _TOL else yi / q
            s.appendleft(last + gamma * (t - last))  # the oldest drops off the right
    out = np.empty(h)
    phistar = phi
    for i in range(h):  # ets::Forecast
        if trend == "N":
            f = lvl
        elif trend == "A":
            f = lvl + phistar * b
        elif b < 0:
            f = math.nan
        else:
            f = lvl * b ** phistar
        j = (m - 1 - i) % m
        if season == "A":
            f += s[j]
        elif season == "M":
            f *= s[j]
        out[i] = f
        if i < h - 1:
            phistar += 1.0 if abs(phi - 1.0) < _TOL else phi ** (i + 1)
    return out


# -- Theta ----------------------------------------------------------------------------------------


def theta_state(fitted: Mapping[str, Any], history: int | None) -> dict[str, Any]:
    """The state of statsforecast's fitted AutoTheta dict: the model type and its frozen parameters
    (``forward`` re-runs the seasonality test and decomposition on the rows it is given)."""
    par = fitted["par"]
    return {"modeltype": str(fitted["modeltype"]), "m": int(fitted["m"]), "alpha": float(par["alpha"]),
            "theta": float(par["theta"]), "initial_smoothed": float(par["initial_smoothed"]), "history": history}


def _decompose(y: np.ndarray, m: int, kind: str) -> np.ndarray:
    """statsmodels' ``seasonal_decompose(y, model=kind, period=m).seasonal`` (classical, centred MA)."""
    filt = np.array([0.5] + [1.0] * (m - 1) + [0.5]) / m if m % 2 == 0 else np.repeat(1.0 / m, m)
    head = int(np.ceil(len(filt) / 2.0) - 1)
    tail = int(np.ceil(len(filt) / 2.0) - len(filt) % 2)
    trend = np.concatenate([np.full(head, np.nan), np.convolve(y, filt, mode="valid"), np.full(tail, np.nan)])
    detrended = y / trend if kind == "multiplicative" else y - trend
    means = np.array([np.nanmean(detrended[i::m]) for i in range(m)])
    means = means / means.mean() if kind == "multiplicative" else means - means.mean()
    return np.tile(means, len(y) // m + 1)[: len(y)]


def _theta_forecast(st: Mapping[str, Any], y: np.ndarray, h: int) -> np.ndarray:
    history = st.get("history")
    if history is not None:
        y = y[-int(history):]
    m, n = int(st["m"]), len(y)
    decompose, kind, seas_fc = False, "multiplicative", None
    if m >= 4 and n >= 2 * m:  # auto_theta's seasonality test
        xo = y - y.mean()
        acov = np.array([xo.dot(xo)] + [xo[k:].dot(xo[:-k]) for k in range(1, m + 1)]) / n
        r = acov[1:] / acov[0]
        stat = np.sqrt((1 + 2 * np.sum(r[:-1] ** 2)) / n)
        decompose = bool(np.abs(r[-1]) / stat > _Z95)
    if decompose:
        if y.min() <= 0:
            kind = "additive"
        seas = _decompose(y, m, kind)
        if kind == "multiplicative" and np.any(seas < 0.01):
            kind = "additive"
            seas = _decompose(y, m, kind)
        y = y - seas if kind == "additive" else y / seas
        seas_fc = seas[-m:]
    if n <= 3:
        raise StateError(f"theta needs more than 3 rows, got {n}")
    dynamic = st["modeltype"] in ("DSTM", "DOTM")
    alpha, theta, level0 = float(st["alpha"]), float(st["theta"]), float(st["initial_smoothed"])
    if dynamic:
        an, bn, mu = y[0], 0.0, y[0]
    else:  # theta::init_state
        y_mean = y.mean()
        weighted = y.dot(np.arange(1, n + 1, dtype=np.float64)) / n
        bn = (6 * (2 * weighted - (n + 1) * y_mean)) / (n * n - 1)
        an = y_mean - (n + 1) * bn / 2
        mu = level0 + (1 - 1 / theta) * (an + bn)
    row = [alpha * y[0] + (1 - alpha) * level0, y[0], an, bn, mu]

    def update(prev: list[float], i: int, yi: float, usemu: bool) -> list[float]:  # theta::update
        level, meany, a_n, b_n = prev[0], prev[1], prev[2], prev[3]
        mu_i = level + (1 - 1 / theta) * (a_n * (1 - alpha) ** i + b_n * (1 - (1 - alpha) ** (i + 1)) / alpha)
        if usemu:
            yi = mu_i
        new_level = alpha * yi + (1 - alpha) * level
        new_mean = (i * meany + yi) / (i + 1)
        if dynamic:
            b_new = ((i - 1) * b_n + 6 * (yi - meany) / (i + 1)) / (i + 2)
            a_new = new_mean - b_new * (i + 2) / 2
        else:
            a_new, b_new = a_n, b_n
        return [new_level, new_mean, a_new, b_new, mu_i]

    for i, yi in enumerate(y[1:].tolist(), start=1):
        row = update(row, i, yi, False)
    out = np.empty(h)
    for j in range(h):
        row = update(row, n + j, 0.0, True)
        out[j] = row[4]
    if seas_fc is not None:
        fc = np.tile(seas_fc, math.ceil(h / m))[:h]
        out = out * fc if kind == "multiplicative" else out + fc
    return out


# -- ARIMA ----------------------------------------------------------------------------------------


def arima_state(fitted: Mapping[str, Any], y: np.ndarray) -> dict[str, Any]:
    """The state of statsforecast's fitted (Auto)ARIMA dict: its orders and coefficients, and the
    filter state (``a``, ``P``) after the fitted rows ``y`` with their fingerprint, to resume from."""
    p, q, sp, sq, period, d, sd = (int(v) for v in fitted["arma"])
    coef = dict(fitted["coef"])
    names = list(coef)
    narma = p + q + sp + sq
    mod = fitted["model"]
    return {
        "arma": [p, q, sp, sq, period, d, sd],
        "coef": [float(coef[k]) for k in names[:narma]],
        "intercept": float(coef["intercept"]) if "intercept" in coef else None,
        "drift": float(coef["drift"]) if "drift" in coef else None,
        "resume": {"n": len(y), "sha256": fingerprint(y), "a": [float(v) for v in np.ravel(mod["a"])],
                   "P": [float(v) for v in np.ravel(mod["P"])]},
    }


def _transpar(coef: np.ndarray, arma: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """statsforecast's ``arima_transpar(..., trans=False)``: the seasonal polynomials multiplied out."""
    mp, mq, msp, msq, ns = arma[:5]
    p, q = mp + ns * msp, mq + ns * msq
    phi, theta = np.zeros(p), np.zeros(q)
    phi[:mp], theta[:mq] = coef[:mp], coef[mp:mp + mq]
    if ns > 0:
        for j in range(msp):
            phi[(j + 1) * ns - 1] += coef[j + mp + mq]
            for i in range(mp):
                phi[(j + 1) * ns + i] -= coef[i] * coef[j + mp + mq]
        for j in range(msq):
            theta[(j + 1) * ns - 1] += coef[j + mp + mq + msp]
            for i in range(mq):
                theta[(j + 1) * ns + i] += coef[i + mp] * coef[j + mp + mq + msp]
    return phi, theta


def _delta(arma: list[int]) -> np.ndarray:
    period, d, sd = arma[4], arma[5], arma[6]
    delta = np.array([1.0])
    for _ in range(d):
        delta = np.convolve(delta, [1.0, -1.0])
    for _ in range(sd):
        delta = np.convolve(delta, np.array([1.0] + [0.0] * (period - 1) + [-1.0]))
    return -delta[1:]


def _inclu2(xnext: np.ndarray, ynext: float, res: np.ndarray, rbar: np.ndarray, thetab: np.ndarray) -> None:
    xrow = xnext.copy()
    npar = len(xrow)
    ithisr = 0
    for i in range(npar):
        if xrow[i] != 0.0:
            xi, di = xrow[i], res[i]
            dpi = di + xi * xi
            res[i] = dpi
            cbar, sbar = (math.inf, math.inf) if dpi == 0 else (di / dpi, xi / dpi)
            for k in range(i + 1, npar):
                xk, rbthis = xrow[k], rbar[ithisr]
                xrow[k] = xk - xi * rbthis
                rbar[ithisr] = cbar * rbthis + sbar * xk
                ithisr += 1
            xk = ynext
            ynext = xk - xi * thetab[i]
            thetab[i] = cbar * thetab[i] + sbar * xk
            if di == 0.0:
                return
        else:
            ithisr += npar - i - 1


#: Above this state size ``getq0`` solves the Lyapunov equation by doubling instead of Gardner's
#: algorithm, whose pure-Python port costs O(r^4) (r = 106 for a weekly seasonal ARIMA: minutes).
GARDNER_MAX_R = 32


def getq0(phi: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """The initial state covariance of an ARMA process, ``Q = T Q T' + R R'``.

    Up to :data:`GARDNER_MAX_R` states: Gardner et al. (1980)'s algorithm, statsforecast's C++
    ``getQ0`` (R's ``getQ0``) line for line. Above: the same equation solved by doubling
    (``Q += A Q A'``, ``A = A @ A`` until ``A`` vanishes), equal to it to rounding for the
    stationary ARMA parts AutoARIMA selects; the fit checks the forecast either way. Returns
    ``(r, r)`` with ``r = max(p, q + 1)``.
    """
    p, q = len(phi), len(theta)
    r = max(p, q + 1)
    if r > GARDNER_MAX_R:
        tmat = np.zeros((r, r))
        tmat[:p, 0] = phi
        tmat[np.arange(r - 1), np.arange(1, r)] = 1.0
        rvec = np.concatenate([[1.0], theta, np.zeros(r - 1 - q)])
        qmat, amat = np.outer(rvec, rvec), tmat
        for _ in range(200):
            step = amat @ qmat @ amat.T
            qmat = qmat + step
            amat = amat @ amat
            if np.abs(amat).max() < 1e-300 or np.abs(step).max() <= 1e-17 * np.abs(qmat).max():
                break
        return qmat
    npar = r * (r + 1) // 2
    nrbar = npar * (npar - 1) // 2
    v = np.empty(npar)
    ind = 0
    for j in range(r):
        vj = 1.0 if j == 0 else (theta[j - 1] if j - 1 < q else 0.0)
        for i in range(j, r):
            vi = 1.0 if i == 0 else (theta[i - 1] if i - 1 < q else 0.0)
            v[ind] = vi * vj
            ind += 1
    res = np.zeros(r * r)
    if r == 1:
        res[0] = 1.0 if p == 0 else 1.0 / (1 - phi[0] * phi[0])
        return res.reshape(1, 1)
    if p > 0:
        rbar, thetab, xnext = np.zeros(nrbar), np.zeros(npar), np.zeros(npar)
        ind, ind1 = 0, -1
        npr = npar - r
        npr1 = npr + 1
        indj, ind2 = npr, npr - 1
        for j in range(r):
            phij = phi[j] if j < p else 0.0
            indi = npr1 + j
            xnext[indj] = 0.0
            indj += 1
            for i in range(j, r):
                ynext = v[ind]
                ind += 1
                phii = phi[i] if i < p else 0.0
                if j != r - 1:
                    xnext[indj] = -phii
                    if i != r - 1:
                        xnext[indi] -= phij
                        ind1 += 1
                        xnext[ind1] = -1.0
                xnext[npr] = -phii * phij
                ind2 += 1
                if ind2 >= npar:
                    ind2 = 0
                xnext[ind2] += 1.0
                _inclu2(xnext, ynext, res, rbar, thetab)
                xnext[ind2] = 0.0
                if i != r - 1:
                    xnext[indi] = 0.0
                    indi += 1
                    xnext[ind1] = 0.0
        ithisr = nrbar - 1
        im = npar - 1
        for i in range(npar):
            jm = npar - 1
            bi = thetab[im]
            for _ in range(i):
                bi -= rbar[ithisr] * res[jm]
                ithisr -= 1
                jm -= 1
            res[im] = bi
            im -= 1
        ind = npr
        for i in range(r):
            xnext[i] = res[ind]
            ind += 1
        ind, ind1 = npar - 1, npr - 1
        for _ in range(npr):
            res[ind] = res[ind1]
            ind -= 1
            ind1 -= 1
        res[:r] = xnext[:r]
    else:
        ind = indn = npar
        for i in range(r):
            for j in range(i + 1):
                ind -= 1
                res[ind] = v[ind]
                if j != 0:
                    indn -= 1
                    res[ind] += res[indn]
    ind = npar
    for i in range(r - 1, 0, -1):
        for j in range(r - 1, i - 1, -1):
            ind -= 1
            res[r * i + j] = res[ind]
    for i in range(r - 1):
        for j in range(i + 1, r):
            res[i + r * j] = res[j + r * i]
    return res.reshape(r, r).T  # column-major in the C++: element (i, j) at i + r * j


def _arima_forecast(st: Mapping[str, Any], y: np.ndarray, h: int) -> np.ndarray:
    if np.all(y == y[0]):  # forecast_arima's own rule for a constant series
        return np.full(h, float(y[0]))
    arma = [int(v) for v in st["arma"]]
    phi, theta = _transpar(np.asarray(st["coef"], dtype=np.float64), arma)
    delta = _delta(arma)
    p, q, d = len(phi), len(theta), len(delta)
    r = max(p, q + 1)
    rd = r + d
    n = len(y)
    if n <= d:
        raise StateError(f"arima with {d} differencing lag(s) needs more than {d} rows, got {n}")
    x = y.copy()
    if st.get("intercept") is not None:
        x -= float(st["intercept"])
    if st.get("drift") is not None:
        x -= float(st["drift"]) * np.arange(1, n + 1, dtype=np.float64)
    z = np.concatenate([[1.0], np.zeros(r - 1), delta])
    rvec = np.concatenate([[1.0], theta, np.zeros(r - 1 - q), np.zeros(d)])
    vmat = np.outer(rvec, rvec)
    resume = st.get("resume")
    if resume is not None and n >= resume["n"] and fingerprint(y[: resume["n"]]) == resume["sha256"]:
        a = np.asarray(resume["a"], dtype=np.float64)
        pmat = np.asarray(resume["P"], dtype=np.float64).reshape(rd, rd)
        start, fresh = int(resume["n"]), False
    else:  # from the start: make_arima's initial state, then every row
        a = np.zeros(rd)
        pmat = np.zeros((rd, rd))
        pnew0 = np.zeros((rd, rd))
        pnew0[:r, :r] = getq0(phi, theta) if r > 1 else (1 / (1 - phi[0] ** 2) if p else 1.0)
        if d:
            pnew0[r + np.arange(d), r + np.arange(d)] = 1e6
        start, fresh = 0, True
    phi_r = np.concatenate([phi, np.zeros(r - p)])

    def tmul(mat: np.ndarray) -> np.ndarray:  # T @ mat in O(rd^2): T is a companion matrix
        out = np.empty_like(mat)
        out[:r] = np.multiply.outer(phi_r, mat[0])
        out[: r - 1] += mat[1:r]
        if d:
            out[r] = mat[0] + delta @ mat[r:]
            out[r + 1:] = mat[r: rd - 1]
        return out

    for t in range(start, n):  # ARIMA_Like, one row
        anew = tmul(a)
        pnew = pnew0 if (fresh and t == 0) else tmul(tmul(pmat).T) + vmat
        resid = x[t] - z @ anew
        mvec = pnew @ z
        gain = z @ mvec
        if gain == 0:
            raise StateError(f"the filter's variance is zero at row {t}")
        a = anew + mvec * resid / gain
        pmat = pnew - np.outer(mvec, mvec) / gain
    out = np.empty(h)
    for step in range(h):  # kalman_forecast's mean
        a = tmul(a)
        out[step] = a @ z
    if st.get("intercept") is not None:
        out += float(st["intercept"])
    if st.get("drift") is not None:
        out += float(st["drift"]) * np.arange(n + 1, n + h + 1, dtype=np.float64)
    return out
