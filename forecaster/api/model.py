"""A saved row ready to forecast (:class:`Model`) and a backtest's scores (:class:`Backtest`), as the API returns them."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecaster.api.boundary import (
    Data,
    calling,
    integer,
    levels_of,
    quiet_tensorflow,
    series_ids,
    source_of,
    table_html,
    warn,
)
from forecaster.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Model", "Backtest"]


class Model:
    """A saved row ready to forecast (a network served by ONNX Runtime or Keras, or a statistical model).

    Attributes:
        path: the row's folder.
        why: why that folder (as ``forecast predict`` says on stderr).
    """

    def __init__(self, cell_dir: Path, why: str, *, data: Data | None = None, owner: Any = None) -> None:
        from forecaster.workflows.predict import load_model, needs_tensorflow

        if needs_tensorflow(cell_dir):
            quiet_tensorflow()
        self.path = Path(cell_dir)
        self.why = why
        self._loaded = load_model(self.path)
        self._data = data
        self._owner = owner  # keeps a result's temporary folder alive while its model is used

    @property
    def name(self) -> str:
        """The row's name (its folder's): ``gru``, ``ets``..."""
        return self.path.name

    @property
    def horizon(self) -> int:
        """The trained horizon (the most steps :meth:`predict` gives)."""
        return int(self._loaded.horizon)

    @property
    def known_covariates(self) -> list[str]:
        """The known covariates the row reads (their values after the end of the series: ``future=``)."""
        return [str(c) for c in self._loaded.manifest["data"].get("known", [])]

    @property
    def manifest(self) -> dict[str, Any]:
        """The row's checked ``manifest.json``."""
        return dict(self._loaded.manifest)

    @property
    def leaderboard(self) -> pd.DataFrame | None:
        """The leaderboard of the run the row belongs to (``None`` for a folder outside a run)."""
        import pandas as pd

        from forecaster.artifacts import layout

        path = self.path.parent / layout.LEADERBOARD_CSV
        return pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else None

    def _panel(self, df: Any) -> Any:
        from forecaster.workflows.predict import load_for_predict

        if df is None:
            if self._data is not None:
                return load_for_predict(self._loaded, self._data.frame, label=self._data.label)
            return load_for_predict(self._loaded, None)
        frame, path = source_of(df)
        return load_for_predict(self._loaded, frame if frame is not None else path, label=path)

    def _future(self, future: Any) -> pd.DataFrame | None:
        from forecaster.workflows.predict import read_future

        frame, path = source_of(future, future=True) if future is not None else (None, None)
        out = read_future(self._loaded, frame if frame is not None else path)
        if future is not None and out is None:  # as the CLI: a naive or statistical row reads the target alone
            warn(f"--future: {self.name} reads the target alone; the values given were not used")
        return out

    def predict(self, df: Any = None, horizon: int | None = None, future: Any = None, series: Any = None,
                levels: Sequence[int] | None = None) -> pd.DataFrame:
        """Forecast past the end of every series of ``df`` (default: the training data): ``forecast predict``.

        Args:
            df: the series to forecast from, as the row was trained (a DataFrame, a Series or a file);
                default: the training data (a run trained on a DataFrame in this session keeps it; a saved
                one trained on a DataFrame needs it given again).
            horizon: steps (default and at most: the trained horizon).
            future: the known covariates' values after the end of each series (see :meth:`Run.forecast`).
            series: a panel's ids to forecast (a list, or one id); default: every series.
            levels: interval levels among the calibrated ones (default: all; ``[]``: none).

        Returns:
            ``[<id_col>,] timestamp, yhat, lo-80, hi-80, ...``: ``horizon`` rows per series, rounded as
            ``forecast predict`` writes them (the same numbers).

        Raises:
            ConfigError: a horizon beyond the trained one, an uncalibrated level, missing ``future``.
            DataError: ``df`` cannot be used as the row was trained (one line naming the column).

        Example:
            >>> load("models/sales").predict(horizon=6, levels=[80])  # doctest: +SKIP
        """
        from forecaster.artifacts.run import advice, lost_to_baseline
        from forecaster.data.load import FUTURE_SOURCE
        from forecaster.workflows.formats import by_series
        from forecaster.workflows.predict import beyond_history, forecast

        with calling():
            h = integer(horizon, "--horizon", 1) if horizon is not None else None
            wanted = series_ids(series)
            served = levels_of(levels)
            panel = self._panel(df)
            future_frame = self._future(future)
            if wanted and panel.id_col is None:
                raise ConfigError(f"--series: {self.path} forecasts one series (trained without --id-col)")
            notes: list[str] = []
            source = str(future) if isinstance(future, (str, os.PathLike)) else FUTURE_SOURCE
            frame = forecast(self._loaded, panel, h, served, series=wanted, future=future_frame, future_source=source,
                             notes=notes)
            far = beyond_history(frame, panel)
            for note in [*notes, *([far] if far else [])]:
                warn(note)
            told = advice(self.path)  # a row its run does not recommend: which it does, and why (as predict says)
            if told is not None:
                warn(told.partition("; serve it with --model ")[0])  # the CLI's hint; here: .model(name) of the result
            lost = lost_to_baseline(self.path)  # a run saved before the verdict recommended a row
            if lost is not None:
                warn(f"{self.name} lost to the {lost[0]} baseline on its own test windows (MASE {lost[2]:.3f} vs "
                      f"{lost[1]:.3f}); the baseline may serve this series better")
            return by_series(frame, panel.id_col).reset_index(drop=True)

    def __repr__(self) -> str:
        return f"Model(name={self.name!r}, horizon={self.horizon}, path={str(self.path)!r})"

    def _repr_html_(self) -> str:
        d, w = self._loaded.manifest["data"], self._loaded.manifest["window"]
        facts = {"path": str(self.path), "why": self.why, "target": d.get("target"), "freq": w.get("freq"),
                 "lookback": w.get("lookback"), "horizon": w.get("horizon"), "series id": d.get("id_col"),
                 "known covariates": ", ".join(d.get("known", [])) or None, "trained on": d.get("path")}
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                       for k, v in facts.items() if v is not None)
        return f"<div><p><b>Model</b> {html.escape(self.name)}</p><table>{rows}</table></div>"



class Backtest:
    """What :func:`backtest` returns: every fold's scores and their mean over folds, as DataFrames."""

    def __init__(self, result: Any) -> None:
        self._result = result

    @property
    def folds(self) -> pd.DataFrame:
        """One row per fold and model: ``fold, cutoff, train_rows, test_windows, name, mae, rmse, smape, mase, ...``."""
        import pandas as pd

        r = self._result
        keys = r.metric_keys()
        return pd.DataFrame([{"fold": f.fold, "cutoff": f.cutoff, "train_rows": f.train_rows,
                              "test_windows": f.test_windows, "name": name, **{k: s.get(k) for k in keys},
                              "error": s.get("error")} for f in r.folds for name, s in f.scores.items()])

    @property
    def mean(self) -> pd.DataFrame:
        """One row per model: each metric's mean over folds and its std (``mase``, ``mase_std``...), best first."""
        import pandas as pd

        frame = pd.DataFrame([{"name": name, **v} for name, v in self._result.summary().items()])
        return frame.sort_values("mase", na_position="last", kind="stable").reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON ``forecast backtest`` saves (without the model path)."""
        return dict(self._result.to_dict())

    def __repr__(self) -> str:
        return f"Backtest(cell={self._result.cell!r}, folds={len(self._result.folds)})"

    def _repr_html_(self) -> str:
        mean = self.mean
        cols = [c for c in ("name", "mase", "mase_std", "mae", "rmse", "smape", "coverage_80", "coverage_95")
                if c in mean.columns]
        return (f"<div><p><b>Backtest</b> of {html.escape(self._result.cell)} over {len(self._result.folds)} folds "
                f"(refit per fold): mean over folds</p>{table_html(mean[cols])}</div>")
