"""Statistical baselines scored in a forked worker process while the networks train (issue 31).

A statistical row (ETS, Theta...) is fitted by statsforecast's C++ kernels, which hold Python's
GIL: one core. A network's fit keeps TensorFlow on about one and a half of a 2-core machine's
cores. One after the other, a 148-series monthly panel spent ~27 s on ETS and Theta and then
~60-90 s on the networks; side by side the baselines cost almost nothing of the wall time.

:func:`start` forks one worker that scores the statistical rows exactly as
:func:`forecaster.workflows.train.score_baselines` would (same models, same series, same
calibration: the same numbers), while the caller trains its networks; :meth:`Baselines.collect`
joins it and says each row's time as the serial path does. The worker is bounded by progress:
each fitted series counts, and a worker with no series fitted for :data:`STALL_S` seconds, or
one that dies, is killed and its rows are scored here instead (said in one line). Forked, not
spawned: a spawned worker re-imports the caller's ``__main__``; the worker runs numpy and
statsforecast only, never TensorFlow, prints nothing and leaves through ``os._exit``.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Sequence
from typing import Any

from forecaster.data.prepared import Prepared
from forecaster.evaluation.scoring import Scored
from forecaster.models.local import PerSeries
from forecaster.models.statistical import STATISTICAL
from forecaster.types import Progress, speaker

__all__ = ["Baselines", "start", "worth_it", "STALL_S", "MIN_ROWS", "MIN_SERIES"]

#: A worker that has fitted no series for this many seconds is taken as stuck: killed, its rows scored here.
STALL_S = 300.0

#: The statistical rows go beside the networks from this many rows to fit (train + validation, all series
#: together) or this many series: below it they take about a second here and a fork is not worth it.
MIN_ROWS, MIN_SERIES = 5000, 40


def _cores() -> int:
    from forecaster.models.network.hardware import cpu_cores

    return cpu_cores()


def worth_it(prep: Prepared, models: Sequence[Any]) -> bool:
    """Whether to score ``models``' statistical rows in a worker beside the networks: some are statistical,
    the data is large enough (:data:`MIN_ROWS`, :data:`MIN_SERIES`), there are two cores or more and the
    platform can fork."""
    if not any(m.name in STATISTICAL for m in models):
        return False
    rows = sum(item.split.val_end for item in prep.items)
    if rows < MIN_ROWS and len(prep.items) < MIN_SERIES:
        return False
    return _cores() >= 2 and "fork" in multiprocessing.get_all_start_methods()


def _child(models: Sequence[Any], prep: Prepared, score: Callable[[Any], Scored], conn: Any, ticks: Any) -> None:
    """The worker: score every row, counting fitted series in ``ticks``; send ``[(scored, seconds)]`` or an error line."""
    from forecaster.models import local

    local.FAN_OUT_AFTER_S = float("inf")  # this worker is the one extra process

    def tick(k: int, n: int, sid: str | None) -> None:
        with ticks.get_lock():
            ticks.value += 1

    try:
        out = []
        for model in models:
            if isinstance(model, PerSeries):
                model.announce = tick
            t0 = time.perf_counter()
            scored = score(model)
            out.append((scored, time.perf_counter() - t0))
            if isinstance(model, PerSeries):
                model.announce = None  # the row goes back to the parent: no closure of this worker in it
        conn.send(("ok", out))
    except BaseException as exc:  # anything: the parent scores the rows itself
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
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
        self.ticks: Any = None

    def _start(self, prep: Prepared) -> None:
        ctx = multiprocessing.get_context("fork")
        self.ticks = ctx.Value("q", 0)
        parent, child = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_child, args=(self.later, prep, self.score, child, self.ticks), daemon=True,
                                   name="forecaster-baselines")
        self.process.start()
        child.close()
        self.conn = parent

    def _wait(self) -> tuple[list[tuple[Scored, float]] | None, str]:
        """The worker's rows and seconds, or ``None`` and why not."""
        last, seen = time.monotonic(), -1
        while True:
            if self.conn.poll(1.0):
                try:
                    status, payload = self.conn.recv()
                except (EOFError, OSError):  # it died before answering
                    self.process.join(5)
                    return None, f"the worker stopped (exit code {self.process.exitcode})"
                return (payload, "") if status == "ok" else (None, f"the worker failed: {payload}")
            count = self.ticks.value
            if count != seen:
                last, seen = time.monotonic(), count
            if not self.process.is_alive() and not self.conn.poll(0):
                return None, f"the worker stopped (exit code {self.process.exitcode})"
            if time.monotonic() - last > STALL_S:
                return None, f"the worker fitted no series for {STALL_S:.0f} s"

    def close(self) -> None:
        """Stop the worker if it still runs (the run failed before :meth:`collect`); idempotent."""
        if self.process is not None:
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
    rows: list[Scored | None] = []
    out = Baselines(rows, later, score, report, say)
    if later:
        for model in later:
            if isinstance(model, PerSeries):
                model.progress = None  # the worker prints nothing
        if announce is not None:
            announce(later, True)
        out._start(prep)
    for model in models:
        if model in later:
            rows.append(None)
            continue
        if announce is not None:
            announce([model], False)
        t0 = time.perf_counter()
        scored = score(model)
        report(scored, time.perf_counter() - t0, "")
        rows.append(scored)
    return out
