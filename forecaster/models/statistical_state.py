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
    >>> forecast(spec, np.array([10.0, 12.0]), 2).tolist()
    [11.0, 11.0]
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from forecaster.models.arima_state import arima_forecast
from forecaster.models.statistical_spec import SINGLE, StateError, has_state

__all__ = ["forecast", "agrees", "ets_state", "theta_state"]

_TOL, _HUGE = 1e-10, 1e10
#: scipy.stats.norm.ppf(0.95), the one-sided 5 % threshold of AutoTheta's seasonality test.
_Z95 = 1.6448536269514722


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
    return arima_forecast(st, y, h)


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
