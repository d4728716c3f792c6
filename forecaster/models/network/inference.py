"""Running a network: the :class:`Predictor` protocol and the forecaster that owns the strategy.

A *runtime* maps scaled windows ``(batch, lookback, features)`` to scaled outputs
``(batch, outputs)``: :class:`KerasRuntime` (a Keras model in memory or loaded in safe mode)
and :class:`forecaster.artifacts.onnx_runtime.OnnxRuntime` (ONNX Runtime, no TensorFlow) both
implement :class:`Predictor`. A :class:`NetworkForecaster` puts a runtime together with its
scaler, lookback and horizon strategy, and forecasts in the original units at any batch of
origins: the one path used by train, compare, backtest, the retrain gate and predict.

Example:
    >>> import numpy as np
    >>> from forecaster.data.scaling import Scaler
    >>> class LastValue:                      # a "network": repeat the last scaled value
    ...     backend = "toy"
    ...     def __call__(self, x, training=False):
    ...         return np.repeat(x[:, -1:, 0], 2, axis=1)
    >>> f = NetworkForecaster(LastValue(), Scaler(["y"]).fit(np.array([[0.0], [2.0]])), lookback=3)
    >>> f.predict(np.arange(10.0)[:, None], np.array([5, 9]), 2).tolist()
    [[4.0, 4.0], [8.0, 8.0]]
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from forecaster.data.scaling import Scaler
from forecaster.data.windows import origin_windows
from forecaster.models.network.strategies import predict_windows

__all__ = ["Predictor", "KerasRuntime", "NetworkForecaster", "PREDICT_BATCH", "origin_windows"]

#: Windows per inference call when forecasting many origins (bounded memory, one size everywhere).
PREDICT_BATCH = 1024
#: Windows per inference call when forecasting the last window of many series (a panel's predict):
#: one call for up to this many series.
PANEL_BATCH = 16384


@runtime_checkable
class Predictor(Protocol):
    """A network runtime: scaled windows in, scaled outputs out.

    ``backend`` names the runtime (``"keras"``, ``"onnx"``); the ``training`` keyword is
    accepted so a runtime can stand in for ``keras.Model.__call__``.
    """

    backend: str

    def __call__(self, windows: Any, training: bool = False) -> np.ndarray: ...


class KerasRuntime:
    """A Keras model as a :class:`Predictor` (inference mode, numpy out)."""

    backend = "keras"

    def __init__(self, model: Any) -> None:
        self.model = model
        self._graph: Any = None

    def __call__(self, windows: Any, training: bool = False) -> np.ndarray:
        # One traced graph for every batch size: an eager call ran a recurrent layer's steps op by op,
        # 290-410 ms for 40-100 windows of 24 steps against 2-6 ms traced (same numbers), and a panel
        # scores its global network with a few calls per series (148 series: minutes).
        if self._graph is None:
            import tensorflow as tf

            spec = tf.TensorSpec([None, *self.model.input_shape[1:]], tf.float32)
            self._graph = tf.function(lambda x: self.model(x, training=False), input_signature=[spec])
        return np.asarray(self._graph(np.asarray(windows, dtype=np.float32)))

    @property
    def io_shape(self) -> tuple[int | None, int | None, int | None]:
        """``(steps, columns, outputs)`` of the network's windows in and forecasts out."""
        steps, columns = self.model.input_shape[1:3]
        return steps, columns, self.model.output_shape[-1]

    def __getattr__(self, name: str) -> Any:  # the Keras model's own attributes (layers, output_shape...)
        return getattr(self.__dict__["model"], name)


@dataclass(frozen=True)
class NetworkForecaster:
    """A runtime with its scaler, lookback and horizon strategy: forecasts in original units.

    Args:
        runtime: the network (:class:`Predictor`).
        scaler: the scaler fitted on the training rows.
        lookback: input steps per window.
        strategy: ``direct`` (all steps at once) or ``recursive`` (one step fed back).
    """

    runtime: Predictor
    scaler: Scaler
    lookback: int
    strategy: str = "direct"

    def predict_windows(self, windows: np.ndarray, horizon: int, *, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Forecast unscaled windows ``(batch, lookback, features)``: ``(batch, horizon)`` float64."""
        x = np.asarray(windows, dtype=np.float64)
        if len(x) == 0:
            return np.empty((0, horizon))
        out = [self._call(x[i : i + batch_size], horizon) for i in range(0, len(x), batch_size)]
        return np.concatenate(out)

    def predict(self, values: np.ndarray, origins: np.ndarray, horizon: int, *,
                batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Forecast ``horizon`` steps at each origin from the ``lookback`` rows before it (the contract)."""
        values = np.asarray(values, dtype=np.float64)
        origins = np.asarray(origins, dtype=np.int64)
        chunks = [self._call(origin_windows(values, o, self.lookback), horizon) for o in _chunks(origins, batch_size)]
        return np.concatenate(chunks) if chunks else np.empty((0, horizon))

    def predict_rows(self, windows: np.ndarray, horizon: int, mean: np.ndarray, scale: np.ndarray, *,
                     batch_size: int = PANEL_BATCH) -> np.ndarray:
        """Forecast unscaled windows ``(batch, lookback, features)`` that each have their own column
        statistics ``mean``/``scale`` ``(batch, features)`` (the series of a panel): ``(batch, horizon)``."""
        mean, scale = np.asarray(mean, dtype=np.float64), np.asarray(scale, dtype=np.float64)
        x = ((np.asarray(windows, dtype=np.float64) - mean[:, None, :]) / scale[:, None, :]).astype(np.float32)
        out = [np.asarray(predict_windows(self.runtime, x[i : i + batch_size], strategy=self.strategy, horizon=horizon))
               for i in range(0, len(x), batch_size)]
        scaled = np.concatenate(out) if out else np.empty((0, horizon))
        return scaled.astype(np.float64) * scale[:, :1] + mean[:, :1]

    def _call(self, raw: np.ndarray, horizon: int) -> np.ndarray:
        scaled_in = self.scaler.transform(raw)  # per-column statistics broadcast over (batch, lookback)
        scaled = predict_windows(self.runtime, scaled_in, strategy=self.strategy, horizon=horizon)
        return self.scaler.inverse_target(np.asarray(scaled))


def _chunks(origins: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for i in range(0, len(origins), size):
        yield origins[i : i + size]
