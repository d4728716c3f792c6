"""What ``forecast serve`` is told: where the models are, where to listen, and the limits of a request.

One frozen object, checked once (:meth:`ServeSettings.check`), passed to the app and the server.
Every limit names the flag that sets it when a request crosses it.

Example:
    >>> ServeSettings(models_dir=Path("models")).check().port
    8080
    >>> ServeSettings(models_dir=Path("models"), port=70000).check()
    Traceback (most recent call last):
    ...
    forecaster.errors.ConfigError: --port: expected 0..65535 (0: any free port), got 70000
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from forecaster.errors import ConfigError

__all__ = ["ServeSettings", "ENVIRONMENT", "default_threads"]

#: The environment variable that carries the settings to ``--workers`` processes (uvicorn starts each worker
#: from an import string, so the settings travel as JSON).
ENVIRONMENT = "FORECASTER_SERVE_SETTINGS"


def default_threads() -> int:
    """Threads for model work in one worker: the cores this process may use, at most 4 (ONNX Runtime and
    numpy release the GIL while they compute; past the cores, threads only queue)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (macOS)
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


@dataclass(frozen=True)
class ServeSettings:
    """The server's settings (``forecast serve`` flags).

    Attributes:
        models_dir: the models folder; every sub-folder with a ``champion.json`` or ``runs/`` is a model.
        host: the address to listen on (``127.0.0.1``: this machine only; ``0.0.0.0`` in a container).
        port: the TCP port (``0``: any free one, printed at start).
        workers: server processes (each loads every champion; ``--workers 2`` on 2 cores, see the README).
        threads: threads for model work per process (forecasts run off the event loop, at most this many at once).
        max_queue: forecasts waiting for a thread, at most; one more is answered 503 with ``Retry-After``.
        max_body_bytes: a request body larger than this is answered 413.
        max_horizon: steps one request may ask for (``None``: the model's trained horizon, always a limit).
        max_series: series one request may forecast.
        poll_seconds: how often champion pointers are checked in the background (each forecast request also
            checks its own model's pointer: two ``stat`` calls).
        access_log: log every request (uvicorn's access log).
    """

    models_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    threads: int = 0  # 0: default_threads()
    max_queue: int = 64
    max_body_bytes: int = 16 * 1024 * 1024
    max_horizon: int | None = None
    max_series: int = 10_000
    poll_seconds: float = 2.0
    access_log: bool = False

    def check(self) -> ServeSettings:
        """The settings with defaults filled in.

        Raises:
            ConfigError: a value out of range, naming its flag.
        """
        def at_least(flag: str, value: float, low: float, what: str = "an integer") -> None:
            if not value >= low:
                raise ConfigError(f"{flag}: expected {what} >= {low:g}, got {value}")

        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port: expected 0..65535 (0: any free port), got {self.port}")
        if not self.host.strip():
            raise ConfigError("--host: expected an address to listen on (127.0.0.1, 0.0.0.0, ::1), got ''")
        at_least("--workers", self.workers, 1)
        at_least("--threads", self.threads, 0)
        at_least("--max-queue", self.max_queue, 1)
        at_least("--max-body-bytes", self.max_body_bytes, 1024)
        if self.max_horizon is not None:
            at_least("--max-horizon", self.max_horizon, 1)
        at_least("--max-series", self.max_series, 1)
        at_least("--poll-seconds", self.poll_seconds, 0.1, "a number of seconds")
        return replace(self, threads=self.threads or default_threads())

    def to_json(self) -> str:
        return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()})

    @classmethod
    def from_json(cls, text: str) -> ServeSettings:
        raw: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in raw.items() if k in known}
        values["models_dir"] = Path(values["models_dir"])
        return cls(**values).check()
