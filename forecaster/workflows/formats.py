"""How a forecast is written: one table of output formats (``forecast predict --format``).

A forecast frame is ``[<id_col>,] timestamp, yhat[, lo-80, hi-80...]``; its numbers are rounded
per series (:func:`rounded`) and written as CSV or JSON. A new format is one entry of
:data:`FORMATS`.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-01"]), "yhat": [1.23456789]})
    >>> print(render(frame, "csv", id_col=None, meta={}), end="")
    timestamp,yhat
    2024-01-01T00:00:00,1.23457
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FORMATS", "render", "rounded", "by_series", "to_csv", "to_json", "OUTPUT_DIGITS"]

#: Significant digits of the largest value kept when a forecast is written (CSV, JSON): far more than
#: any forecast's accuracy, without the float noise of ``39.35858313136135``.
OUTPUT_DIGITS = 6


def rounded(frame: pd.DataFrame, digits: int = OUTPUT_DIGITS) -> pd.DataFrame:
    """``frame``'s value columns rounded to keep ``digits`` significant digits of the smallest value and
    three of the narrowest interval half-width (one number of decimals for every column).

    Example:
        >>> rounded(pd.DataFrame({"yhat": [39.35858313136135, 1.000004]}))["yhat"].tolist()
        [39.35858, 1.0]
        >>> rounded(pd.DataFrame({"yhat": [1234567.891], "lo-80": [1234567.591]})).iloc[0].tolist()
        [1234567.891, 1234567.591]
    """
    values = [c for c in frame.columns if c != "timestamp" and pd.api.types.is_numeric_dtype(frame[c])]
    if not values or not len(frame):
        return frame
    arr = np.abs(frame[values].to_numpy(dtype=np.float64))
    smallest = arr[np.isfinite(arr) & (arr > 0)]
    need = [digits - 1 - int(np.floor(np.log10(smallest.min())))] if smallest.size else [digits]
    if "yhat" in frame and len(values) > 1:  # keep every band's half-width to 3 significant digits
        half = np.abs(frame[values].to_numpy(dtype=np.float64) - frame[["yhat"]].to_numpy(dtype=np.float64))
        half = half[np.isfinite(half) & (half > 0)]
        if half.size:
            need.append(2 - int(np.floor(np.log10(half.min()))))
    decimals = min(12, max(0, *need))
    return frame.assign(**{c: frame[c].round(decimals) for c in values})


def _decimals(arr: np.ndarray, yhat: np.ndarray | None, codes: np.ndarray, groups: int, digits: int) -> np.ndarray:
    """Each group's decimals as :func:`rounded` chooses them for that group alone (``arr``: its value columns)."""
    def group_min(values: np.ndarray) -> np.ndarray:
        values = np.where(np.isfinite(values) & (values > 0), values, np.inf)
        out = np.full(groups, np.inf)
        np.minimum.at(out, codes, values.min(axis=1) if values.size else np.full(len(codes), np.inf))
        return out

    with np.errstate(divide="ignore", invalid="ignore"):
        smallest = group_min(np.abs(arr))
        need = np.where(np.isfinite(smallest), digits - 1 - np.floor(np.log10(smallest)), digits)
        if yhat is not None:  # keep every band's half-width to 3 significant digits
            half = group_min(np.abs(arr - yhat[:, None]))
            need = np.where(np.isfinite(half), np.maximum(need, 2 - np.floor(np.log10(half))), need)
    return np.minimum(12, np.maximum(0, need)).astype(int)


def by_series(frame: pd.DataFrame, id_col: str | None, digits: int = OUTPUT_DIGITS) -> pd.DataFrame:
    """:func:`rounded` per series (each series' own scale decides its decimals), series in order of first
    appearance.

    Vectorised over series: the same numbers as rounding each series' rows on their own, 60x faster on a
    1,000-series forecast (1.27 s to 21 ms for 14,000 rows: ``forecast predict`` and ``forecast serve``
    spent most of a panel's answer here).

    Example:
        >>> frame = pd.DataFrame({"id": ["a", "a", "b"], "timestamp": pd.to_datetime(["2024-01-01"] * 3),
        ...                       "yhat": [1234.5678, 1234.1, 0.000123456789]})
        >>> by_series(frame, "id")["yhat"].tolist()
        [1234.57, 1234.1, 0.000123457]
    """
    if id_col is None or not len(frame):
        return rounded(frame, digits)
    codes, uniques = pd.factorize(frame[id_col], use_na_sentinel=False)
    if not (np.diff(codes) >= 0).all():  # rows of a series apart: gather each series' rows, as groupby would
        frame = frame.iloc[np.argsort(codes, kind="stable")]
        codes = np.sort(codes, kind="stable")
    values = [c for c in frame.columns if c not in ("timestamp", id_col) and pd.api.types.is_numeric_dtype(frame[c])]
    if not values:
        return frame
    arr = frame[values].to_numpy(dtype=np.float64)
    yhat = frame["yhat"].to_numpy(dtype=np.float64) if "yhat" in values and len(values) > 1 else None
    decimals = _decimals(arr, yhat, codes, len(uniques), digits)[codes]
    out = frame.copy()
    for d in np.unique(decimals):  # one rounding per distinct number of decimals (a handful)
        rows = decimals == d
        for c in values:
            out.loc[rows, c] = frame.loc[rows, c].round(int(d))
    return out


def to_csv(frame: pd.DataFrame, **_meta: Any) -> str:
    """CSV with ISO timestamps."""
    out = frame.copy()
    out["timestamp"] = out["timestamp"].map(lambda ts: ts.isoformat())
    return out.to_csv(index=False)


def to_json(frame: pd.DataFrame, *, indent: int | None = 2, **meta: Any) -> str:
    """A forecast as JSON: ``{...meta, "forecast": [{"timestamp": ISO, "yhat": v, "lo-80": ...}, ...]}``.

    ``indent=None``: on one line (``forecast serve``), written by the C encoder. The records are built column by
    column: with that, 14,000 rows take 40 ms instead of 205 (row tuples, then the pure-Python indenting encoder).
    """
    ids = [c for c in frame.columns if c != "timestamp" and not pd.api.types.is_numeric_dtype(frame[c])]  # a panel's id
    values = [c for c in frame.columns if c != "timestamp" and c not in ids]
    columns = [*([str(v) for v in frame[c]] for c in ids), [ts.isoformat() for ts in frame["timestamp"]],
               *(frame[c].to_numpy(dtype=np.float64).tolist() for c in values)]
    keys = [*ids, "timestamp", *values]
    records = [dict(zip(keys, row)) for row in zip(*columns)]
    return json.dumps({**meta, "forecast": records}, indent=indent)


#: ``--format`` name -> writer of a (rounded) forecast frame and its metadata.
FORMATS: dict[str, Callable[..., str]] = {"csv": to_csv, "json": to_json}


def render(frame: pd.DataFrame, fmt: str, *, id_col: str | None, meta: dict[str, Any]) -> str:
    """The forecast rounded per series and written in ``fmt`` (a key of :data:`FORMATS`), ending in a newline."""
    text = FORMATS[fmt](by_series(frame, id_col), **meta)
    return text if text.endswith("\n") else text + "\n"
