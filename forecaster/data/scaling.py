"""Scaling fitted on the training rows only: one :class:`Scaler` per series, saved as plain JSON.

Example:
    >>> s = Scaler(["y"]).fit(np.array([[1.0], [3.0]]))
    >>> s.transform(np.array([[3.0]])).tolist()
    [[1.0]]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from forecaster.errors import ArtifactError, DataError

__all__ = ["Scaler", "SeriesScalers", "read_scaler", "check_readable"]


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
    """One :class:`Scaler` per series (each fitted on its own training rows): a row of statistics per series,
    saved as one JSON.

    A file of one series has one scaler under the id ``None``, saved in the plain ``standard`` format
    (what runs of one series have always saved); a panel's are saved as ``per_series``.

    Example:
        >>> a, b = Scaler(["y"]).fit(np.array([[1.0], [3.0]])), Scaler(["y"]).fit(np.array([[10.0], [30.0]]))
        >>> s = SeriesScalers(["a", "b"], [a, b])
        >>> s.of("b").mean_.tolist(), SeriesScalers.from_dict(s.to_dict()).of("a").scale_.tolist()
        ([20.0], [1.0])
        >>> SeriesScalers([None], [a]).to_dict()["kind"], read_scaler(a.to_dict()).ids
        ('standard', [None])
    """

    kind = "per_series"

    def __init__(self, ids: Sequence[str | None], scalers: Sequence[Scaler]) -> None:
        self.ids = [None if i is None else str(i) for i in ids]
        self.scalers = list(scalers)
        self._at = {sid: k for k, sid in enumerate(self.ids)}
        self.columns = self.scalers[0].columns if self.scalers else []

    def __contains__(self, sid: object) -> bool:
        return sid in self._at

    @property
    def single(self) -> bool:
        """One unnamed series (a file of one series)."""
        return self.ids == [None]

    def index(self, sid: str | None) -> int:
        """Position of series ``sid`` (its network's folder in a ``--per-series`` cell).

        Raises:
            KeyError: the series was not in the training data.
        """
        return self._at[None if sid is None else str(sid)]

    def of(self, sid: str | None) -> Scaler:
        """The scaler of series ``sid``.

        Raises:
            KeyError: the series was not in the training data.
        """
        return self.scalers[self.index(sid)]

    def to_dict(self) -> dict[str, Any]:
        if self.single:
            return self.scalers[0].to_dict()
        return {"kind": self.kind, "columns": self.columns, "ids": self.ids,
                "mean": [s.mean_.tolist() for s in self.scalers], "scale": [s.scale_.tolist() for s in self.scalers]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2 if self.single else None)

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


def read_scaler(raw: Any, source: str = "scaler.json") -> SeriesScalers:
    """A saved scaler: one for the series of a file of one (``standard``, id ``None``), or one per series of a
    panel (``per_series``)."""
    if isinstance(raw, dict) and raw.get("kind") == SeriesScalers.kind:
        return SeriesScalers.from_dict(raw, source)
    return SeriesScalers([None], [Scaler.from_dict(raw, source)])


def check_readable(values: np.ndarray, scaler: Scaler, *, source: str, index: Any, offset: int = 0) -> None:
    """Refuse input rows a network cannot read: a value that standardises beyond float32 (see
    :meth:`Scaler.unreadable`). ``values[i]`` is the row at ``index[offset + i]``.

    Raises:
        DataError: naming ``source`` (the file, and the series of a panel), the column and the timestamp.
    """
    found = scaler.unreadable(values)
    if found is None:
        return
    r, c, z = found
    col = scaler.columns[c]
    at = index[offset + r] if 0 <= offset + r < len(index) else f"row {offset + r + 1}"
    raise DataError(f"{source}: column '{col}' at {at}: value {values[r, c]:g} lies {z:.3g} standard deviations from "
                    "the training rows' mean, beyond what a network reads (float32 overflows past 3.4e38); correct "
                    f"or rescale it, or leave '{col}' out")
