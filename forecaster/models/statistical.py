"""Statistical baselines from statsforecast (ETS, Theta, ARIMA, MSTL) through the model contract.

Each model is fitted ONCE, on the train + validation rows of a :class:`~forecaster.data.prepared.Prepared`
(never the test rows), and then, at every forecast origin ``t``, filtered forward over
``values[:t, 0]`` with its parameters frozen: the library's own ``forward`` (ETS does the same in
one pass, see :class:`ETS`). So every origin is forecast from the rows before it only, like the
networks' windows, and a leaderboard scores all of them on the same windows.

statsforecast is imported inside the functions that fit, so importing this module stays cheap.
statsforecast 2.x has no numba (its kernels are compiled C++), so there is no JIT warm-up to cache.

Cost on the shipped hourly sample (8,760 rows, 1,291 test origins, horizon 24, on a shared
2-core machine), fit then all origins: ``ets`` 4-6 s, 0.01 s; ``theta`` 4 s, 97 s (75 ms an
origin); ``arima`` 8-12 s, 88 s; ``mstl`` 2 s, about 45 minutes (2 s an origin). The per-origin
cost of theta, arima and mstl grows with the rows before the origin (theta's quadratically):
``history`` caps those rows; with 672 (four weeks) theta took 0.8 s and mstl 150 s.

Example:
    >>> m = make("ets")
    >>> m.name, m.kind, m.capabilities.uses_covariates
    ('ets', 'baseline', False)
    >>> prep = prepare(config.resolve())  # doctest: +SKIP
    >>> pred = m.fit(prep).predict(prep.y[:, None], prep.split.first_targets("test"), 24)  # doctest: +SKIP
    >>> spec = m.spec(); forecast_future(prep.y, 24, spec).shape  # doctest: +SKIP
    (24,)
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

import numpy as np

from forecaster.errors import ArtifactError, ConfigError
from forecaster.models import arima_state, statistical_state
from forecaster.models.statistical_base import (
    LIBRARY,
    FitFailed,
    StatisticalModel,
    check_fittable,
    constant_prefix,
    finite,
    mstl_seasons,
    one_line,
    quiet,
)

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = ["FitFailed", "StatisticalModel", "ETS", "Theta", "ARIMA", "MSTL", "STATISTICAL", "make", "forecast_future",
           "mstl_seasons", "from_spec", "LIBRARY"]

class ETS(StatisticalModel):
    """AutoETS: error/trend/season chosen by AICc, parameters by maximum likelihood.

    ``predict`` runs the fitted state recursion ONCE over the rows before the last origin and
    forecasts each origin from the state after the rows before it: the same numbers as
    ``forward`` at every origin (a test pins that), for the cost of one pass. ``history`` does
    not apply: that pass costs less than any cap would save.
    """

    name = "ets"

    def __init__(self) -> None:
        super().__init__(history=None)

    def __repr__(self) -> str:
        return "ETS()"

    def _library_model(self, season: int, freq: str | None, n: int) -> Any:
        from statsforecast.models import AutoETS

        return AutoETS(season_length=season)

    def _forecast_at(self, y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        try:
            from statsforecast.ets import ets_f, pegelsfcast_C
        except ImportError:  # a later 2.x moved its internals: the exact, slower path
            return super()._forecast_at(y, origins, horizon)
        fitted = self.model_.model_
        last, constant = int(origins.max()), constant_prefix(y)
        run = None
        if last > constant:  # forward on a constant prefix refits a flat model instead of filtering
            try:
                run = ets_f(y[:last], m=fitted["m"], model=fitted)
            except Exception as exc:
                raise FitFailed(self.name, f"filtering up to origin {last} failed: {one_line(exc)}") from exc
        out = np.empty((len(origins), horizon))
        for i, t in enumerate(origins):
            if run is None or t <= constant:
                out[i] = self._forward(y[:t], horizon, int(t))
            else:  # states[t] is the state after rows 0..t-1
                out[i] = pegelsfcast_C(horizon, {**run, "states": run["states"][: t + 1]})
        return out

    def _params(self) -> dict[str, Any]:
        m = self.model_.model_
        comp = m["components"]
        alpha, beta, gamma, phi = (finite(v) for v in m["par"][:4])
        return {
            "model": {"error": comp[0], "trend": comp[1], "season": comp[2], "damped": comp[3] != "N"},
            "params": {
                "alpha": alpha,
                "beta": beta if comp[1] != "N" else None,
                "gamma": gamma if comp[2] != "N" else None,
                "phi": phi if comp[3] != "N" else None,
                "initial_states": [finite(v) for v in m["par"][4:]],
                "sigma2": finite(m["sigma2"]),
                "aicc": finite(m["aicc"]),
            },
        }

    def _state(self, y: np.ndarray) -> dict[str, Any] | None:
        return statistical_state.ets_state(self.model_.model_)

    @classmethod
    def _from_spec(cls, spec: dict[str, Any]) -> Any:
        from statsforecast.models import AutoETS

        s = spec["model"]
        return AutoETS(season_length=spec["season"], model=s["error"] + s["trend"] + s["season"], damped=s["damped"])


class Theta(StatisticalModel):
    """AutoTheta: the best of the standard, optimised and dynamic theta models by in-sample MSE.

    statsforecast's ``forward`` keeps the model type, smoothing weight, theta and initial level,
    and re-runs the seasonality test and the classical decomposition on the rows it is given.
    """

    name = "theta"
    #: statsforecast's ``forward`` re-runs theta's decomposition on the whole history at every origin, at a
    #: cost quadratic in its length: 75 ms an origin (97 s for the hourly sample's 1,291 test origins) with all
    #: 7,446 rows, 5 ms with 1,000. The cap also forecast better on the three series tried (MASE 12.3 -> 3.0,
    #: 1.23 -> 0.95, 0.89 -> 0.67 on seattle_temps, sf_traffic, co2): a decomposition of the recent past.
    history_cap = 1000

    def _library_model(self, season: int, freq: str | None, n: int) -> Any:
        from statsforecast.models import AutoTheta

        return AutoTheta(season_length=season)

    def _params(self) -> dict[str, Any]:
        m = self.model_.model_
        return {
            "model": {"type": m["modeltype"], "decomposition": m.get("decomposition_type") if m.get("decompose") else None},
            "params": {k: finite(v) for k, v in m["par"].items()},
        }

    def _state(self, y: np.ndarray) -> dict[str, Any] | None:
        return statistical_state.theta_state(self.model_.model_, self.history)

    @classmethod
    def _from_spec(cls, spec: dict[str, Any]) -> Any:
        from statsforecast.models import AutoTheta

        s = spec["model"]
        return AutoTheta(season_length=spec["season"], model=s["type"], decomposition_type=s["decomposition"] or "multiplicative")


class ARIMA(StatisticalModel):
    """AutoARIMA (Hyndman-Khandakar stepwise search by AICc).

    The search uses statsforecast's ``auto_arima_f`` rule for approximations (conditional sums
    of squares while searching when the series is longer than 150 rows or the season is over 12,
    then an exact refit of the winner), as R's ``auto.arima`` does: an exact search on the hourly
    sample took 215 s against 12 s. ``forward`` keeps the coefficients and re-runs the filter.
    """

    name = "arima"
    default = False
    slow = "AutoARIMA searches orders and filters forward at every test origin (tens of ms each); opt-in"

    def _library_model(self, season: int, freq: str | None, n: int) -> Any:
        from statsforecast.models import AutoARIMA

        return AutoARIMA(season_length=season, approximation=None)

    def _params(self) -> dict[str, Any]:
        m = self.model_.model_
        p, q, P, Q, s, d, D = (int(v) for v in m["arma"])
        coef = {str(k): finite(v) for k, v in m["coef"].items()}
        return {
            "model": {
                "order": [p, d, q], "seasonal_order": [P, D, Q], "period": s,
                "include_mean": "intercept" in coef, "include_drift": "drift" in coef,
            },
            "params": {"coef": coef, "sigma2": finite(m["sigma2"]), "aicc": finite(m["aicc"])},
        }

    def _state(self, y: np.ndarray) -> dict[str, Any] | None:
        if self.history is not None:  # forward over the last rows only: a resumed state would see older ones
            return None
        return arima_state.arima_state(self.model_.model_, y)

    @classmethod
    def _from_spec(cls, spec: dict[str, Any]) -> Any:
        from statsforecast.models import ARIMA as LibARIMA

        s = spec["model"]
        return LibARIMA(
            order=tuple(s["order"]), seasonal_order=tuple(s["seasonal_order"]), season_length=s["period"],
            include_mean=s["include_mean"], include_drift=s["include_drift"],
        )


class MSTL(StatisticalModel):
    """MSTL: a multi-seasonal STL decomposition, the trend by AutoETS ``ZZN`` (statsforecast's default).

    Seasonalities come from :func:`mstl_seasons` (hourly data: 24 and 168 when the fitted rows hold
    two weeks). ``forward`` re-runs the decomposition on the rows it is given and filters the
    fitted trend model over them: about 2 s an origin on 8,000 hourly rows.
    """

    name = "mstl"
    default = False
    slow = "MSTL decomposes the series again at every test origin (about 2 s each on 8,760 hourly rows); opt-in"

    def _library_model(self, season: int, freq: str | None, n: int) -> Any:
        from statsforecast.models import MSTL as LibMSTL
        from statsforecast.models import AutoETS

        seasons = mstl_seasons(season, freq, n)
        if not seasons:
            raise FitFailed(self.name, f"no seasonal cycle to decompose: season {season} and {n} rows to fit "
                                       "(each period needs two full cycles)")
        self.seasons_ = seasons
        return LibMSTL(season_length=seasons, trend_forecaster=AutoETS(model="ZZN"))

    def _params(self) -> dict[str, Any]:
        t = self.model_.trend_forecaster.model_
        comp = t["components"]
        alpha, beta, _, phi = (finite(v) for v in t["par"][:4])
        return {
            "seasons": list(self.seasons_),
            "model": {"trend": {"error": comp[0], "trend": comp[1], "damped": comp[3] != "N"}},
            "params": {"trend": {"alpha": alpha, "beta": beta if comp[1] != "N" else None,
                                 "phi": phi if comp[3] != "N" else None}},
        }

    @classmethod
    def _from_spec(cls, spec: dict[str, Any]) -> Any:
        from statsforecast.models import MSTL as LibMSTL
        from statsforecast.models import AutoETS

        t = spec["model"]["trend"]
        return LibMSTL(season_length=list(spec["seasons"]),
                       trend_forecaster=AutoETS(model=t["error"] + t["trend"] + "N", damped=t["damped"]))


#: Every statistical model, by the name ``--baselines`` takes.
STATISTICAL: dict[str, type[StatisticalModel]] = {"ets": ETS, "theta": Theta, "arima": ARIMA, "mstl": MSTL}


def make(name: str, **params: Any) -> StatisticalModel:
    """A new, unfitted statistical model by registry name.

    Raises:
        ConfigError: an unknown name, listing the valid ones.

    Example:
        >>> make("theta", history=500)
        Theta(history=500)
    """
    cls = STATISTICAL.get(name)
    if cls is None:
        close = difflib.get_close_matches(name, STATISTICAL, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"--baselines: unknown statistical model {name!r}{hint}; expected one of: {', '.join(STATISTICAL)}")
    return cls(**params)


def _registered(name: str) -> type[StatisticalModel]:
    """The class a saved spec names (a saved file, not the ``--baselines`` flag: an artifact error)."""
    cls = STATISTICAL.get(name)
    if cls is None:
        raise ArtifactError(f"statistical model name {name!r} is not one of {', '.join(STATISTICAL)}")
    return cls


def from_spec(spec: dict[str, Any]) -> StatisticalModel:
    """An unfitted model whose structure is a saved spec's (ETS components, ARIMA orders...).

    ``fit`` re-estimates its parameters on the train + validation rows it is given and ``predict``
    forecasts at any origin: how a saved statistical champion is re-scored on a new holdout.

    Raises:
        ArtifactError: the spec names no known model.
    """
    name = str(spec.get("name"))
    _registered(name)
    history = spec.get("history")
    model = make(name) if name == "ets" or not isinstance(history, int) else make(name, history=history)
    model.fixed_spec = dict(spec)  # type: ignore[attr-defined]
    return model


def forecast_future(y: np.ndarray, horizon: int, spec: dict[str, Any]) -> np.ndarray:
    """Refit a spec's model structure on a full series and forecast ``horizon`` steps past its end.

    The structure the fit selected (ETS components, theta type, ARIMA orders, MSTL seasons and trend
    model) is kept; its parameters are re-estimated on ``y``, so a model served for weeks keeps
    tracking the series without a new search.

    Raises:
        ArtifactError: the spec names no known model.
        FitFailed: the structure cannot be fitted on ``y``.

    Example:
        >>> y = np.tile(np.arange(24.0), 10) + np.random.default_rng(0).normal(0, 0.1, 240)
        >>> spec = make("ets").fit_array(y, season=24, freq="h").spec()
        >>> spec["model"], forecast_future(y, 3, spec).round(0).tolist()
        ({'error': 'A', 'trend': 'N', 'season': 'A', 'damped': False}, [0.0, 1.0, 2.0])
    """
    name = str(spec.get("name"))
    cls = _registered(name)
    y = np.asarray(y, dtype=np.float64).ravel()
    check_fittable(name, y)
    with quiet():
        try:
            model = cls._from_spec(spec)
            model.fit(y=y)
            return np.asarray(model.predict(h=int(horizon))["mean"], dtype=np.float64)
        except FitFailed:
            raise
        except Exception as exc:
            raise FitFailed(name, f"refitting the spec on {len(y)} rows: {one_line(exc)}") from exc
