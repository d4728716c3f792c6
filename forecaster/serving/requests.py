"""A forecast request's body, checked field by field, and the work it asks for.

``POST /v1/models/<name>/forecast`` takes ``{"horizon": h, "levels": [80, 95], "series": [...],
"history": {...}, "future": {...}, "missing": "interpolate"}``, every field optional: an empty
body forecasts from the model's data file, like ``forecast predict``. ``history`` and ``future``
are tables as columns (``{"date": [...], "y": [...]}``; a panel's in long format, with its id
column), validated exactly as ``--data`` and ``--future`` files are (:mod:`forecaster.data.load`,
a DataFrame given as ``path``), so a bad value is named by column and row as it would be in a file.

The forecast itself is :mod:`forecaster.workflows.predict`'s (``forecast``, ``beyond_history``)
and the response is :mod:`forecaster.workflows.formats`' JSON, so its numbers are those of
``forecast predict --format json`` for the same model and data.

Example:
    >>> parse_body(b'{"horizon": 6, "levels": [95, 80]}', max_horizon=None, max_series=100)
    ForecastRequest(horizon=6, levels=(80, 95), series=None, history=None, future=None, missing=None)
    >>> parse_body(b'{"horizn": 6}', max_horizon=None, max_series=100)
    Traceback (most recent call last):
    ...
    forecaster.serving.requests.RequestError: body: unknown field 'horizn' (did you mean 'horizon'?); expected \
some of horizon, levels, series, history, future, missing
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from forecaster.data.frame import Panel
from forecaster.data.load import from_columns, load_future, load_panel, load_series
from forecaster.data.validate import MISSING_POLICIES
from forecaster.errors import ConfigError, DataError, ForecasterError
from forecaster.evaluation.intervals import parse_levels
from forecaster.workflows.predict import Loaded, read_future

__all__ = ["ForecastRequest", "RequestError", "parse_body", "history_panel", "future_frame", "field_message",
           "FIELDS"]

#: The body's fields, in the order the error messages list them.
FIELDS = ("horizon", "levels", "series", "history", "future", "missing")


class RequestError(ForecasterError):
    """A request the server refuses before any model work, with its HTTP status (413 or 422)."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ForecastRequest:
    """A checked forecast request (``None``: the field was left out)."""

    horizon: int | None
    levels: tuple[int, ...] | None
    series: tuple[str, ...] | None
    history: dict[str, Any] | None
    future: dict[str, Any] | None
    missing: str | None


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_body(body: bytes, *, max_horizon: int | None, max_series: int) -> ForecastRequest:
    """The request's fields, each checked for its type and range (the model's own limits, such as its trained
    horizon or calibrated levels, are checked by the forecast, with the CLI's messages).

    Raises:
        RequestError: not a JSON object, an unknown field, a field of the wrong type or out of range.
    """
    if not body.strip():
        raw: Any = {}
    else:
        try:
            raw = json.loads(body)
        except (ValueError, RecursionError) as exc:  # (UnicodeDecodeError is a ValueError)
            raise RequestError(f"body: not valid JSON ({str(exc)[:120]}); expected an object such as "
                               '{"horizon": 24}') from None
    if not isinstance(raw, dict):
        raise RequestError(f"body: expected a JSON object such as {{\"horizon\": 24}}, got {type(raw).__name__}")
    for key in raw:
        if key not in FIELDS:
            close = difflib.get_close_matches(str(key), FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RequestError(f"body: unknown field {str(key)[:80]!r}{hint}; expected some of {', '.join(FIELDS)}")

    horizon = raw.get("horizon")
    if horizon is not None:
        if not _integer(horizon) or horizon < 1:
            raise RequestError(f"horizon: expected an integer >= 1, got {json.dumps(horizon)[:80]}")
        if max_horizon is not None and horizon > max_horizon:
            raise RequestError(f"horizon: {horizon} steps is over this server's limit of {max_horizon} "
                               "(--max-horizon)")

    levels = raw.get("levels")
    if levels is not None:
        if not isinstance(levels, list):
            raise RequestError(f"levels: expected a list of integer percentages such as [80, 95] ([] for the point "
                               f"forecast only), got {json.dumps(levels)[:80]}")
        try:
            levels = parse_levels(levels, where="levels")
        except ValueError as exc:
            raise RequestError(str(exc).replace("(e.g. 80,95)", "(e.g. [80, 95])")) from None

    series = raw.get("series")
    if series is not None:
        if not isinstance(series, list) or not series:
            raise RequestError(f"series: expected a non-empty list of series ids such as [\"a\", \"b\"] (leave it out "
                               f"for every series), got {json.dumps(series)[:80]}")
        ids = [str(s) if _integer(s) else s for s in series]  # a number is the id as written
        bad = next((s for s in ids if not isinstance(s, str) or not s.strip()), None)
        if bad is not None:
            raise RequestError(f"series: expected non-empty id strings, got {json.dumps(bad)[:80]}")
        ids = [s.strip() for s in ids]
        twice = next((s for k, s in enumerate(ids) if s in ids[:k]), None)
        if twice is not None:
            raise RequestError(f"series: {twice!r} is listed twice; list each series once")
        if len(ids) > max_series:
            raise RequestError(f"series: {len(ids)} series asked for; this server forecasts at most {max_series} per "
                               "request (--max-series): split the request")
        series = tuple(ids)

    missing = raw.get("missing")
    if missing is not None and missing not in MISSING_POLICIES:
        raise RequestError(f"missing: expected one of {', '.join(MISSING_POLICIES)}, got {json.dumps(missing)[:80]}")

    tables = {}
    for name in ("history", "future"):
        value = raw.get(name)
        if value is not None and (not isinstance(value, dict) or not value):
            raise RequestError(f"{name}: expected an object of columns, each an array of values "
                               f'({{"date": [...], "y": [...]}}), got {json.dumps(value)[:80]}')
        tables[name] = value
    return ForecastRequest(horizon=horizon, levels=levels, series=series, history=tables["history"],
                           future=tables["future"], missing=missing)


def history_panel(loaded: Loaded, history: dict[str, Any], *, missing: str | None = None) -> Panel:
    """The ``history`` columns as the row's :class:`~forecaster.data.frame.Panel`, loaded with its settings and
    validated as :func:`~forecaster.workflows.predict.load_for_predict` validates a ``--data`` file (the same
    loaders, the same order of checks; ``history`` names the table in errors).

    Raises:
        DataError: a bad table, or a frequency other than the model's.
    """
    frame = from_columns(history, "history")
    d = loaded.manifest["data"]
    freq = loaded.manifest["window"]["freq"]
    options = {"target": d["target"], "time_col": d.get("time_col"), "covariates": d["covariates"],
               "missing": missing or d.get("missing", "error"), "known": d.get("known", []), "label": "history"}
    if d.get("id_col"):
        panel = load_panel(frame, id_col=d["id_col"], static=d.get("static_columns", d.get("static", [])),
                           static_levels=d.get("static_levels", {}), **options)
        _same_freq(panel.first.freq, freq)
        return panel
    try:  # its own frequency first, so a daily history given to an hourly model says so
        series = load_series(frame, **options)
    except DataError as exc:
        if "frequency" not in str(exc) and "missing from the" not in str(exc):
            raise
        series = load_series(frame, **options, freq=freq)
    _same_freq(series.freq, freq)
    return Panel.of(series)


def _same_freq(found: str, freq: str) -> None:
    if pd.tseries.frequencies.to_offset(found) != pd.tseries.frequencies.to_offset(freq):
        raise DataError(f"history: the data's frequency is {found!r}, the model's is {freq!r}; "
                        "forecast with a model trained on this frequency")


def future_frame(loaded: Loaded, future: dict[str, Any] | None, notes: list[str]) -> pd.DataFrame | None:
    """The ``future`` columns as :func:`~forecaster.workflows.predict.read_future` reads a ``--future`` file:
    required by a model with known covariates, refused by one without, ignored (with a note) by a row
    that reads the target alone.

    Raises:
        ConfigError: given to a model without known covariates, or left out for one with them.
        DataError: a bad table.
    """
    if future is None:
        return read_future(loaded, None)  # raises when the model needs the values
    d = loaded.manifest["data"]
    known = d.get("known", [])
    if not known:
        raise ConfigError(f"future: {loaded.path} was trained without known covariates (--known-covariates) and reads "
                          "no future values; leave out \"future\", or serve the model trained with them")
    if not loaded.capabilities.uses_covariates:
        notes.append(f"future: {loaded.path.name} reads the target alone; the future values were not used")
        return None
    return load_future(from_columns(future, "future"), time_col=d.get("time_col") or "timestamp", known=known,
                       id_col=d.get("id_col"), label="future")


#: The CLI's flags in the library's messages, as a request's fields (an HTTP client has no flags).
_FIELD_WORDS = [
    (re.compile(r"set --missing interpolate\|ffill \(data\.missing\)"), 'set "missing": "interpolate" or "ffill"'),
    (re.compile(r"pass the series with --data"), 'send the series in "history"'),
    (re.compile(r"with --future FILE"), 'in "future"'),
    (re.compile(r"leave out --future"), 'leave out "future"'),
    (re.compile(r"pass --levels none"), 'pass "levels": []'),
    (re.compile(r"^--(horizon|levels|series|future)\b( [^:]*)?:"), r"\1:"),
    (re.compile(r"\(\.iloc\[(\d+)\]\)"), r"(index \1 in the arrays)"),  # a DataFrame's position, as JSON counts
]


def field_message(message: str) -> str:
    """A library message with the CLI's flags named as the request's fields.

    Example:
        >>> field_message("--horizon: expected 1..4 (the model was trained for 4 steps), got 9")
        'horizon: expected 1..4 (the model was trained for 4 steps), got 9'
        >>> field_message("history: column 'y' (--target): row 2 (.iloc[1]) value 'abc' is not a number")
        "history: column 'y' (--target): row 2 (index 1 in the arrays) value 'abc' is not a number"
    """
    for pattern, words in _FIELD_WORDS:
        message = pattern.sub(words, message)
    return message
