"""Statistical baselines scored in a forked worker process while the networks train (issue 31).

A statistical row (ETS, Theta...) is fitted by statsforecast's C++ kernels, which hold Python's
GIL: one core. A network's fit keeps TensorFlow on about one and a half of a 2-core machine's
cores. One after the other, a 148-series monthly panel spent ~27 s on ETS and Theta and then
~60-90 s on the networks; side by side the baselines cost almost nothing of the wall time.

:func:`start` forks one worker that scores the statistical rows exactly as
:func:`forecaster.workflows.train.score_baselines` would (same models, same series, same
calibration: the same numbers), while the caller trains its networks; :meth:`Baselines.collect`
joins it and says each row's time as the serial path does.

The worker is niced (it takes the cores TensorFlow leaves idle, so a network's measured time, which
the verdict ranks costs by, barely moves), dies with its parent (``PR_SET_PDEATHSIG``), ignores the
signals the parent handles, and is bounded where a fork can go wrong: it must start within
:data:`START_S` seconds (a fork that deadlocked on a lock held by another thread never does), and
one that dies is replaced; its rows are then scored here, said in one line, as they are when the
worker cannot be started at all. Once started it runs the serial path's code. Forked, not spawned:
a spawned worker re-imports the caller's ``__main__`` (a notebook user's unguarded script would run
again); Linux only (macOS forks badly under Accelerate). The worker runs numpy and statsforecast
only, never TensorFlow, prints nothing and leaves through ``os._exit``.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from typing import Any

from forecaster.data.prepared import Prepared
from forecaster.evaluation.scoring import Scored
from forecaster.models.local import PerSeries, can_fork, die_with_parent
from forecaster.models.statistical import STATISTICAL
from forecaster.types import Progress, speaker

__all__ = ["Baselines", "start", "worth_it", "START_S", "MIN_ROWS", "MIN_SERIES"]

#: A worker that has not started within this many seconds is taken as stuck: killed, its rows scored here.
START_S = 60.0

#: The statistical rows go beside the networks from this many rows to fit (train + validation, all series
#: together) or this many series: below it they take about a second here and a fork is not worth it.
MIN_ROWS, MIN_SERIES = 5000, 40


def _cores() -> int:
    from forecaster.models.network.hardware import cpu_cores

    return cpu_cores()


def worth_it(prep: Prepared, models: Sequence[Any]) -> bool:
    """Whether to score ``models``' statistical rows in a worker beside the networks: some are statistical,
    the data is large enough (:data:`MIN_ROWS`, :data:`MIN_SERIES`), there are two cores or more and this
    process can fork (:func:`can_fork`)."""
    if not any(m.name in STATISTICAL for m in models):
        return False
    rows = sum(item.split.val_end for item in prep.items)
    if rows < MIN_ROWS and len(prep.items) < MIN_SERIES:
        return False
    return _cores() >= 2 and can_fork()


def _child(models: Sequence[Any], prep: Prepared, score: Callable[[Any], Scored], conn: Any, started: Any) -> None:
    """The worker: say it started, score every row, send ``("ok", [(scored, seconds)])`` or an error line."""
    from forecaster.models import local

    die_with_parent()
    local.FAN_OUT_AFTER_S = float("inf")  # this worker is the one extra process
    started.value = 1
    try:
        out = []
        for model in models:
            if isinstance(model, PerSeries):
                model.progress = None  # the worker prints nothing
            t0 = time.perf_counter()
            scored = score(model)
            out.append((scored, time.perf_counter() - t0))
            for fitted in getattr(model, "models_", {}).values():  # the calibration is done: twins stay here
                fitted.__dict__.pop("twin_", None)
        message: tuple[str, Any] = ("ok", out)
    except BaseException as exc:  # anything: the parent scores the rows itself
        message = ("error", f"{type(exc).__name__}: {exc}")
    try:
        conn.send(message)
    except OSError:  # the parent is gone
        pass
    finally:
        conn.close()


class Baselines:
    """A run's baseline rows in line-up order: scored already, or being scored in a worker (:meth:`collect`).

    Args:
        rows: the line-up's rows, ``None`` where the worker scores it.
        later: the worker's models, in order of the ``None`` slots.
        score: how a row is scored (used here if the worker fails).
        report: says one row's time and score (``(scored, seconds, where)``).
    """

    def __init__(self, rows: list[Scored | None], later: list[Any], score: Callable[[Any], Scored],
                 report: Callable[[Scored, float, str], None], say: Progress) -> None:
        self.rows, self.later, self.score, self.report, self.say = rows, later, score, report, say
        self.process: Any = None
        self.conn: Any = None
        self.started: Any = None

    def _start(self, prep: Prepared) -> None:
        import warnings

        import statsforecast.models  # noqa: F401  # imported here, never under another thread's import lock there

        ctx = multiprocessing.get_context("fork")
        self.started = ctx.RawValue("b", 0)
        parent, child = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_child, args=(self.later, prep, self.score, child, self.started), daemon=True,
                                   name="forecaster-baselines")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: "multi-threaded, use of fork()"
                self.process.start()
        finally:
            child.close()
        self.conn = parent

    def _wait(self) -> tuple[list[tuple[Scored, float]] | None, str]:
        """The worker's rows and seconds, or ``None`` and why not."""
        began = time.monotonic()
        while True:
            if self.conn.poll(1.0):
                try:
                    status, payload = self.conn.recv()
                except (EOFError, OSError):  # it died before answering
                    self.process.join(5)
                    return None, f"the worker stopped (exit code {self.process.exitcode})"
                return (payload, "") if status == "ok" else (None, f"the worker failed: {payload}")
            if not self.process.is_alive() and not self.conn.poll(0):
                return None, f"the worker stopped (exit code {self.process.exitcode})"
            if not self.started.value and time.monotonic() - began > START_S:
                return None, f"the worker did not start within {START_S:.0f} s"

    def close(self) -> None:
        """Stop the worker if it still runs (the run failed before :meth:`collect`); idempotent."""
        if self.process is not None:
            self.process.join(1)
            if self.process.is_alive():
                self.process.kill()
                self.process.join(5)
            self.conn.close()
            self.process = None

    def __enter__(self) -> Baselines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def collect(self) -> list[Scored]:
        """Every row, scored: the worker's joined (or, should it fail, scored here)."""
        if self.process is not None:
            done, why = self._wait()
            self.close()
            if done is None:
                names = ", ".join(m.name for m in self.later)
                self.say(f"baseline {names}: scoring here instead ({why})")
                done = []
                for model in self.later:
                    t0 = time.perf_counter()
                    done.append((self.score(model), time.perf_counter() - t0))
                where = ""
            else:
                where = " beside the networks"
            slots = iter(done)
            for i, row in enumerate(self.rows):
                if row is None:
                    scored, seconds = next(slots)
                    self.report(scored, seconds, where)
                    self.rows[i] = scored
        return [row for row in self.rows if row is not None]


def start(models: Sequence[Any], prep: Prepared, score: Callable[[Any], Scored],
          report: Callable[[Scored, float, str], None], progress: Progress | None, *, beside: bool = True,
          announce: Callable[[Sequence[Any], bool], None] | None = None) -> Baselines:
    """Score ``models`` in line-up order: with ``beside`` (networks will train next) and when :func:`worth_it`,
    the statistical ones in a forked worker started first, the rest here now. ``announce(models, beside)`` is
    told which rows start where; ``collect()`` the result after the networks are trained."""
    say = speaker(progress)
    background = beside and worth_it(prep, models)
    later = [m for m in models if background and m.name in STATISTICAL]
    out = Baselines([None] * len(models), later, score, report, say)
    if later:
        try:
            out._start(prep)
        except (OSError, AssertionError, RuntimeError, ValueError) as exc:  # no fork here: score them here
            out.process, out.later, later = None, [], []
            say(f"baselines: no worker process beside the networks ({type(exc).__name__}: {exc}); scoring them here")
        else:
            if announce is not None:
                announce(later, True)
    try:
        for i, model in enumerate(models):
            if any(model is m for m in later):
                continue
            if announce is not None:
                announce([model], False)
            t0 = time.perf_counter()
            scored = score(model)
            report(scored, time.perf_counter() - t0, "")
            out.rows[i] = scored
    except BaseException:
        out.close()  # the caller never gets the object that would stop the worker
        raise
    return out
