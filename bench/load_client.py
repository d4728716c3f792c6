"""A closed-loop HTTP load client for the serve benches: C threads, each on one keep-alive connection,
sending the same request until a count or a time bound is reached; latency per request.

Threads block in socket I/O (which releases the GIL), so a thread per connection keeps C requests
in flight; the client costs about 0.1 ms of CPU per request, small beside a forecast's.

Run alone, it loads a server that is already up (a container, another machine's loopback):
``python bench/load_client.py http://127.0.0.1:8080/v1/models/NAME/forecast --body '{}' -c 8``
prints one line: answers, failures, requests/s, p50 and p99.
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["Result", "hammer", "request", "main"]


@dataclass(frozen=True)
class Result:
    """What one run measured: answers, failures (non-2xx or a broken connection), wall seconds, latencies."""

    ok: int
    failed: int
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1]


def request(url: str, method: str = "GET", body: bytes | None = None, timeout: float = 30) -> tuple[int, bytes]:
    """One request on a fresh connection: ``(status, body)``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.request(method, parts.path or "/", body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def hammer(url: str, *, method: str = "GET", body: bytes | None = None, concurrency: int = 1, count: int = 1000,
           seconds: float = 10.0, warmup: int = 2) -> Result:
    """Send ``count`` requests (or as many as start within ``seconds``) with ``concurrency`` in flight, after
    ``warmup`` requests on each connection (not counted); the requests in flight at the deadline are waited for."""
    parts = urlsplit(url)
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    failed = [0]
    left = [count]
    deadline = [0.0]
    headers = {"Content-Type": "application/json"}

    def one(conn: http.client.HTTPConnection) -> int:
        conn.request(method, parts.path, body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status

    def worker() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        for _ in range(warmup):
            one(conn)
        ready.wait()  # every connection warm: then the clock starts
        # A fresh connection (a loopback connect is ~0.1 ms): waiting at the barrier for slow warm-ups (5 s and more
        # for 32 panel forecasts) outlasts uvicorn's 5 s keep-alive, which closes the idle connection, and its next
        # request then read as a failure (status 0) that the server never saw.
        conn.close()
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        start.wait()
        while True:
            with lock:
                if left[0] <= 0 or time.perf_counter() > deadline[0]:
                    break
                left[0] -= 1
            t0 = time.perf_counter()
            try:
                status = one(conn)
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            dt = time.perf_counter() - t0
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if 200 <= status < 300:
                    latencies.append(dt)
                else:
                    failed[0] += 1
        conn.close()

    start = threading.Event()
    ready = threading.Barrier(concurrency + 1)
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    ready.wait(timeout=600)
    t0 = time.perf_counter()
    deadline[0] = t0 + seconds
    start.set()
    for t in threads:
        t.join(seconds + 120)
    elapsed = time.perf_counter() - t0
    return Result(ok=len(latencies), failed=failed[0], seconds=elapsed, latencies=latencies, statuses=statuses)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("url")
    p.add_argument("--body", help="JSON to POST (default: GET)")
    p.add_argument("-c", "--concurrency", type=int, default=1)
    p.add_argument("--count", type=int, default=1000, help="requests, at most")
    p.add_argument("--seconds", type=float, default=10.0, help="seconds, at most")
    args = p.parse_args(argv)
    body = args.body.encode() if args.body is not None else None
    r = hammer(args.url, method="POST" if body is not None else "GET", body=body, concurrency=args.concurrency,
               count=args.count, seconds=args.seconds)
    print(f"{r.ok} answered, {r.failed} failed {dict(r.statuses)}, {r.rps:.1f} req/s, "
          f"p50 {r.percentile(50) * 1e3:.1f} ms, p99 {r.percentile(99) * 1e3:.1f} ms")
    return 0 if r.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
