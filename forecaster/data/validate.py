"""Validating a read frame: its time column, numbers, order, frequency and regular grid.

Every problem is one :class:`~forecaster.errors.DataError` line naming the file (and the series
of a panel), the column, the first offending row and what to do. Filling holes is the explicit
``missing`` policy (:func:`on_grid`), never applied silently.

Example:
    >>> idx = pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-05", "2024-01-06"])
    >>> infer_freq(idx)
    'D'
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from forecaster.data.read import Locator, listing
from forecaster.errors import DataError

__all__ = ["MISSING_POLICIES", "MAX_GRID_PER_ROW", "detect_id_col", "check_single_series", "detect_time_col",
           "check_column", "are_years", "parse_times", "to_numeric", "check_order", "infer_freq", "check_step",
           "describe_steps", "check_grid_size", "pick_columns", "on_grid", "no_freq"]

MISSING_POLICIES = ("error", "interpolate", "ffill")
_YEAR_NAMES = {"year", "yr", "years"}


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


def check_single_series(df: pd.DataFrame, index: pd.DatetimeIndex, used: set[str], path: Path) -> None:
    """Repeated timestamps plus a text column with few values: several series stacked in one file."""
    if index.is_unique:
        return
    found = detect_id_col(df, used)
    if found is not None:
        col, n = found
        ids = sorted(map(str, df[col].dropna().unique()))
        raise DataError(
            f"{path}: column '{col}' looks like a series id ({n} series: {listing(ids)}) and timestamps repeat "
            f"across series; forecast them together with --id-col {col} (data.id_col: one model for every "
            "series), or filter one series into its own file"
        )


def detect_time_col(df: pd.DataFrame, path: Path) -> str:
    candidates = []
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s) or (col.strip().lower() in _YEAR_NAMES and are_years(s)):
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
            f"{path}: no datetime-like column found among {listing(list(df.columns))}; "
            "name the time column with --time-col (data.time_col)"
        )
    raise DataError(
        f"{path}: several datetime-like columns ({listing(candidates)}); "
        "choose one with --time-col (data.time_col)"
    )


def check_column(df: pd.DataFrame, col: str, option: str, path: Path) -> None:
    if col not in df.columns:
        raise DataError(
            f"{path}: column '{col}' ({option}) not found; available columns: {listing(list(df.columns))}"
        )


def are_years(s: pd.Series) -> bool:
    """Whole numbers from 1000 to 2999: calendar years (``1700, 1701, ...``)."""
    if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        return False
    values = s.dropna().to_numpy(dtype=float)
    return bool(values.size) and bool(np.all((values == np.round(values)) & (values >= 1000) & (values < 3000)))


def parse_times(raw: pd.Series, col: str, path: Path, at: Locator) -> pd.DatetimeIndex:
    if pd.api.types.is_datetime64_any_dtype(raw):
        times = raw
    elif are_years(raw):
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


def _checked_times(times: Any, raw: pd.Series, col: str, path: Path, at: Locator) -> pd.DatetimeIndex:
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


def to_numeric(raw: pd.Series, col: str, option: str, path: Path, at: Locator) -> pd.Series:
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


def check_order(index: pd.DatetimeIndex, col: str, path: str | Path, at: Callable[[int], str]) -> None:
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


def infer_freq(index: pd.DatetimeIndex) -> str | None:
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


def check_step(index: pd.DatetimeIndex, freq: str, label: str, time_col: str, freq_source: str = "") -> None:
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
                    f"(steps seen: {describe_steps(index)}): it is on a coarser grid than the panel's {freq!r}"
                    f"{freq_source}; resample it to {freq!r} or leave it out (filling it would invent most of its rows)")


def describe_steps(index: pd.DatetimeIndex) -> str:
    steps = Counter(pd.Series(index).diff().dropna())
    return ", ".join(f"{step} x{count}" for step, count in steps.most_common(3))


#: A frequency may put at most this many grid steps per row of the file between its first and
#: last timestamps (holes to fill); a finer one is refused before any array is built (a config
#: frequency of ``1ns`` on hourly data asked for a 15 PiB grid).
MAX_GRID_PER_ROW = 10


def check_grid_size(index: pd.DatetimeIndex, freq: str, rows: int, p: str | Path, freq_source: str = "") -> None:
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


def pick_columns(df: pd.DataFrame, p: Path, target: str | None, time_col: str | None,
                  covariates: Sequence[str], exclude: Sequence[str] = ()) -> tuple[str, str]:
    """The time column and the target (either detected when ``None``), after checking the named columns exist."""
    if time_col is None:
        time_col = detect_time_col(df.drop(columns=list(exclude)), p)
    else:
        check_column(df, time_col, "--time-col", p)
    for cov in covariates:
        check_column(df, cov, "--covariates", p)
    if target is None:
        others = [c for c in df.columns if c != time_col and c not in covariates and c not in exclude]
        numeric = [
            c for c in others if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
        ]
        if len(others) == 1:  # the only value column: a bad cell in it is reported by row below
            numeric = others
        if len(numeric) != 1:
            options = numeric or [c for c in df.columns if c != time_col and c not in exclude]
            raise DataError(f"{p}: name the column to forecast with --target (data.target); candidates: {listing(options)}")
        target = numeric[0]
    else:
        check_column(df, target, "--target", p)
    if target == time_col:
        raise DataError(f"{p}: column '{target}' is the time column; --target must name a value column")
    return time_col, target


def on_grid(frame: pd.DataFrame, p: str | Path, time_col: str, freq: str, missing: str,
             at: Any, freq_source: str = "") -> tuple[pd.DataFrame, int]:
    """``frame`` (time-ordered, unique timestamps) reindexed on ``freq``'s grid, holes filled by ``missing``.

    Returns the frame and how many values were filled. ``p`` names the file (and the series) in errors.
    """
    index = frame.index
    check_grid_size(index, freq, len(index), p, freq_source)
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


def no_freq(p: str | Path, time_col: str, index: pd.DatetimeIndex) -> DataError:
    return DataError(
        f"{p}: column '{time_col}': cannot infer a regular frequency (steps seen: "
        f"{describe_steps(index)}); resample the data to a fixed step or set data.freq"
    )
