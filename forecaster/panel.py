"""Many series in one file: each series prepared as a file of one series is, their windows stacked.

A :class:`PanelPrepared` holds one :class:`~forecaster.prepared.Prepared` per series (its own
split by time, its own scaler fitted on its own training rows, its own MASE scale) and the
stacked, per-series scaled rows a global network trains on. A window's start row is taken
from its own series' windows, shifted to where that series lies in the stack, so no window
ever reads two series. Series too short for the windows are skipped and named, never a crash.

Example:
    >>> from forecaster import config
    >>> cfg = config.resolve(overrides={"data.path": "data/tourism_panel.csv", "data.id_col": "series_id"})  # doctest: +SKIP
    >>> pp = prepare_panel(cfg)  # doctest: +SKIP
    >>> len(pp.items), pp.split.lookback  # doctest: +SKIP
    (40, 48)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forecaster import baselines
from forecaster.config import RunConfig
from forecaster.data import Panel, SeriesFrame, calendar_features, load_panel
from forecaster.errors import DataError
from forecaster.prepared import LOOKBACK_SERIES, Prepared, lookback_choice, prepare, training_rows
from forecaster.windows import PARTS, SeriesScalers, Split, make_dataset, split

__all__ = ["PanelPrepared", "PanelSplit", "prepare_panel", "panel_lookback", "panel_lookback_choice", "load", "describe",
           "MAX_LISTED"]

#: Skipped series named in a message, at most (the count is always given).
MAX_LISTED = 10


@dataclass(frozen=True)
class PanelSplit:
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
class PanelPrepared:
    """The shared inputs of a panel run (see the module docstring).

    Attributes:
        panel: the loaded file.
        items: one prepared series per series kept, in the file's order.
        skipped: ``(series id, reason)`` of each series left out (too short for the windows).
        split: the stacked windows.
        scaled: every kept series' scaled rows, stacked (float32).
        season: the main season; ``seasons``: the periods every kept series can use.
    """

    panel: Panel
    items: tuple[Prepared, ...]
    skipped: tuple[tuple[str, str], ...]
    split: PanelSplit
    scaled: np.ndarray
    season: int
    seasons: tuple[int, ...]
    calendar: bool = False
    lookback_scores: Mapping[int, float] = dataclasses.field(default_factory=dict)  # candidate -> linear val loss

    @property
    def ids(self) -> list[str]:
        return [str(p.series.series_id) for p in self.items]

    @property
    def scaler(self) -> SeriesScalers:
        return SeriesScalers(self.ids, [p.scaler for p in self.items])

    @property
    def columns(self) -> list[str]:
        return self.items[0].columns

    @property
    def has_future_inputs(self) -> bool:
        return self.items[0].has_future_inputs

    def dataset(self, part: str, *, batch_size: int, shuffle: bool = False, seed: int | None = None) -> Any:
        """Batches of windows drawn from every series (none crossing two)."""
        sp = self.split
        return make_dataset(self.scaled, sp.starts(part), lookback=sp.lookback, horizon=sp.horizon,
                            batch_size=batch_size, shuffle=shuffle, seed=seed)

    def residual_base(self, steps: int, *, linear: bool = True) -> baselines.ResidualBase:
        """The baseline the global network corrects, chosen on every series' training windows (scaled)."""
        sp = self.split
        first = sp.first_targets("train")
        base = baselines.residual_base(self.scaled[:, 0], first, steps, season=self.season, lookback=sp.lookback,
                                       seasons=self.seasons)
        if not linear:
            return base
        start = baselines.linear_start(self.scaled, first, sp.first_targets("val"), steps, base, lookback=sp.lookback)
        return dataclasses.replace(base, linear=(start.kernel, start.bias), start=start)


def load(cfg: RunConfig, *, static_levels: Mapping[str, Sequence[str]] | None = None) -> Panel:
    """Load and validate the configured panel (``data.id_col`` set); ``static_levels``: a saved model's
    categories of its text static covariates (see :func:`forecaster.data.load_panel`)."""
    d = cfg.data
    if d.id_col is None:
        raise DataError(f"{d.path}: no series-id column given; set --id-col (data.id_col)")
    return load_panel(d.path, id_col=d.id_col, target=d.target, time_col=d.time_col, covariates=d.covariates,
                      missing=d.missing, freq=d.freq, known=d.known_covariates, static=d.static_covariates,
                      static_levels=static_levels)


def static_stats(series: Sequence[SeriesFrame]) -> dict[str, tuple[float, float]]:
    """Mean and scale (standard deviation; 1 when every series shares the value) of each static covariate over
    ``series``, one value per series: the statistics every series' scaler uses for them."""
    out: dict[str, tuple[float, float]] = {}
    for col in series[0].static if series else ():
        vals = np.array([s.frame[col].iloc[0] for s in series], dtype=np.float64)
        std = float(vals.std())
        out[col] = (float(vals.mean()), std if std > 0 else 1.0)
    return out


def _median_series(panel: Panel) -> SeriesFrame:
    lengths = np.array([len(s.frame) for s in panel.series])
    return panel.series[int(np.argsort(lengths, kind="stable")[len(lengths) // 2])]


def panel_lookback(cfg: RunConfig, panel: Panel) -> int:
    """``window.lookback``, or the lookback chosen by evidence (:func:`panel_lookback_choice`)."""
    return panel_lookback_choice(cfg, panel)[0]


def panel_lookback_choice(cfg: RunConfig, panel: Panel) -> tuple[int, dict[int, float]]:
    """``window.lookback``, or the season-aware candidate of the series of median length whose ``linear``
    row scores the lowest validation loss, averaged over up to :data:`~forecaster.prepared.LOOKBACK_SERIES`
    series spread over the file (:func:`forecaster.prepared.lookback_choice`); with every candidate's score."""
    median = _median_series(panel)
    series = list(panel.series)
    if len(series) > LOOKBACK_SERIES:
        series = [series[i] for i in np.linspace(0, len(series) - 1, LOOKBACK_SERIES).round().astype(int)]
    return lookback_choice(cfg, series, training_rows(cfg, len(median.frame)))


def prepare_panel(cfg: RunConfig, panel: Panel | None = None, *, lookback: int | None = None,
                  split_of: Callable[[SeriesFrame, int], Split] | None = None,
                  advice: str = "use a shorter --lookback/--horizon or smaller --val/--test") -> PanelPrepared:
    """Prepare every series of the panel with one lookback and horizon (its own split and scaler).

    The lookback is ``window.lookback``, or the default for the series of median length
    (:func:`forecaster.prepared.window_lookback`). Each series is split by time by the
    ``window`` fractions, or by ``split_of(series, lookback)`` (a backtest fold's split). A
    series whose parts cannot hold the windows is skipped with its reason; when none can, the
    error ends with ``advice``.

    Raises:
        DataError: no series is long enough (the message gives the shortest need and a few ids).
    """
    panel = panel if panel is not None else load(cfg)
    w = cfg.window
    scores: Mapping[int, float] = {}
    if lookback:
        lb = lookback
    else:
        lb, scores = panel_lookback_choice(cfg, panel)
    first = panel.first
    if (first.known or cfg.data.calendar) and lb < w.horizon:  # settings, not series, are at fault: say so once
        raise DataError(f"{panel.path}: lookback {lb} is shorter than the horizon {w.horizon}; known covariates and "
                        "calendar inputs need lookback >= horizon: raise --lookback")
    if cfg.data.calendar:
        calendar_features(first.frame.index[:1], first.freq)  # a yearly panel has no calendar cycle: one error
    items, skipped, splits = [], [], []

    def skip(s: SeriesFrame, exc: DataError) -> None:
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
            items.append(prepare(cfg, s, sp=sp, static_stats=stats))
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
    return PanelPrepared(
        panel=panel, items=tuple(items), skipped=tuple(skipped),
        split=PanelSplit(lookback=lb, horizon=w.horizon, offsets=offsets, parts=parts),
        scaled=np.concatenate([p.scaled for p in items]), season=items[0].season, seasons=seasons,
        calendar=cfg.data.calendar, lookback_scores=scores,
    )


def skipped_note(pp: PanelPrepared) -> str | None:
    """``"3 series skipped (too short for the windows): a, b, c"``; ``None`` when none was."""
    if not pp.skipped:
        return None
    ids = [sid for sid, _ in pp.skipped]
    shown = ", ".join(ids[:MAX_LISTED]) + (f", ... ({len(ids)} in all)" if len(ids) > MAX_LISTED else "")
    return f"{len(ids)} series skipped (too short for the windows: {pp.skipped[0][1]}): {shown}"


def describe(pp: PanelPrepared) -> str:
    """One line: the file, its series, frequency, season, lookback and the stacked window counts."""
    sp, panel = pp.split, pp.panel
    filled = sum(p.series.n_filled for p in pp.items)
    extra = [p for p in pp.seasons if p != pp.season]
    seasons = f"season {pp.season}" + (f", also {','.join(map(str, extra))}" if extra else "")
    return (f"data: {panel.path} ({len(pp.items)} series by '{panel.id_col}', {int(sp.offsets[-1])} rows"
            f"{f', {filled} values filled' if filled else ''}, freq {pp.items[0].series.freq}, {seasons}; "
            f"lookback {sp.lookback}); windows train {len(sp.starts('train'))} / val {len(sp.starts('val'))} / "
            f"test {len(sp.starts('test'))} over all series")


def series_counts(pp: PanelPrepared) -> dict[str, Any]:
    """How many series were kept and skipped, and which were skipped (for the run's records)."""
    return {"series": len(pp.items), "skipped": len(pp.skipped), "skipped_ids": [sid for sid, _ in pp.skipped]}


def check_ids(pp: PanelPrepared, wanted: Sequence[str]) -> None:
    """Refuse a ``--series`` id that is not among the kept series."""
    have = set(pp.ids)
    missing = [w for w in wanted if w not in have]
    if missing:
        raise DataError(f"--series: {missing[0]!r} is not a series of {pp.panel.path} (it has {len(have)})")
