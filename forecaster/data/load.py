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
import re
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecaster.config import RunConfig
from forecaster.data.frame import Panel, SeriesFrame
from forecaster.errors import DataError
from forecaster.fs import file_sha256

__all__ = ["load", "load_series", "load_panel", "load_future", "MISSING_POLICIES", "detect_id_col", "MAX_STATIC_LEVELS"]

MISSING_POLICIES = ("error", "interpolate", "ffill")
_READERS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet"}
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")
_YEAR_NAMES = {"year", "yr", "years"}
_MAX_LISTED = 8


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


def _read(path: Path, text: Sequence[str] = ()) -> tuple[pd.DataFrame, str]:
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
    _check_header(df.columns, path)
    return df, kind


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
        df.attrs["csv_rows"] = (path, len(df))  # see _Locator: line numbers are worked out on an error only
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


def detect_id_col(df: pd.DataFrame, used: set[str]) -> tuple[str, int] | None:
    """A text column with repeating values other than ``used``: a series id of a long-format panel, and
    its number of series (``None`` when there is none)."""
    for col in df.columns:
        if col in used or pd.api.types.is_numeric_dtype(df[col]):
            continue
        ids = df[col].dropna().unique()
        if 1 < len(ids) <= len(df) // 2:
            return str(col), len(ids)
    return None


def _check_single_series(df: pd.DataFrame, index: pd.DatetimeIndex, used: set[str], path: Path) -> None:
    """Repeated timestamps plus a text column with few values: several series stacked in one file."""
    if index.is_unique:
        return
    found = detect_id_col(df, used)
    if found is not None:
        col, n = found
        ids = sorted(map(str, df[col].dropna().unique()))
        raise DataError(
            f"{path}: column '{col}' looks like a series id ({n} series: {_listing(ids)}) and timestamps repeat "
            f"across series; forecast them together with --id-col {col} (data.id_col: one model for every "
            "series), or filter one series into its own file"
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


def _check_order(index: pd.DatetimeIndex, col: str, path: str | Path, at: Callable[[int], str]) -> None:
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


def _check_step(index: pd.DatetimeIndex, freq: str, label: str, time_col: str, freq_source: str = "") -> None:
    """Refuse a panel's series of 3 or more rows none of which is one ``freq`` step after the one before: it is
    on a coarser grid (every 2 hours in an hourly panel), and filling it would invent most of its rows.

    A series with holes still has some rows one step apart and is left to the missing-value policy.
    """
    if len(index) < 3:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a calendar offset added element-wise (PerformanceWarning)
        try:
            adjacent = np.asarray((index[:-1] + pd.tseries.frequencies.to_offset(freq)) == index[1:])
        except (ValueError, TypeError, OverflowError):
            return  # not an offset that adds: the grid check that follows says it
    if adjacent.any():
        return
    raise DataError(f"{label}: column '{time_col}': no two of its {len(index)} timestamps are one {freq!r} step apart "
                    f"(steps seen: {_describe_steps(index)}): it is on a coarser grid than the panel's {freq!r}"
                    f"{freq_source}; resample it to {freq!r} or leave it out (filling it would invent most of its rows)")


def _describe_steps(index: pd.DatetimeIndex) -> str:
    steps = Counter(pd.Series(index).diff().dropna())
    return ", ".join(f"{step} x{count}" for step, count in steps.most_common(3))


#: A frequency may put at most this many grid steps per row of the file between its first and
#: last timestamps (holes to fill); a finer one is refused before any array is built (a config
#: frequency of ``1ns`` on hourly data asked for a 15 PiB grid).
MAX_GRID_PER_ROW = 10


def _check_grid_size(index: pd.DatetimeIndex, freq: str, rows: int, p: str | Path, freq_source: str = "") -> None:
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
        if freq_source:  # a panel's series on a coarser step than the frequency inferred on another
            raise DataError(f"{p}: its {rows:,} rows span {steps:,} steps of {freq!r}, the panel's frequency"
                            f"{freq_source}: it is on a coarser step; resample it to {freq!r} or leave it out")
        raise DataError(f"{p}: data.freq {freq!r} puts {steps:,} steps between the first and last timestamps of "
                        f"{rows:,} rows; that frequency is far finer than the data: set the data's own step "
                        "(or leave data.freq unset to infer it)")


def _pick_columns(df: pd.DataFrame, p: Path, target: str | None, time_col: str | None,
                  covariates: Sequence[str], exclude: Sequence[str] = ()) -> tuple[str, str]:
    """The time column and the target (either detected when ``None``), after checking the named columns exist."""
    if time_col is None:
        time_col = _detect_time_col(df.drop(columns=list(exclude)), p)
    else:
        _check_column(df, time_col, "--time-col", p)
    for cov in covariates:
        _check_column(df, cov, "--covariates", p)
    if target is None:
        others = [c for c in df.columns if c != time_col and c not in covariates and c not in exclude]
        numeric = [
            c for c in others if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
        ]
        if len(others) == 1:  # the only value column: a bad cell in it is reported by row below
            numeric = others
        if len(numeric) != 1:
            options = numeric or [c for c in df.columns if c != time_col and c not in exclude]
            raise DataError(f"{p}: name the column to forecast with --target (data.target); candidates: {_listing(options)}")
        target = numeric[0]
    else:
        _check_column(df, target, "--target", p)
    if target == time_col:
        raise DataError(f"{p}: column '{target}' is the time column; --target must name a value column")
    return time_col, target


def _on_grid(frame: pd.DataFrame, p: str | Path, time_col: str, freq: str, missing: str,
             at: Any, freq_source: str = "") -> tuple[pd.DataFrame, int]:
    """``frame`` (time-ordered, unique timestamps) reindexed on ``freq``'s grid, holes filled by ``missing``.

    Returns the frame and how many values were filled. ``p`` names the file (and the series) in errors.
    """
    index = frame.index
    _check_grid_size(index, freq, len(index), p, freq_source)
    try:
        grid = pd.date_range(index[0], index[-1], freq=freq, name=time_col)
    except ValueError:
        raise DataError(f"{p}: data.freq {freq!r} is not a pandas frequency alias (e.g. h, D, W-SUN, MS)") from None
    off_grid = ~index.isin(grid)
    if off_grid.any():
        pos = int(np.flatnonzero(off_grid)[0])
        raise DataError(
            f"{p}: column '{time_col}': {at(pos)} ({index[pos]}) is not on the {freq!r} grid starting at "
            f"{index[0]}{freq_source}; resample the data to a fixed step"
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
    if len(holes):
        frame = frame.reindex(grid)
    else:
        frame = frame.set_axis(grid)

    n_filled = 0
    nan_mask = frame.isna()
    if nan_mask.to_numpy().any():
        if missing == "error":
            col = next(c for c in frame.columns if nan_mask[c].any())
            pos = int(np.flatnonzero(nan_mask[col].to_numpy())[0])
            where = at(pos) if not len(holes) else "row"
            raise DataError(
                f"{p}: column '{col}': missing value at {where} ({frame.index[pos]}) "
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
    return frame, n_filled


def _no_freq(p: str | Path, time_col: str, index: pd.DatetimeIndex) -> DataError:
    return DataError(
        f"{p}: column '{time_col}': cannot infer a regular frequency (steps seen: "
        f"{_describe_steps(index)}); resample the data to a fixed step or set data.freq"
    )


def load_series(
    path: str | Path,
    *,
    target: str | None = None,
    time_col: str | None = None,
    covariates: Sequence[str] = (),
    missing: str = "error",
    freq: str | None = None,
    known: Sequence[str] = (),
) -> SeriesFrame:
    """Read and validate a series.

    Args:
        path: a ``.csv`` or ``.parquet`` file with a time column and numeric columns.
        target: the column to forecast; ``None`` picks the only numeric column.
        time_col: the timestamp column; ``None`` picks the only datetime-like column.
        covariates: extra numeric input columns (past values only).
        missing: ``"error"`` (default) rejects missing values and missing timestamps;
            ``"interpolate"`` (linear in time) or ``"ffill"`` fills those inside the series.
        freq: a pandas frequency alias to enforce instead of inferring one.
        known: numeric columns known in the future (a promotion, a holiday): placed after
            ``covariates``; predict then needs their future values.

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
    inputs = (*covariates, *known)
    time_col, target = _pick_columns(df, p, target, time_col, inputs)

    index = _parse_times(df[time_col], time_col, p, at)
    _check_single_series(df, index, {time_col, target, *inputs}, p)
    frame = _value_frame(df, index, target, covariates, known, p, at)
    _check_order(index, time_col, p, at)

    if freq is None and len(index) < 3:
        raise DataError(f"{p}: {len(index)} row(s) are too few to infer a frequency; a series needs many rows")
    if freq is None:
        freq = _infer_freq(index)
        if freq is None:
            raise _no_freq(p, time_col, index)
    frame, n_filled = _on_grid(frame, p, time_col, freq, missing, at)
    return SeriesFrame(
        frame=frame,
        target=target,
        covariates=tuple(inputs),
        freq=str(frame.index.freqstr),
        path=str(p),
        sha256=file_sha256(p),
        time_col=time_col,
        n_filled=n_filled,
        filled_by=missing if n_filled else None,
        known=tuple(known),
    )


def _value_frame(df: pd.DataFrame, index: pd.DatetimeIndex, target: str, covariates: Sequence[str],
                 known: Sequence[str], p: Path, at: Any, *, static: Sequence[str] = ()) -> pd.DataFrame:
    """The numeric columns ``[target, *covariates, *static, *known]`` on ``index`` (each cell checked)."""
    columns = {target: _to_numeric(df[target], target, "--target", p, at)}
    for cov in covariates:
        columns[cov] = _to_numeric(df[cov], cov, "--covariates", p, at)
    for cov in static:
        columns[cov] = _to_numeric(df[cov], cov, "--static-covariates", p, at)
    for cov in known:
        columns[cov] = _to_numeric(df[cov], cov, "--known-covariates", p, at)
    return pd.DataFrame({k: v.to_numpy() for k, v in columns.items()}, index=index)


def load_panel(
    path: str | Path,
    *,
    id_col: str,
    target: str | None = None,
    time_col: str | None = None,
    covariates: Sequence[str] = (),
    missing: str = "error",
    freq: str | None = None,
    known: Sequence[str] = (),
    static: Sequence[str] = (),
    static_levels: Mapping[str, Sequence[str]] | None = None,
) -> Panel:
    """Read and validate a long-format file of many series (see :func:`load_series` for the other arguments).

    Every series is checked as a file of one series is, its errors naming the series id; all must
    share one frequency (inferred on the longest series unless ``freq`` is given). Series may
    start and end at different times. A ``static`` column must hold one value on every row of a
    series (its per-series constant: store size, a region). A numeric one is an input column as
    it is; a text one (a category) becomes one 0/1 column per category, ``region=north``...,
    the categories found in the file (sorted), or ``static_levels[col]`` (a saved model's: a
    category it never saw is all zeros). With ``static_levels`` given, a column it does not
    name is numeric.

    Raises:
        DataError: one line naming the file, the series, the column and the first offending row.

    Example:
        >>> panel = load_panel("data/retail_panel.csv", id_col="series_id")  # doctest: +SKIP
        >>> len(panel.series), panel.first.freq  # doctest: +SKIP
        (20, 'MS')
    """
    p = Path(path)
    if missing not in MISSING_POLICIES:
        raise DataError(f"missing policy {missing!r} is unknown; expected one of {', '.join(MISSING_POLICIES)}")
    df, kind = _read(p, text=(id_col,))
    at = _Locator(kind, df.attrs.get("csv_rows"))
    _check_column(df, id_col, "--id-col", p)
    inputs = (*covariates, *static, *known)
    time_col, target = _pick_columns(df, p, target, time_col, inputs, exclude=(id_col,))
    if id_col in (time_col, target, *inputs):
        raise DataError(f"{p}: column '{id_col}' (--id-col) is also the time, target or a covariate column; "
                        "the series id must be a column of its own")
    raw_ids = df[id_col]
    text_ids = raw_ids.astype("string").str.strip()
    empty = np.flatnonzero((raw_ids.isna() | (text_ids == "")).to_numpy())
    if empty.size:
        raise DataError(f"{p}: column '{id_col}' (--id-col): {at(int(empty[0]))} has no series id ({empty.size} "
                        "empty in all); every row needs one")
    index = _parse_times(df[time_col], time_col, p, at)
    levels = _static_levels(df, static, static_levels, p)
    values = _value_frame(df, index, target, covariates, known, p, at, static=[c for c in static if c not in levels])
    texts = {c: df[c].astype("string").str.strip().replace("", pd.NA).to_numpy(dtype=object) for c in levels}
    expanded = [name for c in static for name in ([f"{c}={v}" for v in levels[c]] if c in levels else [c])]
    columns = [target, *covariates, *expanded, *known]
    twice = next((c for c in columns if columns.count(c) > 1), None)
    if twice is not None:
        raise DataError(f"{p}: input column '{twice}' would be made twice (a category of a text --static-covariates "
                        "column named like another column); rename one of them")
    ids = text_ids.to_numpy(dtype=object)
    groups = pd.Series(np.arange(len(ids))).groupby(ids, sort=False).indices
    order = list(pd.unique(ids))
    sha = file_sha256(p)
    parts = []
    for sid in order:
        pos = np.asarray(groups[sid])
        part = values.iloc[pos]
        label = f"{p}: series {sid!r}"

        def loc(i: int, pos: np.ndarray = pos) -> str:
            return at(int(pos[i]))

        _check_order(part.index, time_col, label, loc)
        for col in static:
            column = texts[col][pos] if col in levels else part[col].to_numpy()
            present = np.flatnonzero(~pd.isna(column))  # a missing value is the missing policy's to report
            value = column[present[0]] if present.size else None
            changed = present[column[present] != value]
            if changed.size:
                now, then = ((repr(column[changed[0]]), repr(value)) if col in levels
                             else (f"{column[changed[0]]:g}", f"{value:g}"))
                raise DataError(f"{label}: column '{col}' (--static-covariates): {loc(int(changed[0]))} holds "
                                f"{now} after {then} on earlier rows; a static covariate has one value per series")
            if value is None:
                raise DataError(f"{label}: column '{col}' (--static-covariates) is empty on every row of the series; "
                                "give the series its value")
            if col in levels:  # its category as 0/1 columns
                part = part.assign(**{f"{col}={v}": float(value == v) for v in levels[col]})
            elif present.size < column.size:  # its one value is known: not a gap to fill
                part = part.assign(**{col: value})
        part = part[columns]
        parts.append((sid, part, label, loc))
    source, inferred_on = "", None
    if freq is None:
        longest = max(parts, key=lambda x: len(x[1]))
        inferred_on = longest[0]
        if len(longest[1]) < 3:
            raise DataError(f"{p}: the longest series has {len(longest[1])} row(s), too few to infer a frequency")
        freq = _infer_freq(longest[1].index)
        if freq is None:
            raise _no_freq(f"{p}: series {longest[0]!r}", time_col, longest[1].index)
        source = f" (inferred on series {longest[0]!r}; every series must share one frequency)"
    series = []
    for sid, part, label, loc in parts:
        _check_grid_size(part.index, freq, len(part), label, source)  # far coarser (daily in hourly) says so first
        _check_step(part.index, freq, label, time_col, source)
        frame, n_filled = _on_grid(part, label, time_col, freq, missing, loc, source if sid != inferred_on else "")
        series.append(SeriesFrame(frame=frame, target=target, covariates=tuple(columns[1:]),
                                  freq=str(frame.index.freqstr), path=str(p), sha256=sha, time_col=time_col,
                                  n_filled=n_filled, filled_by=missing if n_filled else None, series_id=str(sid),
                                  known=tuple(known), static=tuple(expanded)))
    return Panel(series=tuple(series), id_col=id_col, path=str(p), sha256=sha, static_columns=tuple(static),
                 static_levels=levels)


#: Categories of one text static covariate, at most (each becomes an input column).
MAX_STATIC_LEVELS = 50


def _static_levels(df: pd.DataFrame, static: Sequence[str], given: Mapping[str, Sequence[str]] | None,
                   p: Path) -> dict[str, tuple[str, ...]]:
    """The categories of each text static column: ``given``'s (a saved model's), else those in the file.

    A column of numbers with a few bad cells is numeric (its bad cells are then reported), not text."""
    out: dict[str, tuple[str, ...]] = {}
    for col in static:
        raw = df[col]
        if pd.api.types.is_numeric_dtype(raw) or pd.api.types.is_bool_dtype(raw):
            text = pd.Series([], dtype="string")
            categorical = False
        else:  # categories: text holding no number, none starting like one ("1,200", "12 m2": numbers gone wrong)
            text = raw.astype("string").str.strip().replace("", pd.NA).dropna()
            categorical = not (pd.to_numeric(text, errors="coerce").notna().any()
                               or text.str.match(r"[-+]?\.?\d").any())
        if given is not None:
            if col in given:
                out[col] = tuple(str(v) for v in given[col])
            elif categorical and len(text):
                raise DataError(f"{p}: column '{col}' (--static-covariates) holds text categories ({text.iloc[0]!r}, "
                                "...), but the saved model reads it as numbers or not at all; train a new model name")
            continue
        if not categorical:
            continue
        found = sorted(set(text))
        if not found:
            raise DataError(f"{p}: column '{col}' (--static-covariates) is empty; give each series its value")
        if len(found) > MAX_STATIC_LEVELS:
            raise DataError(f"{p}: column '{col}' (--static-covariates): {len(found)} distinct text values; a "
                            f"category becomes one input column each, at most {MAX_STATIC_LEVELS}: group them, or "
                            "leave the column out")
        out[col] = tuple(found)
    return out


def load(cfg: RunConfig, *, static_levels: Mapping[str, Sequence[str]] | None = None) -> Panel:
    """Load and validate the configured file: its one series, or every series of a long-format file
    (``data.id_col``), as a :class:`~forecaster.data.frame.Panel`.

    ``static_levels``: a saved model's categories of its text static covariates (see :func:`load_panel`).

    Raises:
        DataError: one line naming the file, the series, the column and the first offending row.
    """
    d = cfg.data
    if d.id_col is None:
        return Panel.of(load_series(d.path, target=d.target, time_col=d.time_col, covariates=d.covariates,
                                    missing=d.missing, freq=d.freq, known=d.known_covariates))
    return load_panel(d.path, id_col=d.id_col, target=d.target, time_col=d.time_col, covariates=d.covariates,
                      missing=d.missing, freq=d.freq, known=d.known_covariates, static=d.static_covariates,
                      static_levels=static_levels)


def load_future(path: str | Path, *, time_col: str, known: Sequence[str], id_col: str | None = None) -> pd.DataFrame:
    """The values of known covariates after the end of the series (``forecast predict --future``).

    Returns a frame of the ``known`` columns indexed by timestamp, or by ``(id, timestamp)`` with
    ``id_col``; other columns (a target left empty, say) are ignored.

    Raises:
        DataError: a missing column, a bad timestamp or value, or a timestamp given twice.
    """
    p = Path(path)
    df, kind = _read(p, text=(id_col,) if id_col else ())
    at = _Locator(kind, df.attrs.get("csv_rows"))
    _check_column(df, time_col, "the model's time column", p)
    if id_col is not None:
        _check_column(df, id_col, "the model's --id-col", p)
    for cov in known:
        _check_column(df, cov, "--known-covariates", p)
    index = _parse_times(df[time_col], time_col, p, at)
    frame = pd.DataFrame({c: _to_numeric(df[c], c, "--known-covariates", p, at).to_numpy() for c in known},
                         index=index)
    if id_col is not None:
        frame.index = pd.MultiIndex.from_arrays([df[id_col].astype("string").str.strip().to_numpy(dtype=object), index],
                                                names=[id_col, time_col])
    dup = np.flatnonzero(frame.index.duplicated())
    if dup.size:
        raise DataError(f"{p}: {at(int(dup[0]))}: timestamp {index[int(dup[0])]} given twice"
                        f"{' for one series' if id_col else ''}; expected one row per timestamp")
    return frame
