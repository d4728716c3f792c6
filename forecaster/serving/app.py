"""The HTTP application (ASGI, on Starlette): five endpoints, one error shape, model work off the event loop.

Endpoints (the contract; ``tests/test_serve.py`` uses exactly these):

- ``GET /healthz``: 200 while the server answers and its models folder is readable (liveness).
- ``GET /readyz``: 200 once every model found is serving a version; 503 with what it waits for.
- ``GET /v1/models``: every model with its champion version, served row, trained-at, test metrics and
  interval coverage, and why a newer version was refused (:meth:`~forecaster.serving.models.Champions.status`).
- ``POST /v1/models/<name>/forecast``: see :mod:`forecaster.serving.requests`.
- ``GET /metrics``: Prometheus text format (:mod:`forecaster.serving.metrics`).

Every error is one line of JSON, ``{"error": "..."}``, with the library's message (the CLI's):
unknown model 404, a malformed or out-of-range field 422, a body over ``--max-body-bytes`` 413,
no servable version or a full queue 503; a saved model that breaks at inference is 500 and so is a
bug, neither with a traceback (the server's log has it).

Why Starlette: FastAPI is Starlette plus request models, dependency injection and OpenAPI; here
the body is checked by hand anyway (the CLI's messages, not pydantic's), so FastAPI would add a
layer and nothing used. Measured with ``bench/serve_stack.py`` (the same two endpoints on each, on
uvicorn 0.55, over loopback, 2 shared cores at load 3.5, median of 3 rounds): Starlette 1.10 answered
1.4x the requests/s of FastAPI 0.165 on ``GET /healthz`` (4,920 vs 3,520 at concurrency 1) and 1.7-2.1x
on a 2 kB JSON body (2,896 vs 1,700; pydantic's parse), 1.2x FastAPI without a request model.

Example:
    >>> app = create_app(ServeSettings(models_dir=Path("models")).check())  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8080)  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from forecaster.errors import ArtifactError, ConfigError, DataError, ForecasterError
from forecaster.serving.metrics import Metrics
from forecaster.serving.models import Champions, NotServable, Served, UnknownModel
from forecaster.serving.requests import RequestError, field_message, future_frame, history_panel, parse_body
from forecaster.serving.settings import ENVIRONMENT, ServeSettings
from forecaster.workflows.formats import by_series, to_json
from forecaster.workflows.predict import beyond_history, forecast, load_for_predict

__all__ = ["create_app", "app_from_environment", "Busy", "Unavailable", "MAX_ERROR"]

log = logging.getLogger("forecaster.serving")

#: An error line is cut here (a 1 MB cell quoted in a message must not come back as a 1 MB response).
MAX_ERROR = 1000

FORECAST = "/v1/models/{name}/forecast"


class Busy(ForecasterError):
    """Every forecast thread is busy and the queue is full (HTTP 503, ``Retry-After``)."""


class Unavailable(ForecasterError):
    """The model cannot answer without the client's help, such as its data file being gone (HTTP 503)."""


def _line(message: str) -> str:
    text = " ".join(message.split()) if "\n" in message else message
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 25] + f" ... ({len(text) - MAX_ERROR + 25} more)"


def error_body(message: str) -> bytes:
    """``{"error": message}`` on one line (newlines folded, length capped)."""
    return json.dumps({"error": _line(message)}).encode() + b"\n"


def _classify(exc: BaseException) -> tuple[int, str, str]:
    """HTTP status, the error kind (a metrics label) and the message for an exception."""
    if isinstance(exc, RequestError):
        return exc.status, "too_large" if exc.status == 413 else "invalid", str(exc)
    if isinstance(exc, UnknownModel):
        return 404, "not_found", str(exc)
    if isinstance(exc, Busy):
        return 503, "busy", str(exc)
    if isinstance(exc, (NotServable, Unavailable)):
        return 503, "unavailable", str(exc)
    if isinstance(exc, (ConfigError, DataError)):  # what the request sent: a field, its history, its future
        return 422, "invalid", field_message(str(exc))
    if isinstance(exc, ArtifactError):  # the saved model, not the request
        return 500, "model", str(exc)
    return 500, "internal", f"internal error: {exc.__class__.__name__}: {str(exc).strip()[:200]} (see the server's log)"


class WorkPool:
    """The threads forecasts run on: at most ``threads`` at once, ``queue`` more waiting, the rest refused.

    ONNX Runtime and numpy release the GIL while they compute, so threads overlap on several cores;
    the bound keeps a burst from queueing without end (each waiting request holds its body in memory).
    """

    def __init__(self, threads: int, queue: int) -> None:
        self.threads, self.limit = threads, threads + queue
        self.pending = 0
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="forecaster-forecast")

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self.pending >= self.limit:
            raise Busy(f"busy: {self.pending} forecasts running or queued (--threads {self.threads}, --max-queue "
                       f"{self.limit - self.threads}); retry shortly")
        self.pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        finally:
            self.pending -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to be over ``limit`` bytes: from its
    ``Content-Length``, or while it streams in (chunked)."""
    def too_large(size: str) -> RequestError:
        return RequestError(f"body: {size} bytes is over this server's limit of {limit} (--max-body-bytes); send "
                            "fewer series or rows per request", status=413)

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(declared)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(f"more than {limit}")
        chunks.append(chunk)
    return b"".join(chunks)


def forecast_response(served: Served, body: bytes, settings: ServeSettings) -> bytes:
    """The work of one forecast request (blocking: a :class:`WorkPool` thread runs it): parse the body, load
    the history (or use the model's data file), forecast, write the JSON of ``forecast predict --format json``
    with the model's name, version and row.

    Raises:
        RequestError, ConfigError, DataError: the request (422).
        Unavailable: no history sent and the model's data file cannot be read (503).
        ArtifactError: the saved model broke (500).
    """
    req = parse_body(body, max_horizon=settings.max_horizon, max_series=settings.max_series)
    loaded = served.loaded
    notes: list[str] = []
    if req.history is not None:
        panel = history_panel(loaded, req.history, missing=req.missing)
    else:
        try:
            panel = served.data_panel() if req.missing is None else load_for_predict(loaded, missing=req.missing)
        except DataError as exc:
            raise Unavailable(f"model {served.name!r} cannot forecast from its data file ({field_message(str(exc))}); "
                              "send the series in \"history\"") from None
    if req.series is not None and panel.id_col is None:
        raise ConfigError(f"series: {served.name} forecasts one series (trained without --id-col); leave out "
                          "\"series\"")
    count = len(req.series) if req.series is not None else len(panel.series)
    if count > settings.max_series:
        raise RequestError(f"series: the request would forecast {count} series; this server forecasts at most "
                           f"{settings.max_series} per request (--max-series): pass \"series\", or split the history")
    future = future_frame(loaded, req.future, notes)
    frame = forecast(loaded, panel, req.horizon, req.levels, series=req.series, future=future,
                     future_source="future", notes=notes)
    far = beyond_history(frame, panel)
    if far is not None:
        notes.append(far)
    meta = {"model": served.name, "version": served.version, "row": served.row, "target": panel.first.target,
            "freq": panel.first.freq, "warnings": [field_message(n) for n in notes]}
    return to_json(by_series(frame, panel.id_col), indent=None, **meta).encode() + b"\n"


class Server:
    """What the endpoints share: settings, champions, the work pool, metrics."""

    def __init__(self, settings: ServeSettings, champions: Champions | None = None) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.champions = champions or Champions(settings.models_dir)
        self.champions._on_change = self._changed
        self.pool = WorkPool(settings.threads, settings.max_queue)

    def _changed(self, name: str, served: Served | None, error: str | None, swapped: bool) -> None:
        self.metrics.model_state(name, served.version if served else None, served is not None, swapped=swapped,
                                 refused=error is not None)

    async def poll(self) -> None:
        """Keep every model in step with its pointer (a request also checks its own model's)."""
        while True:
            try:
                await self.champions.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # the poll must outlive anything one refresh meets
                log.exception("checking the champion pointers failed")
            await asyncio.sleep(self.settings.poll_seconds)


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload, allow_nan=False).encode() + b"\n", status_code=status,
                    media_type="application/json", headers=headers)


def _error(exc: BaseException, endpoint: str, method: str, t0: float, server: Server, model: str = "") -> Response:
    status, kind, message = _classify(exc)
    if status >= 500 and kind in ("internal", "model"):
        log.error("%s %s: %s", method, endpoint, message, exc_info=kind == "internal")
    server.metrics.observe(endpoint, method, status, time.perf_counter() - t0, model, error=kind)
    headers = {"Retry-After": "1"} if kind == "busy" else None
    return Response(error_body(message), status_code=status, media_type="application/json", headers=headers)


def create_app(settings: ServeSettings, *, champions: Champions | None = None) -> Starlette:
    """The ASGI application serving ``settings.models_dir`` (checked settings: :meth:`ServeSettings.check`).

    Args:
        settings: the server's settings.
        champions: the models (default: every model of ``settings.models_dir``; tests inject one).
    """
    server = Server(settings, champions)

    def instrumented(endpoint: str, handler: Callable[[Request], Awaitable[Response]]) \
            -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            t0 = time.perf_counter()
            try:
                response = await handler(request)
            except Exception as exc:
                return _error(exc, endpoint, request.method, t0, server)
            server.metrics.observe(endpoint, request.method, response.status_code, time.perf_counter() - t0)
            return response
        return run

    async def healthz(request: Request) -> Response:
        root = settings.models_dir
        if not (root.is_dir() and os.access(root, os.R_OK | os.X_OK)):
            return Response(error_body(f"models folder {root} is not a readable folder (is the volume mounted?)"),
                            status_code=503, media_type="application/json")
        return _json({"status": "ok", "serving": len(server.champions.served())})

    async def readyz(request: Request) -> Response:
        names = server.champions.scan()
        waiting = server.champions.waiting()
        if not names or waiting:
            why = (f"no model in {settings.models_dir} yet (a folder with a champion.json or runs/)" if not names else
                   "waiting for " + "; ".join(f"{n}: {w}" for n, w in waiting.items()))
            return _json({"ready": False, "error": _line(why), "waiting": waiting}, status=503)
        return _json({"ready": True, "models": {n: s.version for n, s in sorted(server.champions.served().items())}})

    async def models(request: Request) -> Response:
        return _json({"models_dir": str(settings.models_dir), "models": server.champions.status()})

    async def forecast_endpoint(request: Request) -> Response:
        t0 = time.perf_counter()
        name = request.path_params["name"]
        model = ""
        try:
            body = await read_body(request, settings.max_body_bytes)
            served = await server.champions.get(name)
            model = name
            text = await server.pool.run(forecast_response, served, body, settings)
        except Exception as exc:
            return _error(exc, FORECAST, "POST", t0, server, model)
        server.metrics.observe(FORECAST, "POST", 200, time.perf_counter() - t0, model)
        return Response(text, media_type="application/json")

    async def metrics(request: Request) -> Response:
        content, kind = server.metrics.exposition()
        return Response(content, media_type=kind)

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        allowed = {"/healthz": "GET", "/readyz": "GET", "/v1/models": "GET", FORECAST: "POST", "/metrics": "GET"}
        if status == 405:
            message = f"{request.method} is not allowed on {request.url.path}; use {exc.headers.get('Allow', 'GET')}" \
                if isinstance(exc, HTTPException) and exc.headers else f"{request.method} is not allowed here"
        else:
            message = (f"no endpoint {request.method} {request.url.path}; the endpoints are "
                       + ", ".join(f"{m} {p.replace('{name}', '<name>')}" for p, m in allowed.items()))
        server.metrics.observe("other", request.method, status, 0.0, error="not_found" if status == 404 else "invalid")
        return Response(error_body(message), status_code=status, media_type="application/json")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(server.poll())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            server.pool.close()
            server.champions.close()

    routes = [
        Route("/healthz", instrumented("/healthz", healthz), methods=["GET"]),
        Route("/readyz", instrumented("/readyz", readyz), methods=["GET"]),
        Route("/v1/models", instrumented("/v1/models", models), methods=["GET"]),
        Route(FORECAST, forecast_endpoint, methods=["POST"]),
        Route("/metrics", instrumented("/metrics", metrics), methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
    app.state.server = server
    return app


def app_from_environment() -> Starlette:
    """The app of a ``--workers`` process: its settings come as JSON in :data:`ENVIRONMENT`."""
    text = os.environ.get(ENVIRONMENT)
    if not text:
        raise ConfigError(f"{ENVIRONMENT} is not set; start the server with `forecast serve`")
    return create_app(ServeSettings.from_json(text))
