"""A saved baseline row (naive, seasonal naive, linear): its spec as plain JSON, loaded and served.

Every row of a leaderboard is servable by name (``forecast predict --model <run>/linear``): a baseline
that beats the networks is a real answer, not a number to read and then retrain elsewhere. Naive and
seasonal naive learn nothing but a period; the linear row saves its least-squares map (the kernel and
bias the residual networks start from) and the scalers it reads its windows with.

Folder: ``spec.json`` (``{"name": ..., "season": ...}``, or the linear map), ``scaler.json`` (linear),
``calibration.json``, ``metrics.json``, ``manifest.json`` (kind ``baseline``). Nothing is unpickled;
every field is checked against the manifest before it serves.

Example:
    >>> loaded = load_baseline(Path("models/x/runs/<id>/linear"))  # doctest: +SKIP
    >>> loaded.forecast_frames(panel.series, 24)[0].shape  # doctest: +SKIP
    (1, 24)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forecaster.artifacts import layout
from forecaster.artifacts.manifest import check_agreement, check_cell, is_baseline, panel_ids
from forecaster.data.features import future_of, last_window
from forecaster.data.scaling import SeriesScalers, check_readable, read_scaler
from forecaster.errors import ArtifactError
from forecaster.fs import read_json
from forecaster.models.contract import Capabilities, Forecaster, Kind
from forecaster.models.linear import Linear
from forecaster.models.naive import Naive, SeasonalNaive

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    import pandas as pd

    from forecaster.data.frame import SeriesFrame
    from forecaster.data.prepared import Prepared, PreparedSeries

__all__ = ["BASELINE_ROWS", "LoadedBaseline", "load_baseline", "baseline_spec"]

#: The rows saved as a baseline folder, by name: their class (each has ``spec()``/``from_spec()``).
BASELINE_ROWS: dict[str, type[Naive] | type[SeasonalNaive] | type[Linear]] = {
    "naive": Naive, "seasonal_naive": SeasonalNaive, "linear": Linear}

_UNUSABLE = "the saved model is unusable: retrain it"


def baseline_spec(model: Any, series: Sequence[str | None]) -> dict[str, Any] | None:
    """What a fitted baseline row saves (``None``: not a baseline row, or nothing fitted). ``series``: the
    series it scored (a panel's ids; ``[None]`` for one series); recorded so it serves only those."""
    inner = getattr(model, "models_", None)  # a local row fitted per series (PerSeries): its fitted models
    fitted = next(iter(inner.values()), None) if isinstance(inner, dict) else model
    if fitted is None or getattr(fitted, "name", None) not in BASELINE_ROWS or not hasattr(fitted, "spec"):
        return None
    spec: dict[str, Any] = fitted.spec()
    ids = [sid for sid in series if sid is not None and (not isinstance(inner, dict) or sid in inner)]
    return {**spec, "series": ids} if ids else spec


@dataclass(frozen=True)
class LoadedBaseline:
    """A saved naive, seasonal-naive or linear row, ready to forecast past the end of its series."""

    path: Path
    spec: dict[str, Any]
    manifest: dict[str, Any]
    model: Naive | SeasonalNaive | Linear
    scaler: SeriesScalers | None = None  # linear: the statistics its windows are scaled with, one row per series
    kind: Kind = "baseline"
    backend = "numpy"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(uses_covariates=isinstance(self.model, Linear), saves=True)

    @property
    def horizon(self) -> int:
        return int(self.manifest["window"]["horizon"])

    @property
    def lookback(self) -> int:
        """Rows it reads before the end: the linear map's window, a season, or the last value."""
        if isinstance(self.model, Linear):
            return int(self.model.lookback_)
        if isinstance(self.model, SeasonalNaive):
            return int(self.model.season_)
        return 1

    def serves(self, series_id: str | None) -> bool:
        """Whether it scored ``series_id`` in training (a panel's scaled intervals need that series' scale)."""
        ids = self.spec.get("series")
        return series_id is None if ids is None else series_id in ids

    def fit(self, prep: Prepared) -> LoadedBaseline:
        """A saved baseline is already fitted: it is scored as it is (the contract; the retrain gate re-scores it)."""
        return self

    def on(self, item: PreparedSeries) -> Forecaster:
        """The saved row forecasting one series of prepared data (its own scaler for the linear map)."""
        if isinstance(self.model, Linear):
            assert self.scaler is not None
            if item.series_id not in self.scaler:
                raise ValueError(f"{self.path}: series {item.series_id!r} was not in the training data")
            from forecaster.models.linear import LinearForecaster

            return LinearForecaster(self.model, self.scaler.of(item.series_id))
        return self.model

    def forecast_frames(self, frames: Sequence[SeriesFrame], horizon: int, future: pd.DataFrame | None = None,
                        source: str = "--future") -> tuple[np.ndarray, np.ndarray]:
        """``horizon`` steps after the end of each series, ``(n, horizon)``, and each series' target scale
        ``(n, 1)`` (naive rows: the target alone, unit scales)."""
        if not isinstance(self.model, Linear):
            yhat = np.stack([self.model.predict(s.frame[[s.target]].to_numpy(dtype=np.float64),
                                                np.array([len(s.frame)]), horizon)[0] for s in frames])
            return yhat, np.ones((len(frames), 1))
        assert self.scaler is not None
        calendar = bool(self.manifest["data"].get("calendar", False))
        out, scales = [], []
        for s in frames:
            scaler = self.scaler.of(s.series_id)
            window = last_window(s, self.lookback, self.horizon, calendar=calendar, future=future_of(future, s, source),
                                 source=source)
            where = s.path + (f": series {s.series_id!r}" if s.series_id is not None else "")
            check_readable(window, scaler, source=where, index=s.frame.index, offset=len(s.frame) - len(window))
            from forecaster.models.linear import LinearForecaster

            out.append(LinearForecaster(self.model, scaler).predict(window, np.array([len(window)]), horizon)[0])
            scales.append(float(scaler.scale_[0]))
        return np.stack(out), np.array(scales)[:, None]


def load_baseline(path: Path) -> LoadedBaseline:
    """A baseline row's folder, checked: its manifest and hashes, the spec's fields, and (linear) the scaler and
    the map's shape against the manifest's window and roles.

    Raises:
        ArtifactError: the folder is not an intact baseline row, or its files disagree.
    """
    manifest = check_cell(path)
    spec = read_json(path / layout.SPEC_FILE, "baseline spec")
    name = spec.get("name") if isinstance(spec, dict) else None
    if not is_baseline(manifest) or name not in BASELINE_ROWS:
        raise ArtifactError(f"{path}: not a baseline row's folder (expected {layout.SPEC_FILE} naming one of "
                            f"{', '.join(BASELINE_ROWS)})")
    where = path / layout.SPEC_FILE
    ids = spec.get("series")
    if ids is not None and not (isinstance(ids, list) and all(isinstance(i, str) for i in ids)):
        raise ArtifactError(f"{where}: 'series' must be a list of series ids; {_UNUSABLE}")
    if (ids is not None) != (panel_ids(manifest) is not None):
        raise ArtifactError(f"{where}: 'series' must list a panel's series exactly when {layout.MANIFEST} is a "
                            f"panel's model; {_UNUSABLE}")
    try:
        model = BASELINE_ROWS[name].from_spec(spec)
    except ValueError as exc:
        raise ArtifactError(f"{where}: {exc}; {_UNUSABLE}") from None
    scaler = None
    if isinstance(model, Linear):
        scaler = _linear_scaler(path, manifest, model)
    season = manifest["window"].get("season")
    if isinstance(model, SeasonalNaive) and season is not None and model.season_ != season:
        raise ArtifactError(f"{where}: season {model.season_} is not {layout.MANIFEST}'s {season}; its files disagree: "
                            "retrain or pick another run")
    return LoadedBaseline(path=path, spec=spec, manifest=manifest, model=model, scaler=scaler)


def _linear_scaler(path: Path, manifest: dict[str, Any], model: Linear) -> SeriesScalers:
    """The linear row's scaler, checked against its manifest (columns, series) and its map (window, horizon)."""
    if layout.SCALER_FILE not in manifest["files"]:
        raise ArtifactError(f"{path}: a linear row without {layout.SCALER_FILE} in {layout.MANIFEST}; {_UNUSABLE}")
    source = path / layout.SCALER_FILE
    scaler = read_scaler(read_json(source, "scaler"), source=str(source))
    check_agreement(path, manifest, scaler)
    window = manifest["window"]
    disagree = "its files disagree: retrain or pick another run"
    if model.lookback_ != int(window["lookback"]):
        raise ArtifactError(f"{path}: {layout.SPEC_FILE}'s lookback {model.lookback_} is not {layout.MANIFEST}'s "
                            f"{window['lookback']}; {disagree}")
    width = model.kernel_.shape[0] // model.lookback_
    if width != len(scaler.columns):
        raise ArtifactError(f"{path}: {layout.SPEC_FILE}'s map reads {width} input columns, but {layout.SCALER_FILE} "
                            f"scales {len(scaler.columns)}; {disagree}")
    if model.horizon != int(window["horizon"]):
        raise ArtifactError(f"{path}: {layout.SPEC_FILE}'s map forecasts {model.horizon} steps, but "
                            f"{layout.MANIFEST}'s horizon is {window['horizon']}; {disagree}")
    return scaler
