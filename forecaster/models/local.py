"""Local models fitted per series by one wrapper (statsforecast's ``GroupedArray.fit``).

A local model (naive, seasonal naive, a statistical model, a ``--per-series`` network) learns from
one series. :class:`PerSeries` fits a fresh one on every series of a
:class:`~forecaster.data.prepared.Prepared` (each on a Prepared of that series alone) and forecasts
each series with its own. A series whose fit fails is recorded with its one-line reason, never a
crash: the row is scored on the others and the failure named.

Example:
    >>> from forecaster.models.naive import Naive
    >>> row = PerSeries(Naive)
    >>> row.name, row.capabilities.global_fit
    ('naive', False)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from forecaster.errors import ForecasterError
from forecaster.models.contract import Capabilities, Forecaster, Kind, Model
from forecaster.types import Progress

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.data.prepared import Prepared, PreparedSeries

__all__ = ["PerSeries", "FAILURES", "reason_of", "ETA_SAMPLE", "ETA_AFTER_S"]

#: What a model's failure on one series may raise (the library's typed errors, a model's own ``ValueError``...);
#: anything else is a bug and surfaces.
FAILURES = (ForecasterError, ValueError, ArithmeticError, np.linalg.LinAlgError)

#: After this many series, a row whose projected time over every series exceeds :data:`ETA_AFTER_S` says so.
ETA_SAMPLE, ETA_AFTER_S = 20, 60.0


def reason_of(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line (its first line, capped; its class name when it has no message)."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else exc.__class__.__name__


class PerSeries:
    """One fresh ``make()`` model fitted on each series of a Prepared (a local model's row).

    Args:
        make: builds an unfitted local model (a :class:`~forecaster.models.contract.Model` that ``fit``s
            on a Prepared of one series).
        progress: receives one line when the row will take over a minute on every series, and
            ``announce(k, n, series_id)`` lines if given.
        announce: called before each series' fit with its position, the count and its id (a
            ``--per-series`` network says which series it trains).
        probe: an unfitted model to read the row's name, kind and capabilities from (default: ``make()``).

    Attributes (after ``fit``): ``models_`` (series id -> fitted model), ``failed_`` (series id -> reason),
    ``fit_seconds_`` (series id -> seconds).
    """

    def __init__(self, make: Callable[[], Any], *, progress: Progress | None = None,
                 announce: Callable[[int, int, str | None], None] | None = None, probe: Any = None) -> None:
        self.make = make
        self.progress = progress
        self.announce = announce
        self.position_ = 0  # the series being fitted (a factory may read it: its log folder, its checkpoint)
        probe = probe if probe is not None else make()
        self.name: str = probe.name
        self.kind: Kind = probe.kind
        self.capabilities = Capabilities(**{**probe.capabilities.__dict__, "global_fit": False})

    def fit(self, prep: Prepared) -> PerSeries:
        """Fit a fresh model on each series alone; a series that fails is recorded, not raised."""
        self.models_: dict[str | None, Model] = {}
        self.failed_: dict[str | None, str] = {}
        self.fit_seconds_: dict[str | None, float] = {}
        n = len(prep.items)
        began = time.perf_counter()
        for k, item in enumerate(prep.items):
            if self.progress is not None and k == ETA_SAMPLE and n > 2 * ETA_SAMPLE:
                eta = (time.perf_counter() - began) / ETA_SAMPLE * (n - ETA_SAMPLE)
                if eta > ETA_AFTER_S:
                    self.progress(f"baseline {self.name}: about {eta / 60:.0f} more minute(s) for {n:,} series "
                                  "(leave it out of --baselines to skip it)")
            self.position_ = k
            if self.announce is not None:
                self.announce(k, n, item.series_id)
            t0 = time.perf_counter()
            try:
                self.models_[item.series_id] = self.make().fit(prep.only(k))
            except FAILURES as exc:
                self.failed_[item.series_id] = reason_of(exc)
            self.fit_seconds_[item.series_id] = time.perf_counter() - t0
        return self

    def on(self, item: PreparedSeries) -> Forecaster:
        """The model fitted on ``item``'s series.

        Raises:
            ValueError: its fit failed (the recorded reason), or it was not among the fitted series.
        """
        sid = item.series_id
        if sid in self.failed_:
            raise ValueError(self.failed_[sid])
        if sid not in self.models_:
            raise ValueError(f"series {sid!r} was not fitted")
        return self.models_[sid].on(item)

    def fit_seconds(self, item: PreparedSeries) -> float:
        """Seconds spent fitting ``item``'s series."""
        return self.fit_seconds_.get(item.series_id, 0.0)
