"""Load a series from CSV or Parquet and validate it before anything trains on it.

Every problem is one :class:`~forecaster.errors.DataError` line naming the file, the column,
the first offending row (``line N`` for CSV, counting the header as line 1) and what to do.
Fixes that are safe and common (missing values or missing timestamps inside the series) are
available as the explicit ``missing`` policy, never applied silently.

Example:
    >>> s = load_series("data/seattle_temps_2010.csv", target="temp")
    >>> s.freq, len(s.frame), s.target
    ('h', 8760, 'temp')
"""

from __future__ import annotations

import csv
import hashlib
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecaster.errors import DataError

__all__ = ["SeriesFrame", "load_series", "file_sha256", "MISSING_POLICIES"]

MISSING_POLICIES = ("error", "interpolate", "ffill")
_READERS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")
_YEAR_NAMES = {"year", "yr", "years"}
_MAX_LISTED = 8


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


def file_sha256(path: str | Path) -> str:
    """The SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _listing(items: Sequence[object]) -> str:
    shown = ", ".join(str(i) for i in items[:_MAX_LISTED])
    return shown + (f", ... ({len(items)} in all)" if len(items) > _MAX_LISTED else "")


class _Locator:
    """Turns a 0-based data row position into the words a user can find it by."""

    def __init__(self, kind: str, source: tuple[Path, int] | None = None) -> None:
        self.kind = kind
        self.source = source  # a plain CSV and its data rows: read again only if an error needs a line
        self._lines: np.ndarray | None = None

    def __call__(self, pos: int) -> str:
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


def _read(path: Path) -> tuple[pd.DataFrame, str]:
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
                           compressed=compressed)  # (suffixes is empty for a name like "...csv")
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
    _check_header(df.columns, path)
    return df, kind


def _read_csv(path: Path, *, tab: bool, compressed: bool) -> pd.DataFrame:
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
        df = pd.read_csv(path, **options)
    except UnicodeDecodeError:
        names = pd.read_csv(path, header=None, nrows=1, dtype=str, encoding="cp1252", **options).iloc[0].tolist()
        df = pd.read_csv(path, encoding="cp1252", **options)
    seen: set[str] = set()
    for name in map(str, names):
        if name in seen:
            raise DataError(f"{path}: line 1: duplicate column name '{name}'; every column needs its own name")
        seen.add(name)
    if not compressed:
        df.attrs["csv_rows"] = (path, len(df))  # see _Locator: line numbers are worked out on an error only
    return df


def _is_value(text: str) -> bool:
    """A number (a 4-digit year excepted: wide files name columns by year) or a date."""
    if re.fullmatch(r"[-+]?(\d+([.,]\d*)?|\.\d+)([eE][-+]?\d+)?", text):
        return not re.fullmatch(r"\d{4}", text)
    return bool(re.search(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", text)) and pd.notna(pd.to_datetime(text, errors="coerce"))


def _check_header(columns: Sequence[str], path: Path) -> None:
    """A header row whose names are numbers or timestamps is a data row: the file has no header."""
    looks_like_data = [name for name in columns if _is_value(name.strip())]
    if looks_like_data:
        raise DataError(
            f"{path}: line 1 looks like data, not a header (column names {_listing(looks_like_data)}); "
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


def _check_single_series(df: pd.DataFrame, index: pd.DatetimeIndex, used: set[str], path: Path) -> None:
    """Repeated timestamps plus a text column with few values: several series stacked in one file."""
    if index.is_unique:
        return
    for col in df.columns:
        if col in used or pd.api.types.is_numeric_dtype(df[col]):
            continue
        ids = df[col].dropna().unique()
        if 1 < len(ids) <= len(df) // 2:
            raise DataError(
                f"{path}: column '{col}' looks like a series id ({len(ids)} series: {_listing(sorted(map(str, ids)))}) "
                "and timestamps repeat across series; this version forecasts one series per file: "
                f"filter the rows of one '{col}' into their own file"
            )


def _detect_time_col(df: pd.DataFrame, path: Path) -> str:
    candidates = []
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s) or (col.strip().lower() in _YEAR_NAMES and _are_years(s)):
            candidates.append(col)
        elif pd.api.types.is_object_dtype(s) or pd.api.types.is_string_dtype(s):
            sample = s.dropna().astype(str).head(50)
            if sample.empty or sample.str.fullmatch(r"[-+]?[\d,]+([.,]\d*)?").all():
                continue  # plain numbers are values, not timestamps
            parsed = pd.to_datetime(sample, errors="coerce", format="mixed", utc=True)  # utc: offsets may vary
            if parsed.notna().mean() >= 0.8:  # a few bad cells are reported by row later
                candidates.append(col)
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise DataError(
            f"{path}: no datetime-like column found among {_listing(list(df.columns))}; "
            "name the time column with --time-col (data.time_col)"
        )
    raise DataError(
        f"{path}: several datetime-like columns ({_listing(candidates)}); "
        "choose one with --time-col (data.time_col)"
    )


def _check_column(df: pd.DataFrame, col: str, option: str, path: Path) -> None:
    if col not in df.columns:
        raise DataError(
            f"{path}: column '{col}' ({option}) not found; available columns: {_listing(list(df.columns))}"
        )


def _are_years(s: pd.Series) -> bool:
    """Whole numbers from 1000 to 2999: calendar years (``1700, 1701, ...``)."""
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return False
    values = s.dropna().to_numpy(dtype=float)
    return bool(values.size) and bool(np.all((values == np.round(values)) & (values >= 1000) & (values < 3000)))


def _parse_times(raw: pd.Series, col: str, path: Path, at: _Locator) -> pd.DatetimeIndex:
    if pd.api.types.is_datetime64_any_dtype(raw):
        times = raw
    elif _are_years(raw):
        times = pd.to_datetime(raw.astype("Int64").astype("string"), format="%Y", errors="coerce")
    else:
        times = _to_datetimes(raw.astype("string"), col, path)
    return _checked_times(times, raw, col, path, at)


def _to_datetimes(text: pd.Series, col: str, path: Path) -> Any:
    with warnings.catch_warnings():  # "could not infer format" (the element-wise fallback is fine); pandas 2's
        warnings.simplefilter("ignore", UserWarning)  # FutureWarnings on mixed offsets: the checks below say it
        warnings.simplefilter("ignore", FutureWarning)
        try:
            times = pd.to_datetime(text, errors="raise")
            if not pd.api.types.is_datetime64_any_dtype(times):  # pandas 2: changing offsets, one instant each
                times = pd.to_datetime(text, errors="coerce", format="mixed", utc=True)
        except (ValueError, TypeError, OverflowError) as exc:
            # Offsets that change (daylight saving) are one instant each: put them on UTC.
            # (pandas 3 says "timezone"/"offset"; pandas 2 says "Tz-aware ... unless utc=True")
            utc = any(word in str(exc).lower() for word in ("timezone", "offset", "tz-aware", "utc=true"))
            try:
                times = pd.to_datetime(text, errors="coerce", format="mixed", utc=utc)
            except (ValueError, TypeError, OverflowError) as again:
                raise DataError(f"{path}: column '{col}': cannot parse timestamps ({again})") from None
    return times


def _checked_times(times: Any, raw: pd.Series, col: str, path: Path, at: _Locator) -> pd.DatetimeIndex:
    if not pd.api.types.is_datetime64_any_dtype(times):  # objects left: aware and naive timestamps mixed
        aware = [getattr(v, "tzinfo", None) is not None for v in times]
        pos = next((i for i in range(1, len(aware)) if aware[i] != aware[0]), 0)
        raise DataError(
            f"{path}: column '{col}': timestamps mix time zones: some carry a UTC offset and some do not (the "
            f"first change is at {at(pos)}, {str(raw.iloc[pos])[:40]!r}); write them all with an offset or all without"
        )
    bad = np.flatnonzero(times.isna().to_numpy())
    if bad.size:
        pos = int(bad[0])
        value = raw.iloc[pos]
        what = "is empty" if pd.isna(value) else f"value {str(value)!r} is not a timestamp"
        raise DataError(
            f"{path}: column '{col}': {at(pos)} {what} ({bad.size} bad in all); "
            "expected dates like 2024-01-31 or 2024-01-31 13:00"
        )
    return pd.DatetimeIndex(times, name=col)


def _to_numeric(raw: pd.Series, col: str, option: str, path: Path, at: _Locator) -> pd.Series:
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype("float64")
    values = pd.to_numeric(raw, errors="coerce")
    bad = np.flatnonzero((values.isna() & raw.notna()).to_numpy())
    if bad.size:
        pos = int(bad[0])
        value = str(raw.iloc[pos])
        hint = "; it looks like thousands separators: remove them" if re.fullmatch(
            r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?", value.strip()) else ""
        raise DataError(
            f"{path}: column '{col}' ({option}): {at(pos)} value {value!r} is not a number "
            f"({bad.size} non-numeric in all); expected numeric values{hint}"
        )
    values = values.astype("float64")
    inf = np.flatnonzero(np.isinf(values.to_numpy()))
    if inf.size:
        pos = int(inf[0])
        raise DataError(
            f"{path}: column '{col}' ({option}): {at(pos)} value is infinite "
            f"({inf.size} in all); expected finite numbers"
        )
    return values


def _check_order(index: pd.DatetimeIndex, col: str, path: Path, at: _Locator) -> None:
    values = index.asi8
    steps = np.diff(values)
    back = np.flatnonzero(steps < 0)
    if back.size:
        pos = int(back[0]) + 1
        raise DataError(
            f"{path}: column '{col}' is not in time order: {at(pos)} ({index[pos]}) comes after "
            f"{at(pos - 1)} ({index[pos - 1]}); sort the file by '{col}'"
        )
    dup = np.flatnonzero(steps == 0)
    if dup.size:
        pos = int(dup[0]) + 1
        raise DataError(
            f"{path}: column '{col}': duplicate timestamp {index[pos]} at {at(pos - 1)} and {at(pos)} "
            f"({dup.size} duplicates in all); expected one row per timestamp (aggregate them first)"
        )


def _infer_freq(index: pd.DatetimeIndex) -> str | None:
    """The index's frequency, also when some timestamps are missing (holes)."""
    if len(index) < 3:
        return None
    freq = pd.infer_freq(index)
    if freq is not None:
        return freq
    # Holes make the whole-index inference fail: vote over short runs, then check the grid.
    votes: Counter[str] = Counter()
    for i in range(min(len(index) - 2, 300)):
        try:
            local = pd.infer_freq(index[i : i + 3])
        except (ValueError, TypeError):
            local = None
        if local is not None:
            votes[local] += 1
    for candidate, _ in votes.most_common(3):
        grid = pd.date_range(index[0], index[-1], freq=candidate)
        if len(grid) <= 2 * len(index) and index.isin(grid).all():
            return candidate
    return None


def _describe_steps(index: pd.DatetimeIndex) -> str:
    steps = Counter(pd.Series(index).diff().dropna())
    return ", ".join(f"{step} x{count}" for step, count in steps.most_common(3))


#: A frequency may put at most this many grid steps per row of the file between its first and
#: last timestamps (holes to fill); a finer one is refused before any array is built (a config
#: frequency of ``1ns`` on hourly data asked for a 15 PiB grid).
MAX_GRID_PER_ROW = 10


def _check_grid_size(index: pd.DatetimeIndex, freq: str, rows: int, p: Path) -> None:
    """Refuse a frequency whose grid would be far larger than the data (before building it)."""
    try:
        step = pd.tseries.frequencies.to_offset(freq)
        nanos = int(step.nanos)
    except (AttributeError, ValueError, TypeError):  # calendar offsets (months...) or not an alias: checked later
        return
    if nanos <= 0:
        return
    steps = (index[-1].value - index[0].value) // nanos + 1
    if steps > MAX_GRID_PER_ROW * max(rows, 1):
        raise DataError(f"{p}: data.freq {freq!r} puts {steps:,} steps between the first and last timestamps of "
                        f"{rows:,} rows; that frequency is far finer than the data: set the data's own step "
                        "(or leave data.freq unset to infer it)")


def load_series(
    path: str | Path,
    *,
    target: str | None = None,
    time_col: str | None = None,
    covariates: Sequence[str] = (),
    missing: str = "error",
    freq: str | None = None,
) -> SeriesFrame:
    """Read and validate a series.

    Args:
        path: a ``.csv`` or ``.parquet`` file with a time column and numeric columns.
        target: the column to forecast; ``None`` picks the only numeric column.
        time_col: the timestamp column; ``None`` picks the only datetime-like column.
        covariates: extra numeric input columns.
        missing: ``"error"`` (default) rejects missing values and missing timestamps;
            ``"interpolate"`` (linear in time) or ``"ffill"`` fills those inside the series.
        freq: a pandas frequency alias to enforce instead of inferring one.

    Returns:
        A :class:`SeriesFrame` on a regular grid with no missing values.

    Raises:
        DataError: one line naming the file, column, first offending row and the fix.
    """
    p = Path(path)
    if missing not in MISSING_POLICIES:
        raise DataError(f"missing policy {missing!r} is unknown; expected one of {', '.join(MISSING_POLICIES)}")
    df, kind = _read(p)
    at = _Locator(kind, df.attrs.get("csv_rows"))

    if time_col is None:
        time_col = _detect_time_col(df, p)
    else:
        _check_column(df, time_col, "--time-col", p)
    covariates = tuple(covariates)
    for cov in covariates:
        _check_column(df, cov, "--covariates", p)
    if target is None:
        others = [c for c in df.columns if c != time_col and c not in covariates]
        numeric = [
            c for c in others if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
        ]
        if len(others) == 1:  # the only value column: a bad cell in it is reported by row below
            numeric = others
        if len(numeric) != 1:
            options = numeric or [c for c in df.columns if c != time_col]
            raise DataError(f"{p}: name the column to forecast with --target (data.target); candidates: {_listing(options)}")
        target = numeric[0]
    else:
        _check_column(df, target, "--target", p)
    if target == time_col:
        raise DataError(f"{p}: column '{target}' is the time column; --target must name a value column")

    index = _parse_times(df[time_col], time_col, p, at)
    _check_single_series(df, index, {time_col, target, *covariates}, p)
    columns = {target: _to_numeric(df[target], target, "--target", p, at)}
    for cov in covariates:
        columns[cov] = _to_numeric(df[cov], cov, "--covariates", p, at)
    _check_order(index, time_col, p, at)
    frame = pd.DataFrame({k: v.to_numpy() for k, v in columns.items()}, index=index)

    if freq is None and len(index) < 3:
        raise DataError(f"{p}: {len(index)} row(s) are too few to infer a frequency; a series needs many rows")
    if freq is None:
        freq = _infer_freq(index)
        if freq is None:
            raise DataError(
                f"{p}: column '{time_col}': cannot infer a regular frequency (steps seen: "
                f"{_describe_steps(index)}); resample the data to a fixed step or set data.freq"
            )
    _check_grid_size(index, freq, len(index), p)
    try:
        grid = pd.date_range(index[0], index[-1], freq=freq, name=time_col)
    except ValueError:
        raise DataError(f"{p}: data.freq {freq!r} is not a pandas frequency alias (e.g. h, D, W-SUN, MS)") from None
    off_grid = ~index.isin(grid)
    if off_grid.any():
        pos = int(np.flatnonzero(off_grid)[0])
        raise DataError(
            f"{p}: column '{time_col}': {at(pos)} ({index[pos]}) is not on the {freq!r} grid starting at "
            f"{index[0]}; resample the data to a fixed step"
        )
    holes = grid.difference(index)
    if len(holes) and missing == "error":
        raise DataError(
            f"{p}: column '{time_col}': {len(holes)} timestamp(s) missing from the {freq!r} grid, first "
            f"{holes[0]}; set --missing interpolate|ffill (data.missing) to fill them"
        )
    if len(holes) > len(index):
        raise DataError(
            f"{p}: column '{time_col}': {len(holes)} timestamps are missing for {len(index)} present; "
            "too sparse to fill safely: resample the data first"
        )
    frame = frame.reindex(grid)

    n_filled = 0
    nan_mask = frame.isna()
    if nan_mask.to_numpy().any():
        if missing == "error":
            col = next(c for c in frame.columns if nan_mask[c].any())
            pos = int(np.flatnonzero(nan_mask[col].to_numpy())[0])
            raise DataError(
                f"{p}: column '{col}': missing value at {at(pos)} ({frame.index[pos]}) "
                f"({int(nan_mask[col].sum())} missing in all); "
                "set --missing interpolate|ffill (data.missing) to fill them, or clean the file"
            )
        n_filled = int(nan_mask.to_numpy().sum())
        if missing == "interpolate":
            frame = frame.interpolate(method="time", limit_area="inside")
        else:
            frame = frame.ffill()
        left = frame.isna()
        if left.to_numpy().any():
            col = next(c for c in frame.columns if left[c].any())
            raise DataError(
                f"{p}: column '{col}': {int(left[col].sum())} missing value(s) at the start or end of the "
                f"series (first at {frame.index[np.flatnonzero(left[col].to_numpy())[0]]}) cannot be "
                f"filled by '{missing}'; trim those rows"
            )
    frame.index.freq = grid.freq
    return SeriesFrame(
        frame=frame,
        target=target,
        covariates=covariates,
        freq=str(grid.freqstr),
        path=str(p),
        sha256=file_sha256(p),
        time_col=time_col,
        n_filled=n_filled,
        filled_by=missing if n_filled else None,
    )
