"""The Python API's boundary: keywords from the settings table, data in, messages out, quiet frameworks.

One mapping (:data:`KEYWORDS`, from :data:`forecaster.config.SETTINGS`) turns keywords into config keys and,
in :func:`python_message`, the CLI's option names in messages into keywords; :func:`calling` wraps every public
call (frameworks' warnings off, the library's errors re-raised as one line naming keywords).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from forecaster.config import SETTINGS, Setting
from forecaster.errors import ConfigError, DataError, ForecasterError, KeywordError
from forecaster.types import Progress

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["KEYWORDS", "SERIES_SOURCE", "ForecasterWarning", "python_message", "calling", "quiet_tensorflow", "warn",
           "plain", "overrides_of", "source_of", "integer", "name_list", "series_ids", "levels_of", "Data",
           "table_html"]

#: Keyword -> the run setting it sets: every setting with a flag, named like the flag with dashes as
#: underscores. The registry's gate settings belong to ``forecast retrain``; the data is the first argument.
KEYWORDS: dict[str, Setting] = {s.dest: s for s in SETTINGS if s.group != "registry" and s.key != "data.path"}

#: What a run records as its data's path when it was a Series (a DataFrame: ``<DataFrame>``).
SERIES_SOURCE = "<Series>"

#: The options of the commands (not settings) and the keyword or argument that gives each here.
_COMMAND_OPTIONS = {"--data": "df", "--future": "future", "--series": "series", "--model": "model", "--cells": "cells",
                    "--repeats": "repeats", "--backtest": "backtest", "--strategies": "strategies", "--folds": "folds",
                    "--executor": "executor", "--ray-address": "ray_address", "--config": "config"}
#: A command-line option -> the keyword that sets it here (``--no-x`` -> ``x=False``): the one mapping of messages.
_KEYWORD_OF = {**{s.flag: s.dest for s in SETTINGS}, **{f"--no-{s.flag[2:]}": f"{s.dest}=False" for s in SETTINGS
                                                         if s.is_bool}, **_COMMAND_OPTIONS}
_BOOLEAN = {s.flag for s in SETTINGS if s.is_bool}
_OPTION = re.compile(r"--[a-z][a-z0-9-]*(?:/--no-[a-z0-9-]+)?")
#: A value after an option: a placeholder (FILE), numbers (80,95), none, alternatives (a|b), or a word before ':' / ' ('.
_VALUE = re.compile(r" (?P<v>[A-Z][A-Z_]*\b|none\b|[-+]?\d[\d.,]*(?<![.,])|[a-z]+(?:\|[a-z]+)+|<[^>]*>|[^\s:()]+(?=:| \())")


class ForecasterWarning(UserWarning):
    """A note about a result worth seeing but not an error: an undefined metric, series left out, a model that
    lost to a baseline (the CLI prints these as ``forecast: warning:`` lines)."""


def python_message(text: str) -> str:
    """A library message as a Python caller reads it: each command-line option named by its keyword.

    Example:
        >>> python_message("column 'y' (--target): line 5 holds 'x'")
        "column 'y' (target=): line 5 holds 'x'"
        >>> python_message("set --missing interpolate|ffill (data.missing) to fill them")
        "set missing='interpolate'|'ffill' (data.missing) to fill them"
        >>> python_message("--horizon: expected 1..24, got 30; retrain with --levels 80,95 or --levels none")
        'horizon: expected 1..24, got 30; retrain with levels=[80, 95] or levels=[]'
    """

    out, pos = [], 0
    for m in _OPTION.finditer(text):
        flag = m.group(0).split("/")[0]
        keyword = _KEYWORD_OF.get(flag)
        if keyword is None:
            continue
        end, rest = m.end(), text[m.end():]
        value = None if "=" in keyword or flag in _BOOLEAN or rest.startswith(":") else _VALUE.match(rest)
        if value is not None:
            keyword, end = f"{keyword}={_python_value(value.group('v'))}", end + len(value.group(0))
        elif "=" not in keyword and not rest.startswith(":"):
            keyword += "="
        out += [text[pos:m.start()], keyword]
        pos = end
    return "".join([*out, text[pos:]])


def _python_value(value: str) -> str:
    if value == "none":
        return "[]"
    if "|" in value:
        return "|".join(f"'{v}'" for v in value.split("|"))
    if re.fullmatch(r"[-+]?\d+(\.\d+)?", value) or re.fullmatch(r"[A-Z][A-Z_]*", value) or value.startswith("<"):
        return value
    if re.fullmatch(r"\d+(,\d+)+", value):
        return "[" + ", ".join(value.split(",")) + "]"
    return repr(value)


def _printer(line: str) -> None:
    print(line, flush=True)


#: Modules whose Python warnings are the framework's business, not the caller's (deprecations inside Keras...).
_NOISY = r"(keras|tensorflow|tf2onnx|onnx|onnxruntime|absl|google|h5py|statsforecast|numba|tqdm|coreforecast|utilsforecast)(\.|$)"


@contextmanager
def calling(verbose: bool = False) -> Iterator[Progress | None]:
    """Around every public call: frameworks' warnings off, progress lines when ``verbose``, and the library's
    errors re-raised as one line naming keywords (their traceback starts here: the message says it all)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=_NOISY)
        try:
            yield _printer if verbose else None
        except ForecasterError as exc:
            exc.args = (python_message(str(exc)), *exc.args[1:])
            raise exc.with_traceback(None) from None


def quiet_tensorflow() -> None:
    """TensorFlow imported without its C++ banner (the CLI does the same before training)."""
    from forecaster.models.network.tensorflow_quiet import import_tensorflow_quietly

    import_tensorflow_quietly()


def warn(text: str) -> None:
    """A :class:`ForecasterWarning` (the CLI's ``forecast: warning:`` line), naming keywords, at the caller's line."""
    warnings.warn(python_message(text), ForecasterWarning, stacklevel=4)


# --- keywords and data -------------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """numpy scalars and arrays, pandas indexes, tuples and sets as the plain values config validation reads."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple, set, frozenset, np.ndarray)) or type(value).__name__ in ("Index", "Series"):
        items = sorted(value) if isinstance(value, (set, frozenset)) else list(value)
        return [plain(v) for v in items]
    return value


def _unknown(where: str, keyword: str, valid: Sequence[str]) -> KeywordError:
    if keyword == "data":
        return KeywordError(f"{where}() takes the data as its first argument (df: a DataFrame, a Series or a file "
                            "path), not data=")
    close = difflib.get_close_matches(keyword, list(valid), n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; valid keywords: {', '.join(sorted(valid))}"
    return KeywordError(f"{where}() got an unexpected keyword argument '{keyword}'{hint}")


def overrides_of(where: str, settings: Mapping[str, Any], own: Sequence[str]) -> dict[str, Any]:
    """Dotted config keys from keyword arguments; an unknown keyword is a :class:`KeywordError`."""
    out = {}
    for keyword, value in settings.items():
        s = KEYWORDS.get(keyword)
        if s is None or (s.group == "tuning" and where != "compare"):  # tuning: compare only
            raise _unknown(where, keyword, [*KEYWORDS, *own])
        out[s.key] = plain(value)
    return out


def source_of(df: Any, *, future: bool = False) -> tuple[pd.DataFrame | None, str]:
    """``(frame, label)`` of a DataFrame or Series, or ``(None, path)`` of a file path."""
    import pandas as pd

    from forecaster.data.load import FRAME_SOURCE, FUTURE_SOURCE

    what = "future" if future else "df"
    if isinstance(df, (str, os.PathLike)):
        return None, os.fspath(df)
    if isinstance(df, pd.Series):
        label = FUTURE_SOURCE if future else SERIES_SOURCE
        if not isinstance(df.index, (pd.DatetimeIndex, pd.MultiIndex)):
            raise DataError(f"{label}: expected a Series with a DatetimeIndex (or an (id, time) MultiIndex), got an "
                            f"index of {df.index.dtype}; or pass a long-format DataFrame")
        return df.to_frame(name=str(df.name) if df.name is not None else "value"), label
    if isinstance(df, pd.DataFrame):
        return df, FUTURE_SOURCE if future else FRAME_SOURCE
    raise DataError(f"{what}: expected a pandas DataFrame, a Series with a DatetimeIndex or a file path, got "
                    f"{type(df).__name__}")


def integer(value: Any, name: str, at_least: int) -> int:
    value = plain(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < at_least:
        raise ConfigError(f"{name}: expected an integer >= {at_least}, got {value!r}")
    return value


def name_list(value: Any, name: str) -> list[str]:
    """A list of names given as a list or as ``"a,b"``."""
    value = plain(value)
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{name}: expected a list of names such as ['gru', 'mlp'], got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class Data:
    """The table a run was trained on when it is not a file (forecasts read it again, as from ``--data``)."""

    frame: pd.DataFrame
    label: str



def series_ids(series: Any) -> list[str] | None:
    series = plain(series)
    if series is None:
        return None
    ids = [series] if isinstance(series, str) else series
    if not isinstance(ids, list) or not ids or not all(isinstance(s, str) and s for s in ids):
        raise ConfigError(f"series: expected a series id or a non-empty list of ids, got {series!r}")
    twice = next((s for s in ids if ids.count(s) > 1), None)
    if twice is not None:
        raise ConfigError(f"series: {twice!r} is given {ids.count(twice)} times; give each series once")
    return ids


def levels_of(levels: Any) -> tuple[int, ...] | None:
    from forecaster.evaluation.intervals import parse_levels

    levels = plain(levels)
    if levels is None:
        return None
    try:
        return parse_levels(levels if isinstance(levels, list) else [levels], where="levels")
    except (ValueError, TypeError):
        raise ConfigError(f"levels: expected integer percentages in 1..99 such as [80, 95] (or [] for none), got "
                          f"{levels!r}") from None



def table_html(frame: pd.DataFrame) -> str:
    def fmt(column: str) -> Any:
        digits = 0 if column in ("params", "series") else 3

        def one(v: Any) -> str:
            if isinstance(v, float):
                return f"{v:.{digits}f}" if math.isfinite(v) else ""
            return str(v)

        return one

    return frame.to_html(index=False, na_rep="", formatters={c: fmt(c) for c in frame.columns}, border=0)
