"""The registry's commands: ``retrain``, ``schedule``, ``models`` (list, promote, rollback), ``health``."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from forecaster.cli.flags import load_tensorflow, registry_config
from forecaster.cli.output import fmt, log, print_table, printable, say
from forecaster.cli.run_commands import check_tracking, track_saved
from forecaster.errors import ConfigError, ExitCode

__all__ = ["cmd_retrain", "cmd_schedule", "cmd_models", "cmd_health", "graceful_stop"]

@contextlib.contextmanager
def graceful_stop(log: Callable[[str], None], watchdog: Any) -> Iterator[Any]:
    """An event set by SIGTERM or SIGINT (instead of killing the process mid-write), while inside.

    The signal also arms ``watchdog`` (a :class:`forecaster.registry.schedule.StopWatchdog`): a step that
    does not poll the event cannot make the stop take longer than its grace. On leaving, the
    watchdog is disarmed and the previous handlers are back (``main`` called in-process).
    """
    import signal
    import threading

    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        if not stop.is_set():
            log(f"received {signal.Signals(signum).name}: stopping (a running retrain stops after its current batch; "
                f"exit within {watchdog.grace:g}s at the latest)")
        stop.set()
        watchdog.arm()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        watchdog.disarm()
        for sig, old in previous.items():
            signal.signal(sig, old)


def cmd_retrain(args: argparse.Namespace) -> int:
    from forecaster.models.network.checkpoint import Stopped
    from forecaster.registry import retrain as registry
    from forecaster.registry.schedule import STOP_GRACE, StopWatchdog

    cfg = registry_config(args)
    check_tracking(cfg)
    with graceful_stop(say, StopWatchdog(STOP_GRACE, log=say, exit_code=int(ExitCode.INTERRUPTED))) as stop:
        load_tensorflow(args)
        try:
            decision = registry.retrain(cfg, progress=None if args.quiet else say, should_stop=stop.is_set)
        except Stopped:
            say("forecast: retrain stopped; nothing was added to versions/ and the next retrain resumes "
                 "from its checkpoint")
            return ExitCode.INTERRUPTED
    line = f"{decision.outcome}: {decision.reason}"
    if decision.error is not None:  # busy, bad data, diverged: the error's own exit code
        say(f"forecast: {line}")
        return int(decision.error.exit_code)
    print(printable(line))
    if decision.version is not None:
        version_dir = registry.Registry(cfg.output.models_dir, cfg.model_name).version_dir(decision.version)
        print(f"version {decision.version}: {version_dir}")
        track_saved(cfg, version_dir, f"retrain ({decision.outcome})")
    champion = decision.champion_after
    print(f"champion: {'version ' + str(champion) if champion is not None else 'none'}")
    return ExitCode.OK


def cmd_schedule(args: argparse.Namespace) -> int:
    from forecaster.registry.schedule import STOP_GRACE, Heartbeat, StopWatchdog, heartbeat_path, parse_cron, run_schedule

    cfg = registry_config(args)
    parse_cron(cfg.schedule.cron)  # a bad expression fails now, not at the first fire
    watchdog = StopWatchdog(STOP_GRACE, heartbeat_path(cfg), log=log)  # a stop takes STOP_GRACE s at most
    with graceful_stop(log, watchdog) as stop:
        log(f"scheduling retrains of {cfg.model_name} on '{cfg.schedule.cron}' (UTC); "
             f"heartbeat {heartbeat_path(cfg)} every {cfg.schedule.heartbeat_every:g}s")
        with contextlib.suppress(OSError):  # before the slow import: a restart never shows the old "stopped"
            Heartbeat(heartbeat_path(cfg), cfg.schedule.heartbeat_every).beat(state="starting")
        load_tensorflow(args)
        run_schedule(cfg, stop=stop, log=log, progress=None if args.quiet else say, watchdog=watchdog)
    return ExitCode.OK


def cmd_models(args: argparse.Namespace) -> int:
    import json

    from forecaster.evaluation.intervals import percent
    from forecaster.fs import json_ready
    from forecaster.registry.store import Registry

    reg = Registry(args.models_dir, args.name)
    if args.action == "promote":
        before = reg.promote(args.version)
        print(f"champion of {args.name}: version {args.version} (was {before if before is not None else 'none'})")
        return ExitCode.OK
    if args.action == "rollback":
        version, skipped = reg.rollback()
        for line in skipped:
            say(f"forecast: {line}")
        print(f"champion of {args.name}: version {version} (rolled back)")
        return ExitCode.OK
    if not reg.root.is_dir():
        raise ConfigError(f"--name {args.name}: no model folder {reg.root} (check --models-dir)")
    champion = reg.champion()
    infos = reg.inspect_all()
    for stray in reg.strays():
        say(f"forecast: note: {reg.versions_dir / stray} is not a version (a version folder is named 1, 2, ... in "
             "ASCII digits); ignored")
    if args.json:
        rows = [{"version": i.version, "champion": i.version == champion, "path": str(i.path),
                 "cell": i.manifest.get("cell"), "created": i.manifest.get("created"),
                 "data": i.manifest.get("data", {}), "metrics": {k: v for k, v in i.metrics.items()
                                                                 if k != "per_step_mae"},
                 "error": i.error} for i in infos]
        print(json.dumps(json_ready({"name": args.name, "champion": champion, "versions": rows}), indent=2))
        return ExitCode.OK
    if not infos:
        print(f"{args.name}: no versions yet in {reg.versions_dir}")
        return ExitCode.OK
    header = ["version", "champion", "created", "cell", "rows", "last timestamp", "MASE*", "MAE*", "80% covered*",
              "status"]
    body = []
    for i in infos:
        d = i.manifest.get("data", {})
        covered = i.metrics.get("coverage_80")
        body.append([str(i.version), "*" if i.version == champion else "", str(i.manifest.get("created", "-")),
                     str(i.manifest.get("cell", "-")), fmt(d.get("rows")), str(d.get("last", "-")),
                     fmt(i.metrics.get("mase")), fmt(i.metrics.get("mae")),
                     percent(covered) if isinstance(covered, (int, float)) else "-",
                     "ok" if i.ok else f"CORRUPT, never served: {i.error}"])
    print_table(header, body)
    print("* on each version's own test part (the newest rows of the data it was trained on): versions trained on "
          "different data are not on a common holdout; a retrain re-scores the champion on the challenger's")
    if champion is not None and champion not in {i.version for i in infos}:
        say(f"forecast: champion.json points to version {champion}, which does not exist")
    return ExitCode.OK


def cmd_health(args: argparse.Namespace) -> int:
    from forecaster import config
    from forecaster.registry.schedule import check_health, heartbeat_path

    cfg = config.resolve(args.config, {"output.name": args.name, "output.models_dir": args.models_dir})
    path = Path(args.heartbeat) if args.heartbeat else heartbeat_path(cfg)
    if args.max_age is not None and not args.max_age > 0:
        raise ConfigError(f"--max-age: expected a number of seconds > 0, got {args.max_age}")
    print(check_health(path, stale_after=args.max_age or cfg.schedule.stale_after))
    return ExitCode.OK
