"""The baseline line-up: ``--baselines`` names to models of the contract.

Every leaderboard scores these rows beside the networks, on the same windows with the same MASE
scale (:func:`forecaster.evaluation.scoring.fit_and_score`): the naive baselines, the linear model the
residual networks start from, and statsforecast's models (:mod:`forecaster.models.statistical`).

Example:
    >>> [m.name for m in make_baselines(("naive", "linear", "ets"))]
    ['naive', 'linear', 'ets']
    >>> slow_notes(("ets", "arima"))
    ['arima: AutoARIMA searches orders and filters forward at every test origin (tens of ms each); opt-in']
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from forecaster.config import BaselineName
from forecaster.models import baselines, statistical

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.models.contract import Model

__all__ = ["NAMES", "make_baselines", "slow_notes", "SLOW", "THETA_HISTORY"]

_SIMPLE: dict[str, Callable[[], Model]] = {
    "naive": baselines.Naive, "seasonal_naive": baselines.SeasonalNaive, "linear": baselines.Linear,
}

#: Every name ``--baselines`` accepts, in the config's order.
NAMES: tuple[str, ...] = typing.get_args(BaselineName)

#: Rows before each origin that theta filters over. statsforecast's ``forward`` re-runs theta's
#: decomposition on the whole history at every origin, at a cost quadratic in its length: 75 ms an
#: origin (97 s for the hourly sample's 1,291 test origins) with all 7,446 rows, 5 ms with 1,000.
#: The cap also forecast better on the three series tried (MASE 12.3 -> 3.0, 1.23 -> 0.95, 0.89 ->
#: 0.67 on seattle_temps, sf_traffic, co2): a decomposition of the recent past, not a year's.
THETA_HISTORY = 1000

#: Why a baseline is opt-in: printed when it is asked for.
SLOW = {
    "arima": "AutoARIMA searches orders and filters forward at every test origin (tens of ms each); opt-in",
    "mstl": "MSTL decomposes the series again at every test origin (about 2 s each on 8,760 hourly rows); opt-in",
}


def make_baselines(names: Sequence[str]) -> list[Model]:
    """Fresh, unfitted models for ``names`` (duplicates dropped, order kept)."""
    out: list[Model] = []
    for name in dict.fromkeys(names):
        if name in _SIMPLE:
            out.append(_SIMPLE[name]())
        else:
            out.append(statistical.make(name, history=THETA_HISTORY) if name == "theta" else statistical.make(name))
    return out


def slow_notes(names: Sequence[str]) -> list[str]:
    """One line per slow baseline asked for, with the reason."""
    return [f"{n}: {SLOW[n]}" for n in dict.fromkeys(names) if n in SLOW]
