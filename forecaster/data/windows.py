"""Chronological splits, a train-only scaler, and streamed lookback -> horizon windows.

A window starting at row ``s`` has inputs rows ``s .. s+lookback-1`` (all columns, target
first) and targets the target at rows ``s+lookback .. s+lookback+horizon-1`` (direct
multi-output). A window belongs to the part that holds its *first target step*, and all of its
targets must lie in that part; its inputs may reach back into earlier parts (which is what the
model would see at that point in time, so it leaks nothing).

Example:
    >>> sp = split(1000, lookback=48, horizon=24, val=0.15, test=0.15)
    >>> sp.train_end, sp.val_end, len(sp.starts("test"))
    (700, 850, 127)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from forecaster.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = ["Split", "split", "part_rows", "make_dataset", "target_windows", "origin_windows", "PARTS"]

PARTS = ("train", "val", "test")


def part_rows(spec: float, n: int) -> int:
    """Rows of a part given as a fraction (``0 < spec < 1``) or a number of rows, of an ``n``-row series."""
    return round(spec * n) if spec < 1 else int(spec)


@dataclass(frozen=True)
class Split:
    """Row boundaries: train ``[0, train_end)``, val ``[train_end, val_end)``, test ``[val_end, n)``."""

    n: int
    train_end: int
    val_end: int
    lookback: int
    horizon: int

    def bounds(self, part: str) -> tuple[int, int]:
        """The ``[start, end)`` rows of a part."""
        return {"train": (0, self.train_end), "val": (self.train_end, self.val_end), "test": (self.val_end, self.n)}[
            part
        ]

    def starts(self, part: str) -> range:
        """Input-start rows of every window whose targets lie in ``part``."""
        lo, hi = self.bounds(part)
        first_target = max(lo, self.lookback)
        return range(first_target - self.lookback, hi - self.horizon - self.lookback + 1)

    def first_targets(self, part: str) -> np.ndarray:
        """Row of each window's first target step (``start + lookback``)."""
        return np.asarray(self.starts(part), dtype=np.int64) + self.lookback


def split(
    n_rows: int,
    *,
    lookback: int,
    horizon: int,
    val: float,
    test: float,
    source: str = "data",
) -> Split:
    """Split ``n_rows`` chronologically and check every part has at least one window.

    Args:
        n_rows: length of the series.
        lookback: input steps per window.
        horizon: target steps per window.
        val, test: each a fraction (``0 < v < 1``) of the rows or a number of rows (``>= 1``).
        source: named in the error message (the data file).

    Raises:
        DataError: the series is too short for the windows and splits asked for.
    """
    n_val, n_test = part_rows(val, n_rows), part_rows(test, n_rows)
    n_train = n_rows - n_val - n_test
    sp = Split(n_rows, n_train, n_train + n_val, lookback, horizon)
    need_train = lookback + horizon
    problems = []
    if n_train < need_train:
        problems.append(f"the training part has {max(n_train, 0)} rows and needs >= {need_train} (lookback + horizon)")
    for part, size in (("validation", n_val), ("test", n_test)):
        if size < horizon:
            problems.append(f"the {part} part has {size} rows and needs >= {horizon} (horizon)")
    if problems:
        raise DataError(
            f"{source}: {n_rows} rows are too few for lookback {lookback}, horizon {horizon}, "
            f"val {val:g}, test {test:g}: {'; '.join(problems)}; "
            "use more data or a shorter lookback/horizon"
        )
    return sp


def make_dataset(
    values: np.ndarray,
    starts: range | np.ndarray,
    *,
    lookback: int,
    horizon: int,
    batch_size: int,
    shuffle: bool = False,
    seed: int | None = None,
) -> tf.data.Dataset:
    """Stream ``(inputs, targets)`` batches without materialising the windows.

    The series is held once as a tensor; each batch gathers its windows from it by index, so
    memory grows with the series, not with series x lookback.

    Args:
        values: scaled array ``(n_rows, n_features)``, target in column 0.
        starts: input-start rows of the windows (see :meth:`Split.starts`): a range, or an array
            of rows (the windows of many series stacked in ``values``, none crossing two series).
        lookback, horizon: window sizes.
        batch_size: windows per batch.
        shuffle: reshuffle window order every epoch (training only).
        seed: shuffle seed, for reproducible runs.

    Returns:
        A dataset of ``(float32[b, lookback, n_features], float32[b, horizon])``.
    """
    import tensorflow as tf

    series = tf.constant(np.asarray(values, dtype=np.float32))
    target = series[:, 0]
    in_offsets = tf.range(lookback, dtype=tf.int64)
    out_offsets = tf.range(lookback, lookback + horizon, dtype=tf.int64)
    rows = starts if isinstance(starts, range) and starts.step == 1 else None

    def all_starts() -> tf.Tensor:
        if rows is not None:
            return tf.range(rows.start, rows.stop, dtype=tf.int64)
        return tf.constant(np.asarray(starts, dtype=np.int64))

    if shuffle:
        # A fresh permutation of the start indices every epoch (8 bytes a window), not a
        # ``Dataset.shuffle`` buffer: that holds every element as a tensor, ~190 bytes a window
        # (1.3 GB for 7 million windows, measured by bench/memory.py).
        epoch_seed = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
        ds = epoch_seed.map(
            lambda s: tf.random.experimental.stateless_shuffle(all_starts(), seed=tf.stack([s, tf.constant(0, tf.int64)]))
        ).unbatch()
    elif rows is not None:
        ds = tf.data.Dataset.range(rows.start, rows.stop)
    else:
        ds = tf.data.Dataset.from_tensor_slices(np.asarray(starts, dtype=np.int64))
    ds = ds.batch(batch_size)

    def gather(batch_starts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        s = batch_starts[:, None]
        return tf.gather(series, s + in_offsets), tf.gather(target, s + out_offsets)

    ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)
    # Known size (the shuffled path's ``unbatch`` hides it): training.fit repeats datasets of known
    # size and cuts them into epochs by step count.
    return ds.apply(tf.data.experimental.assert_cardinality(-(-len(starts) // batch_size)))


def target_windows(y: np.ndarray, first_targets: np.ndarray, horizon: int) -> np.ndarray:
    """The ``horizon`` target values after each window, ``(n_windows, horizon)`` (a strided view)."""
    view = np.lib.stride_tricks.sliding_window_view(np.asarray(y), horizon)
    return view[first_targets]


def origin_windows(values: np.ndarray, origins: np.ndarray, lookback: int) -> np.ndarray:
    """``values[t - lookback : t]`` for every origin ``t``, as ``(len(origins), lookback, features)``.

    Raises:
        ValueError: an origin has fewer than ``lookback`` rows before it.
    """
    origins = np.asarray(origins, dtype=np.int64)
    if origins.size and origins.min() < lookback:
        raise ValueError(f"origin {int(origins.min())} has fewer than {lookback} rows (the lookback) before it")
    view = np.lib.stride_tricks.sliding_window_view(np.asarray(values), lookback, axis=0)  # (n-l+1, f, l)
    return np.swapaxes(view[origins - lookback], 1, 2)
