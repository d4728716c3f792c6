"""Run the application on uvicorn: ``forecast serve`` (:func:`serve`), or in a thread for tests and benches
(:class:`Running`).

The socket is bound here, before uvicorn starts, so an address in use is one line naming ``--host`` and
``--port`` (uvicorn would log it and exit 1), and the address actually bound (``--port 0``: any free
port) is known and printed. ``--workers N`` runs N processes on that one socket (uvicorn's
supervisor, which restarts a worker that dies); their metrics are summed through
``prometheus_client``'s multi-process directory. SIGTERM or SIGINT stops taking connections and
lets requests in flight finish (at most :data:`GRACE` seconds).

Example:
    >>> with Running(ServeSettings(models_dir=Path("models"), port=0).check()) as server:  # doctest: +SKIP
    ...     urllib.request.urlopen(server.url + "/healthz").status
    200
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from forecaster.errors import ConfigError
from forecaster.serving.settings import ENVIRONMENT, ServeSettings

__all__ = ["serve", "bind", "Running", "GRACE"]

#: Seconds requests in flight get to finish after SIGTERM (Docker's default stop timeout is 10).
GRACE = 8


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` 0: a free one).

    Raises:
        ConfigError: the address cannot be listened on (in use, not this machine's), naming the flags.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc}); pick another "
                          "--port, or stop what listens on it") from None
    sock.set_inheritable(True)
    return sock


def _address(sock: socket.socket) -> tuple[str, int]:
    host, port = sock.getsockname()[:2]
    return str(host), int(port)


def _config(app: Any, settings: ServeSettings, **extra: Any) -> Any:
    import uvicorn

    return uvicorn.Config(app, log_level="info" if settings.access_log else "warning", access_log=settings.access_log,
                          timeout_graceful_shutdown=GRACE, lifespan="on", server_header=False, **extra)


def _logging() -> None:
    """The server's own lines (swaps, refused versions) on stderr, one per event."""
    logger = logging.getLogger("forecaster.serving")
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s forecast serve: %(message)s", "%Y-%m-%dT%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def serve(settings: ServeSettings, *, say: Callable[[str], None] = print) -> None:
    """Serve until SIGTERM or SIGINT (blocking); ``say`` gets the one line saying where.

    Raises:
        ConfigError: the address cannot be listened on.
    """
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from forecaster.serving.app import create_app
    from forecaster.serving.models import is_model_dir

    sock = bind(settings.host, settings.port)
    host, port = _address(sock)
    shown = f"[{host}]" if ":" in host else host
    try:
        names = sorted(p.name for p in settings.models_dir.iterdir() if p.is_dir() and is_model_dir(p))
    except OSError:
        names = []
    _logging()
    say(f"forecast serve: listening on http://{shown}:{port} ({settings.workers} worker(s), {settings.threads} "
        f"thread(s) each); {len(names)} model(s) in {settings.models_dir}: {', '.join(names) or 'none yet'}")
    if settings.workers == 1:
        uvicorn.Server(_config(create_app(settings), settings)).run(sockets=[sock])
        return
    metrics_dir = tempfile.mkdtemp(prefix="forecaster-metrics-")
    os.environ[ENVIRONMENT] = settings.to_json()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # before any worker imports prometheus_client
    try:
        config = _config("forecaster.serving.app:app_from_environment", settings, factory=True,
                         workers=settings.workers)
        Multiprocess(config, sockets=[sock]).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


class Running:
    """The server in a thread of this process, on a socket bound now (tests, benches).

    Attributes:
        host, port: the address bound (``port=0`` in the settings: the free port picked).
        url: ``http://host:port``.
        app: the ASGI application (``app.state.server`` holds its champions and metrics).
    """

    def __init__(self, settings: ServeSettings, *, app: Any = None) -> None:
        import uvicorn

        from forecaster.serving.app import create_app

        self.settings = settings
        self.app = app if app is not None else create_app(settings)
        self._sock = bind(settings.host, settings.port)
        self.host, self.port = _address(self._sock)
        self.url = f"http://{self.host}:{self.port}"
        self._server = uvicorn.Server(_config(self.app, settings))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]},
                                        name="forecaster-serve", daemon=True)

    def __enter__(self) -> Running:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=GRACE + 5)
        self._sock.close()
