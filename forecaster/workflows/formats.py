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


def by_series(frame: pd.DataFrame, id_col: str | None) -> pd.DataFrame:
    """:func:`rounded` per series (each series' own scale decides its decimals)."""
    if id_col is None or not len(frame):
        return rounded(frame)
    return pd.concat([g.pipe(rounded) for _, g in frame.groupby(id_col, sort=False)])


def to_csv(frame: pd.DataFrame, **_meta: Any) -> str:
    """CSV with ISO timestamps."""
    out = frame.copy()
    out["timestamp"] = out["timestamp"].map(lambda ts: ts.isoformat())
    return out.to_csv(index=False)


def to_json(frame: pd.DataFrame, **meta: Any) -> str:
    """A forecast as JSON: ``{...meta, "forecast": [{"timestamp": ISO, "yhat": v, "lo-80": ...}, ...]}``."""
    ids = [c for c in frame.columns if c != "timestamp" and not pd.api.types.is_numeric_dtype(frame[c])]  # a panel's id
    values = [c for c in frame.columns if c != "timestamp" and c not in ids]
    records = [
        {**{c: str(v) for c, v in zip(ids, row[: len(ids)])}, "timestamp": row[len(ids)].isoformat(),
         **{c: float(v) for c, v in zip(values, row[len(ids) + 1 :])}}
        for row in frame[[*ids, "timestamp", *values]].itertuples(index=False)
    ]
    return json.dumps({**meta, "forecast": records}, indent=2)


#: ``--format`` name -> writer of a (rounded) forecast frame and its metadata.
FORMATS: dict[str, Callable[..., str]] = {"csv": to_csv, "json": to_json}


def render(frame: pd.DataFrame, fmt: str, *, id_col: str | None, meta: dict[str, Any]) -> str:
    """The forecast rounded per series and written in ``fmt`` (a key of :data:`FORMATS`), ending in a newline."""
    text = FORMATS[fmt](by_series(frame, id_col), **meta)
    return text if text.endswith("\n") else text + "\n"
