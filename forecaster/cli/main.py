"""The ``forecast`` command: parse, call the library, print. Nothing else lives here.

One error boundary (:func:`main`) maps the library's typed errors to named exit codes
(:class:`~forecaster.errors.ExitCode`) and prints one line on stderr; ``--debug`` shows the
traceback. TensorFlow is imported only by the commands that build or run models, so
``forecast --help`` answers quickly.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

import forecaster
from forecaster import config
from forecaster.cli.flags import (
    PROG,
    Parser,
    add_executor_flags,
    add_run_flags,
    add_schedule_flags,
    add_tune_flags,
)
from forecaster.cli.output import os_error_line, printable, say, show_warning
from forecaster.cli.registry_commands import cmd_health, cmd_models, cmd_retrain, cmd_schedule
from forecaster.cli.run_commands import UNTRACKED, cmd_backtest, cmd_compare, cmd_predict, cmd_train
from forecaster.cli.serve_command import add_serve_parser
from forecaster.errors import ExitCode, ForecasterError

__all__ = ["main", "build_parser"]

def build_parser() -> argparse.ArgumentParser:
    """The full command-line interface."""
    common = Parser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser = Parser(
        prog=PROG,
        description="Train, compare and serve LSTM/GRU forecasters on your time series.",
        parents=[common],
        epilog="exit codes: " + ", ".join(f"{c.value} {c.name.lower()}" for c in ExitCode),
    )
    parser.add_argument("--version", action="version", version=f"forecaster {forecaster.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("train", parents=[common], help="train one cell and save a run (model, metrics, forecast)")
    from forecaster.models.catalog import cell_names

    p.add_argument("--json", action="store_true", help="print the run folder and leaderboard as JSON (no progress)")
    add_run_flags(p)
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
    add_executor_flags(p, "the cell x seed trials (and backtest folds)")
    add_run_flags(p, cell=False)
    add_tune_flags(p)
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
    add_executor_flags(p, "the per-fold refits")
    p.set_defaults(func=cmd_backtest)

    # [compare commands: compare, backtest]
    p = sub.add_parser("retrain", parents=[common],
                       help="train a challenger version, promote it if it beats the champion (registry)")
    add_run_flags(p)
    add_schedule_flags(p)
    p.set_defaults(func=cmd_retrain)

    p = sub.add_parser("schedule", parents=[common], help="run retrain on a cron schedule until SIGTERM/SIGINT")
    add_run_flags(p)
    add_schedule_flags(p, cron=True)
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser("models", parents=[common], help="list a model's versions; promote or roll back the champion")
    msub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser, required=True)
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
    add_serve_parser(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``forecast``; returns the process exit code."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ chatter off stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    from forecaster.fs import SAVED

    SAVED.clear()
    UNTRACKED.clear()
    import warnings

    shown, warnings.showwarning = warnings.showwarning, show_warning
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
        say(f"forecast: error: {printable(str(exc))}")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        if SAVED and "--json" not in argv:  # after a complete save: what the command was for is done
            say(f"forecast: interrupted after {SAVED[-1]} was saved (complete and checked); nothing else was done")
            return int(ExitCode.OK)
        if SAVED:  # --json: the saved run is complete, but its JSON never reached stdout
            say(f"forecast: interrupted after {SAVED[-1]} was saved (complete), before its JSON was printed")
            return int(ExitCode.INTERRUPTED)
        say("forecast: interrupted; nothing was saved")
        return int(ExitCode.INTERRUPTED)
    except OSError as exc:  # the disk or the OS refused: the environment, not the input or a bug
        if debug:
            traceback.print_exc()
        say(f"forecast: error: {printable(os_error_line(exc))}")
        return int(ExitCode.SYSTEM)
    except Exception as exc:  # the one boundary for unexpected failures
        if debug:
            traceback.print_exc()
        say(f"forecast: internal error: {exc.__class__.__name__}: {printable(str(exc))} "
             "(run with --debug for the traceback)")
        return int(ExitCode.INTERNAL)
    finally:
        warnings.showwarning = shown
