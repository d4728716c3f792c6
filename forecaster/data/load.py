"""Load a series from CSV or Parquet and validate it before anything trains on it.

Every problem is one :class:`~forecaster.errors.DataError` line naming the file, the column,
the first offending row (``line N`` for CSV, counting the header as line 1) and what to do.
Fixes that are safe and common (missing values or missing timestamps inside the series) are
available as the explicit ``missing`` policy, never applied silently. A table already in memory (a
pandas DataFrame, from the Python API) goes through the same checks, named by a label such as
:data:`FRAME_SOURCE` instead of a file (``row N (.iloc[N-1])`` instead of ``line N``).

Example:
    >>> s = load_series("data/seattle_temps_2010.csv", target="temp")
    >>> s.freq, len(s.frame), s.target
    ('h', 8760, 'temp')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from forecaster.config import RunConfig
from forecaster.data.frame import Panel, SeriesFrame
from forecaster.data.read import Locator, frame_sha256, read_frame, read_table
from forecaster.data.validate import (
    MISSING_POLICIES,
    check_column,
    check_grid_size,
    check_order,
    check_single_series,
    check_step,
    infer_freq,
    no_freq,
    on_grid,
    parse_times,
    pick_columns,
    to_numeric,
)
from forecaster.errors import DataError
from forecaster.fs import file_sha256

__all__ = ["load", "load_series", "load_panel", "load_future", "from_columns", "MAX_STATIC_LEVELS", "FRAME_SOURCE",
           "FUTURE_SOURCE", "is_frame_source", "Source"]

#: What a run records as its data's path when the data was a DataFrame, not a file: a label in Python's
#: ``<stdin>`` style, never a file name, so ``predict`` without ``--data`` can say there is no file to read.
FRAME_SOURCE = "<DataFrame>"
#: The label of known covariates' future values given as a DataFrame.
FUTURE_SOURCE = "<future DataFrame>"

#: A data file's path, or a table already in memory.
Source: TypeAlias = str | Path | pd.DataFrame


def is_frame_source(path: str) -> bool:
    """Whether a recorded data path is an in-memory table's label (``<DataFrame>``, ``<Series>``), not a file.

    Example:
        >>> is_frame_source(FRAME_SOURCE), is_frame_source("data/sales.csv")
        (True, False)
    """
    return path.startswith("<") and path.endswith(">")


def _table(source: Source, label: str, text: Sequence[str] = ()) -> tuple[pd.DataFrame, str, Path]:
    """The table of a file or of an in-memory frame, its kind and the name messages give it."""
    if isinstance(source, pd.DataFrame):
        return read_frame(source, label), "frame", Path(label)
    p = Path(source)
    df, kind = read_table(p, text=text)
    return df, kind, p


def _sha256(source: Source, df: pd.DataFrame, p: Path) -> str:
    return frame_sha256(df) if isinstance(source, pd.DataFrame) else file_sha256(p)


def from_columns(columns: Mapping[str, Any], source: str) -> pd.DataFrame:
    """A table given as columns (a JSON object of equal-length arrays: ``{"date": [...], "y": [...]}``) as a
    DataFrame for the loaders (passed as their ``path``, ``label=source``): ``forecast serve``'s ``history`` and
    ``future``; ``source`` names it in errors as a file would be named.

    Raises:
        DataError: not an object of arrays, arrays of different lengths, or a cell that is not a number, a
            string, a boolean or null.

    Example:
        >>> from_columns({"date": ["2024-01-01", "2024-01-02"], "y": [1.5, None]}, "history")["y"].tolist()
        [1.5, nan]
        >>> from_columns({"date": ["2024-01-01"], "y": [1, 2]}, "history")
        Traceback (most recent call last):
        ...
        forecaster.errors.DataError: history: column 'y' has 2 values, column 'date' has 1; every column needs one value per row
    """
    if not isinstance(columns, Mapping) or not columns:
        raise DataError(f"{source}: expected an object of columns, each an array of values "
                        f'({{"date": [...], "y": [...]}}), got {type(columns).__name__}')
    first = None
    for name, values in columns.items():
        if not isinstance(values, list):
            raise DataError(f"{source}: column '{name}' must be an array of values, got {type(values).__name__}")
        bad = next((v for v in values if v is not None and not isinstance(v, (str, int, float))), None)
        if bad is not None:
            raise DataError(f"{source}: column '{name}' holds a {type(bad).__name__}; expected numbers, strings "
                            "or null")
        if first is None:
            first = (name, len(values))
        elif len(values) != first[1]:
            raise DataError(f"{source}: column '{name}' has {len(values)} values, column '{first[0]}' has "
                            f"{first[1]}; every column needs one value per row")
    return pd.DataFrame({str(k): pd.Series(v, dtype=object if any(isinstance(x, str) for x in v) else None)
                         for k, v in columns.items()})


def load_series(
    path: Source,
    *,
    target: str | None = None,
    time_col: str | None = None,
    covariates: Sequence[str] = (),
    missing: str = "error",
    freq: str | None = None,
    known: Sequence[str] = (),
    label: str = FRAME_SOURCE,
) -> SeriesFrame:
    """Read and validate a series.

    Args:
        path: a ``.csv`` or ``.parquet`` file with a time column and numeric columns, or such a
            table as a DataFrame (see :func:`~forecaster.data.read.read_frame`).
        target: the column to forecast; ``None`` picks the only numeric column.
        time_col: the timestamp column; ``None`` picks the only datetime-like column.
        covariates: extra numeric input columns (past values only).
        missing: ``"error"`` (default) rejects missing values and missing timestamps;
            ``"interpolate"`` (linear in time) or ``"ffill"`` fills those inside the series.
        freq: a pandas frequency alias to enforce instead of inferring one.
        known: numeric columns known in the future (a promotion, a holiday): placed after
            ``covariates``; predict then needs their future values.
        label: what messages and the result's ``path`` call a DataFrame (its ``sha256`` is its content's).

    Returns:
        A :class:`SeriesFrame` on a regular grid with no missing values.

    Raises:
        DataError: one line naming the file, column, first offending row and the fix.
    """
    if missing not in MISSING_POLICIES:
        raise DataError(f"missing policy {missing!r} is unknown; expected one of {', '.join(MISSING_POLICIES)}")
    df, kind, p = _table(path, label)
    at = Locator(kind, df.attrs.get("csv_rows"))
    inputs = (*covariates, *known)
    time_col, target = pick_columns(df, p, target, time_col, inputs)

    index = parse_times(df[time_col], time_col, p, at)
    check_single_series(df, index, {time_col, target, *inputs}, p)
    frame = _value_frame(df, index, target, covariates, known, p, at)
    check_order(index, time_col, p, at)

    if freq is None and len(index) < 3:
        raise DataError(f"{p}: {len(index)} row(s) are too few to infer a frequency; a series needs many rows")
    if freq is None:
        freq = infer_freq(index)
        if freq is None:
            raise no_freq(p, time_col, index)
    frame, n_filled = on_grid(frame, p, time_col, freq, missing, at)
    return SeriesFrame(
        frame=frame,
        target=target,
        covariates=tuple(inputs),
        freq=str(frame.index.freqstr),
        path=str(p),
        sha256=_sha256(path, df, p),
        time_col=time_col,
        n_filled=n_filled,
        filled_by=missing if n_filled else None,
        known=tuple(known),
    )


def _value_frame(df: pd.DataFrame, index: pd.DatetimeIndex, target: str, covariates: Sequence[str],
                 known: Sequence[str], p: Path, at: Any, *, static: Sequence[str] = ()) -> pd.DataFrame:
    """The numeric columns ``[target, *covariates, *static, *known]`` on ``index`` (each cell checked)."""
    columns = {target: to_numeric(df[target], target, "--target", p, at)}
    for cov in covariates:
        columns[cov] = to_numeric(df[cov], cov, "--covariates", p, at)
    for cov in static:
        columns[cov] = to_numeric(df[cov], cov, "--static-covariates", p, at)
    for cov in known:
        columns[cov] = to_numeric(df[cov], cov, "--known-covariates", p, at)
    return pd.DataFrame({k: v.to_numpy() for k, v in columns.items()}, index=index)


def load_panel(
    path: Source,
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
    label: str = FRAME_SOURCE,
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
    if missing not in MISSING_POLICIES:
        raise DataError(f"missing policy {missing!r} is unknown; expected one of {', '.join(MISSING_POLICIES)}")
    df, kind, p = _table(path, label, text=(id_col,))
    at = Locator(kind, df.attrs.get("csv_rows"))
    check_column(df, id_col, "--id-col", p)
    inputs = (*covariates, *static, *known)
    time_col, target = pick_columns(df, p, target, time_col, inputs, exclude=(id_col,))
    if id_col in (time_col, target, *inputs):
        raise DataError(f"{p}: column '{id_col}' (--id-col) is also the time, target or a covariate column; "
                        "the series id must be a column of its own")
    raw_ids = df[id_col]
    text_ids = raw_ids.astype("string").str.strip()
    empty = np.flatnonzero((raw_ids.isna() | (text_ids == "")).to_numpy())
    if empty.size:
        raise DataError(f"{p}: column '{id_col}' (--id-col): {at(int(empty[0]))} has no series id ({empty.size} "
                        "empty in all); every row needs one")
    index = parse_times(df[time_col], time_col, p, at)
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
    sha = _sha256(path, df, p)
    parts = []
    for sid in order:
        pos = np.asarray(groups[sid])
        part = values.iloc[pos]
        label = f"{p}: series {sid!r}"

        def loc(i: int, pos: np.ndarray = pos) -> str:
            return at(int(pos[i]))

        check_order(part.index, time_col, label, loc)
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
        freq = infer_freq(longest[1].index)
        if freq is None:
            raise no_freq(f"{p}: series {longest[0]!r}", time_col, longest[1].index)
        source = f" (inferred on series {longest[0]!r}; every series must share one frequency)"
    series = []
    for sid, part, label, loc in parts:
        check_grid_size(part.index, freq, len(part), label, source)  # far coarser (daily in hourly) says so first
        check_step(part.index, freq, label, time_col, source)
        frame, n_filled = on_grid(part, label, time_col, freq, missing, loc, source if sid != inferred_on else "")
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


def load(cfg: RunConfig, *, static_levels: Mapping[str, Sequence[str]] | None = None,
         frame: pd.DataFrame | None = None) -> Panel:
    """Load and validate the configured file: its one series, or every series of a long-format file
    (``data.id_col``), as a :class:`~forecaster.data.frame.Panel`.

    ``static_levels``: a saved model's categories of its text static covariates (see :func:`load_panel`).
    ``frame``: the table itself, already in memory (the Python API); ``data.path`` is then its label.

    Raises:
        DataError: one line naming the file, the series, the column and the first offending row; also
            when ``data.path`` is a DataFrame's label and no ``frame`` is given (there is no file to read).
    """
    d = cfg.data
    if frame is None and is_frame_source(d.path):
        raise DataError(f"{d.path}: the data was a pandas DataFrame in memory, not a file; pass the series with "
                        "--data")
    source: Source = frame if frame is not None else d.path
    if d.id_col is None:
        return Panel.of(load_series(source, target=d.target, time_col=d.time_col, covariates=d.covariates,
                                    missing=d.missing, freq=d.freq, known=d.known_covariates, label=d.path))
    return load_panel(source, id_col=d.id_col, target=d.target, time_col=d.time_col, covariates=d.covariates,
                      missing=d.missing, freq=d.freq, known=d.known_covariates, static=d.static_covariates,
                      static_levels=static_levels, label=d.path)


def load_future(path: Source, *, time_col: str, known: Sequence[str], id_col: str | None = None,
                label: str = FUTURE_SOURCE) -> pd.DataFrame:
    """The values of known covariates after the end of the series (``forecast predict --future``).

    Returns a frame of the ``known`` columns indexed by timestamp, or by ``(id, timestamp)`` with
    ``id_col``; other columns (a target left empty, say) are ignored. ``path`` may be the table
    itself (a DataFrame, named ``label`` in messages).

    Raises:
        DataError: a missing column, a bad timestamp or value, or a timestamp given twice.
    """
    df, kind, p = _table(path, label, text=(id_col,) if id_col else ())
    at = Locator(kind, df.attrs.get("csv_rows"))
    check_column(df, time_col, "the model's time column", p)
    if id_col is not None:
        check_column(df, id_col, "the model's --id-col", p)
    for cov in known:
        check_column(df, cov, "--known-covariates", p)
    index = parse_times(df[time_col], time_col, p, at)
    frame = pd.DataFrame({c: to_numeric(df[c], c, "--known-covariates", p, at).to_numpy() for c in known},
                         index=index)
    if id_col is not None:
        frame.index = pd.MultiIndex.from_arrays([df[id_col].astype("string").str.strip().to_numpy(dtype=object), index],
                                                names=[id_col, time_col])
    dup = np.flatnonzero(frame.index.duplicated())
    if dup.size:
        raise DataError(f"{p}: {at(int(dup[0]))}: timestamp {index[int(dup[0])]} given twice"
                        f"{' for one series' if id_col else ''}; expected one row per timestamp")
    return frame
