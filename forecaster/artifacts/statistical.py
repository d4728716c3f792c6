"""A saved statistical row: its spec (plain JSON, one per series of a panel), loaded and served.

A statistical row's folder holds ``spec.json``: the structure its fit selected (ETS components,
ARIMA orders...) and its parameters. A file of one series saves that one spec; a panel saves
``{"name": ..., "per_series": {<id>: spec}}``. Since state format 1 each spec also holds the fitted
state, served with numpy (:mod:`forecaster.models.statistical_state`); an older spec is served by
refitting its saved structure on the series given. Nothing is unpickled.

Example:
    >>> loaded = load_statistical(Path("models/x/runs/<id>/ets"))  # doctest: +SKIP
    >>> loaded.serves(None), loaded.future(y, 24, None).shape  # doctest: +SKIP
    (True, (24,))
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from forecaster.artifacts import layout
from forecaster.artifacts.manifest import check_cell, check_statistical, is_statistical
from forecaster.errors import ArtifactError
from forecaster.fs import read_json
from forecaster.models.contract import Capabilities, Kind
from forecaster.models.local import FAILURES, reason_of
from forecaster.models.statistical_spec import SpecError, check_spec

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

    import pandas as pd

    from forecaster.data.frame import SeriesFrame
    from forecaster.data.prepared import Prepared, PreparedSeries
    from forecaster.models.statistical import StatisticalModel

__all__ = ["LoadedStatistical", "load_statistical", "read_spec"]


def read_spec(cell_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A statistical row's checked manifest and its spec.

    Raises:
        ArtifactError: the folder is not an intact statistical row.
    """
    manifest = check_cell(cell_dir)
    spec = read_json(cell_dir / layout.SPEC_FILE, "statistical model spec")
    if not is_statistical(manifest) or not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ArtifactError(f"{cell_dir}: not a statistical model's folder (expected {layout.SPEC_FILE} with a 'name')")
    per = spec.get("per_series")
    if per is not None and not (isinstance(per, dict) and all(isinstance(v, dict) for v in per.values())):
        raise ArtifactError(f"{cell_dir}/{layout.SPEC_FILE}: 'per_series' must map series ids to specs")
    check_statistical(cell_dir, manifest, spec)
    season = manifest.get("window", {}).get("season")
    for sid, one in ({None: spec} if per is None else per).items():
        where = f"{cell_dir / layout.SPEC_FILE}" + (f" (series {sid!r})" if sid is not None else "")
        try:
            check_spec(one)  # its own schema: names, seasons and orders in range, a state that fits its structure
        except SpecError as exc:
            raise ArtifactError(f"{where}: {exc}; the saved model is unusable: retrain it") from None
        if per is None and season is not None and season != one["season"]:
            raise ArtifactError(f"{where}: season {one['season']} disagrees with the manifest's {season}; the saved "
                                "model is unusable: retrain it")
    return manifest, spec


@dataclass(frozen=True)
class LoadedStatistical:
    """A saved statistical row (its specs): refitted on the series it forecasts, never unpickled.

    The structure its training fit selected (ETS components, ARIMA orders...) is kept and its
    parameters are re-estimated on the data given to predict (see
    :func:`forecaster.models.statistical.forecast_future`). As a row of the model contract (the
    retrain gate's re-score), :meth:`fit` re-estimates each series' structure on its train +
    validation rows and :meth:`on` forecasts that series at any origin.
    """

    path: Path
    spec: dict[str, Any]
    manifest: dict[str, Any]
    fitted_: dict[str | None, StatisticalModel] = field(default_factory=dict, compare=False)
    failed_: dict[str | None, str] = field(default_factory=dict, compare=False)
    backend = "statsforecast"
    kind: Kind = "baseline"
    capabilities = Capabilities(uses_covariates=False, saves=True)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def specs(self) -> dict[str | None, dict[str, Any]]:
        """Each series' spec (a file of one series: the one spec, under ``None``)."""
        per = self.spec.get("per_series")
        return {None: self.spec} if per is None else dict(per)

    def serves(self, series_id: str | None) -> bool:
        """Whether a spec was saved for ``series_id`` (its fit did not fail in training)."""
        return series_id in self.specs

    @property
    def horizon(self) -> int:
        return int(self.manifest["window"]["horizon"])

    @property
    def lookback(self) -> int:
        """Rows ``forecast`` requires at least (the refit itself checks what the model needs)."""
        return 1

    def fit(self, prep: Prepared) -> LoadedStatistical:
        """Each series' saved structure with its parameters re-estimated on that series' train + validation
        rows (a series without a spec, or whose refit fails, is recorded as failed)."""
        from forecaster.models.statistical import from_spec

        self.fitted_.clear()
        self.failed_.clear()
        specs = self.specs
        for k, item in enumerate(prep.items):
            spec = specs.get(item.series_id)
            if spec is None:
                self.failed_[item.series_id] = f"{self.path} has no model for series {item.series_id!r}"
                continue
            try:
                self.fitted_[item.series_id] = from_spec(spec).fit(prep.only(k))
            except FAILURES as exc:
                self.failed_[item.series_id] = reason_of(exc)
        return self

    def on(self, item: PreparedSeries) -> StatisticalModel:
        """The model refitted on ``item``'s series by :meth:`fit`.

        Raises:
            ValueError: it was not fitted on that series (no spec, or its refit failed).
        """
        if item.series_id in self.fitted_:
            return self.fitted_[item.series_id]
        raise ValueError(self.failed_.get(item.series_id, f"{self.name}: call fit before on"))

    def forecast_frames(self, frames: Sequence[SeriesFrame], horizon: int, future: pd.DataFrame | None = None,
                        source: str = "--future") -> tuple[np.ndarray, np.ndarray]:
        """``horizon`` steps after the end of each series' target, ``(n, horizon)``, and unit scales ``(n, 1)``
        (it reads the target alone: ``future`` is not used)."""
        yhat = np.stack([self.future(s.frame[s.target].to_numpy(dtype=np.float64), horizon, s.series_id)
                         for s in frames])
        return yhat, np.ones((len(frames), 1))

    def future(self, y: np.ndarray, horizon: int, series_id: str | None = None) -> np.ndarray:
        """``horizon`` steps after ``y``: from the series' saved state with numpy (parameters frozen, as the
        leaderboard scored them; no statsforecast import), or, for a spec saved without one (before state
        format 1, or mstl), by refitting its saved structure on ``y``.

        Raises:
            ArtifactError: no spec for the series, statsforecast missing where a refit is needed (the serving
                image), or the saved model cannot forecast this series (exit 4, "saved model unusable").
        """
        from forecaster.models.statistical_spec import SINGLE, StateError
        from forecaster.models.statistical_state import forecast as from_state

        spec = self.specs.get(series_id)
        if spec is None:
            raise ArtifactError(f"{self.path}: no model for series {series_id!r}")
        try:
            out = from_state(spec, y, horizon, SINGLE)
        except (StateError, ValueError, ArithmeticError) as exc:
            raise ArtifactError(f"{self.path}: the saved {spec.get('name')} model cannot forecast this series "
                                f"({exc}); the saved model is unusable: retrain it") from None
        if out is not None:
            return out
        if importlib.util.find_spec("statsforecast") is None:  # the serving image has ONNX Runtime only
            raise ArtifactError(f"{self.path}: a statistical model ({spec.get('name')}) saved without its state is "
                                "refitted to serve, which needs statsforecast: serve it with the full installation")
        from forecaster.models.statistical import FitFailed, forecast_future

        try:
            return forecast_future(y, horizon, spec)
        except FitFailed as exc:  # the saved structure does not fit this series: the model, not the training
            raise ArtifactError(f"{self.path}: refitting the saved {spec.get('name')} model failed "
                                f"({exc.reason}); the saved model is unusable: retrain it") from None


def load_statistical(path: Path) -> LoadedStatistical:
    """A statistical row's folder, checked.

    Raises:
        ArtifactError: the folder is not an intact statistical row.
    """
    manifest, spec = read_spec(path)
    return LoadedStatistical(path=path, spec=spec, manifest=manifest)
