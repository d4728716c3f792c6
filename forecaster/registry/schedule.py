"""The retraining loop: a cron schedule, a heartbeat, a clean stop on SIGTERM/SIGINT.

:func:`run_schedule` runs :func:`forecaster.registry.retrain.retrain` whenever the cron expression in
``schedule.cron`` fires (APScheduler 3's cron trigger, UTC). It never runs two retrains at once
(the registry's file lock also covers a second container on the same volume), and after
downtime it runs one catch-up retrain, not one per missed fire. A heartbeat file is rewritten
every ``schedule.heartbeat_every`` seconds by a background thread (also while a retrain is
training), and :func:`check_health` (``forecast health``) fails when it is older than
``schedule.stale_after`` seconds. When the stop event is set (the CLI sets it on SIGTERM and
SIGINT), a running retrain stops between batches, its checkpoint kept, and the loop returns.
Work that does not poll the event (data loading, statistical fits, calibration, export) is
bounded by :class:`StopWatchdog`: :data:`STOP_GRACE` seconds after the signal the heartbeat is
marked stopped and the process exits 0 at once, well inside Docker's 10 s stop timeout.

Example:
    >>> import threading
    >>> from forecaster import config
    >>> stop = threading.Event()
    >>> run_schedule(config.resolve("configs/schedule.yaml"), stop=stop)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from forecaster.config import RunConfig
from forecaster.errors import ConfigError, HealthError
from forecaster.fs import atomic_write_text

__all__ = [
    "parse_cron",
    "next_fire",
    "heartbeat_path",
    "Heartbeat",
    "STOP_GRACE",
    "StopWatchdog",
    "check_health",
    "run_schedule",
]

Log = Callable[[str], None]

#: Seconds a stop request (SIGTERM/SIGINT) may take before :class:`StopWatchdog` ends the process
#: with exit code 0. Docker sends SIGKILL 10 s after SIGTERM by default; this leaves half of that.
STOP_GRACE = 5.0


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def parse_cron(expr: str, *, where: str = "schedule.cron") -> Any:
    """An APScheduler cron trigger (UTC) from 5 fields, or 6 with seconds first.

    Weekdays must be names (``mon-fri``): cron counts 0 as Sunday but APScheduler 3 as Monday,
    so a number there would silently run on the wrong day.

    Raises:
        ConfigError: naming ``where``, what was received and what is expected.

    Example:
        >>> str(next_fire(parse_cron("30 2 * * *"), datetime(2026, 1, 1, tzinfo=timezone.utc)))
        '2026-01-01 02:30:00+00:00'
    """
    from apscheduler.triggers.cron import CronTrigger

    fields = str(expr).split()
    usage = "'minute hour day month weekday' (e.g. '0 3 * * *') or 6 fields with seconds first"
    if len(fields) not in (5, 6):
        raise ConfigError(f"{where}: expected a cron expression {usage}, got {expr!r}")
    if len(fields) == 5:
        fields = ["0", *fields]
    if re.search(r"(?<![/\d])\d", fields[5]):
        raise ConfigError(
            f"{where}: use day names (mon, tue, ..., sun) in the weekday field, not numbers "
            f"(cron and APScheduler disagree on 0), got {fields[5]!r}"
        )
    names = ("second", "minute", "hour", "day", "month", "day_of_week")
    try:
        return CronTrigger(**dict(zip(names, fields)), timezone=timezone.utc)
    except ValueError as exc:
        raise ConfigError(f"{where}: invalid cron expression {expr!r} ({exc})") from None


def next_fire(trigger: Any, after: datetime) -> datetime:
    """The first fire time strictly after ``after``."""
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    if fire is None:  # pragma: no cover - cron triggers without an end date always fire again
        raise ConfigError("schedule.cron: the expression never fires again")
    return fire


def heartbeat_path(cfg: RunConfig) -> Path:
    """The configured heartbeat file (default ``<models_dir>/<name>/heartbeat.json``)."""
    hb = cfg.schedule.heartbeat
    return Path(hb) if hb else Path(cfg.output.models_dir) / cfg.model_name / "heartbeat.json"


class Heartbeat:
    """A JSON file rewritten atomically every ``every`` seconds with the loop's state.

    Args:
        path: the heartbeat file.
        every: seconds between writes by the background thread.
    """

    def __init__(self, path: Path, every: float) -> None:
        self.path = path
        self.every = every
        self.fields: dict[str, Any] = {"pid": os.getpid(), "state": "starting"}
        self._lock = threading.Lock()
        self._final = False
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self, **fields: Any) -> None:
        """Merge ``fields`` into the state and write the file now (nothing after :meth:`final`)."""
        self._write(fields, last=False)

    def final(self, **fields: Any) -> None:
        """Write ``fields`` now as the last state: later beats (from any thread) write nothing."""
        self._write(fields, last=True)
        self._done.set()

    def _write(self, fields: dict[str, Any], *, last: bool) -> None:
        with self._lock:
            if self._final:
                return
            self._final = last
            self.fields.update(fields)
            now = time.time()
            body = {**self.fields, "time": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds"),
                    "unix": now}
            atomic_write_text(self.path, json.dumps(body, default=str) + "\n")

    def touch(self) -> None:
        """Note that work progressed (called between training batches); written by the next beat."""
        with self._lock:
            self.fields["progress_unix"] = time.time()

    def start(self) -> Heartbeat:
        def run() -> None:
            while not self._done.wait(self.every):
                try:
                    self.beat()
                except OSError:  # a full disk must not kill the loop; health will report staleness
                    pass

        self.beat()
        self._thread = threading.Thread(target=run, name="heartbeat", daemon=True)
        self._thread.start()
        return self

    def stop(self, **fields: Any) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.beat(**fields)


class StopWatchdog:
    """Bound the time a stop takes: exit 0 when the loop has not returned ``grace`` s after :meth:`arm`.

    The stop event is polled between training batches only; data loading, statistical fits,
    calibration and export run to their end. So the signal handler also calls :meth:`arm`: if
    :meth:`disarm` (the loop returned) has not been called ``grace`` seconds later, the
    heartbeat is written as ``stopped`` and the process ends with ``exit_code`` at once
    (``os._exit``: no cleanup, no waiting for other threads). That is safe because every file
    this project writes is written to a temporary name and renamed, the file lock dies with
    the process, and an unfinished retrain resumes from its checkpoint, as after a SIGKILL.

    Args:
        grace: seconds between :meth:`arm` and the exit.
        heartbeat: the heartbeat file to mark stopped (``None``: none, as for ``retrain``).
        log: receives one line when the watchdog fires.
        exit_code: the process's exit status then (0 for ``schedule``, 130 for ``retrain``).
        hard_exit: ends the process (tests pass a fake).

    Example:
        >>> fired = []
        >>> dog = StopWatchdog(0.01, None, hard_exit=fired.append)
        >>> dog.arm(); dog.wait(5); fired
        [0]
    """

    def __init__(self, grace: float = STOP_GRACE, heartbeat: Path | None = None, *, log: Log | None = None,
                 exit_code: int = 0, hard_exit: Callable[[int], Any] = os._exit) -> None:
        self.grace = grace
        self.heartbeat = heartbeat
        #: the running loop's :class:`Heartbeat` (:func:`run_schedule` sets it), written under its lock
        self.live: Heartbeat | None = None
        self.log = log or (lambda _msg: None)
        self.exit_code = exit_code
        self.hard_exit = hard_exit
        self._disarmed = threading.Event()
        self._thread: threading.Thread | None = None

    def arm(self) -> None:
        """Start the countdown (again: no effect). Safe to call from a signal handler."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="stop-watchdog", daemon=True)
            self._thread.start()

    def disarm(self) -> None:
        """The loop returned in time: the watchdog does nothing."""
        self._disarmed.set()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the countdown's thread to end (tests)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        if self._disarmed.wait(self.grace):
            return
        self.log(f"still busy {self.grace:g}s after the stop request (a step that does not poll it): exiting now; "
                 "finished files are complete and an unfinished retrain resumes from its checkpoint")
        try:
            if self.live is not None:
                self.live.final(state="stopped", next_run=None, stopped_by="watchdog")
            elif self.heartbeat is not None:
                Heartbeat(self.heartbeat, 0).final(state="stopped", next_run=None, stopped_by="watchdog")
        except OSError:  # a full disk must not keep the process alive: health then reports staleness
            pass
        self.hard_exit(self.exit_code)


def check_health(path: Path, *, stale_after: float, now: float | None = None) -> str:
    """Judge the scheduler by its heartbeat file.

    Returns:
        A one-line summary when healthy.

    The heartbeat thread keeps beating while the main thread trains, so a retrain also records
    when it last finished a batch (``progress_unix``): a retrain stuck for longer than
    ``stale_after`` is unhealthy too.

    Raises:
        HealthError: the heartbeat is missing, unreadable, stopped or older than ``stale_after``,
            or the running retrain made no progress for ``stale_after`` seconds.
    """
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        stamp = float(body["unix"])
    except FileNotFoundError:
        raise HealthError(f"{path}: no heartbeat file; is `forecast schedule` running?") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HealthError(f"{path}: unreadable heartbeat ({exc.__class__.__name__}: {exc})") from None
    age = (time.time() if now is None else now) - stamp
    state = body.get("state", "?")
    if state == "blocked":
        raise HealthError(f"{path}: the scheduler cannot retrain: {body.get('error')}")
    if state == "stopped":
        raise HealthError(f"{path}: the scheduler stopped at {body.get('time')}")
    progress = body.get("progress_unix")
    if state == "retraining" and isinstance(progress, (int, float)):
        idle = (time.time() if now is None else now) - progress
        if idle > stale_after:
            raise HealthError(
                f"{path}: the running retrain has finished no batch for {idle:.0f}s (limit {stale_after:.0f}s); "
                "it is stuck"
            )
    if age > stale_after:
        raise HealthError(
            f"{path}: heartbeat is {age:.0f}s old (limit {stale_after:.0f}s, state {state}); "
            "the scheduler is stuck or gone"
        )
    nxt = body.get("next_run")
    return f"healthy: heartbeat {age:.0f}s old, {state}" + (f", next retrain {nxt}" if nxt else "")


def unwritable(folder: Path) -> str | None:
    """Why this process cannot write into ``folder`` (created if missing), or ``None`` when it can.

    The message names the folder, the uid and the fix: a container's models volume owned by
    another user is the usual cause.
    """
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        uid = os.getuid()
        return (f"{folder}: not writable by uid {uid} ({exc.strerror or exc.__class__.__name__}); make the models "
                f"folder writable for it (e.g. `chown -R {uid} <host folder>` for a mounted volume) or run as its "
                "owner (`docker run --user`)")
    return None


def _read_last_run(path: Path) -> datetime | None:
    try:
        return datetime.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["last_run"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def run_schedule(
    cfg: RunConfig,
    *,
    stop: threading.Event,
    log: Log | None = None,
    progress: Log | None = None,
    clock: Callable[[], datetime] = _utcnow,
    wait: Callable[[float], Any] | None = None,
    retrain_fn: Callable[..., Any] | None = None,
    max_runs: int | None = None,
    watchdog: StopWatchdog | None = None,
) -> int:
    """Retrain on ``cfg.schedule.cron`` until ``stop`` is set; returns the number of fires handled.

    A models folder this process cannot write does not end the loop (under a restart policy that
    would be a crash loop): the fire is skipped with one clear line, the heartbeat's state is
    ``blocked`` (``forecast health`` fails with the reason) and the next fire tries again.

    The time of the last retrain is kept in ``<models_dir>/<name>/schedule.json``; at start, if
    a fire time passed since then (or there was none), one catch-up retrain runs at once.

    Args:
        cfg: the resolved configuration.
        stop: set it (e.g. from a signal handler) to stop; a running retrain stops between batches.
        log: receives one line per event (``None``: silent).
        progress: receives the retrain's progress lines.
        clock: the current UTC time (tests pass a fake one).
        wait: sleeps up to the given seconds (default ``stop.wait``; tests advance a fake clock).
        retrain_fn: the retrain (default :func:`forecaster.registry.retrain.retrain`).
        max_runs: return after this many retrains (tests; ``None`` runs forever).
        watchdog: armed by the signal handler; it writes the final heartbeat through this loop's
            :class:`Heartbeat` if it fires, and is disarmed when the loop returns.
    """
    from forecaster.models.network.checkpoint import Stopped
    from forecaster.registry.store import Registry

    say = log or (lambda _msg: None)
    sleep = wait or stop.wait
    if retrain_fn is None:
        from forecaster.registry.retrain import retrain

        retrain_fn = retrain
    trigger = parse_cron(cfg.schedule.cron)
    reg = Registry(cfg.output.models_dir, cfg.model_name)
    state_path = reg.root / "schedule.json"
    hb = Heartbeat(heartbeat_path(cfg), cfg.schedule.heartbeat_every).start()
    if watchdog is not None:
        watchdog.live = hb

    now = clock()
    last = _read_last_run(state_path)
    if last is None or next_fire(trigger, last) <= now:
        due = now
        say("no retrain since the last scheduled time: one catch-up retrain now"
            if last is not None else "no retrain recorded yet: retraining now")
    else:
        due = next_fire(trigger, now)
    runs = 0
    outcome = None
    try:
        hb.beat(state="idle", next_run=due.isoformat())
        while not stop.is_set():
            now = clock()
            if now < due:  # the heartbeat thread beats meanwhile; a set stop event ends the wait at once
                sleep(min(cfg.schedule.heartbeat_every, (due - now).total_seconds()))
                continue
            blocked = unwritable(reg.root)
            if blocked is not None:  # stay up, unhealthy, and retry at the next fire: no crash loop
                if hb.fields.get("error") != blocked:
                    say(f"error: {blocked}")
                due = next_fire(trigger, clock())
                hb.beat(state="blocked", error=blocked, next_run=due.isoformat())
                if max_runs is not None:
                    runs += 1
                    if runs >= max_runs:
                        break
                continue
            hb.fields.pop("error", None)
            hb.beat(state="retraining", next_run=None, retrain_started=now.isoformat(), progress_unix=time.time())

            def should_stop() -> bool:
                hb.touch()  # polled between batches: a hung retrain stops touching, health notices
                return stop.is_set()

            say(f"retrain started ({cfg.schedule.cron})")
            try:
                decision = retrain_fn(cfg, progress=progress, should_stop=should_stop)
                outcome = f"{decision.outcome}: {decision.reason}"
            except Stopped:
                say("stopped during a retrain; its checkpoint is kept for the next one")
                break
            except Exception as exc:  # one bad retrain (even a bug) must not end the loop
                outcome = f"error: {exc.__class__.__name__}: {exc}"
            say(f"retrain finished: {outcome}")
            runs += 1
            try:
                atomic_write_text(state_path, json.dumps({"last_run": now.isoformat(), "outcome": outcome}) + "\n")
            except OSError as exc:  # the retrain's outcome is in the ledger; the loop goes on
                say(f"error: cannot record the last run in {state_path} ({exc.strerror or exc})")
            due = next_fire(trigger, clock())
            hb.beat(state="idle", next_run=due.isoformat(), last_run=now.isoformat(), last_outcome=outcome)
            say(f"next retrain at {due.isoformat()}")
            if max_runs is not None and runs >= max_runs:
                break
    finally:
        hb.stop(state="stopped", next_run=None)
        if watchdog is not None:
            watchdog.disarm()
    say("scheduler stopped")
    return runs
