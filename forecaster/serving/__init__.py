"""``forecast serve``: the champions of a models folder over HTTP, hot-swapped when a pointer changes.

:func:`create_app` builds the ASGI application (:mod:`forecaster.serving.app`), :func:`serve` runs it on
uvicorn (:mod:`forecaster.serving.server`); :class:`ServeSettings` holds what it is told. Starlette,
uvicorn and prometheus_client are the ``serve`` extra: imported when a server is made, never by
``forecast --help``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from forecaster.serving.settings import ServeSettings

if TYPE_CHECKING:  # pragma: no cover
    from starlette.applications import Starlette

__all__ = ["ServeSettings", "create_app", "serve"]


def create_app(settings: ServeSettings) -> Starlette:
    """The ASGI application (see :func:`forecaster.serving.app.create_app`)."""
    from forecaster.serving.app import create_app as make

    return make(settings)


def serve(settings: ServeSettings, **kwargs: Any) -> None:
    """Serve until SIGTERM/SIGINT (see :func:`forecaster.serving.server.serve`)."""
    from forecaster.serving.server import serve as run

    run(settings, **kwargs)
