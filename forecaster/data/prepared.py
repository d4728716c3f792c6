"""The prepared inputs of a run: every series of a file split by time and scaled on its own training rows.

Every model of a run (network, baseline, statistical) is fitted and scored on one
:class:`Prepared`: the same splits, the same scalers, the same windows and the same MASE scales.
A file of one series is a :class:`Prepared` of one, so one series and many take the same path.
Each series is a :class:`PreparedSeries` (its own split by time, its own scaler fitted on its own
training rows, its own MASE scale); a global network trains on :attr:`Prepared.scaled`, every
series' scaled rows stacked, with each window's start row taken from its own series' windows and
shifted to where that series lies in the stack (``indptr``-style offsets, as statsforecast's
``GroupedArray``), so no window ever reads two series. A series too short for the windows is
skipped and named (a file of one series reports its own error instead).

Example:
    >>> from forecaster import config
    >>> prep = prepare(config.resolve())  # doctest: +SKIP
    >>> len(prep.items), prep.single.split.train_end, prep.season  # doctest: +SKIP
    (1, 6132, 24)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from forecaster.config import RunConfig
from forecaster.data.columns import Columns
from forecaster.data.features import calendar_features, input_columns, input_values
from forecaster.data.frame import Panel, SeriesFrame
from forecaster.data.load import load
from forecaster.data.scaling import Scaler, SeriesScalers, check_readable
from forecaster.data.seasons import lookback_for, seasons_for, window_lookback
from forecaster.data.windows import PARTS, Split, make_dataset, split, target_windows
from forecaster.errors import DataError

__all__ = ["PreparedSeries", "Prepared", "StackSplit", "prepare", "prepare_series", "static_stats", "describe",
           "skipped_note", "series_counts", "check_ids", "MAX_LISTED"]

#: Skipped series named in a message, at most (the count is always given).
MAX_LISTED = 10


@dataclass(frozen=True)
class PreparedSeries:
    """One series of a run: its split, its scaler, its windows and its MASE scale.

    Attributes:
        series: the loaded series.
        split: the chronological split (row bounds, lookback, horizon).
        scaler: fitted on the training rows only.
        values: ``(n, n_features)`` float64 rows in the original units, target in column 0.
        scaled: the same rows scaled (float32), what the networks train on.
        season: the seasonal period (seasonal naive, MASE).
        y: the target column of ``values``.
        test_targets: ``(n_test_windows, horizon)`` targets of the test windows, original units.
    """

    series: SeriesFrame
    split: Split
    scaler: Scaler
    scaled: np.ndarray
    season: int
    y: np.ndarray
    test_targets: np.ndarray
    values: np.ndarray
    seasons: tuple[int, ...] = ()  # every period the models may use (season first among them), see seasons_for
    season_notes: tuple[str, ...] = ()  # inferred periods left out, and why
    calendar: bool = False  # calendar inputs were added (see input_values)

    @property
    def series_id(self) -> str | None:
        """The series' id (``None`` for a file of one series)."""
        return self.series.series_id

    @property
    def columns(self) -> list[str]:
        """The input columns of ``values``: target, past covariates, known covariates, calendar inputs."""
        return list(self.scaler.columns)

    def origins(self, part: str) -> np.ndarray:
        """The forecast origin (first target row) of every window of ``part``."""
        return self.split.first_targets(part)

    def targets(self, part: str) -> np.ndarray:
        """``(n_windows, horizon)`` targets of ``part``'s windows, original units."""
        if part == "test":
            return self.test_targets
        return target_windows(self.y, self.origins(part), self.split.horizon)

    @property
    def insample(self) -> np.ndarray:
        """The training part of the target (scales MASE)."""
        return self.y[: self.split.train_end]


def prepare_series(cfg: RunConfig, series: SeriesFrame, *, sp: Split | None = None,
                   static_stats: Mapping[str, tuple[float, float]] | None = None) -> PreparedSeries:
    """Split and scale one series.

    Args:
        cfg: the resolved configuration.
        series: the loaded series.
        sp: an explicit split (a backtest fold); its ``n`` may be shorter than the series, which
            is then cut at ``sp.n`` so nothing after the fold is even held in memory.
        static_stats: a panel's static covariates: ``column -> (mean, scale)`` over its series,
            used in place of this series' own statistics (a constant column scaled by itself
            would be 0 in every series, and tell them apart no longer).
    """
    w = cfg.window
    calendar = cfg.data.calendar
    values = input_values(series, w.horizon, calendar=calendar)
    if sp is None:
        sp = split(len(values), lookback=window_lookback(cfg, series), horizon=w.horizon, val=w.val, test=w.test,
                   source=series.path)
    if (series.known or calendar) and sp.lookback < w.horizon:
        raise DataError(f"{series.path}: lookback {sp.lookback} is shorter than the horizon {w.horizon}; known "
                        "covariates and calendar inputs need lookback >= horizon (a window's last rows carry the "
                        "values of the steps it forecasts): raise --lookback")
    values = values[: sp.n]
    source = series.path + (f": series {series.series_id!r}" if series.series_id is not None else "")
    scaler = Scaler(input_columns(series, calendar)).fit(values[: sp.train_end], source=source)
    for col in series.static:
        if static_stats is None or col not in static_stats:
            raise DataError(f"{series.path}: static covariate '{col}' has no statistics over the panel's series")
        j = scaler.columns.index(col)
        scaler.mean_[j], scaler.scale_[j] = static_stats[col]
    check_readable(values, scaler, source=source, index=series.frame.index)
    season, seasons, notes = seasons_for(cfg, series.freq, sp.train_end, series.path)
    first = sp.first_targets("test")
    if season > int(first.min()):
        raise DataError(
            f"{series.path}: season {season} is longer than the {int(first.min())} rows before the test part; "
            "set window.season (--season) to a shorter cycle or use more data"
        )
    y = values[:, 0]
    return PreparedSeries(
        series=series, split=sp, scaler=scaler, scaled=scaler.transform(values),
        season=season, y=y, test_targets=target_windows(y, first, w.horizon), values=values,
        seasons=seasons, season_notes=notes, calendar=calendar,
    )


@dataclass(frozen=True)
class StackSplit:
    """The stacked windows of every series: start rows per part in the stacked array."""

    lookback: int
    horizon: int
    offsets: np.ndarray  # row of the stack where each series starts (and the total, last)
    parts: dict[str, np.ndarray]

    def starts(self, part: str) -> np.ndarray:
        """Start rows (in the stack) of every window whose targets lie in ``part`` of its own series."""
        return self.parts[part]

    def first_targets(self, part: str) -> np.ndarray:
        return self.parts[part] + self.lookback


@dataclass(frozen=True)
class Prepared:
    """The shared inputs of a run (see the module docstring).

    Attributes:
        panel: the loaded file (one series or many).
        items: one prepared series per series kept, in the file's order.
        skipped: ``(series id, reason)`` of each series left out (too short for the windows).
        split: the stacked windows.
        scaled: every kept series' scaled rows, stacked (float32).
        season: the main season; ``seasons``: the periods every kept series can use.
    """

    panel: Panel
    items: tuple[PreparedSeries, ...]
    skipped: tuple[tuple[str, str], ...]
    split: StackSplit
    scaled: np.ndarray
    season: int
    seasons: tuple[int, ...]
    columns: Columns
    calendar: bool = False
    #: candidate lookback -> the linear row's validation loss, when the lookback was chosen by evidence
    lookback_scores: Mapping[int, float] = field(default_factory=dict)

    @property
    def ids(self) -> list[str | None]:
        """The kept series' ids (``[None]`` for a file of one series)."""
        return [p.series_id for p in self.items]

    @property
    def scaler(self) -> SeriesScalers:
        """Every kept series' scaler (one row of statistics per series)."""
        return SeriesScalers(self.ids, [p.scaler for p in self.items])

    @property
    def input_columns(self) -> list[str]:
        return self.items[0].columns

    @property
    def has_future_inputs(self) -> bool:
        """Known covariates or calendar inputs: a window's last rows carry values of the steps it forecasts."""
        return self.columns.has_future_inputs

    @property
    def single(self) -> PreparedSeries:
        """The one series of a :class:`Prepared` of one (a local model's view).

        Raises:
            ValueError: it holds several series.
        """
        if len(self.items) != 1:
            raise ValueError(f"{len(self.items)} series where one was expected (a local model is fitted per series)")
        return self.items[0]

    def only(self, k: int) -> Prepared:
        """The ``k``-th series alone, as a :class:`Prepared` of one (what a local model is fitted on)."""
        item = self.items[k]
        n = len(item.scaled)
        parts = {part: np.asarray(item.split.starts(part), dtype=np.int64) for part in PARTS}
        return Prepared(panel=self.panel, items=(item,), skipped=(),
                        split=StackSplit(self.split.lookback, self.split.horizon, np.array([0, n]), parts),
                        scaled=item.scaled, season=item.season, seasons=item.seasons, calendar=self.calendar,
                        columns=self.columns, lookback_scores=self.lookback_scores)

    def dataset(self, part: str, *, batch_size: int, shuffle: bool = False, seed: int | None = None) -> Any:
        """Batches of windows drawn from every series (none crossing two)."""
        sp = self.split
        rows = sp.starts(part)
        # one series: its rows as a range (the streamed dataset's cheaper path, and the same batches as ever)
        starts = (range(int(rows[0]), int(rows[-1]) + 1) if len(rows) else range(0)) if len(self.items) == 1 else rows
        return make_dataset(self.scaled, starts, lookback=sp.lookback, horizon=sp.horizon,
                            batch_size=batch_size, shuffle=shuffle, seed=seed)


def static_stats(series: Sequence[SeriesFrame]) -> dict[str, tuple[float, float]]:
    """Mean and scale (standard deviation; 1 when every series shares the value) of each static covariate over
    ``series``, one value per series: the statistics every series' scaler uses for them."""
    out: dict[str, tuple[float, float]] = {}
    for col in series[0].static if series else ():
        vals = np.array([s.frame[col].iloc[0] for s in series], dtype=np.float64)
        std = float(vals.std())
        out[col] = (float(vals.mean()), std if std > 0 else 1.0)
    return out


def prepare(cfg: RunConfig, panel: Panel | None = None, *, lookback: int | None = None,
            lookback_scores: Mapping[int, float] | None = None,
            split_of: Callable[[SeriesFrame, int], Split] | None = None,
            advice: str = "use a shorter --lookback/--horizon or smaller --val/--test") -> Prepared:
    """Prepare every series of the file with one lookback and horizon (its own split and scaler).

    The lookback is ``lookback``, else ``window.lookback``, else the longest season-aware span for the
    series of median length (:func:`forecaster.data.seasons.lookback_for`; a run chooses among the
    candidates by evidence and passes its choice and ``lookback_scores``:
    :func:`forecaster.workflows.train.prepare_run`). Each series is split by time by the
    ``window`` fractions, or by ``split_of(series, lookback)`` (a backtest fold's split). A
    series whose parts cannot hold the windows is skipped with its reason; when none can, the
    error ends with ``advice`` (a file of one series: its own error).

    Raises:
        DataError: no series is long enough (the message gives the shortest need and a few ids).
    """
    panel = panel if panel is not None else load(cfg)
    w = cfg.window
    lb = lookback or lookback_for(cfg, panel)
    first = panel.first
    many = panel.id_col is not None
    if many and (first.known or cfg.data.calendar) and lb < w.horizon:  # the settings are at fault: say so once
        raise DataError(f"{panel.path}: lookback {lb} is shorter than the horizon {w.horizon}; known covariates and "
                        "calendar inputs need lookback >= horizon: raise --lookback")
    if cfg.data.calendar:
        calendar_features(first.frame.index[:1], first.freq)  # a yearly file has no calendar cycle: one error
    items, skipped, splits = [], [], []

    def skip(s: SeriesFrame, exc: DataError) -> None:
        if not many:  # a file of one series: its own error, as it is
            raise exc
        text = str(exc).split(": ", 1)[-1]
        reason = text.split(": ", 1)[1].split(";")[0] if "rows are too few" in text else text
        skipped.append((str(s.series_id), f"{len(s.frame)} rows, {reason}"))

    for s in panel.series:
        try:
            splits.append((s, split_of(s, lb) if split_of is not None
                           else split(len(s.frame), lookback=lb, horizon=w.horizon, val=w.val, test=w.test,
                                      source=s.path)))
        except DataError as exc:
            skip(s, exc)
    stats = static_stats([s for s, _ in splits])  # over the series kept, not those too short for the windows
    for s, sp in splits:
        try:
            items.append(prepare_series(cfg, s, sp=sp, static_stats=stats))
        except DataError as exc:
            skip(s, exc)
    if not items:
        ids = ", ".join(sid for sid, _ in skipped[:MAX_LISTED])
        raise DataError(f"{panel.path}: no series is long enough for lookback {lb} and horizon {w.horizon} "
                        f"({len(skipped)} series: {ids}; e.g. {skipped[0][1]}); {advice}")
    lengths = np.array([len(p.scaled) for p in items], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    parts = {part: np.concatenate([np.asarray(p.split.starts(part), dtype=np.int64) + off
                                   for p, off in zip(items, offsets[:-1])]) for part in PARTS}
    seasons = tuple(sorted(set.intersection(*(set(p.seasons) for p in items))))
    columns = panel.columns.with_calendar(items[0].columns[len(panel.columns.frame_columns):])
    return Prepared(
        panel=panel, items=tuple(items), skipped=tuple(skipped),
        split=StackSplit(lookback=lb, horizon=w.horizon, offsets=offsets, parts=parts),
        scaled=np.concatenate([p.scaled for p in items]), season=items[0].season, seasons=seasons,
        calendar=cfg.data.calendar, columns=columns, lookback_scores=dict(lookback_scores or {}),
    )


def skipped_note(prep: Prepared) -> str | None:
    """``"3 series skipped (too short for the windows: ...): a, b, c"``; ``None`` when none was."""
    if not prep.skipped:
        return None
    ids = [sid for sid, _ in prep.skipped]
    shown = ", ".join(ids[:MAX_LISTED]) + (f", ... ({len(ids)} in all)" if len(ids) > MAX_LISTED else "")
    return f"{len(ids)} series skipped (too short for the windows: {prep.skipped[0][1]}): {shown}"


def describe(prep: Prepared) -> str:
    """One line: the data, its series, frequency, season, lookback and the window counts per part."""
    sp, panel = prep.split, prep.panel
    extra = [p for p in prep.seasons if p != prep.season]
    seasons = f"season {prep.season}" + (f", also {','.join(map(str, extra))}" if extra else "")
    windows = f"windows train {len(sp.starts('train'))} / val {len(sp.starts('val'))} / test {len(sp.starts('test'))}"
    if panel.id_col is None:
        s = prep.single
        note = f", {s.series.filled_note}" if s.series.filled_note else ""
        return (f"data: {s.series.path} ({s.split.n} rows{note}, freq {s.series.freq}, {seasons}; "
                f"lookback {sp.lookback}); {windows}")
    filled = sum(p.series.n_filled for p in prep.items)
    return (f"data: {panel.path} ({len(prep.items)} series by '{panel.id_col}', {int(sp.offsets[-1])} rows"
            f"{f', {filled} values filled' if filled else ''}, freq {prep.items[0].series.freq}, {seasons}; "
            f"lookback {sp.lookback}); {windows} over all series")


def series_counts(prep: Prepared) -> dict[str, Any]:
    """How many series were kept and skipped, and which were skipped (for the run's records)."""
    return {"series": len(prep.items), "skipped": len(prep.skipped), "skipped_ids": [sid for sid, _ in prep.skipped]}


def check_ids(prep: Prepared, wanted: Sequence[str]) -> None:
    """Refuse a ``--series`` id that is not among the kept series."""
    have = set(prep.ids)
    missing = [w for w in wanted if w not in have]
    if missing:
        raise DataError(f"--series: {missing[0]!r} is not a series of {prep.panel.path} (it has {len(have)})")
