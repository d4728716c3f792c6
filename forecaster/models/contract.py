"""The model contract: what every row of a leaderboard implements.

Networks, the naive baselines, the linear model and the statistical models are all a
:class:`Model`: a name, a kind, capability flags, ``fit`` on a prepared split and ``predict``
at a batch of forecast origins. :func:`forecaster.evaluation.scoring.score_model` scores any of them on
the windows of a part in the same way, so a leaderboard is built from a list of models, not
from hard-coded names.

A forecast *origin* is the row of a window's first target step: ``predict(values, origins, h)``
returns, for each origin ``t``, the ``h`` steps ``t .. t+h-1`` forecast from rows ``< t`` only.

Example:
    >>> import numpy as np
    >>> from forecaster.models.baselines import Naive
    >>> m = Naive()
    >>> m.name, m.capabilities.uses_covariates
    ('naive', False)
    >>> m.predict(np.arange(10.0)[:, None], np.array([5]), 3).tolist()
    [[4.0, 4.0, 4.0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from forecaster.data.prepared import Prepared

__all__ = ["Capabilities", "Model", "Kind"]

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
    """

    uses_covariates: bool = False
    recursive_only: bool = False
    network: bool = False
    saves: bool = False


@runtime_checkable
class Model(Protocol):
    """One forecaster of a leaderboard.

    ``fit`` learns from the prepared split only (train rows, and validation rows where the model
    selects or calibrates on them; never test rows) and returns ``self``. ``predict`` forecasts
    ``horizon`` steps at every origin in ``origins`` from ``values[:origin]`` only (original
    units, target in column 0), as ``(len(origins), horizon)`` float64.
    """

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> Kind: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def fit(self, prep: Prepared) -> Model: ...

    def predict(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray: ...
