"""The ``forecast`` command: parse, call the library, print. Nothing else lives here.

One error boundary (:func:`main`) maps the library's typed errors to named exit codes
(:class:`~forecaster.errors.ExitCode`) and prints one line on stderr; ``--debug`` shows the
traceback. TensorFlow is imported only by the commands that build or run models, so
``forecast --help`` answers quickly.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import forecaster
from forecaster import config
from forecaster.errors import ConfigError, ExitCode, ForecasterError

__all__ = ["main", "build_parser", "printable", "warn", "series_ids"]

_PROG = "forecast"
#: ``--help`` sections of the flags every training command takes; ``registry``: retrain, schedule.
_RUN_GROUPS = ("data", "windows", "model and training", "output")
_REGISTRY_GROUP = "registry"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag as a :class:`ConfigError` (one line, exit 2).

    Abbreviations are off: ``--look`` is not taken for ``--lookback``, so a script's shortened
    flag cannot change meaning (or break) when a longer flag with the same prefix is added.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # main() prints "forecast: error: ..." already: name only a subcommand ("forecast train: ...")
        where = "" if self.prog == _PROG else f"{self.prog}: "
        raise ConfigError(f"{where}{message} (see {self.prog} --help)")


#: An error line is cut here: a 1 MB cell quoted in a message must not flood the terminal.
MAX_MESSAGE = 1000


def printable(message: str, limit: int = MAX_MESSAGE) -> str:
    """One safe terminal line: control characters (a header's ESC or newline) escaped, length capped.

    Example:
        >>> printable("column 'a\\x1b[2Jb': bad")
        "column 'a\\\\x1b[2Jb': bad"
        >>> printable("x" * 5000)[-20:]
        'xxxx ... (4025 more)'
    """
    safe = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in message)
    return safe if len(safe) <= limit else safe[: limit - 25] + f" ... ({len(safe) - (limit - 25)} more)"


def _err(msg: str) -> None:
    """One line on stderr, made :func:`printable` (a series id or a path from the user may hold anything)."""
    print(printable(msg), file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """A warning: ``forecast: warning: <message>``, one escaped, capped line like an error."""
    _err(f"forecast: warning: {message}")


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
                  line: str | None = None) -> None:
    """``warnings.showwarning`` while :func:`main` runs: every Python warning (ours, numpy's, Ray's, Keras') is one
    :func:`warn` line, its first line only, instead of Python's two (message, then the source line that warned)."""
    text = str(message).strip()
    first = text.splitlines()[0] if text else category.__name__
    parts = Path(filename).parts
    lib = parts[parts.index("site-packages") + 1] if "site-packages" in parts[:-1] else None
    ours = lib is None and "forecaster" in parts
    warn(first if ours or lib == "forecaster" else f"{(lib or Path(filename).stem).removesuffix('.py')}: {first} "
         f"({category.__name__})")


def _add_settings(groups: dict[str, Any], *, skip: Sequence[str] = ()) -> None:
    """Add the flag of every :data:`config.SETTINGS` entry whose ``group`` is in ``groups``.

    Type, choices and the default in the help text come from the config dataclasses; booleans
    become ``--x/--no-x``. Every flag defaults to ``None`` ("not given": the config file or the
    dataclass default applies).
    """
    from forecaster.models.catalog import choices

    names = choices()
    for s in config.SETTINGS:
        if s.group not in groups or s.key in skip:
            continue
        text = s.help_text()
        if s.catalog and s.value_type is not str:  # a list of names: say which
            text = text.replace(" (default", f", from {', '.join(names[s.key])} (default")
        kwargs: dict[str, Any] = {"dest": s.dest, "help": text.replace("%", "%%")}
        if s.is_bool:
            kwargs.update(action=argparse.BooleanOptionalAction, default=None)
        elif s.catalog and s.value_type is str:
            kwargs["choices"] = names[s.key]
        elif s.choices is not None:
            kwargs["choices"] = s.choices
        else:  # a tuple (units, covariates) stays a "64,32" string here: see _flag_value
            kwargs.update(type=s.value_type if s.value_type in (int, float) else None, metavar=s.metavar)
        groups[s.group].add_argument(s.flag, **kwargs)


def _flag_value(s: config.Setting, args: argparse.Namespace) -> Any:
    """The parsed value of ``s``'s flag (``None``: not given); ``--units 64,32`` -> ``[64, 32]``."""
    raw = getattr(args, s.dest, None)
    if raw is None or s.value_type != tuple[int, ...]:
        return raw
    if raw.strip().lower() == "none":  # an empty list (--levels none)
        return []
    try:
        return [int(u) for u in raw.split(",") if u.strip()]
    except ValueError:
        raise ConfigError(f"{s.flag}: expected comma-separated integers ({s.metavar}), got {raw!r}") from None


def _add_run_flags(p: argparse.ArgumentParser, *, cell: bool = True) -> None:
    """Flags shared by every command that trains (train, compare, retrain, schedule).

    ``cell=False`` leaves out ``--cell`` (compare takes ``--cells``).
    """
    groups = {name: p.add_argument_group(name) for name in _RUN_GROUPS}
    groups["data"].add_argument("--config", metavar="FILE",
                                help="YAML config; its values are defaults that flags override")
    _add_settings(groups, skip=() if cell else ("model.cell",))
    groups["output"].add_argument("--quiet", action="store_true", help="no progress lines")


def _add_executor_flags(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help=f"where {what} run: one after another here, or as Ray tasks (default local)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="with --executor ray: a Ray cluster to join (ray://head:10001, auto); default: start one here")


def _check_executor(args: argparse.Namespace) -> None:
    """``--ray-address`` only with ``--executor ray``, and a cluster that answers there, checked before any work
    (a few seconds at most: :func:`forecaster.workflows.executor.check_ray_address`)."""
    if args.ray_address and args.executor != "ray":
        raise ConfigError("--ray-address: only with --executor ray")
    if args.executor == "ray" and args.ray_address:
        from forecaster.workflows.executor import check_ray_address

        check_ray_address(args.ray_address)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted config overrides from the run flags on ``args`` (``None``: flag not given)."""
    return {s.key: _flag_value(s, args) for s in config.SETTINGS if s.group in _RUN_GROUPS}


def _resolve(config_file: str | None, overrides: dict[str, Any]) -> Any:
    """The run config, its model names checked against the model catalog."""
    from forecaster.models.catalog import choices

    return config.resolve(config_file, overrides, choices=choices())


def _load_tensorflow(args: argparse.Namespace) -> None:
    """Import TensorFlow now, without its C++ banner unless --debug."""
    if not args.debug:
        from forecaster.models.network.tensorflow_quiet import import_tensorflow_quietly

        import_tensorflow_quietly()


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_leaderboard(rows: Sequence[dict[str, Any]]) -> None:
    """The leaderboard as ``forecast compare`` prints it (columns without any value left out)."""
    from forecaster.evaluation.report import table_rows

    _print_table(*table_rows(rows))
    print_failed(rows)


def print_failed(rows: Sequence[dict[str, Any]]) -> None:
    """One line per leaderboard row that has no scores, with its reason."""
    for r in rows:
        if r.get("error"):
            print(printable(f"  {r['name']}: no scores ({r['error']})"))


def cmd_train(args: argparse.Namespace) -> int:
    cfg = _resolve(args.config, _overrides(args))
    from forecaster.workflows.train import prepare_run, train  # pandas and friends: once the config is valid
    _check_tracking(cfg)

    t0 = time.perf_counter()
    progress: Callable[[str], None] | None = None if (args.quiet or args.json) else _err
    prep = prepare_run(cfg)  # data errors before the TensorFlow import: they answer in a second
    _load_tensorflow(args)
    result = train(cfg, prep, progress=progress)
    for warning in result.warnings:
        warn(str(warning))
    _track(cfg, result.run_dir, result.leaderboard, result.cells, "train")
    if args.json:
        import json

        from forecaster.fs import json_ready

        payload = {"run_dir": str(result.run_dir), "season": result.season, "leaderboard": result.leaderboard,
                   "forecasts": {c.name: str(result.run_dir / c.name / "forecast.csv") for c in result.cells}}
        print(json.dumps(json_ready(payload), indent=2))
        return ExitCode.OK
    print(f"run saved: {result.run_dir}  ({time.perf_counter() - t0:.1f}s)")
    print_leaderboard(result.leaderboard)
    for c in result.cells:
        steps = (f"{c.forecast.iloc[:, 0].nunique()} series x {cfg.window.horizon} steps" if cfg.data.id_col is not None
                 else f"{len(c.forecast)} steps")
        print(f"forecast ({steps}): {result.run_dir / c.name / 'forecast.csv'}")
    return ExitCode.OK


#: Tracking URIs found unusable by :func:`_check_tracking` in this process: said once, not tried again.
_UNTRACKED: set[str] = set()


def _check_tracking(cfg: Any) -> None:
    """Before any work: a tracking URI the installed MLflow cannot use, or where no server answers (a few
    seconds at most), is one warning now; the run is then saved and not logged."""
    from forecaster.workflows.tracking import check_tracking_uri, mlflow_uri

    uri = mlflow_uri(cfg)
    if uri is None:
        return
    try:
        check_tracking_uri(uri)
    except ConfigError as exc:
        warn(f"{exc}; the run will be saved but not logged")
        _UNTRACKED.add(uri)


def _track(cfg: Any, run_dir: Path, rows: Sequence[dict[str, Any]], cells: Sequence[Any], kind: str) -> None:
    """Log a saved run to MLflow when a tracking URI is set; a failure is a warning (the run is saved). The
    MLflow run id is printed whenever it logged (``--quiet`` too: it is the result asked for)."""
    from forecaster.workflows.tracking import log_run, mlflow_uri

    uri = mlflow_uri(cfg)
    if uri is None or uri in _UNTRACKED:
        return
    try:
        run_id = log_run(uri, cfg, run_dir, rows, cells, kind=kind)
    except ConfigError as exc:
        warn(str(exc))
        return
    _err(f"mlflow: logged run {run_id} to {uri} (experiment {cfg.model_name})")


def _track_saved(cfg: Any, run_dir: Path, kind: str) -> None:
    """:func:`_track` for a run folder already on disk (a retrain's version): its leaderboard and histories."""
    from forecaster.workflows.tracking import mlflow_uri, saved_run

    if mlflow_uri(cfg) is None or mlflow_uri(cfg) in _UNTRACKED:
        return
    try:
        rows, cells = saved_run(run_dir)
    except (OSError, ValueError, KeyError) as exc:
        warn(f"--mlflow-uri: {run_dir} could not be read to log it ({exc.__class__.__name__})")
        return
    _track(cfg, run_dir, rows, cells, kind)


def _levels(text: str | None) -> tuple[int, ...] | None:
    """``--levels`` of predict: ``None`` (not given), ``()`` for ``none``, else checked percentages."""
    if text is None:
        return None
    if text.strip().lower() == "none":
        return ()
    from forecaster.evaluation.intervals import parse_levels

    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        if not all(p.isascii() and p.isdecimal() for p in parts):
            raise ValueError(text)
        return parse_levels([int(p) for p in parts])
    except ValueError:
        bad = next((p for p in parts if not (p.isascii() and p.isdecimal()) or not 1 <= int(p) <= 99), text)
        raise ConfigError(f"--levels: expected integer percentages in 1..99 such as 80,95 (or none), "
                          f"got {bad!r}") from None


def series_ids(text: str | None) -> list[str] | None:
    """``--series``: ``None`` (not given: every series) or the ids, each given once.

    An empty list (``--series ''``, ``,,``) is refused rather than read as "every series", and so is
    an empty id between commas. A duplicate is refused too, not merged: the output has one block per
    series, so a list that names one twice was built wrong, and saying so beats guessing.

    Example:
        >>> series_ids(" a, b ")
        ['a', 'b']
        >>> series_ids(",,")
        Traceback (most recent call last):
        ...
        forecaster.errors.ConfigError: --series: expected series ids such as a,b (leave the flag out for every \
series), got ',,'
    """
    if text is None:
        return None
    ids = [s.strip() for s in text.split(",")]
    if not any(ids):
        raise ConfigError(f"--series: expected series ids such as a,b (leave the flag out for every series), got {text!r}")
    if "" in ids:
        raise ConfigError(f"--series: an empty id in {text!r} (two commas in a row, or one at an end); "
                          "give ids separated by single commas")
    from collections import Counter

    twice = [sid for sid, n in Counter(ids).items() if n > 1]
    if twice:
        raise ConfigError(f"--series: {twice[0]!r} is given {ids.count(twice[0])} times; give each series once")
    return ids


def cmd_predict(args: argparse.Namespace) -> int:
    from forecaster.artifacts.run import lost_to_baseline, resolve_model
    from forecaster.fs import output_file, write_output
    from forecaster.workflows.formats import render
    from forecaster.workflows.predict import (
        beyond_history,
        forecast,
        load_for_predict,
        load_model,
        needs_tensorflow,
        read_future,
    )

    if args.horizon is not None and args.horizon < 1:
        raise ConfigError(f"--horizon: expected an integer >= 1, got {args.horizon}")
    destination = output_file(args.output) if args.output not in (None, "-") else None  # before any work
    cell_dir, why = resolve_model(args.model, args.models_dir)
    if needs_tensorflow(cell_dir):
        _load_tensorflow(args)  # Keras fallback (runs without model.onnx); ONNX Runtime needs no TensorFlow
    loaded = load_model(cell_dir)
    panel = load_for_predict(loaded, args.data, missing=args.missing)
    future = read_future(loaded, args.future)
    if args.future and future is None:  # a statistical row of a run with known covariates: say it is not used
        warn(f"--future {args.future}: {cell_dir.name} is a statistical model and reads the target alone; the file "
             "was not used")
    wanted = series_ids(args.series)
    if wanted and panel.id_col is None:
        raise ConfigError(f"--series: {cell_dir} forecasts one series per file (trained without --id-col)")
    notes: list[str] = []
    frame = forecast(loaded, panel, args.horizon, _levels(args.levels), series=wanted, future=future,
                     future_source=args.future or "--future", notes=notes)
    far = beyond_history(frame, panel)  # every kind served: one rule (predict.RANGE_MULTIPLE)
    if far is not None:
        notes.append(far)
    _err(f"forecast: serving {cell_dir}: {why}")  # after success: an error stays one line
    for note in notes:
        warn(str(note))
    lost = lost_to_baseline(cell_dir)
    if lost is not None:
        saved = cell_dir.parent / lost[0]
        hint = f": serve it with --model {saved}" if (saved / "manifest.json").is_file() else ""
        warn(f"{cell_dir.name} lost to the {lost[0]} baseline on its own test windows "
             f"(MASE {lost[2]:.3f} vs {lost[1]:.3f}); the baseline may serve this series better{hint}")
    text = render(frame, args.format, id_col=panel.id_col,
                  meta={"model": str(cell_dir), "target": panel.first.target, "freq": panel.first.freq})
    if destination is None:
        sys.stdout.write(text)
    else:
        write_output(destination, text)
        what = (f"{frame.iloc[:, 0].nunique()} series x {args.horizon or loaded.horizon} steps"
                if panel.id_col is not None else f"{len(frame)} steps")
        _err(f"forecast of {what} from {cell_dir} written to {args.output}")
    return ExitCode.OK


def _print_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> None:
    body = [[printable(c, 200) for c in row] for row in body]  # a status may quote a path or a series id
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    for row in [header, *body]:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))


def cmd_compare(args: argparse.Namespace) -> int:
    import json

    from forecaster.fs import json_ready

    cfg = _resolve(args.config, _overrides(args))
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    _check_executor(args)
    _check_tracking(cfg)
    from forecaster.workflows import compare
    from forecaster.workflows.train import prepare_run

    t0 = time.perf_counter()
    progress: Callable[[str], None] | None = None if (args.quiet or args.json) else _err
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()] if args.strategies else None
    prep = prepare_run(cfg)  # data errors before the TensorFlow import
    _load_tensorflow(args)
    result = compare.compare(cfg, cells=cells, repeats=args.repeats, progress=progress, backtest=args.backtest,
                             prep=prep, strategies=strategies, executor=args.executor, ray_address=args.ray_address)
    import types

    seeds = len({t.seed for t in result.trials}) > 1  # one loss history per seed: their own names
    _track(cfg, result.run_dir, result.rows,
           [types.SimpleNamespace(name=f"{t.name}.seed{t.seed}" if seeds else t.name, fit=t.result.fit)
            for t in result.trials], "compare")
    if args.json:
        payload = {"run_dir": str(result.run_dir), "verdict": result.verdict,
                   "conditions": result.conditions, "leaderboard": result.rows}
        print(json.dumps(json_ready(payload), indent=2))
        return ExitCode.OK
    for warning in result.warnings:
        warn(str(warning))
    print(f"run saved: {result.run_dir}  ({time.perf_counter() - t0:.1f}s)")
    print_leaderboard(result.rows)
    print(f"\nverdict: {result.verdict}")
    print(f"report: {result.run_dir / 'report.html'} (and report.md, plots/)")
    return ExitCode.OK


def cmd_backtest(args: argparse.Namespace) -> int:
    import json

    from forecaster.artifacts.cell import load_cell
    from forecaster.artifacts.run import resolve_cell_dir
    from forecaster.data.load import load
    from forecaster.evaluation.intervals import coverage_columns, percent
    from forecaster.fs import atomic_write_text, json_ready
    from forecaster.workflows.backtest import FOLD_METRICS, backtest, config_of_run

    _check_executor(args)
    cell_dir = resolve_cell_dir(args.model, args.models_dir, networks_only=True)  # backtest refits a network
    cfg, manifest = config_of_run(cell_dir, {"data.path": args.data, "training.epochs": args.epochs,
                                             "forecast.levels": args.levels})
    if args.no_refit and cfg.data.id_col is not None:
        raise ConfigError(f"--no-refit: {cell_dir} is a panel's model, backtested by refitting it per fold (each "
                          "series cut at its own origins); leave out --no-refit")
    panel = load(cfg)  # data errors before the TensorFlow import
    _load_tensorflow(args)
    loaded = load_cell(cell_dir) if args.no_refit else None
    progress: Callable[[str], None] | None = None if (args.quiet or args.json) else _err
    result = backtest(cfg, cell=str(manifest["cell"]), folds=args.folds, loaded=loaded, panel=panel,
                      progress=progress, executor=args.executor, ray_address=args.ray_address)
    payload = json_ready({"model": str(cell_dir), **result.to_dict()})
    name = f"backtest-{args.folds}folds-{'fixed' if args.no_refit else 'refit'}.json"
    atomic_write_text(cell_dir.parent / name, json.dumps(payload, indent=2))
    if args.json:
        print(json.dumps(payload, indent=2))
        return ExitCode.OK
    header = ["fold", "cut-off", "train rows", "windows"] + [f"{n} MASE" for n in result.folds[0].scores]
    body = [[str(f.fold), f.cutoff, str(f.train_rows), str(f.test_windows)]
            + [_fmt(s.get("mase")) for s in f.scores.values()] for f in result.folds]
    summary = result.summary()
    body.append(["mean", "", "", ""] + [_fmt(summary[n]["mase"]) for n in result.folds[0].scores])
    _print_table(header, body)
    covered = coverage_columns([dict.fromkeys(result.metric_keys())])
    print("mean over folds: " + "; ".join(
        f"{n}: " + ", ".join([f"{m.upper()} {_fmt(v[m])}" for m in FOLD_METRICS]
                             + [f"{level}% covered {percent(c)}" for k, level in covered if (c := v.get(k)) is not None])
        for n, v in summary.items()))
    overlapping = [str(f.fold) for f in result.folds if f.overlaps_training]
    if overlapping:
        print(f"note: fold(s) {', '.join(overlapping)} lie inside the saved model's training/validation data; "
              "their scores are optimistic (refit per fold for an honest estimate)")
    print(f"saved: {cell_dir.parent / name}")
    return ExitCode.OK


def _add_schedule_flags(p: argparse.ArgumentParser, *, cron: bool = False) -> None:
    """Gate and retention flags shared by retrain and schedule (config section ``schedule``)."""
    _add_settings({_REGISTRY_GROUP: p.add_argument_group(_REGISTRY_GROUP)},
                  skip=() if cron else ("schedule.cron",))


def _registry_config(args: argparse.Namespace) -> Any:
    extra = {s.key: _flag_value(s, args) for s in config.SETTINGS if s.group == _REGISTRY_GROUP}
    return _resolve(args.config, {**_overrides(args), **extra})


def _log(msg: str) -> None:
    from datetime import datetime, timezone

    _err(f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} {msg}")


@contextlib.contextmanager
def _graceful_stop(log: Callable[[str], None], watchdog: Any) -> Iterator[Any]:
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
    from forecaster.registry import store as registry
    from forecaster.registry.schedule import STOP_GRACE, StopWatchdog

    cfg = _registry_config(args)
    _check_tracking(cfg)
    with _graceful_stop(_err, StopWatchdog(STOP_GRACE, log=_err, exit_code=int(ExitCode.INTERRUPTED))) as stop:
        _load_tensorflow(args)
        try:
            decision = registry.retrain(cfg, progress=None if args.quiet else _err, should_stop=stop.is_set)
        except Stopped:
            _err("forecast: retrain stopped; nothing was added to versions/ and the next retrain resumes "
                 "from its checkpoint")
            return ExitCode.INTERRUPTED
    line = f"{decision.outcome}: {decision.reason}"
    if decision.error is not None:  # busy, bad data, diverged: the error's own exit code
        _err(f"forecast: {line}")
        return int(decision.error.exit_code)
    print(printable(line))
    if decision.version is not None:
        version_dir = registry.Registry(cfg.output.models_dir, cfg.model_name).version_dir(decision.version)
        print(f"version {decision.version}: {version_dir}")
        _track_saved(cfg, version_dir, f"retrain ({decision.outcome})")
    champion = decision.champion_after
    print(f"champion: {'version ' + str(champion) if champion is not None else 'none'}")
    return ExitCode.OK


def cmd_schedule(args: argparse.Namespace) -> int:
    from forecaster.registry.schedule import STOP_GRACE, Heartbeat, StopWatchdog, heartbeat_path, parse_cron, run_schedule

    cfg = _registry_config(args)
    parse_cron(cfg.schedule.cron)  # a bad expression fails now, not at the first fire
    watchdog = StopWatchdog(STOP_GRACE, heartbeat_path(cfg), log=_log)  # a stop takes STOP_GRACE s at most
    with _graceful_stop(_log, watchdog) as stop:
        _log(f"scheduling retrains of {cfg.model_name} on '{cfg.schedule.cron}' (UTC); "
             f"heartbeat {heartbeat_path(cfg)} every {cfg.schedule.heartbeat_every:g}s")
        with contextlib.suppress(OSError):  # before the slow import: a restart never shows the old "stopped"
            Heartbeat(heartbeat_path(cfg), cfg.schedule.heartbeat_every).beat(state="starting")
        _load_tensorflow(args)
        run_schedule(cfg, stop=stop, log=_log, progress=None if args.quiet else _err, watchdog=watchdog)
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
            _err(f"forecast: {line}")
        print(f"champion of {args.name}: version {version} (rolled back)")
        return ExitCode.OK
    if not reg.root.is_dir():
        raise ConfigError(f"--name {args.name}: no model folder {reg.root} (check --models-dir)")
    champion = reg.champion()
    infos = reg.inspect_all()
    for stray in reg.strays():
        _err(f"forecast: note: {reg.versions_dir / stray} is not a version (a version folder is named 1, 2, ... in "
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
                     str(i.manifest.get("cell", "-")), _fmt(d.get("rows")), str(d.get("last", "-")),
                     _fmt(i.metrics.get("mase")), _fmt(i.metrics.get("mae")),
                     percent(covered) if isinstance(covered, (int, float)) else "-",
                     "ok" if i.ok else f"CORRUPT, never served: {i.error}"])
    _print_table(header, body)
    print("* on each version's own test part (the newest rows of the data it was trained on): versions trained on "
          "different data are not on a common holdout; a retrain re-scores the champion on the challenger's")
    if champion is not None and champion not in {i.version for i in infos}:
        _err(f"forecast: champion.json points to version {champion}, which does not exist")
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


def build_parser() -> argparse.ArgumentParser:
    """The full command-line interface."""
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser = _Parser(
        prog=_PROG,
        description="Train, compare and serve LSTM/GRU forecasters on your time series.",
        parents=[common],
        epilog="exit codes: " + ", ".join(f"{c.value} {c.name.lower()}" for c in ExitCode),
    )
    parser.add_argument("--version", action="version", version=f"forecaster {forecaster.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("train", parents=[common], help="train one cell and save a run (model, metrics, forecast)")
    from forecaster.models.catalog import cell_names

    p.add_argument("--json", action="store_true", help="print the run folder and leaderboard as JSON (no progress)")
    _add_run_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("predict", parents=[common], help="forecast past the end of a series with a saved model")
    p.add_argument("--model", required=True, metavar="DIR",
                   help="a model name's folder (champion, else newest run's best cell), a run folder, or a cell folder")
    p.add_argument("--data", metavar="PATH", help="series to forecast from (default: the training data)")
    p.add_argument("--horizon", type=int, metavar="N", help="steps to forecast (at most the trained horizon)")
    p.add_argument("--output", metavar="PATH", help="write here (default: stdout)")
    p.add_argument("--format", choices=("csv", "json"), default="csv", help="output format (default csv)")
    p.add_argument("--missing", choices=config.setting("data.missing").choices,
                   help="missing values/timestamps in --data: reject, or fill (default: as the model was trained)")
    p.add_argument("--models-dir", default="models", metavar="DIR", help="where to look up a bare model name")
    p.add_argument("--levels", metavar="P,P", help="prediction interval levels to output, from those the model was "
                   "calibrated for; none: the point forecast only (default: every calibrated level)")
    p.add_argument("--future", metavar="PATH", help="values of the model's known covariates after the end of the "
                   "series (CSV/Parquet: the time column, the id column for a panel, each known covariate)")
    p.add_argument("--series", metavar="ID,ID", help="a panel model: forecast only these series (default: all)")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("compare", parents=[common],
                       help="train several cells on the same windows and seeds; leaderboard, verdict, report")
    p.add_argument("--cells", default="lstm,gru,mlp", metavar="A,B",
                   help=f"cells to compare, from {', '.join(cell_names())} (default lstm,gru,mlp)")
    p.add_argument("--repeats", type=int, default=1, metavar="N", help="seeds per cell: seed, seed+1, ... (default 1)")
    p.add_argument("--json", action="store_true", help="print the leaderboard and verdict as JSON (no progress)")
    p.add_argument("--backtest", type=int, default=0, metavar="K",
                   help="also run a K-fold rolling-origin backtest per cell and seed, and rank by its MASE")
    p.add_argument("--strategies", metavar="A,B",
                   help="horizon strategies to compare: direct, recursive or direct,recursive (default: --strategy)")
    _add_executor_flags(p, "the cell x seed trials (and backtest folds)")
    _add_run_flags(p, cell=False)
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("backtest", parents=[common],
                       help="rolling-origin (expanding window) evaluation of a saved model's setup")
    p.add_argument("--model", required=True, metavar="DIR", help="as in predict: a model, run or cell folder")
    p.add_argument("--folds", type=int, default=5, metavar="K", help="number of rolling origins (default 5)")
    p.add_argument("--no-refit", action="store_true", help="score the saved model on every fold instead of refitting")
    p.add_argument("--data", metavar="PATH", help="series to backtest on (default: the training data)")
    p.add_argument("--epochs", type=int, metavar="N", help="epoch cap per fold (default: the run's)")
    p.add_argument("--levels", metavar="P,P", help="interval levels calibrated and measured per refitted fold "
                   "(default: the run's; none: off)")
    p.add_argument("--models-dir", default="models", metavar="DIR", help="where to look up a bare model name")
    p.add_argument("--json", action="store_true", help="print the folds and summary as JSON (no progress)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_executor_flags(p, "the per-fold refits")
    p.set_defaults(func=cmd_backtest)

    # [compare commands: compare, backtest]
    p = sub.add_parser("retrain", parents=[common],
                       help="train a challenger version, promote it if it beats the champion (registry)")
    _add_run_flags(p)
    _add_schedule_flags(p)
    p.set_defaults(func=cmd_retrain)

    p = sub.add_parser("schedule", parents=[common], help="run retrain on a cron schedule until SIGTERM/SIGINT")
    _add_run_flags(p)
    _add_schedule_flags(p, cron=True)
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("models", parents=[common], help="list a model's versions; promote or roll back the champion")
    msub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser, required=True)
    for action, text in (("list", "versions, their metrics and integrity, and which is champion"),
                         ("promote", "make a version the champion"),
                         ("rollback", "restore the previous champion")):
        q = msub.add_parser(action, parents=[common], help=text)
        q.add_argument("--name", required=True, metavar="NAME", help="model name under the models dir")
        q.add_argument("--models-dir", default="models", metavar="DIR", help="models folder (default models/)")
        if action == "promote":
            q.add_argument("--version", required=True, type=int, metavar="N", help="version number to promote")
        if action == "list":
            q.add_argument("--json", action="store_true", help="print the versions as JSON")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("health", parents=[common],
                       help="exit 0 if the scheduler's heartbeat is fresh, 7 if it is missing or stale")
    p.add_argument("--config", metavar="FILE", help="the schedule's config (heartbeat path, stale_after)")
    p.add_argument("--name", metavar="NAME", help="model name (default: from the config)")
    p.add_argument("--models-dir", metavar="DIR", help="models folder (default: from the config)")
    p.add_argument("--heartbeat", metavar="PATH", help="heartbeat file (default: schedule.heartbeat)")
    p.add_argument("--max-age", type=float, metavar="S", help="seconds before a heartbeat is stale (default: schedule.stale_after)")
    p.set_defaults(func=cmd_health)

    # [registry commands: retrain, schedule, models, health]
    return parser


_OS_HINTS = {
    "ENOSPC": "the disk is full: free space or write elsewhere (--models-dir, --output)",
    "EDQUOT": "the disk quota is used up: free space or write elsewhere (--models-dir, --output)",
    "EROFS": "the file system is read-only: write elsewhere (--models-dir, --output) or mount it read-write",
    "EACCES": "permission denied for uid {uid}: give that user write access or write elsewhere",
    "EPERM": "not permitted for uid {uid}: give that user access or write elsewhere",
    "ENOTDIR": "a part of the path is a file, not a folder: give another path",
    "EEXIST": "a file is in the way of a folder: give another path",
    "EISDIR": "that path is a folder, not a file: give another path",
    "EMFILE": "too many open files: raise the limit (ulimit -n)",
}


def os_error_line(exc: OSError) -> str:
    """One line for an operating-system error: the path, what the OS said, its code and what to do.

    Example:
        >>> import errno
        >>> os_error_line(OSError(errno.ENOSPC, "No space left on device", "models/x"))
        'models/x: No space left on device (ENOSPC); the disk is full: free space or write elsewhere (--models-dir, --output)'
    """
    import errno

    name = errno.errorcode.get(exc.errno or -1, "")
    where = f"{exc.filename}: " if exc.filename else ""
    said = exc.strerror or str(exc) or exc.__class__.__name__
    hint = _OS_HINTS.get(name, "").format(uid=os.getuid() if hasattr(os, "getuid") else "?")
    return f"{where}{said}" + (f" ({name})" if name else "") + (f"; {hint}" if hint else "")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``forecast``; returns the process exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter off stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    from forecaster.fs import SAVED

    SAVED.clear()
    _UNTRACKED.clear()
    import warnings

    shown, warnings.showwarning = warnings.showwarning, _show_warning
    try:
        args = build_parser().parse_args(argv)
        if not getattr(args, "command", None):
            build_parser().print_help()
            return ExitCode.USAGE
        from forecaster.workflows.tracking import staged_logs

        with staged_logs(lambda: len(SAVED)):  # TensorBoard logs stay only with what the command saved
            return int(args.func(args))
    except ForecasterError as exc:
        if debug:
            traceback.print_exc()
        _err(f"forecast: error: {printable(str(exc))}")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        if SAVED and "--json" not in argv:  # after a complete save: what the command was for is done
            _err(f"forecast: interrupted after {SAVED[-1]} was saved (complete and checked); nothing else was done")
            return int(ExitCode.OK)
        if SAVED:  # --json: the saved run is complete, but its JSON never reached stdout
            _err(f"forecast: interrupted after {SAVED[-1]} was saved (complete), before its JSON was printed")
            return int(ExitCode.INTERRUPTED)
        _err("forecast: interrupted; nothing was saved")
        return int(ExitCode.INTERRUPTED)
    except OSError as exc:  # the disk or the OS refused: the environment, not the input or a bug
        if debug:
            traceback.print_exc()
        _err(f"forecast: error: {printable(os_error_line(exc))}")
        return int(ExitCode.SYSTEM)
    except Exception as exc:  # the one boundary for unexpected failures
        if debug:
            traceback.print_exc()
        _err(f"forecast: internal error: {exc.__class__.__name__}: {printable(str(exc))} "
             "(run with --debug for the traceback)")
        return int(ExitCode.INTERNAL)
    finally:
        warnings.showwarning = shown
