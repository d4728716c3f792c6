"""What every statsforecast row of the line-up shares (:class:`StatisticalModel`): fitted ONCE on the
train + validation rows of a :class:`~forecaster.data.prepared.Prepared` (never the test rows),
then filtered forward to each forecast origin with its parameters frozen; its spec (structure,
parameters and the state :mod:`forecaster.models.statistical_state` serves) checked against
statsforecast's own forecast before it is saved.

The models themselves (ETS, Theta, ARIMA, MSTL) and their registry are :mod:`forecaster.models.statistical`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from forecaster.errors import ConfigError, TrainingError
from forecaster.models import statistical_state
from forecaster.models.contract import Capabilities, Kind
from forecaster.models.statistical_spec import SINGLE, STATE_FORMAT, StateError

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.data.prepared import Prepared, PreparedSeries

__all__ = ["LIBRARY", "FitFailed", "StatisticalModel", "quiet", "one_line", "finite", "check_fittable", "constant_prefix",
           "mstl_seasons"]

#: Library whose models these are, recorded in every spec.
LIBRARY = "statsforecast"


class FitFailed(TrainingError):
    """A statistical model cannot be fitted (or applied) on this series.

    Attributes:
        name: the model's registry name.
        reason: one line saying why.
    """

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(f"statistical model {name!r} could not be fitted: {reason}; leave it out of --baselines")


@contextmanager
def quiet() -> Iterator[None]:
    """Silence the library's convergence warnings and floating-point noise (the result is checked)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def one_line(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or "no message"
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}"


def finite(x: Any) -> float | None:
    v = float(x)
    return v if np.isfinite(v) else None


def check_fittable(name: str, y: np.ndarray, min_rows: int = 4) -> None:
    """Reject, in one line, what no statistical model can fit: missing values, a constant, too few rows."""
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise FitFailed(name, f"the {len(y)} rows to fit hold {bad.size} missing or infinite value(s), the first at row {bad[0]}")
    if len(y) < min_rows:
        raise FitFailed(name, f"{len(y)} rows to fit are too few (need >= {min_rows})")
    if np.all(y == y[0]):
        raise FitFailed(name, f"the {len(y)} rows to fit are constant ({y[0]:g}): there is nothing to fit")


def constant_prefix(y: np.ndarray) -> int:
    """How many leading rows equal the first one (``y[:t]`` is constant for ``t`` up to this)."""
    differs = np.flatnonzero(y != y[0])
    return int(differs[0]) if differs.size else len(y)


def mstl_seasons(season: int, freq: str | None, n: int) -> list[int]:
    """The seasonal periods MSTL decomposes: the series' natural cycles (:func:`forecaster.data.seasons.natural_seasons`)
    that the ``n`` rows hold at least two full cycles of.

    Example:
        >>> mstl_seasons(24, "h", 8000), mstl_seasons(24, "h", 300), mstl_seasons(1, "YS", 300)
        ([24, 168], [24], [])
    """
    from forecaster.data.seasons import natural_seasons

    return [p for p in natural_seasons(season, freq) if 2 * p <= n]


class StatisticalModel:
    """A statsforecast model behind the :class:`~forecaster.models.contract.Model` contract.

    Subclasses name the library model (:meth:`_library_model`), what of its fit a spec records
    (:meth:`_params`) and how a spec rebuilds it with its structure fixed (:meth:`_from_spec`).

    Args:
        history: rows before each origin that ``forward`` filters over (``None``: all of them, exactly
            statsforecast's ``forward``). A cap makes theta, arima and mstl faster at the price of a
            forecast that no longer sees the oldest rows.

    Attributes:
        model_: the fitted statsforecast model.
        season_: the season it was fitted with (1: non-seasonal).
        freq_: the series' pandas frequency.
        n_fit_: rows it was fitted on (train + validation).
    """

    name: str
    kind: Kind = "baseline"
    capabilities = Capabilities(uses_covariates=False, saves=True)
    #: In the default line-up (``--baselines`` unset); a slow model is opt-in and says why (:attr:`slow`).
    default: bool = True
    slow: str | None = None
    #: Rows before each origin the line-up lets it filter over (``None``: all).
    history_cap: int | None = None

    def __init__(self, *, history: int | None = None) -> None:
        if history is not None and history < 2:
            raise ConfigError(f"{self.name}: history must be >= 2 rows or None (all rows); received {history}")
        self.history = history

    def __repr__(self) -> str:
        return f"{type(self).__name__}(history={self.history})"

    # -- what a subclass provides -------------------------------------------------------------

    def _library_model(self, season: int, freq: str | None, n: int) -> Any:
        raise NotImplementedError

    def _params(self) -> dict[str, Any]:
        return {}

    def _state(self, y: np.ndarray) -> dict[str, Any] | None:
        """What :func:`forecaster.models.statistical_state.forecast` needs to serve this fit (``None``: refitted)."""
        return None

    @classmethod
    def _from_spec(cls, spec: dict[str, Any]) -> Any:
        raise NotImplementedError

    # -- the contract -------------------------------------------------------------------------

    def fit(self, prep: Prepared) -> StatisticalModel:
        """Fit once on the train + validation rows of ``prep``'s one series (never its test rows): a local
        model, fitted per series by :class:`~forecaster.models.local.PerSeries`.

        Raises:
            FitFailed: the series cannot be fitted (missing values, constant, too short, library error).
        """
        item = prep.single
        y = np.asarray(item.y[: item.split.val_end], dtype=np.float64)
        return self.fit_array(y, season=item.season, freq=item.series.freq)

    def on(self, item: PreparedSeries) -> StatisticalModel:
        """Fitted on one series, it forecasts that one (the contract's per-series view)."""
        return self

    def calibration_model(self, prep: PreparedSeries) -> StatisticalModel:
        """A copy of this fit's structure (ETS components, theta type, ARIMA orders...) with its parameters
        re-estimated on the training rows only: its errors on the validation windows are out of sample
        (this model's own fit saw those rows), so intervals calibrated on them are not too narrow.

        The structure is kept rather than searched again: the search is most of a fit's cost (AutoETS
        tries about 15 models; a panel of 148 series spent 22 of ETS's 50 s on it). That structure was
        chosen (by AICc) on the training and validation rows, a small look at them; the parameters, which
        set the forecasts' level and so most of their errors, see the training rows only. Should the
        structure not fit on the shorter rows, the search runs as in :meth:`fit`. A twin fitted ahead (:meth:`fit_twin`, by a
        worker process of :class:`~forecaster.models.local.PerSeries`) is reused.
        """
        train_end = int(prep.split.train_end)
        twin = getattr(self, "twin_", None)
        if twin is not None and twin.n_fit_ == train_end:
            return twin
        return self.fit_twin(np.asarray(prep.y[:train_end], dtype=np.float64), season=prep.season, freq=prep.series.freq)

    def fit_twin(self, y: np.ndarray, *, season: int, freq: str | None = None) -> StatisticalModel:
        """The calibration twin of this fit on the training rows ``y`` (see :meth:`calibration_model`), kept as ``twin_``."""
        import copy

        twin = copy.copy(self)
        for attr in ("model_", "season_", "freq_", "n_fit_", "y_fit_", "twin_"):
            twin.__dict__.pop(attr, None)
        saved = getattr(self, "fixed_spec", None)  # a saved structure (from_spec): the twin refits it as is
        twin.fixed_spec = dict(saved) if saved is not None else {  # type: ignore[attr-defined]
            "name": self.name, "season": self.season_, **self._params()}
        try:
            twin.fit_array(y, season=season, freq=freq)
        except FitFailed:
            if getattr(self, "fixed_spec", None) is not None:  # a saved structure: nothing else to try
                raise
            del twin.fixed_spec  # type: ignore[attr-defined]
            twin.fit_array(y, season=season, freq=freq)
        self.twin_ = twin
        return twin

    def fit_array(self, y: np.ndarray, *, season: int, freq: str | None = None) -> StatisticalModel:
        """Fit on a plain target array (what :meth:`fit` does with the rows of a split)."""
        y = np.asarray(y, dtype=np.float64).ravel()
        check_fittable(self.name, y)
        fixed = getattr(self, "fixed_spec", None)
        model = type(self)._from_spec(fixed) if fixed is not None else self._library_model(season, freq, len(y))
        with quiet():
            try:
                model.fit(y=y)
            except Exception as exc:  # the library raises anything from ValueError to a C++ RuntimeError
                raise FitFailed(self.name, f"{len(y)} rows, season {season}: {one_line(exc)}") from exc
        self.__dict__.pop("twin_", None)  # a twin of an earlier fit is not this fit's
        self.model_ = model
        self.season_ = int(season)
        self.freq_ = freq
        self.n_fit_ = len(y)
        self.y_fit_ = y  # what spec() derives the serving state from (a calibration twin never saves one)
        return self

    def predict(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        """Forecast ``horizon`` steps at each origin ``t`` from ``values[:t, 0]`` only, parameters frozen.

        Args:
            values: the series in original units, target in column 0 (a 1-D array is the target).
            origins: the row of each window's first target step.
            horizon: steps to forecast.

        Returns:
            ``(len(origins), horizon)`` float64.

        Raises:
            FitFailed: the library could not apply the fitted model at some origin.
        """
        if not hasattr(self, "model_"):
            raise RuntimeError(f"{self.name}: call fit before predict")
        arr = np.asarray(values, dtype=np.float64)
        y = arr[:, 0] if arr.ndim == 2 else arr.ravel()
        origins = np.asarray(origins, dtype=np.int64).ravel()
        if origins.size == 0:
            return np.empty((0, horizon))
        if origins.min() < 1 or origins.max() > len(y):
            raise ValueError(f"{self.name}: origins must lie in [1, {len(y)}]; received {origins.min()}..{origins.max()}")
        with quiet():
            return self._forecast_at(y, origins, int(horizon))

    def _forecast_at(self, y: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        """statsforecast's ``forward`` at every origin (exact; its cost grows with the rows before it)."""
        out = np.empty((len(origins), horizon))
        for i, t in enumerate(origins):
            lo = 0 if self.history is None else max(0, int(t) - self.history)
            out[i] = self._forward(y[lo:t], horizon, int(t))
        return out

    def _forward(self, y: np.ndarray, horizon: int, origin: int) -> np.ndarray:
        try:
            return np.asarray(self.model_.forward(y=y, h=horizon)["mean"], dtype=np.float64)
        except Exception as exc:
            raise FitFailed(self.name, f"forecast at origin {origin} failed: {one_line(exc)}") from exc

    # -- serving ------------------------------------------------------------------------------

    def spec(self) -> dict[str, Any]:
        """The fitted model as plain JSON: name, season(s), the selected structure and its parameters.

        :func:`forecast_future` refits that structure on a full series; nothing is pickled.
        """
        if not hasattr(self, "model_"):
            raise RuntimeError(f"{self.name}: call fit before spec")
        import statsforecast

        spec = {
            "name": self.name,
            "library": LIBRARY,
            "library_version": statsforecast.__version__,
            "season": self.season_,
            "freq": self.freq_,
            "n_fit": self.n_fit_,
            "history": self.history,
            **self._params(),
        }
        state, note = self.checked_state()
        if state is not None:
            spec["state"] = {"format": STATE_FORMAT, "series": {SINGLE: state}}
        elif note:
            spec["state_note"] = note
        return spec

    def checked_state(self) -> tuple[dict[str, Any] | None, str | None]:
        """The serving state of this fit, checked against statsforecast's own forecast, or why there is none.

        The state forecasts 24 steps after the fitted rows and must equal :meth:`predict` at that
        origin to ``1e-7`` of the series' standard deviation (ARIMA: also when filtering every row
        from the start, the path a series other than the training file takes); a state that does
        not is not saved, and predict refits the spec as before.
        """
        y = getattr(self, "y_fit_", None)
        if y is None:
            return None, None
        try:
            state = self._state(y)
        except Exception as exc:  # a library dict of another shape: refit, as before
            return None, f"no serving state ({one_line(exc)}); predict refits"
        if state is None:
            return None, None
        h = 24
        theirs = self.predict(y, np.array([len(y)]), h)[0]
        scale = float(np.std(y)) or float(np.abs(y).max()) or 1.0
        variants = [state] + ([{k: v for k, v in state.items() if k != "resume"}] if "resume" in state else [])
        tries: list[dict[str, Any]] = [
            {"name": self.name, "state": {"format": STATE_FORMAT,
                                          "series": {SINGLE: one}}} for one in variants]
        for spec in tries:
            try:
                ours = statistical_state.forecast(spec, y, h)
            except (StateError, ValueError, ArithmeticError) as exc:
                return None, f"no serving state ({one_line(exc)}); predict refits"
            if ours is None or not statistical_state.agrees(ours, theirs, scale):
                gap = float(np.max(np.abs(np.asarray(ours) - theirs))) if ours is not None else float("nan")
                return None, f"no serving state (it forecast {gap:.3g} away from statsforecast's); predict refits"
        return state, None
