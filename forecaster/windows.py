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

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from forecaster.errors import ArtifactError, DataError

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

__all__ = ["Split", "split", "Scaler", "SeriesScalers", "read_scaler", "make_dataset", "target_windows",
           "origin_windows", "PARTS"]

PARTS = ("train", "val", "test")


def _rows(spec: float, n: int) -> int:
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
    n_val, n_test = _rows(val, n_rows), _rows(test, n_rows)
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


class Scaler:
    """Per-column standardisation fitted on the training rows only, saved as plain JSON.

    Example:
        >>> s = Scaler(["y"]).fit(np.array([[1.0], [3.0]]))
        >>> s.mean_.tolist(), s.scale_.tolist()
        ([2.0], [1.0])
    """

    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = list(columns)

    def fit(self, values: np.ndarray, *, source: str = "") -> Scaler:
        """Learn mean and standard deviation per column (a constant column gets scale 1); ``source`` (the file,
        and the series of a panel) starts an error's line."""
        import warnings

        from sklearn.preprocessing import StandardScaler

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow is reported below, as one line
            sk = StandardScaler().fit(np.asarray(values, dtype=np.float64))
        self.mean_ = np.asarray(sk.mean_, dtype=np.float64)
        self.scale_ = np.asarray(sk.scale_, dtype=np.float64)
        bad = [c for c, m, s in zip(self.columns, self.mean_, self.scale_) if not (np.isfinite(m) and np.isfinite(s))]
        if bad:
            raise DataError(f"{source + ': ' if source else ''}column(s) {', '.join(bad)}: values too large to "
                            "standardise (float64 overflow); rescale them (e.g. divide by a power of ten)")
        return self

    def unreadable(self, values: np.ndarray) -> tuple[int, int, float] | None:
        """The first finite cell of ``values`` (rows of this scaler's columns) that standardises beyond float32,
        the networks' number type, as ``(row, column, standard deviations)``; ``None`` when every cell fits.

        A finite value far from the training rows (``1e300`` in a column whose training values are near 1)
        would reach the network as ``inf`` and come out as NaN: the data's problem, said before.

        Example:
            >>> s = Scaler(["y"]).fit(np.array([[1.0], [3.0]]))
            >>> s.unreadable(np.array([[2.0], [1e300]]))
            (1, 0, 1e+300)
        """
        x = np.asarray(values, dtype=np.float64)
        with np.errstate(all="ignore"):
            z = (x - self.mean_) / self.scale_
            bad = np.argwhere(~np.isfinite(z.astype(np.float32)) & np.isfinite(x))  # a gap is not this check's
        if not bad.size:
            return None
        r, c = (int(v) for v in bad[0])
        return r, c, float(abs(z[r, c]))

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scale all columns; returns float32 for the network."""
        return ((np.asarray(values, dtype=np.float64) - self.mean_) / self.scale_).astype(np.float32)

    def inverse_target(self, y: np.ndarray) -> np.ndarray:
        """Scaled target values (column 0) back to the original units, as float64."""
        return np.asarray(y, dtype=np.float64) * self.scale_[0] + self.mean_[0]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "standard",
            "columns": self.columns,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, raw: Any, source: str = "scaler.json") -> Scaler:
        try:
            if raw["kind"] != "standard":
                raise ValueError(f"unknown scaler kind {raw['kind']!r}")
            scaler = cls(raw["columns"])
            scaler.mean_ = np.asarray(raw["mean"], dtype=np.float64)
            scaler.scale_ = np.asarray(raw["scale"], dtype=np.float64)
            if not (len(scaler.columns) == scaler.mean_.size == scaler.scale_.size):
                raise ValueError("columns, mean and scale differ in length")
            if not (np.isfinite(scaler.mean_).all() and np.isfinite(scaler.scale_).all() and (scaler.scale_ > 0).all()):
                raise ValueError("mean/scale are not finite positive numbers")
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{source}: not a valid scaler ({exc})") from None
        return scaler


class SeriesScalers:
    """One :class:`Scaler` per series of a panel (each fitted on its own training rows), saved as one JSON.

    Example:
        >>> a, b = Scaler(["y"]).fit(np.array([[1.0], [3.0]])), Scaler(["y"]).fit(np.array([[10.0], [30.0]]))
        >>> s = SeriesScalers(["a", "b"], [a, b])
        >>> s.of("b").mean_.tolist(), SeriesScalers.from_dict(s.to_dict()).of("a").scale_.tolist()
        ([20.0], [1.0])
    """

    kind = "per_series"

    def __init__(self, ids: Sequence[str], scalers: Sequence[Scaler]) -> None:
        self.ids = [str(i) for i in ids]
        self.scalers = list(scalers)
        self._at = {sid: k for k, sid in enumerate(self.ids)}
        self.columns = self.scalers[0].columns if self.scalers else []

    def __contains__(self, sid: object) -> bool:
        return sid in self._at

    def index(self, sid: str) -> int:
        """Position of series ``sid`` (its network's folder in a ``--per-series`` cell).

        Raises:
            KeyError: the series was not in the training data.
        """
        return self._at[str(sid)]

    def of(self, sid: str) -> Scaler:
        """The scaler of series ``sid``.

        Raises:
            KeyError: the series was not in the training data.
        """
        return self.scalers[self._at[str(sid)]]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "columns": self.columns, "ids": self.ids,
                "mean": [s.mean_.tolist() for s in self.scalers], "scale": [s.scale_.tolist() for s in self.scalers]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, raw: Any, source: str = "scaler.json") -> SeriesScalers:
        try:
            ids, means, scales = raw["ids"], raw["mean"], raw["scale"]
            if not (isinstance(ids, list) and all(isinstance(i, str) for i in ids) and len(set(ids)) == len(ids)):
                raise ValueError("ids must be distinct strings")
            if not (isinstance(means, list) and isinstance(scales, list) and len(means) == len(scales) == len(ids)):
                raise ValueError("ids, mean and scale differ in length")
            scalers = [Scaler.from_dict({"kind": "standard", "columns": raw["columns"], "mean": m, "scale": sc},
                                        source) for m, sc in zip(means, scales)]
        except (KeyError, TypeError, ValueError) as exc:
            raise ArtifactError(f"{source}: not a valid per-series scaler ({exc})") from None
        return cls(ids, scalers)


def read_scaler(raw: Any, source: str = "scaler.json") -> Scaler | SeriesScalers:
    """A saved scaler: one for the series (``standard``) or one per series of a panel (``per_series``)."""
    if isinstance(raw, dict) and raw.get("kind") == SeriesScalers.kind:
        return SeriesScalers.from_dict(raw, source)
    return Scaler.from_dict(raw, source)


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
