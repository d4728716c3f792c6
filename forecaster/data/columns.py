"""The roles of a file's columns: one typed record carried by the data, the manifest and the loaded model.

A series' columns each play one role: the ``target`` to forecast; ``past`` covariates (their
values up to each forecast origin are inputs); ``known`` covariates (known in the future too: a
window also reads their values at the steps it forecasts); ``static`` covariates (one value per
series of a panel; a text one becomes one 0/1 input per category, ``region=north``...); and
``calendar`` inputs made from the timestamps. :meth:`Columns.inputs` is the one place that says in
which order a model reads them.

Example:
    >>> c = Columns("y", past=("x",), known=("promo",), calendar=("calendar_day_sin", "calendar_day_cos"))
    >>> c.frame_columns, c.inputs
    (('y', 'x', 'promo'), ('y', 'x', 'promo', 'calendar_day_sin', 'calendar_day_cos'))
    >>> c.led
    ('promo', 'calendar_day_sin', 'calendar_day_cos')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Columns"]


@dataclass(frozen=True)
class Columns:
    """Which column plays which role, and the order a model reads them in.

    Attributes:
        target: the column to forecast.
        past: past covariates (read up to each forecast origin).
        static: a panel's per-series constants as input columns (a text column expanded to one
            ``<column>=<category>`` column per category).
        known: covariates known in the future too (read at the forecast steps as well).
        calendar: the calendar inputs made from the timestamps (``calendar_day_sin``...), empty when off.
        static_named: the static columns as the user named them (before a text one is expanded).
        static_levels: the categories of each text static column.
    """

    target: str
    past: tuple[str, ...] = ()
    static: tuple[str, ...] = ()
    known: tuple[str, ...] = ()
    calendar: tuple[str, ...] = ()
    static_named: tuple[str, ...] = ()
    static_levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def frame_columns(self) -> tuple[str, ...]:
        """The columns of a loaded series' frame: target, past, static, known (calendar is derived)."""
        return (self.target, *self.past, *self.static, *self.known)

    @property
    def covariates(self) -> tuple[str, ...]:
        """Every input column from the file other than the target (past, static, known)."""
        return self.frame_columns[1:]

    @property
    def led(self) -> tuple[str, ...]:
        """Inputs whose value at a forecast step is known at the origin (known covariates, calendar)."""
        return (*self.known, *self.calendar)

    @property
    def inputs(self) -> tuple[str, ...]:
        """A model's input columns in order: what is read up to the origin (target, past, static), then
        what is led by the horizon (known covariates, calendar)."""
        return (self.target, *self.past, *self.static, *self.led)

    @property
    def has_future_inputs(self) -> bool:
        """A window's last rows carry values of the steps it forecasts (known covariates or calendar)."""
        return bool(self.led)

    def with_calendar(self, names: Sequence[str]) -> Columns:
        """The same roles with calendar inputs ``names``."""
        return Columns(self.target, self.past, self.static, self.known, tuple(names), self.static_named,
                       dict(self.static_levels))

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's ``data`` fields that name the roles (the saved-run format's keys)."""
        out: dict[str, Any] = {"target": self.target, "covariates": list(self.past), "known": list(self.known)}
        if self.static or self.static_named:
            out.update(static=list(self.static), static_columns=list(self.static_named),
                       static_levels={c: list(v) for c, v in self.static_levels.items()})
        out["calendar"] = bool(self.calendar)
        return out

    @classmethod
    def from_manifest(cls, data: Mapping[str, Any], calendar: Sequence[str] = ()) -> Columns:
        """The roles a saved manifest's ``data`` record names (``calendar``: the input names, derived from
        the frequency by the caller when ``data.calendar`` is true)."""
        return cls(target=str(data["target"]), past=tuple(data.get("covariates", [])),
                   static=tuple(data.get("static", [])), known=tuple(data.get("known", [])),
                   calendar=tuple(calendar) if data.get("calendar") else (),
                   static_named=tuple(data.get("static_columns", data.get("static", []))),
                   static_levels={str(k): tuple(v) for k, v in (data.get("static_levels") or {}).items()})
