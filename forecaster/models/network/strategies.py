"""Horizon strategies: how one network produces ``horizon`` steps.

- ``direct`` (default): the network outputs all ``horizon`` steps at once.
- ``recursive``: the network outputs one step; it is applied ``horizon`` times, each time fed
  its own previous prediction as the newest input row. Future covariate values are unknown, so
  recursive models take the target alone.

Example:
    >>> import numpy as np
    >>> last_plus_one = lambda x: x[:, -1, :1] + 1.0   # a "network" predicting last + 1
    >>> rollout(last_plus_one, np.zeros((1, 3, 1), dtype="float32"), 3).tolist()
    [[1.0, 2.0, 3.0]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["STRATEGIES", "output_steps", "rollout", "predict_windows"]

STRATEGIES = ("direct", "recursive")


def output_steps(strategy: str, horizon: int) -> int:
    """How many steps the network itself outputs."""
    return horizon if strategy == "direct" else 1


def rollout(call: Callable[[np.ndarray], Any], windows: np.ndarray, horizon: int) -> np.ndarray:
    """Recursive forecast: ``horizon`` one-step calls, each fed the previous prediction.

    Args:
        call: maps ``(batch, lookback, 1)`` scaled windows to ``(batch, >=1)`` scaled predictions.
        windows: scaled input windows ``(batch, lookback, 1)``.
        horizon: steps to produce.

    Returns:
        ``(batch, horizon)`` scaled predictions.
    """
    x = np.asarray(windows, dtype=np.float32)
    steps = []
    for _ in range(horizon):
        step = np.asarray(call(x), dtype=np.float32)[:, :1]
        steps.append(step[:, 0])
        x = np.concatenate([x[:, 1:, :], step[:, :, None]], axis=1)
    return np.stack(steps, axis=1)


def predict_windows(call: Callable[[np.ndarray], Any], windows: np.ndarray, *, strategy: str, horizon: int) -> np.ndarray:
    """``(batch, horizon)`` scaled predictions of either strategy."""
    if strategy == "recursive":
        return rollout(call, windows, horizon)
    return np.asarray(call(np.asarray(windows, dtype=np.float32)))[:, :horizon]
