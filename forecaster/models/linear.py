"""The linear row: the least-squares start of the residual networks, alone (no network).

Example:
    >>> Linear().capabilities.global_fit
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from forecaster.models.contract import Capabilities, Kind
from forecaster.models.network.residual import ResidualBase, start

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.data.prepared import Prepared, PreparedSeries
    from forecaster.data.scaling import Scaler

__all__ = ["Linear", "LinearForecaster"]


class Linear:
    """The least-squares linear model the residual networks start from, alone (no network).

    On the training windows only: the better of naive and seasonal naive (:func:`residual_base`)
    plus a ridge least-squares map from the centred window (target minus its last value,
    covariates as they are) to what that baseline misses (:func:`linear_correction`). A network
    that does not beat this row adds nothing its linear start did not already do.
    """

    name = "linear"
    kind: Kind = "baseline"
    capabilities = Capabilities(uses_covariates=True, global_fit=True, saves=True)

    def fit(self, prep: Prepared) -> Linear:
        """One least-squares map over every series' (scaled) training windows, as the networks learn:
        fitted per series, its ``lookback + 1`` coefficients would rest on a few dozen windows of a short
        series (MASE 2.4 against 0.5 for naive on the shipped employment panel)."""
        sp, h = prep.split, prep.split.horizon
        self.lookback_ = sp.lookback
        base = start(prep, h, linear=True)
        assert base.linear is not None
        self.base_, (self.kernel_, self.bias_) = base, base.linear
        return self

    def on(self, item: PreparedSeries) -> LinearForecaster:
        """The fitted map forecasting one series, with that series' scaler."""
        return LinearForecaster(self, item.scaler)

    def spec(self) -> dict[str, Any]:
        """The fitted map as plain JSON: the baseline it corrects, its scale, kernel and bias (the scalers are
        saved beside it)."""
        b = self.base_
        return {"name": self.name, "lookback": int(self.lookback_),
                "base": {"name": b.name, "season": b.season, "scale": float(b.scale)},
                "kernel": np.asarray(self.kernel_, dtype=np.float64).tolist(),
                "bias": np.asarray(self.bias_, dtype=np.float64).tolist()}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Linear:
        """A saved map, every field checked (a tampered file is refused, not served).

        Raises:
            ValueError: naming the field.
        """
        lookback, base = spec.get("lookback"), spec.get("base")
        if not isinstance(lookback, int) or isinstance(lookback, bool) or lookback < 1:
            raise ValueError(f"'lookback' must be an integer >= 1, got {str(lookback)[:40]!r}")
        if not isinstance(base, dict) or base.get("name") not in ("naive", "seasonal_naive"):
            raise ValueError("'base' must name naive or seasonal_naive")
        season, scale = base.get("season"), base.get("scale")
        if base["name"] == "seasonal_naive" and not (isinstance(season, int) and 1 < season <= lookback):
            raise ValueError(f"'base.season' must be an integer in 2..{lookback}, got {str(season)[:40]!r}")
        if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"'base.scale' must be a finite number > 0, got {str(scale)[:40]!r}")
        try:
            kernel = np.asarray(spec["kernel"], dtype=np.float64)
            bias = np.asarray(spec["bias"], dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            raise ValueError("'kernel' and 'bias' must be lists of numbers") from None
        if kernel.ndim != 2 or bias.ndim != 1 or kernel.shape[1] != bias.size or kernel.shape[0] % lookback:
            raise ValueError(f"'kernel' {kernel.shape} and 'bias' {bias.shape} do not fit lookback {lookback}")
        if not (np.isfinite(kernel).all() and np.isfinite(bias).all()):
            raise ValueError("'kernel' and 'bias' must be finite")
        model = cls()
        model.lookback_ = lookback
        model.kernel_, model.bias_ = kernel.astype(np.float32), bias.astype(np.float32)
        model.base_ = ResidualBase(base["name"], season if base["name"] == "seasonal_naive" else None, float(scale),
                                   linear=(model.kernel_, model.bias_))
        return model

    @property
    def horizon(self) -> int:
        """Steps it forecasts (the kernel's outputs)."""
        return int(np.shape(self.bias_)[0])


class LinearForecaster:
    """The linear model on one series: its windows scaled with that series' own statistics."""

    def __init__(self, model: Linear, scaler: Scaler) -> None:
        self.model, self.scaler = model, scaler

    def predict(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        from forecaster.data.windows import origin_windows

        m = self.model
        x = self.scaler.transform(origin_windows(np.asarray(values, dtype=np.float64), origins, m.lookback_))
        x = x.astype(np.float64)
        last = x[:, -1, 0].copy()
        k = np.arange(horizon)
        if m.base_.season:
            lag = m.base_.season * ((k // m.base_.season) + 1)
            forecast = x[:, m.lookback_ + k - lag, 0]
        else:
            forecast = np.repeat(last[:, None], horizon, axis=1)
        x[:, :, 0] -= last[:, None]
        correction = x.reshape(len(x), -1) @ m.kernel_.astype(np.float64) + m.bias_.astype(np.float64)
        return self.scaler.inverse_target(forecast + m.base_.scale * correction[:, :horizon])
