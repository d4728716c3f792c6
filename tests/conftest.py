"""Shared fixtures: tiny real-shaped series written to temporary files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

if TYPE_CHECKING:  # pragma: no cover
    from forecaster import config

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The ``slow`` tests (subprocesses, signals, Ray, the notebook) share one xdist group: with
    ``--dist loadgroup`` (``make test``) they run one after another in one worker, beside the fast
    tests in the other, never two of them at once (their time limits assume one)."""
    for item in items:
        if item.get_closest_marker("slow") is not None:
            item.add_marker(pytest.mark.xdist_group("slow"))


@pytest.fixture(scope="session", autouse=True)
def _tensorflow_functions_eager() -> None:
    """In-process tests run TensorFlow functions eagerly: on their tiny series, tracing a fit's
    functions cost more than running them (a 6-fit compare test: 38.6 s traced, 10-15 s eager, same
    machine, back to back). What users run (traced graphs, XLA) is tested by the tests marked
    ``graph``, by the subprocess tests (``slow``: the CLI in a fresh process, never eager), the
    notebook and the Docker test. tf.data functions stay traced either way."""
    from forecaster.models.network.tensorflow_quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import tensorflow as tf

    tf.config.run_functions_eagerly(True)


@pytest.fixture(autouse=True)
def _graph_marker(request: pytest.FixtureRequest) -> Any:
    """A test marked ``graph`` traces TensorFlow functions, as a user's run does."""
    if request.node.get_closest_marker("graph") is None:
        yield
        return
    import tensorflow as tf

    tf.config.run_functions_eagerly(False)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(True)


@pytest.fixture(scope="session")
def ray_session() -> Any:
    """One local Ray cluster (2 CPUs) for every Ray test of this test process: all are ``slow``, so one
    xdist worker runs them all; a cluster costs ~10 s to start, and its workers stay warm between tests."""
    ray = pytest.importorskip("ray")
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def make_frame(n: int = 240, freq: str = "h", seed: int = 0, start: str = "2024-01-01") -> pd.DataFrame:
    """A daily-cycle series with noise and one covariate: ``date, y, x``."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 10 + 3 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, n)
    x = np.cos(2 * np.pi * t / 24) + rng.normal(0, 0.1, n)
    return pd.DataFrame({"date": pd.date_range(start, periods=n, freq=freq), "y": y.round(4), "x": x.round(4)})


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write a frame (or raw text) to ``tmp_path/<name>`` and return the path."""

    def write(content: pd.DataFrame | str, name: str = "series.csv") -> Path:
        path = tmp_path / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        elif name.endswith(".parquet"):
            content.to_parquet(path, index=False)
        else:
            content.to_csv(path, index=False)
        return path

    return write


@pytest.fixture
def series_csv(write_csv: Callable[..., Path]) -> Path:
    return write_csv(make_frame())


def small_cfg(data: Path, models: Path, **extra: object) -> config.RunConfig:
    """A tiny, fast run config on ``data`` (target ``y``), saving under ``models``."""
    from forecaster import config

    overrides: dict[str, object] = {
        "data.path": str(data), "data.target": "y", "window.lookback": 12, "window.horizon": 4,
        "model.units": [8], "training.epochs": 2, "training.batch_size": 32, "output.models_dir": str(models),
    }
    overrides.update(extra)
    return config.resolve(overrides=overrides)


#: Small, fast training flags used by every test that trains.
FAST = ["--lookback", "12", "--horizon", "4", "--epochs", "2", "--units", "8", "--batch-size", "32", "--quiet"]


def rehash(cell_dir: Path) -> None:
    """Re-hash a cell folder's files and its manifest, as an attacker with write access would."""
    import json

    from forecaster.artifacts.manifest import SELF_KEY, manifest_digest
    from forecaster.fs import file_sha256

    manifest = json.loads((cell_dir / "manifest.json").read_text())
    manifest["files"] = {name: file_sha256(cell_dir / name) for name in manifest["files"] if (cell_dir / name).exists()}
    manifest[SELF_KEY] = manifest_digest(manifest)
    (cell_dir / "manifest.json").write_text(json.dumps(manifest))


def sigterm_while_retraining(proc: Any, heartbeat: Path) -> tuple[str, float]:
    """Check ``heartbeat`` says a retrain runs, send ``proc`` SIGTERM, and return its stderr and the seconds
    it took to end (at most 30)."""
    import json
    import signal
    import time

    assert json.loads(heartbeat.read_text())["state"] == "retraining"
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    return err, time.monotonic() - t0
