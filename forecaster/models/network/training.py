"""Fit a compiled model: early stopping on validation loss, a NaN guard, per-epoch progress.

Keras' own ``TerminateOnNaN`` ends ``fit`` normally, so a diverged run would look like a
success; :func:`fit` raises :class:`~forecaster.errors.TrainingError` instead, and the caller
never gets to save it.

Example:
    >>> result = fit(model, train_ds, val_ds, epochs=30, patience=5)  # doctest: +SKIP
    >>> result.best_epoch, result.epochs_run  # doctest: +SKIP
    (12, 17)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from forecaster.errors import TrainingError
from forecaster.models.network.hardware import MIN_SHARD_WINDOWS, prepare_to_train

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import tensorflow as tf

    from forecaster.models.network.checkpoint import Checkpoint

__all__ = ["FitResult", "fit", "fit_inputs", "epoch_line", "batch_for", "block_se", "GAIN_Z", "StartCheck"]

#: A recurrent cell must beat its linear start on the validation windows by this many block standard
#: errors of the paired per-window difference (about a 2.5 % one-sided test) to keep training past
#: its gain budget (``training.gain_epochs``).
GAIN_Z = 2.0


def batch_for(batch_size: int, n_windows: int, min_steps: int) -> int:
    """The batch a fit uses: ``batch_size``, made smaller on a small training set so an epoch has at
    least ``min_steps`` optimizer steps, never below :data:`MIN_SHARD_WINDOWS` windows.

    Why: at 512 windows a batch, the shipped daily, monthly and yearly series had 1-2 steps an
    epoch, so a patience of 5 epochs was 5-10 Adam steps: nothing can be learnt in that. On a
    logistic-map series (nonlinear, 2,081 training windows) an LSTM reached 0.28 of its start's
    validation loss in 50 epochs at batch 512 and 0.06 at batch 64 (bench/learning.py).

    Example:
        >>> batch_for(512, 100_000, 16), batch_for(512, 2_000, 16), batch_for(512, 300, 16)
        (512, 125, 64)
    """
    if min_steps <= 1:
        return batch_size
    return int(min(batch_size, max(MIN_SHARD_WINDOWS, n_windows // min_steps)))


def block_se(diff: Any, block: int) -> float:
    """Standard error of the mean of ``diff`` (per-window values in time order) from the means of
    non-overlapping blocks of ``block`` windows: neighbouring windows share all but one target, so
    their losses are far from independent. NaN with fewer than two blocks.

    Example:
        >>> round(block_se([1.0, 1.0, 3.0, 3.0], 2), 3)
        1.0
    """
    import numpy as np

    d = np.asarray(diff, dtype=np.float64)
    block = max(1, int(block))
    n = len(d) // block
    if n < 2:
        return math.nan
    means = d[: n * block].reshape(n, block).mean(axis=1)
    return float(means.std(ddof=1) / math.sqrt(n))


@dataclass(frozen=True)
class StartCheck:
    """Judge a fit against the weights it starts from (a residual network's linear start).

    The start is epoch 0: early stopping keeps it when no epoch beats it. After ``epochs``
    epochs (0: never), a fit whose best weights do not beat the start's validation loss by
    more than :data:`GAIN_Z` block standard errors (paired per window, blocks of ``block``
    windows) is stopped and handed back the start.

    Attributes:
        epochs: the gain budget in epochs (0: the start is kept as a candidate but never judged).
        block: windows per block of the noise estimate (a forecast's horizon).
        label: what the start is called in the stop reason.
    """

    epochs: int
    block: int
    label: str = "the linear start"


@dataclass(frozen=True)
class FitResult:
    """What training did.

    Attributes:
        history: one row per epoch: ``epoch`` (1-based), ``loss``, ``val_loss``, ``seconds``.
        best_epoch: the epoch whose weights the model now holds (1-based; 0: the weights it started
            from, when ``fit`` was given ``start_check`` and no epoch beat them).
        seconds: wall time of ``fit``.
    """

    history: pd.DataFrame
    best_epoch: int
    seconds: float
    #: validation loss of the weights the fit started from (epoch 0); ``None``: not measured
    start_val_loss: float | None = None
    #: why training stopped before early stopping would have (no gain over the start, time budget)
    stop_reason: str | None = None
    #: the paired validation gain of the kept weights over the start, in block standard errors (negative: better)
    gain_z: float | None = None
    #: the batch size the fit used (the configured one, or smaller on a small training set)
    batch_size: int | None = None

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    @property
    def best_val_loss(self) -> float:
        if self.best_epoch == 0 and self.start_val_loss is not None:  # the start was never beaten
            return float(self.start_val_loss)
        return float(self.history["val_loss"].iloc[self.best_epoch - 1])


def epoch_line(rows: Sequence[dict[str, float]], epochs: int) -> str:
    """One progress line for the newest epoch of ``rows``: losses with four significant digits
    (scaled losses are often ~1e-4, which ``.4f`` printed as 0.0001 every epoch), the change of
    the validation loss from the first epoch, and the best epoch so far.

    Example:
        >>> rows = [{"epoch": 1, "loss": 2.3e-4, "val_loss": 3.1e-4, "seconds": 0.52},
        ...         {"epoch": 2, "loss": 1.9e-4, "val_loss": 2.2e-4, "seconds": 0.31}]
        >>> epoch_line(rows, 60)
        '  epoch   2/60  loss 0.00019  val_loss 0.00022 (-29.0% vs epoch 1)  best 2 *  0.3s'
    """
    row = rows[-1]
    vals = [r["val_loss"] for r in rows]
    best = min(range(len(vals)), key=lambda i: vals[i] if math.isfinite(vals[i]) else math.inf)
    change = ""
    if len(rows) > 1 and vals[0] and math.isfinite(vals[0]) and math.isfinite(row["val_loss"]):
        change = f" ({100 * (row['val_loss'] / vals[0] - 1):+.1f}% vs epoch 1)"
    mark = " *" if best == len(rows) - 1 else ""
    return (f"  epoch {int(row['epoch']):>3}/{epochs}  loss {row['loss']:.4g}  val_loss {row['val_loss']:.4g}{change}"
            f"  best {best + 1}{mark}  {row['seconds']:.1f}s")


def _callbacks(epochs: int, progress: Callable[[str], None] | None) -> tuple[list[Any], Any]:
    import keras

    class Recorder(keras.callbacks.Callback):
        """Times epochs, prints progress, and catches a non-finite loss at the batch it appears."""

        def __init__(self) -> None:
            super().__init__()
            self.rows: list[dict[str, float]] = []
            self.bad: str | None = None

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._t0 = time.perf_counter()

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            loss = float((logs or {}).get("loss", 0.0))
            if not math.isfinite(loss) and self.bad is None:
                self.bad = f"training loss became {loss} at epoch {len(self.rows) + 1}, batch {batch + 1}"
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs or {}
            row = {
                "epoch": epoch + 1,
                "loss": float(logs.get("loss", math.nan)),
                "val_loss": float(logs.get("val_loss", math.nan)),
                "seconds": time.perf_counter() - self._t0,
            }
            self.rows.append(row)
            if self.bad is None and not math.isfinite(row["val_loss"]):
                self.bad = f"validation loss became {row['val_loss']} at epoch {epoch + 1}"
                self.model.stop_training = True
            if progress is not None:
                progress(epoch_line(self.rows, epochs))

    recorder = Recorder()
    return [recorder], recorder


def _batches(ds: tf.data.Dataset) -> int | None:
    """The number of batches in a finite dataset whose size TensorFlow knows, else ``None``."""
    n = int(ds.cardinality())
    return n if n > 0 else None


def fit_inputs(model: keras.Model, train: tf.data.Dataset, val: tf.data.Dataset) -> dict[str, Any]:
    """``model.fit`` keyword arguments for these datasets, each read through one iterator per fit.

    Training: a dataset of known size is repeated and cut into epochs by step count (each epoch
    is still exactly one pass). Keras otherwise makes a new iterator every epoch, and about half
    of those stalled the epoch's first batch by 0.2-0.7 s here, against 0.3 s epochs at the
    defaults.

    Validation: not Keras' ``validation_data`` but a callback, first in ``callbacks``, that puts
    ``val_loss`` into the epoch's logs before any other callback reads them. Keras' ``evaluate``
    inside ``fit`` makes a new iterator every epoch too, and dropping the old one blocked for
    0.2-0.3 s in about one epoch in four here (measured with ``TFEpochIterator.reset`` timed).
    The callback runs the model's own test step (sharded, as training) over the same batches.
    """
    steps = _batches(train)
    return {"x": train.repeat() if steps else train, "steps_per_epoch": steps, "callbacks": [_validator(model, val)]}


def _validator(model: keras.Model, val: tf.data.Dataset) -> Any:
    """A callback that sets ``logs["val_loss"]`` at each epoch's end (see :func:`fit_inputs`)."""
    import itertools

    import keras
    import tensorflow as tf

    steps = _batches(val)

    class Validation(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self._batches = iter(val.repeat()) if steps else None  # one iterator for the whole fit

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            model.make_test_function()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if logs is None:
                return
            model.reset_metrics()  # the epoch's training logs are already read; fit resets them next epoch anyway
            batches, result = self._batches if steps else iter(val), None
            for _ in range(steps) if steps else itertools.count():
                try:
                    result = model.test_function(batches)
                except (StopIteration, tf.errors.OutOfRangeError):  # the end of a dataset of unknown size
                    break
            logs["val_loss"] = float(result["loss"]) if result is not None else math.nan

    return Validation()


def _per_window_loss(model: keras.Model, val: tf.data.Dataset, targets: Any) -> Any:
    """Each validation window's MSE over its horizon (one forward pass, windows in dataset order)."""
    import numpy as np

    pred = np.asarray(model.predict(val.map(lambda x, y: x), verbose=0), dtype=np.float64)
    return ((pred.reshape(targets.shape) - targets) ** 2).mean(axis=1)


def _stopper(patience: int, val: tf.data.Dataset, check: StartCheck | None, time_budget: float | None) -> Any:
    """Keras' ``EarlyStopping`` (restoring the best weights), plus: the start as epoch 0 and the
    gain check of ``check``, and a time budget. Its ``wait``/``best``/``best_epoch``/``best_weights``
    are Keras' own, so :mod:`forecaster.checkpoint` saves and restores them as before."""
    import keras
    import numpy as np

    class Stopper(keras.callbacks.EarlyStopping):
        def __init__(self) -> None:
            super().__init__(monitor="val_loss", patience=patience, restore_best_weights=True)
            self.reason: str | None = None
            self.gain_z: float | None = None
            self.start_loss: float | None = None

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            super().on_train_begin(logs)
            self._t0 = time.perf_counter()
            if check is None:
                return
            # the model holds the start here (a checkpoint's callbacks, after this one, restore a resumed fit)
            self._targets = np.concatenate([np.asarray(y, dtype=np.float64) for _, y in val], axis=0)
            self._start = _per_window_loss(self.model, val, self._targets)
            self.start_loss = float(self._start.mean())
            self._start_weights = self.model.get_weights()
            self.best, self.best_epoch, self.best_weights = self.start_loss, -1, list(self._start_weights)

        def _judge(self, epoch: int) -> None:
            """After the gain budget: keep training only if the best weights beat the start beyond noise."""
            assert check is not None
            seconds = time.perf_counter() - self._t0
            said = f"no gain over {check.label} after {epoch + 1} epochs ({seconds:.1f} s)"
            if self.best_epoch < 0:
                self.gain_z = 0.0
            else:
                now = self.model.get_weights()
                self.model.set_weights(self.best_weights)
                diff = _per_window_loss(self.model, val, self._targets) - self._start
                self.model.set_weights(now)
                # at least 4 blocks: a series with few validation windows (a monthly one of a panel) is still judged
                se = block_se(diff, min(check.block, max(1, len(diff) // 4)))
                self.gain_z = float(diff.mean() / se) if se and math.isfinite(se) else 0.0
            if self.gain_z is not None and self.gain_z > -GAIN_Z:  # hand back the start
                self.reason = said + (f" (validation gain {-self.gain_z:.1f} standard errors, needs {GAIN_Z:g})"
                                      if self.best_epoch >= 0 else "")
                self.best, self.best_epoch = float(self.start_loss or 0.0), -1
                self.best_weights = list(self._start_weights)
                self.stopped_epoch, self.model.stop_training = epoch, True

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            super().on_epoch_end(epoch, logs)
            self._last = epoch
            if (time_budget is not None and not self.model.stop_training
                    and time.perf_counter() - self._t0 >= time_budget):
                self.reason = f"time budget of {time_budget:g} s reached after {epoch + 1} epochs"
                self.stopped_epoch, self.model.stop_training = epoch, True
            # judged once: at the budget, or when training ends before it
            if check is not None and check.epochs and (epoch + 1 == check.epochs or (
                    self.model.stop_training and epoch + 1 < check.epochs)):
                self._judge(epoch)

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            last = getattr(self, "_last", None)
            if check is not None and check.epochs and last is not None and last + 1 < check.epochs \
                    and not self.model.stop_training:  # the epoch cap came first
                self._judge(last)
            super().on_train_end(logs)

    stopper = Stopper()
    return stopper


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    val: tf.data.Dataset,
    *,
    epochs: int,
    patience: int,
    progress: Callable[[str], None] | None = None,
    callbacks: Sequence[Any] = (),
    checkpoint: Checkpoint | None = None,
    jit_compile: bool = False,
    shards: int = 1,
    start_check: StartCheck | None = None,
    time_budget: float | None = None,
) -> FitResult:
    """Train ``model`` and leave it holding the weights of its best validation epoch.

    Args:
        model: a compiled Keras model.
        train, val: datasets of ``(inputs, targets)`` batches.
        epochs: the cap on epochs.
        patience: epochs without validation improvement before stopping.
        progress: called with one line per epoch (loss, val_loss, seconds); ``None`` is silent.
        callbacks: extra Keras callbacks (checkpointing, for instance).
        checkpoint: resume from / save to this checkpoint after every epoch, early-stopping
            state and history included (see :mod:`forecaster.models.network.checkpoint`).
        jit_compile: XLA-compile the train and validation steps (see :func:`use_jit`).
        shards: run each batch as this many parallel parts (see :func:`shard_count`).
        start_check: treat the weights the model holds now as epoch 0 (kept when no epoch beats
            them) and judge the fit against them after a gain budget (see :class:`StartCheck`).
        time_budget: stop after the first epoch that ends this many seconds into the fit (the
            best weights are kept, as early stopping does).

    Raises:
        TrainingError: the loss or validation loss became NaN/inf (the model is not usable).
        checkpoint.Stopped: ``checkpoint.should_stop()`` became true; the last epoch is saved.
    """
    prepare_to_train(model, jit_compile=jit_compile, shards=shards)
    own, recorder = _callbacks(epochs, progress)
    stopper = _stopper(patience, val, start_check, time_budget)
    t0 = time.perf_counter()
    inputs = fit_inputs(model, train, val)
    model.fit(
        x=inputs["x"], steps_per_epoch=inputs["steps_per_epoch"], epochs=epochs, verbose=0,
        shuffle=False,  # the dataset shuffles itself
        callbacks=[*inputs["callbacks"], *own, stopper, *(checkpoint.callbacks(stopper, recorder) if checkpoint else ()),
                   *callbacks],
    )
    seconds = time.perf_counter() - t0
    if recorder.bad is not None:
        raise TrainingError(f"{recorder.bad}; the run was not saved (try a lower --learning-rate or check the data)")
    history = pd.DataFrame(recorder.rows, columns=["epoch", "loss", "val_loss", "seconds"])
    if history.empty:
        raise TrainingError("training ran no epoch; the run was not saved")
    best_epoch = int(history["val_loss"].idxmin()) + 1
    if start_check is not None:  # the start (epoch 0) competes; Keras' best epoch is 0-based
        best_epoch = int(stopper.best_epoch) + 1
    return FitResult(history=history, best_epoch=best_epoch, seconds=seconds, start_val_loss=stopper.start_loss,
                     stop_reason=stopper.reason, gain_z=stopper.gain_z)
