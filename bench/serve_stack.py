"""Starlette or FastAPI for ``forecast serve``? The same two endpoints on each, on uvicorn, over loopback.

``GET /healthz`` (a small JSON answer) and ``POST /echo`` (a 2 kB JSON body read, parsed and sent
back): what the framework adds to every request, the model work left out. Each framework runs in its
own server process (uvicorn, one worker), measured in turn, ``--rounds`` times interleaved (the
machine is shared: the median of the rounds is printed), at concurrency 1 and 8.

Usage: ``python bench/serve_stack.py [--rounds 3] [--count 2000]``
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_client import hammer, request

APPS = {
    "starlette": '''
import json
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def healthz(request):
    return Response(json.dumps({"status": "ok", "serving": 1}).encode(), media_type="application/json")

async def echo(request):
    body = json.loads(await request.body())
    return Response(json.dumps(body).encode(), media_type="application/json")

app = Starlette(routes=[Route("/healthz", healthz), Route("/echo", echo, methods=["POST"])])
''',
    "fastapi": '''
import json
from typing import Any
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()

@app.get("/healthz")
async def healthz():
    return {"status": "ok", "serving": 1}

@app.post("/echo")
async def echo(body: dict[str, Any]):
    return body
''',
    "fastapi-raw": '''
import json
from fastapi import FastAPI, Request
from fastapi.responses import Response

app = FastAPI()

@app.get("/healthz")
async def healthz():
    return Response(json.dumps({"status": "ok", "serving": 1}).encode(), media_type="application/json")

@app.post("/echo")
async def echo(request: Request):
    body = json.loads(await request.body())
    return Response(json.dumps(body).encode(), media_type="application/json")
''',
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(name: str, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    (folder / f"app_{name.replace('-', '_')}.py").write_text(APPS[name])
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", f"app_{name.replace('-', '_')}:app", "--host",
                             "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
                            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if request(url + "/healthz", timeout=1)[0] == 200:
                return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"{name} did not start: {proc.stderr.read().decode() if proc.stderr else ''}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--count", type=int, default=2000, help="requests per measurement")
    p.add_argument("--seconds", type=float, default=8.0, help="time bound per measurement")
    p.add_argument("--apps", default="starlette,fastapi,fastapi-raw")
    args = p.parse_args(argv)
    import tempfile

    body = json.dumps({"horizon": 24, "levels": [80, 95], "history": {"y": [round(0.1 * i, 3) for i in range(300)]}})
    cases = [("GET /healthz", "GET", "/healthz", None), ("POST /echo (2 kB)", "POST", "/echo", body.encode())]
    names = args.apps.split(",")
    found: dict[tuple[str, str, int], list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            for name in names:
                proc, url = start(name, Path(tmp))
                try:
                    for label, method, path, data in cases:
                        for c in (1, 8):
                            r = hammer(url + path, method=method, body=data, concurrency=c, count=args.count,
                                       seconds=args.seconds)
                            assert r.failed == 0, (name, label, r.statuses)
                            found.setdefault((name, label, c), []).append((r.rps, r.percentile(50) * 1e3))
                finally:
                    proc.terminate()
                    proc.wait(10)
    import starlette
    import uvicorn

    try:
        import fastapi
        fv = fastapi.__version__
    except ImportError:  # pragma: no cover
        fv = "?"
    print(f"uvicorn {uvicorn.__version__}, starlette {starlette.__version__}, fastapi {fv}; median of {args.rounds} "
          f"rounds, {args.count} requests (or {args.seconds:g} s) each")
    print(f"{'endpoint':<20} {'conc':>4} " + " ".join(f"{n + ' req/s':>18} {'p50 ms':>7}" for n in names)
          + "  starlette/fastapi")
    for label, _, _, _ in cases:
        for c in (1, 8):
            cells = [(statistics.median(x[0] for x in found[(n, label, c)]),
                      statistics.median(x[1] for x in found[(n, label, c)])) for n in names]
            ratio = cells[0][0] / cells[1][0] if len(cells) > 1 and cells[1][0] else float("nan")
            print(f"{label:<20} {c:>4} " + " ".join(f"{rps:>18.0f} {p50:>7.2f}" for rps, p50 in cells)
                  + f"  {ratio:>17.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
