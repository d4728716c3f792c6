"""ARIMA served from its saved state with numpy: the Kalman filter of R's ``ARIMA_Like`` (statsforecast's
``arima_like``) with Gardner's initial covariance (:func:`getq0`), then the mean of ``kalman_forecast``.

When the series starts with exactly the fitted rows (their SHA-256 is saved), the filter resumes
from the state the fit ended in and runs over the new rows only; otherwise it filters the whole
series from Gardner's start. Checked at save against statsforecast's own forecast
(:func:`forecaster.models.statistical_state.agrees`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from forecaster.models.statistical_spec import StateError

__all__ = ["arima_state", "arima_forecast", "fingerprint", "getq0", "GARDNER_MAX_R"]


def fingerprint(y: np.ndarray) -> str:
    """SHA-256 of the rows as float64: whether a served series starts with exactly the fitted rows."""
    return hashlib.sha256(np.ascontiguousarray(y, dtype=np.float64).tobytes()).hexdigest()

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


def arima_forecast(st: Mapping[str, Any], y: np.ndarray, h: int) -> np.ndarray:
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
