"""Reading a data file: CSV (delimiter sniffed, compressed, UTF-8 or Windows-1252) or Parquet, into a frame.

Every problem is one :class:`~forecaster.errors.DataError` line naming the file (and, for a CSV,
the line a user can find: :class:`Locator`).

Example:
    >>> df, kind = read_table(Path("data/sunspots_yearly.csv"))
    >>> kind, list(df.columns)
    ('csv', ['date', 'sunspots'])
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecaster.errors import DataError

__all__ = ["read_table", "read_frame", "frame_sha256", "Locator", "listing", "check_header", "MAX_LISTED_COLUMNS"]

_READERS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")
MAX_LISTED_COLUMNS = 8


def listing(items: Sequence[object]) -> str:
    shown = ", ".join(str(i) for i in items[:MAX_LISTED_COLUMNS])
    return shown + (f", ... ({len(items)} in all)" if len(items) > MAX_LISTED_COLUMNS else "")


class Locator:
    """Turns a 0-based data row position into the words a user can find it by."""

    def __init__(self, kind: str, source: tuple[Path, int] | None = None) -> None:
        self.kind = kind
        self.source = source  # a plain CSV and its data rows: read again only if an error needs a line
        self._lines: np.ndarray | None = None

    def __call__(self, pos: int) -> str:
        if self.kind == "frame":  # an in-memory table (read_frame): its position as pandas counts it too
            return f"row {pos + 1} (.iloc[{pos}])"
        if self.kind != "csv":
            return f"row {pos + 1}"
        if self.source is not None:  # blank lines (skipped by pandas) shift the file's line numbers
            self._lines, self.source = _data_lines(*self.source), None
        if self._lines is not None and 0 <= pos < len(self._lines):
            return f"line {int(self._lines[pos])}"
        return f"line {pos + 2}"


def _data_lines(path: Path, rows: int) -> np.ndarray | None:
    """File line numbers (1-based) of a plain CSV's data rows when blank lines (which pandas skips) shift
    them; ``None`` when row ``i`` is on line ``i + 2`` as usual."""
    data = path.read_bytes()
    if not re.search(rb"\n[ \t\r]*\n", data):
        return None
    lines = [i + 1 for i, line in enumerate(data.split(b"\n")) if line.strip()]
    return np.asarray(lines[1 : rows + 1], dtype=np.int64)  # the header is the first non-blank line


def read_table(path: Path, text: Sequence[str] = ()) -> tuple[pd.DataFrame, str]:
    """The file as a frame and its kind (``csv``/``parquet``); ``text`` columns of a CSV are read as text
    (a series id ``001`` stays ``001``, not the number 1)."""
    if not path.exists():
        raise DataError(f"{path}: data file not found")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, expected a .csv or .parquet file")
    suffixes = [s.lower() for s in path.suffixes]
    compressed = len(suffixes) >= 2 and suffixes[-1] in _COMPRESSED
    kind = _READERS.get(suffixes[-2] if compressed else path.suffix.lower())
    if kind is None or (compressed and kind != "csv"):
        raise DataError(
            f"{path}: unsupported file type '{''.join(path.suffixes[-2:] if compressed else [path.suffix])}'; "
            "expected .csv (also .tsv, or compressed as .csv.gz/.bz2/.zip/.xz) or .parquet"
        )
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty; expected a header row and data rows")
    try:
        if kind == "csv":
            df = _read_csv(path, tab=(suffixes[-2] if compressed else path.suffix.lower()) == ".tsv",
                           compressed=compressed, text_cols=text)  # (suffixes is empty for a name like "...csv")
        else:
            df = pd.read_parquet(path)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: file is empty; expected a header row and data rows") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a text CSV file (cannot decode it as UTF-8 or Windows-1252)") from None
    except Exception as exc:  # parsers raise many types; all mean "unreadable"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise DataError(f"{path}: cannot read as {kind}: {first}") from None
    if df.empty:
        raise DataError(f"{path}: has no data rows; expected a header row and data rows")
    df.columns = [str(c) for c in df.columns]
    check_header(df.columns, path)
    return df, kind


def read_frame(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    """An in-memory table checked as :func:`read_table` checks a file once read (its kind: ``"frame"``).

    A datetime index, a :class:`~pandas.MultiIndex` (series id, time) or any named index holds data, so
    it becomes columns (an unnamed datetime level is called ``timestamp``); a level named like a column
    is that column's copy and is dropped. Column names become text. The caller's frame is not changed.

    Raises:
        DataError: not a frame, no rows, or two columns of one name (``label`` names the table).

    Example:
        >>> s = pd.Series([1.0, 2.0], index=pd.date_range("2024-01-01", periods=2, freq="D"), name="y")
        >>> list(read_frame(s.to_frame(), "<Series>").columns)
        ['timestamp', 'y']
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"{label}: expected a pandas DataFrame, got {type(frame).__name__}")
    index, columns = frame.index, [str(c) for c in frame.columns]
    if isinstance(index, (pd.MultiIndex, pd.DatetimeIndex)) or index.name is not None:
        levels = [index.get_level_values(k) for k in range(index.nlevels)]
        names = [str(n) if n is not None else "timestamp" if isinstance(level, pd.DatetimeIndex) else f"level_{k}"
                 for k, (n, level) in enumerate(zip(index.names, levels))]
        keep = [k for k, n in enumerate(names) if n not in columns]
        df = frame.set_axis(index.set_names(names)).reset_index(level=keep) if keep else frame.reset_index(drop=True)
        if len(keep) < len(names):
            df = df.reset_index(drop=True)
    else:
        df = frame.reset_index(drop=True)
    if not len(df):
        raise DataError(f"{label}: has no rows; expected one row per timestamp")
    names = [str(c) for c in df.columns]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        raise DataError(f"{label}: duplicate column name '{twice}'; every column needs its own name")
    df.columns = names
    return df


def frame_sha256(df: pd.DataFrame) -> str:
    """A content hash of a table (its column names, types and values): what a file's SHA-256 is to a file.

    Example:
        >>> a = pd.DataFrame({"y": [1.0, 2.0]})
        >>> frame_sha256(a) == frame_sha256(a.copy()), frame_sha256(a) == frame_sha256(a.assign(y=[1.0, 2.5]))
        (True, False)
    """
    import hashlib

    digest = hashlib.sha256(repr([(str(c), str(t)) for c, t in df.dtypes.items()]).encode())
    try:
        digest.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    except TypeError:  # unhashable cells (lists): their text
        digest.update(df.to_csv(index=False).encode())
    return digest.hexdigest()


def _read_csv(path: Path, *, tab: bool, compressed: bool, text_cols: Sequence[str] = ()) -> pd.DataFrame:
    """Read a CSV: delimiter sniffed, decimal commas with ``;``, UTF-8 else Windows-1252."""
    with open(path, "rb") as fh:
        head = fh.read(64 * 1024)
    if not compressed and b"\x00" in head:
        raise DataError(f"{path}: not a text CSV file (it contains NUL bytes)")
    text = head.decode("utf-8", errors="ignore")
    if re.match(r"\s*(\{|\[\s*[\[{\"])", text):
        raise DataError(f"{path}: looks like JSON, not CSV (it starts with {text.lstrip()[:1]!r}); save the series as "
                        "CSV (a header row, then one row per timestamp) or Parquet")
    sep = "\t" if tab else "," if compressed else _sniff_delimiter(path)
    decimal = "," if sep == ";" and re.search(r"(^|;)-?\d+,\d+(;|\r?$)", text, re.MULTILINE) else "."
    options = {"sep": sep, "decimal": decimal}
    try:
        names = pd.read_csv(path, header=None, nrows=1, dtype=str, **options).iloc[0].tolist()
        df = pd.read_csv(path, converters=_as_text(text_cols, names), **options)
    except UnicodeDecodeError:
        names = pd.read_csv(path, header=None, nrows=1, dtype=str, encoding="cp1252", **options).iloc[0].tolist()
        df = pd.read_csv(path, encoding="cp1252", converters=_as_text(text_cols, names), **options)
    seen: set[str] = set()
    for name in map(str, names):
        if name in seen:
            raise DataError(f"{path}: line 1: duplicate column name '{name}'; every column needs its own name")
        seen.add(name)
    if not compressed:
        df.attrs["csv_rows"] = (path, len(df))  # see Locator: line numbers are worked out on an error only
    return df


def _as_text(text_cols: Sequence[str], names: Sequence[Any]) -> dict[Any, Any] | None:
    """``read_csv`` converters reading ``text_cols`` as the text written: an id is text, so ``NA``, ``null`` or
    ``nan`` are ids like any other (pandas' default NA strings would make them missing); an empty cell
    stays ``""``, which the id check refuses."""
    return {c: str for c in text_cols if c in names} or None


def _is_value(text: str) -> bool:
    """A number (a 4-digit year excepted: wide files name columns by year) or a date."""
    if re.fullmatch(r"[-+]?(\d+([.,]\d*)?|\.\d+)([eE][-+]?\d+)?", text):
        return not re.fullmatch(r"\d{4}", text)
    return bool(re.search(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", text)) and pd.notna(pd.to_datetime(text, errors="coerce"))


def check_header(columns: Sequence[str], path: Path) -> None:
    """A header row whose names are numbers or timestamps is a data row: the file has no header."""
    looks_like_data = [name for name in columns if _is_value(name.strip())]
    if looks_like_data:
        raise DataError(
            f"{path}: line 1 looks like data, not a header (column names {listing(looks_like_data)}); "
            "add a header row naming the columns, e.g. date,value"
        )


def _sniff_delimiter(path: Path) -> str:
    """``,`` unless the header and first lines clearly use ``;``, tab or ``|``."""
    with open(path, "rb") as fh:
        head = fh.read(64 * 1024).decode("utf-8", errors="ignore")
    lines = [line for line in head.splitlines()[:20] if line.strip()]
    if not lines or "," in lines[0]:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=";\t|").delimiter
    except csv.Error:
        return ","
