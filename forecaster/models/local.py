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

__all__ = ["PerSeries", "FAILURES", "reason_of", "ETA_SAMPLE", "ETA_AFTER_S", "FAN_OUT_AFTER_S", "can_fork",
           "die_with_parent"]

#: What a model's failure on one series may raise (the library's typed errors, a model's own ``ValueError``...);
#: anything else is a bug and surfaces.
FAILURES = (ForecasterError, ValueError, ArithmeticError, np.linalg.LinAlgError)

#: After this many series, a row whose projected time over every series exceeds :data:`ETA_AFTER_S` says so.
ETA_SAMPLE, ETA_AFTER_S = 20, 60.0

#: A model that fits from a plain array (``fit_array``: the statistical ones) fans the series left out to one
#: worker process per CPU core when, after :data:`ETA_SAMPLE` series, the rest would take longer than this
#: many seconds one after another (the fits hold the GIL, so threads would not help). 148 monthly series:
#: AutoETS 25.7 -> 18.0 s on 2 cores.
FAN_OUT_AFTER_S = 2.0


def can_fork() -> bool:
    """Whether this process may fork workers: Linux (macOS forks badly under Accelerate), and not itself a
    daemonic multiprocessing worker (which may not have children)."""
    import multiprocessing
    import sys

    return (sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon)


def die_with_parent() -> None:
    """In a forked worker: be killed when the parent dies (Linux ``PR_SET_PDEATHSIG``), leave the parent's
    signals to it (Ctrl-C and a retrain's SIGTERM stop the parent, which stops its workers), run niced (a
    network training beside it keeps the cores it uses, and its measured time)."""
    import contextlib
    import ctypes
    import os
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    with contextlib.suppress(OSError):
        os.nice(10)


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
        for k in range(n):
            if k == ETA_SAMPLE and n > 2 * ETA_SAMPLE:
                eta = (time.perf_counter() - began) / ETA_SAMPLE * (n - ETA_SAMPLE)
                workers = self._workers(eta)
                if self.progress is not None and eta / workers > ETA_AFTER_S:
                    self.progress(f"baseline {self.name}: about {eta / workers / 60:.0f} more minute(s) for {n:,} series "
                                  "(leave it out of --baselines to skip it)")
                if workers > 1 and self._fan_out(prep, range(k, n), workers, eta):
                    return self
            self._fit_one(prep, k)
        return self

    def _fit_one(self, prep: Prepared, k: int) -> None:
        item = prep.items[k]
        self.position_ = k
        if self.announce is not None:
            self.announce(k, len(prep.items), item.series_id)
        t0 = time.perf_counter()
        try:
            self.models_[item.series_id] = self.make().fit(prep.only(k))
        except FAILURES as exc:
            self.failed_[item.series_id] = reason_of(exc)
        self.fit_seconds_[item.series_id] = time.perf_counter() - t0

    def _workers(self, eta: float) -> int:
        """Worker processes for the series left (1: fit them here): one per core for an array-fitted model
        whose rest would take over :data:`FAN_OUT_AFTER_S` seconds."""
        if eta < FAN_OUT_AFTER_S or not hasattr(self.make(), "fit_array"):
            return 1
        from forecaster.models.network.hardware import cpu_cores

        return min(cpu_cores(), 8)

    def _fan_out(self, prep: Prepared, ks: range, workers: int, eta: float) -> bool:
        """Fit series ``ks`` in ``workers`` forked processes (each fit and its calibration twin, as here);
        ``False`` (nothing recorded) when the pool cannot run or overruns, so the caller fits them here.

        Forked, not spawned: a spawned worker re-imports the caller's ``__main__`` (a notebook user's
        unguarded script would run again in every worker). The workers run numpy and statsforecast only,
        never TensorFlow, and are bounded: ten times the projected time, at least a minute.
        """
        import multiprocessing
        import warnings
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures import TimeoutError as PoolTimeout
        from concurrent.futures.process import BrokenProcessPool

        if not can_fork():
            return False
        import statsforecast.models  # noqa: F401  # imported here, never under another thread's import lock there

        jobs = []
        for k in ks:
            item = prep.items[k]
            sp = item.split
            jobs.append((self.make, np.asarray(item.y[: sp.val_end], dtype=np.float64), int(sp.train_end),
                         int(item.season), item.series.freq))
        pool: ProcessPoolExecutor | None = None
        done: list[tuple[Any, str | None, float]] | None = None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: "multi-threaded, use of fork()"
                pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                           initializer=die_with_parent)
                done = list(pool.map(_fit_array, jobs, timeout=max(60.0, 10 * eta),
                                     chunksize=max(1, len(jobs) // (4 * workers))))
        except (BrokenProcessPool, PoolTimeout, OSError, RuntimeError, AssertionError):
            return False
        finally:
            if pool is not None:
                if done is None:  # failed or interrupted: nothing may keep fitting in the background
                    for proc in list((getattr(pool, "_processes", None) or {}).values()):
                        proc.kill()
                pool.shutdown(wait=done is not None, cancel_futures=True)
        for k, (model, reason, seconds) in zip(ks, done):
            sid = prep.items[k].series_id
            if model is not None:
                self.models_[sid] = model
            else:
                self.failed_[sid] = str(reason)
            self.fit_seconds_[sid] = seconds
        return True

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


def _fit_array(job: tuple[Callable[[], Any], np.ndarray, int, int, str | None]) -> tuple[Any, str | None, float]:
    """One series' fit in a worker process of :meth:`PerSeries._fan_out`: the model fitted on the train +
    validation rows and its calibration twin on the training rows (its ``fit_twin``), or the reason it failed."""
    make, y, train_end, season, freq = job
    t0 = time.perf_counter()
    try:
        model = make().fit_array(y, season=season, freq=freq)
        seconds = time.perf_counter() - t0  # the fit's own, as a series fitted in the parent reports
        if hasattr(model, "fit_twin") and train_end >= 4:
            try:
                model.fit_twin(y[:train_end], season=season, freq=freq)
            except FAILURES:
                pass  # calibrated (and failing, named) in the parent, as without a worker
    except FAILURES as exc:
        return None, reason_of(exc), time.perf_counter() - t0
    return model, None, seconds
