"""The catalog of models: every name a run accepts, with its factory and traits, in one table.

Networks come from the cell registry (:func:`forecaster.models.network.cells.register_cell`);
baseline rows are the naive baselines, the linear model the residual networks start from, and
every statistical model :mod:`forecaster.models.statistical` registers (its class says whether it
is in the default line-up, why it is slow, and how much history it filters over). The CLI's
choices, config validation (:func:`choices`, handed to :func:`forecaster.config.resolve`) and the
line-up of a run (:func:`line_up`) all read this table, so adding a statistical model touches its
own module only.

Example:
    >>> baseline_names()
    ('naive', 'seasonal_naive', 'linear', 'ets', 'theta', 'arima', 'mstl')
    >>> default_baselines()
    ('naive', 'seasonal_naive', 'linear', 'ets', 'theta')
    >>> [m.name for m in line_up(("naive", "linear", "ets"))]
    ['naive', 'linear', 'ets']
    >>> slow_notes(("ets", "arima"))
    ['arima: AutoARIMA searches orders and filters forward at every test origin (tens of ms each); opt-in']
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from forecaster.errors import ConfigError
from forecaster.models import statistical
from forecaster.models.contract import Model
from forecaster.models.linear import Linear
from forecaster.models.local import PerSeries
from forecaster.models.naive import Naive, SeasonalNaive
from forecaster.models.network.cells import available_cells
from forecaster.types import Progress

__all__ = ["Entry", "BASELINES", "baseline_names", "default_baselines", "line_up", "slow_notes", "choices",
           "cell_names", "check_cells"]


@dataclass(frozen=True)
class Entry:
    """One baseline row a run can score: how to make it and what it is.

    Attributes:
        name: the ``--baselines`` name (and the row's name).
        make: an unfitted model; a local one is fitted per series (:class:`~forecaster.models.local.PerSeries`).
        default: in the line-up when ``--baselines`` is unset.
        slow: why it is opt-in (printed when it is asked for), or ``None``.
    """

    name: str
    make: Callable[[], Model]
    default: bool = True
    slow: str | None = None


def _statistical(cls: type[statistical.StatisticalModel]) -> Entry:
    make = partial(statistical.make, cls.name, history=cls.history_cap) if cls.history_cap else partial(
        statistical.make, cls.name)
    return Entry(cls.name, make, default=cls.default, slow=cls.slow)


#: Every baseline row, in the order a leaderboard lists them.
BASELINES: dict[str, Entry] = {
    e.name: e for e in (
        Entry("naive", Naive),
        Entry("seasonal_naive", SeasonalNaive),
        Entry("linear", Linear),
        *(_statistical(cls) for cls in statistical.STATISTICAL.values()),
    )
}


def baseline_names() -> tuple[str, ...]:
    """Every name ``--baselines`` accepts."""
    return tuple(BASELINES)


def default_baselines() -> tuple[str, ...]:
    """The line-up when ``--baselines`` is unset (the slow models are opt-in)."""
    return tuple(n for n, e in BASELINES.items() if e.default)


def cell_names() -> tuple[str, ...]:
    """Every network cell ``--cell`` accepts."""
    return available_cells()


def choices() -> dict[str, tuple[str, ...]]:
    """The names config keys may take, for :func:`forecaster.config.resolve` (``choices=``)."""
    return {"model.cell": cell_names(), "model.baselines": baseline_names()}


def check_cells(cells: Sequence[str], flag: str = "--cells") -> None:
    """Refuse an empty list or an unknown cell, listing the valid ones.

    Raises:
        ConfigError: naming the flag.
    """
    unknown = [c for c in cells if c not in cell_names()]
    if unknown or not cells:
        raise ConfigError(f"{flag}: unknown cell(s) {', '.join(unknown) or '(none given)'}; "
                          f"expected a comma-separated list of {', '.join(cell_names())}")


def line_up(names: Sequence[str] | None, *, progress: Progress | None = None) -> list[Model]:
    """Fresh, unfitted rows for ``names`` (``None``: the default line-up; duplicates dropped, order kept):
    a global model as it is, a local one wrapped to be fitted per series.

    Raises:
        ConfigError: an unknown name.
    """
    out: list[Model] = []
    for name in dict.fromkeys(default_baselines() if names is None else names):
        entry = BASELINES.get(name)
        if entry is None:
            raise ConfigError(f"--baselines: unknown baseline {name!r}; expected names from {', '.join(BASELINES)}")
        model = entry.make()
        out.append(model if model.capabilities.global_fit else PerSeries(entry.make, progress=progress))
    return out


def slow_notes(names: Sequence[str] | None) -> list[str]:
    """One line per slow baseline asked for, with the reason."""
    chosen = default_baselines() if names is None else names
    return [f"{n}: {BASELINES[n].slow}" for n in dict.fromkeys(chosen) if n in BASELINES and BASELINES[n].slow]
