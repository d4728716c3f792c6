"""Print exact pins of forecaster's runtime dependency closure and its ``serve`` extra's (``forecast serve``:
Starlette, uvicorn, prometheus_client), from this environment.

``make constraints`` writes them to ``constraints.txt``, which the Dockerfile installs with, so an
image resolves the versions the test suite ran against (pandas 2.x, not whatever is newest).
Build tools (pip, setuptools, wheel) are left out: the base image brings its own.
"""
import re
from importlib import metadata

from packaging.markers import default_environment
from packaging.requirements import Requirement

env = default_environment()
EXTRAS = {"forecaster": {"", "serve"}}  # the extras pinned too: those the images install
seen, todo = {}, ["forecaster"]
while todo:
    name = todo.pop()
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen:
        continue
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        continue
    seen[key] = dist.version
    for raw in dist.requires or []:
        req = Requirement(raw)
        extras = EXTRAS.get(dist.metadata["Name"].lower(), {""})
        if req.marker is not None and not any(req.marker.evaluate({**env, "extra": e}) for e in extras):
            continue
        todo.append(req.name)
for tool in ("forecaster", "pip", "setuptools", "wheel"):
    seen.pop(tool, None)
print("# Runtime pins for images (make constraints; generated from the tested .venv by tools/pin_runtime.py).")
for k in sorted(seen):
    print(f"{k}=={seen[k]}")
