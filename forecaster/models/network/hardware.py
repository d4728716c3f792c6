"""Where a network trains and how fast: seeding, XLA, and batch shards across the CPU cores.

A recurrent layer runs its time steps one after another in small ops, so one batch keeps about
one core busy: on a CPU each batch of a recurrent cell is split into one shard per core
(:func:`shard_count`, :func:`prepare_to_train`), and XLA is on where it was measured to pay
(:func:`use_jit`). Measurements: docs/architecture.md ("Training speed on CPU").
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = ["JIT_MIN_WINDOWS", "MIN_SHARD_WINDOWS", "gpu_available", "seed_everything", "use_jit", "quota_cores",
           "cpu_cores", "shard_count", "prepare_to_train"]

#: XLA (``jit_compile``) fuses each recurrent step's element-wise ops. Measured on 2 CPU cores
#: (bench/train_throughput.py, interleaved epochs): GRU 1.10-1.59x windows/s (one noisy run
#: 0.75x), LSTM 0.76-1.06x, MLP 1.01-1.06x, for a compile of about 2 s per model. Auto turns it on only where it paid:
#: the cells registered with ``jit_auto`` (:func:`forecaster.models.network.cells.cell_traits`), with at
#: least this many training windows.
JIT_MIN_WINDOWS = 2048


#: A recurrent layer runs its time steps one after another, each a handful of small ops, so one
#: batch keeps about one CPU core busy. Splitting the batch into shards, one per core, gives
#: TensorFlow independent recurrent loops (forward and backward) to run side by side; the loss
#: and gradient are those of the whole batch (the shards' predictions are concatenated before the
#: loss). Shards are never smaller than this many windows.
MIN_SHARD_WINDOWS = 64


def gpu_available() -> bool:
    """Whether TensorFlow sees a GPU (imports TensorFlow)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow so that the same seed gives the same model.

    TensorFlow's CPU kernels (and XLA on CPU) are deterministic as they are; on a GPU, op
    determinism is switched on too. It is not switched on for the CPU because Keras then refuses
    ``jit_compile``, the largest CPU speed-up measured for the GRU (see :func:`use_jit`);
    ``tests/test_pipeline.py`` checks that a seed reproduces the losses exactly.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if gpu_available():
        tf.config.experimental.enable_op_determinism()


def use_jit(setting: bool | None, n_windows: int, cell: str) -> bool:
    """Resolve ``training.jit_compile``: an explicit ``True``/``False`` wins; ``None`` (auto) is
    on for a cell registered with ``jit_auto`` trained on a CPU with at least :data:`JIT_MIN_WINDOWS`
    windows.

    On a GPU the recurrent layers already run fused cuDNN kernels, and op determinism (on there)
    makes Keras refuse XLA anyway.
    """
    if setting is not None:
        return setting
    from forecaster.models.network.cells import cell_traits

    return cell_traits(cell).jit_auto and n_windows >= JIT_MIN_WINDOWS and not gpu_available()


def quota_cores(cpu_max: str) -> int | None:
    """Whole cores allowed by a cgroup v2 ``cpu.max`` line (``"200000 100000"`` -> 2), ``None`` if unlimited."""
    fields = cpu_max.split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    try:
        return max(1, math.ceil(int(fields[0]) / int(fields[1])))
    except (ValueError, ZeroDivisionError):
        return None


def cpu_cores() -> int:
    """CPU cores this process may run on: its CPU affinity, capped by a container's CPU quota
    (``docker run --cpus 2`` on a 32-core host is 2)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as f:
            quota = quota_cores(f.read())
    except OSError:
        quota = None
    return min(n, quota) if quota else n


def shard_count(cell: str, batch_size: int, *, jit_compile: bool = False) -> int:
    """How many shards to split each training batch into (1: no sharding).

    One per CPU core for a recurrent cell on a CPU, with at least :data:`MIN_SHARD_WINDOWS`
    windows each. 1 on a GPU (one fused cuDNN kernel per batch), for the MLP (its few large
    matmuls already use every core) and under XLA (measured: XLA's CPU runtime ran the shards
    one after the other, 0.7-0.9x; the GRU gains more from XLA than from shards).
    """
    from forecaster.models.network.cells import cell_traits

    if jit_compile or not cell_traits(cell).recurrent or gpu_available():
        return 1
    return max(1, min(cpu_cores(), batch_size // MIN_SHARD_WINDOWS))


def _shard_steps(model: keras.Model, shards: int) -> None:
    """Make ``model``'s train and test steps run each batch as ``shards`` independent parts.

    Keras' own steps with one change, as in Keras' guide to customising ``fit``: the forward
    pass is ``concat([model(part) for part in split(x)])``. Loss, gradient, metrics and the
    optimizer update are computed on the whole batch, so training is the same (up to float
    rounding); TensorFlow runs the parts' recurrent loops, and their gradients, in parallel.
    The methods are set on this model object only; saving and exporting are unaffected.
    """
    import types

    import keras
    import tensorflow as tf

    def forward(self: keras.Model, x: tf.Tensor, training: bool) -> tf.Tensor:
        n = tf.shape(x)[0]
        cuts = [(n * k) // shards for k in range(shards + 1)]
        return tf.concat([self(x[cuts[k] : cuts[k + 1]], training=training) for k in range(shards)], axis=0)

    def track(self: keras.Model, loss: tf.Tensor, x: tf.Tensor, y: Any, y_pred: tf.Tensor, sample_weight: Any) -> Any:
        for metric in self.metrics:
            if metric.name == "loss":  # the epoch's loss: a mean over windows, as Keras keeps it
                metric.update_state(loss, sample_weight=tf.shape(x)[0])
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def train_step(self: keras.Model, data: Any) -> Any:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            y_pred = forward(self, x, True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return track(self, loss, x, y, y_pred, sample_weight)

    def test_step(self: keras.Model, data: Any) -> Any:
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = forward(self, x, False)
        loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=False)
        return track(self, loss, x, y, y_pred, sample_weight)

    model.train_step = types.MethodType(train_step, model)
    model.test_step = types.MethodType(test_step, model)


def prepare_to_train(model: keras.Model, *, jit_compile: bool, shards: int = 1) -> None:
    """Recompile ``model`` (same optimizer and loss) for fast training: XLA or not, and each
    batch in ``shards`` parallel parts (see :func:`shard_count`). One batch per call into
    TensorFlow: Keras' multi-batch loop (``steps_per_execution``) ran shards one after the other,
    gained at most 1.12x otherwise, and would run past the end of an epoch on the repeated
    datasets :func:`fit` uses. The saved model is unaffected (loading does not compile)."""
    import warnings

    if shards > 1:
        _shard_steps(model, shards)
    with warnings.catch_warnings():  # Keras warns, and runs without XLA, when op determinism is on
        warnings.simplefilter("ignore", UserWarning)
        model.compile(optimizer=model.optimizer, loss=model.loss, jit_compile=jit_compile, steps_per_execution=1)
