"""The ``serve`` command: the champions of a models folder over HTTP (:mod:`forecaster.serving`)."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Any

from forecaster.cli.output import say
from forecaster.errors import ConfigError, ExitCode

__all__ = ["add_serve_parser", "cmd_serve"]


def add_serve_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``forecast serve`` to the subcommands ``sub``."""
    from forecaster.serving.settings import ServeSettings

    d = ServeSettings(models_dir=Path("models"))
    p = sub.add_parser("serve", parents=[common], help="serve forecasts over HTTP: every model's champion, "
                       "swapped when it is promoted (needs the serve extra)")
    p.add_argument("--models-dir", required=True, metavar="DIR",
                   help="models folder: each sub-folder with a champion.json or runs/ is a model")
    p.add_argument("--host", default=d.host, help=f"address to listen on (default {d.host}: this machine only; "
                   "0.0.0.0 in a container)")
    p.add_argument("--port", type=int, default=d.port, metavar="N", help=f"TCP port (default {d.port}; 0: any free one)")
    p.add_argument("--workers", type=int, default=d.workers, metavar="N",
                   help=f"server processes, each with every champion loaded (default {d.workers})")
    p.add_argument("--threads", type=int, default=0, metavar="N",
                   help="forecasts run at once per process (default: the cores, at most 4)")
    p.add_argument("--max-queue", type=int, default=d.max_queue, metavar="N",
                   help=f"forecasts waiting for a thread before more are answered 503 (default {d.max_queue})")
    p.add_argument("--max-body-bytes", type=int, default=d.max_body_bytes, metavar="N",
                   help=f"larger request bodies are answered 413 (default {d.max_body_bytes})")
    p.add_argument("--max-horizon", type=int, metavar="N",
                   help="steps a request may ask for (default: each model's trained horizon)")
    p.add_argument("--max-series", type=int, default=d.max_series, metavar="N",
                   help=f"series a request may forecast (default {d.max_series})")
    p.add_argument("--poll-seconds", type=float, default=d.poll_seconds, metavar="S",
                   help=f"how often champion pointers are checked in the background (default {d.poll_seconds:g}; a "
                   "forecast request also checks its model's)")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from forecaster.serving.settings import ServeSettings

    settings = ServeSettings(
        models_dir=Path(args.models_dir), host=args.host, port=args.port, workers=args.workers, threads=args.threads,
        max_queue=args.max_queue, max_body_bytes=args.max_body_bytes, max_horizon=args.max_horizon,
        max_series=args.max_series, poll_seconds=args.poll_seconds, access_log=args.access_log,
    ).check()
    if not settings.models_dir.is_dir():
        raise ConfigError(f"--models-dir {settings.models_dir}: no such folder")
    missing = [m for m in ("starlette", "uvicorn", "prometheus_client") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"forecast serve needs {', '.join(missing)}: pip install 'forecaster[serve]'")
    from forecaster.serving.server import serve

    serve(settings, say=say)
    return ExitCode.OK
