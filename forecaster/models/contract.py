"""The model contract: what every row of a leaderboard implements.

Networks, the naive baselines, the linear model and the statistical models are all a
:class:`Model`: a name, a kind, capability flags, ``fit`` on a :class:`~forecaster.data.prepared.Prepared`
(one series or many) and ``on(item)``, the fitted model forecasting one of its series (a
:class:`Forecaster`: ``predict`` at a batch of forecast origins). A *global* model
(``capabilities.global_fit``: the networks, linear) is fitted once on every series' windows and
forecasts each series with that series' scaler; a *local* one (naive, statistical) is fitted on one
series, and :class:`~forecaster.models.local.PerSeries` fits one per series (statsforecast's
``GroupedArray.fit``, darts' ``LocalForecastingModel``). :func:`forecaster.evaluation.scoring.score_row`
scores any of them on the windows of every series in the same way, so a leaderboard is built
from a list of models, not from hard-coded names.

A forecast *origin* is the row of a window's first target step: ``predict(values, origins, h)``
returns, for each origin ``t``, the ``h`` steps ``t .. t+h-1`` forecast from rows ``< t`` only.

Example:
    >>> import numpy as np
    >>> from forecaster.models.naive import Naive
    >>> m = Naive()
    >>> m.name, m.capabilities.uses_covariates, m.capabilities.global_fit
    ('naive', False, False)
    >>> m.predict(np.arange(10.0)[:, None], np.array([5]), 3).tolist()
    [[4.0, 4.0, 4.0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from forecaster.data.prepared import Prepared, PreparedSeries

__all__ = ["Capabilities", "Model", "Forecaster", "Kind"]

#: ``model``: a trained network (params, epochs, a saved folder); ``baseline``: anything else.
Kind = Literal["model", "baseline"]


@dataclass(frozen=True)
class Capabilities:
    """What a model can do, declared by the model itself (never looked up by name).

    Attributes:
        uses_covariates: reads the covariate columns (``values[:, 1:]``), not only the target.
        recursive_only: produces one step at a time and feeds it back (no covariates then).
        network: a Keras network: it has parameters, epochs and a saved, servable folder.
        saves: ``fit`` leaves something to save beside the run (a network, a fitted spec).
        global_fit: fitted once on every series' windows (networks, linear); otherwise a local model,
            fitted on one series (:class:`~forecaster.models.local.PerSeries` fits one per series).
    """

    uses_covariates: bool = False
    recursive_only: bool = False
    network: bool = False
    saves: bool = False
    global_fit: bool = False


@runtime_checkable
class Forecaster(Protocol):
    """A fitted model forecasting one series: ``horizon`` steps at every origin in ``origins`` from
    ``values[:origin]`` only (original units, target in column 0), as ``(len(origins), horizon)`` float64."""

    def predict(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray: ...


@runtime_checkable
class Model(Protocol):
    """One row of a leaderboard.

    ``fit`` learns from the prepared data only (train rows, and validation rows where the model
    selects or calibrates on them; never test rows) and returns ``self``; ``on(item)`` is the fitted
    model forecasting the series ``item`` (one of ``prep.items``).
    """

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> Kind: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def fit(self, prep: Prepared) -> Model: ...

    def on(self, item: PreparedSeries) -> Forecaster: ...
