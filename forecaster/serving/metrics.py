"""``GET /metrics``: the server's Prometheus metrics, with ``prometheus_client``.

Requests (by endpoint, method and status), their latency (a histogram per endpoint), errors (by
kind), and per model: the version served, whether one is, swaps and refused loads. The ``model``
label only ever holds the names of models the server has (a request for an unknown name counts
under ``""``), so a client cannot grow the label set.

With ``--workers N`` every worker process counts into files under ``PROMETHEUS_MULTIPROC_DIR``
(``prometheus_client``'s multi-process mode, set up by :func:`forecaster.serving.server.serve`)
and ``/metrics`` sums them: whichever worker answers, the numbers are the server's.

Example:
    >>> m = Metrics()
    >>> m.observe("/healthz", "GET", 200, 0.001)
    >>> b"forecaster_http_requests_total" in m.exposition()[0]
    True
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics", "LATENCY_BUCKETS"]

#: Seconds: a single series' forecast takes about 2 ms, a 1,000-series panel's about 100 ms (bench/serve_load.py).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The server's metrics in their own registry (an app per test, none sharing the global one)."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("forecaster_http_requests", "HTTP requests answered, by endpoint, method and status.",
                                ["endpoint", "method", "status", "model"], registry=r)
        self.latency = Histogram("forecaster_http_request_duration_seconds",
                                 "Time from a request's arrival to its response, by endpoint.", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.errors = Counter("forecaster_http_errors", "Error responses, by kind: not_found, invalid (422), "
                              "too_large (413), busy (503), unavailable (503), model (500), internal (500).",
                              ["endpoint", "kind", "model"], registry=r)
        self.version = Gauge("forecaster_model_version", "The registry version each model serves (0: a run outside "
                             "the registry).", ["model"], registry=r, multiprocess_mode="livemostrecent")
        self.ready = Gauge("forecaster_model_ready", "1 when the model serves a version, else 0.", ["model"],
                           registry=r, multiprocess_mode="livemin")
        self.swaps = Counter("forecaster_model_swaps", "Versions swapped in after the first load.", ["model"],
                             registry=r)
        self.refused = Counter("forecaster_model_load_failures", "Loads refused (a version that failed its checks).",
                               ["model"], registry=r)

    def observe(self, endpoint: str, method: str, status: int, seconds: float, model: str = "",
                error: str | None = None) -> None:
        self.requests.labels(endpoint, method, str(status), model).inc()
        self.latency.labels(endpoint).observe(seconds)
        if error is not None:
            self.errors.labels(endpoint, error, model).inc()

    def model_state(self, name: str, version: int | None, ready: bool, *, swapped: bool = False,
                    refused: bool = False) -> None:
        self.version.labels(name).set(version or 0)
        self.ready.labels(name).set(1 if ready else 0)
        if swapped:
            self.swaps.labels(name).inc()
        if refused:
            self.refused.labels(name).inc()

    def exposition(self) -> tuple[bytes, str]:
        """The text format and its content type (every worker's numbers in multi-process mode)."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
