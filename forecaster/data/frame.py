"""A loaded file: its series on a regular grid (:class:`SeriesFrame`), and all of them (:class:`Panel`).

Example:
    >>> import pandas as pd
    >>> idx = pd.date_range("2024-01-01", periods=3, freq="D", name="date")
    >>> s = SeriesFrame(pd.DataFrame({"y": [1.0, 2.0, 3.0]}, index=idx), "y", (), "D", "f.csv", "", "date")
    >>> p = Panel.of(s)
    >>> p.id_col, p.ids, p.columns.inputs
    (None, [None], ('y',))
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from forecaster.data.columns import Columns

__all__ = ["SeriesFrame", "Panel"]


@dataclass(frozen=True)
class SeriesFrame:
    """A validated series on a regular time grid.

    Attributes:
        frame: float64 columns ``[target, *covariates]`` on a ``DatetimeIndex`` named after
            the time column, with a regular frequency and no missing values.
        target: the column to forecast.
        covariates: extra input columns, in order.
        freq: the pandas frequency alias of the index (``"h"``, ``"D"``, ``"MS"``...).
        path: the file it came from.
        sha256: the file's content hash.
        n_filled: how many values the ``missing`` policy filled (0 with ``error``).
    """

    frame: pd.DataFrame
    target: str
    covariates: tuple[str, ...]
    freq: str
    path: str
    sha256: str
    time_col: str
    n_filled: int = 0
    filled_by: str | None = None  # the missing-value policy that filled them ("interpolate", "ffill")
    series_id: str | None = None  # the series' id in a panel file (None: a file of one series)
    known: tuple[str, ...] = ()  # covariates known in the future (the last of ``covariates``)
    static: tuple[str, ...] = ()  # a panel's per-series constants (in ``covariates``, before ``known``)

    @property
    def filled_note(self) -> str | None:
        """``"59 values interpolated"`` (or forward-filled); ``None`` when nothing was filled."""
        if not self.n_filled:
            return None
        how = "interpolated" if self.filled_by == "interpolate" else "forward-filled"
        return f"{self.n_filled} value{'s' if self.n_filled != 1 else ''} {how}"

    @property
    def columns(self) -> list[str]:
        """Model input columns: the target first, then the covariates."""
        return [self.target, *self.covariates]


@dataclass(frozen=True)
class Panel:
    """The series of one file, each validated: a file of one series is a panel of one.

    A long-format file (one row per series id and timestamp, ``--id-col``) holds many; any other
    file holds one, whose ``series_id`` and the panel's ``id_col`` are ``None``. Every workflow takes
    a :class:`Panel`, so one series and many follow the same path.

    Attributes:
        series: one :class:`SeriesFrame` per id, in the order the ids first appear in the file;
            each on the shared frequency's grid, with its own start and end (ragged).
        id_col: the series-id column (``None``: a file of one series).
        path, sha256: the file and its content hash.
    """

    series: tuple[SeriesFrame, ...]
    id_col: str | None
    path: str
    sha256: str
    static_columns: tuple[str, ...] = ()  # --static-covariates as named (a text one: several input columns)
    static_levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # a text static column's categories

    @classmethod
    def of(cls, series: SeriesFrame) -> Panel:
        """A file of one series as a panel of one."""
        return cls(series=(series,), id_col=None, path=series.path, sha256=series.sha256)

    @property
    def ids(self) -> list[str | None]:
        """The series ids in file order (``[None]`` for a file of one series)."""
        return [s.series_id for s in self.series]

    @property
    def columns(self) -> Columns:
        """The roles of the input columns (the same in every series)."""
        s = self.series[0]
        return Columns(s.target, past=tuple(c for c in s.covariates if c not in (*s.known, *s.static)),
                       static=s.static, known=s.known, static_named=self.static_columns,
                       static_levels=dict(self.static_levels))

    @property
    def first(self) -> SeriesFrame:
        return self.series[0]

    @property
    def rows(self) -> int:
        return sum(len(s.frame) for s in self.series)

    @property
    def n_filled(self) -> int:
        return sum(s.n_filled for s in self.series)
