"""What :func:`~forecaster.api.compare` and :func:`~forecaster.api.train` return: a run kept in a temporary folder
until saved, its leaderboard, verdict, recommended row, forecasts and plot."""

from __future__ import annotations

import dataclasses
import html
import os
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from forecaster.api.boundary import Data, ForecasterWarning, calling, python_message, table_html, warn
from forecaster.api.model import Model
from forecaster.config import RunConfig
from forecaster.errors import ArtifactError, DataError

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = ["recommended_row", "Home", "Run", "Comparison", "Trained"]


class Home:
    """A temporary models folder where a result's run lives until it is saved; removed with the result."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="forecaster-"))
        weakref.finalize(self, shutil.rmtree, self.root, ignore_errors=True)  # at exit too, silently

    def run_dir(self, cfg: RunConfig, label: str) -> Path:
        from forecaster.workflows.train import default_run_dir

        here = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, models_dir=str(self.root)))
        return default_run_dir(here, label)


def recommended_row(board: Mapping[str, Any]) -> str:
    """The row a leaderboard recommends: its own ``recommended`` field where the run records one, else its
    verdict's (:func:`forecaster.evaluation.verdict.judge`: the cheapest row that no row is significantly better
    than on the test windows), else, for a run saved before the verdict recommended a row, the row with the
    lowest test MASE (the backtest's when there is one) among rows that scored every series: the row
    ``forecast predict`` serves from such a run.

    Example:
        >>> rows = [{"name": "gru", "kind": "model", "mase": 0.8}, {"name": "ets", "kind": "baseline", "mase": 0.9}]
        >>> recommended_row({"rows": rows}), recommended_row({"rows": rows, "verdict": {"recommended": "ets"}})
        ('gru', 'ets')
    """
    from forecaster.evaluation.verdict import partial

    given = board.get("recommended")
    if isinstance(given, Mapping):
        given = given.get("name")
    if isinstance(given, str):
        return given
    verdict = board.get("verdict")
    if isinstance(verdict, Mapping) and isinstance(verdict.get("recommended"), str):
        return str(verdict["recommended"])
    rows = [r for r in board.get("rows", []) if isinstance(r, Mapping)]
    key = "backtest_mase" if any(r.get("backtest_mase") is not None for r in rows) else "mase"
    scored = [r for r in rows if r.get(key) is not None and not r.get("error") and not partial(dict(r), rows)]  # type: ignore[arg-type]
    return str(min(scored, key=lambda r: float(r[key]))["name"] if scored else rows[0]["name"])


#: The leaderboard columns a result shows in a notebook (every column is in ``.leaderboard``).
_SHOWN = ("name", "kind", "params", "mase", "mase_std", "mase_median", "backtest_mase", "mae", "rmse", "smape",
          "coverage_80", "coverage_95", "train_seconds", "series", "error")


class Run:
    """A trained run: the folder the CLI writes, kept in a temporary folder until :meth:`save`.

    Attributes:
        config: the resolved :class:`~forecaster.config.RunConfig` (as ``config.yaml`` records it).
        warnings: the notes of the run (also issued as :class:`ForecasterWarning`).
        saved: where :meth:`save` put it last (``None`` until then).
    """

    _kind = "run"

    def __init__(self, run_dir: Path, config: RunConfig, *, home: Home | None = None, data: Data | None = None,
                 warnings: Sequence[str] = ()) -> None:
        self._run_dir = run_dir
        self._home = home
        self._data = data
        self.config = config
        self.warnings = list(warnings)
        self.saved: Path | None = None
        self._board: dict[str, Any] | None = None
        self._models: dict[Path, Model] = {}

    @property
    def path(self) -> Path:
        """The run folder as it is now (a temporary one until saved: use :meth:`save`'s path to keep it)."""
        return self._run_dir

    @property
    def name(self) -> str:
        """The model name (``name`` setting; for a DataFrame by default its target column)."""
        return self.config.model_name

    @property
    def board(self) -> dict[str, Any]:
        """``leaderboard.json`` as saved."""
        if self._board is None:
            from forecaster.artifacts import layout
            from forecaster.fs import read_json

            self._board = dict(read_json(self._run_dir / layout.LEADERBOARD_JSON, "leaderboard"))
        return self._board

    @property
    def leaderboard(self) -> pd.DataFrame:
        """One row per model (column ``name``): ``leaderboard.csv`` as saved, the same numbers, best first."""
        import pandas as pd

        from forecaster.artifacts import layout

        return pd.read_csv(self._run_dir / layout.LEADERBOARD_CSV, keep_default_na=False, na_values=[""])

    @property
    def verdict(self) -> str:
        """The plain-language verdict: which row to use for this data, and how sure (``forecast compare`` prints
        it; the record behind it: :attr:`decision`)."""
        text = self.board.get("verdict")
        if isinstance(text, Mapping):
            return str(text.get("text") or "")
        return text if isinstance(text, str) else "This run records no verdict (saved before runs recorded one)."

    @property
    def decision(self) -> dict[str, Any] | None:
        """How sure the verdict is, as ``forecast compare --json`` gives it under ``verdict``: ``recommended``,
        ``equal_to`` (the rows not significantly different from it), ``level``, ``reason``, ``method``, ``tests``
        (every pair of rows: mean difference, p-value, confidence interval), ``coverage`` (rows whose intervals
        covered less than nominal); ``None`` for a run saved before the verdict recorded them."""
        record = self.board.get("verdict")
        return dict(record) if isinstance(record, Mapping) else None

    @property
    def recommended(self) -> str:
        """The name of the row the verdict recommends (a name in ``leaderboard["name"]``), see :func:`recommended_row`."""
        return recommended_row(self.board)

    @property
    def series_metrics(self) -> pd.DataFrame | None:
        """A panel's scores of every row on every series (``series_metrics.csv``); ``None`` for one series."""
        import pandas as pd

        from forecaster.artifacts import layout

        path = self._run_dir / layout.SERIES_METRICS
        if not path.is_file():
            return None
        id_col = str(self.board.get("id_col") or self.config.data.id_col)
        return pd.read_csv(path, dtype={id_col: str}, keep_default_na=False, na_values=[""])

    def _default_row(self) -> str:
        return self.recommended

    def model(self, name: str | None = None) -> Model:
        """The saved row ``name`` (default: this result's own, see :meth:`forecast`) as a :class:`Model`.

        Raises:
            ArtifactError: ``name`` has no saved folder in the run (naming the rows that do).
        """
        from forecaster.artifacts import layout
        from forecaster.artifacts.run import best_cell, servable_rows

        with calling():
            servable = [str(r["name"]) for r in servable_rows(self._run_dir)]
            wanted = name if name is not None else self._default_row()
            if wanted in servable:
                why = "the row asked for" if name is not None else f"the {self._kind}'s own row"
                return self._row(self._run_dir / wanted, why)
            if name is not None or not servable:
                raise ArtifactError(f"{self._run_dir}: row {wanted!r} has no saved {layout.MANIFEST} to serve; "
                                    f"saved rows: {', '.join(servable) or 'none'}")
            cell = best_cell(self._run_dir)
            warn(f"{wanted} (recommended) has no saved folder in this run; forecasting with {cell.name}, the best "
                  "saved row (lowest test MASE)")
            return self._row(cell, "the best saved row of the run (lowest test MASE)")

    def _row(self, cell_dir: Path, why: str) -> Model:
        """The row's :class:`Model`, loaded once (an ONNX session is built per load)."""
        if cell_dir not in self._models:
            self._models[cell_dir] = Model(cell_dir, why, data=self._data, owner=self)
        return self._models[cell_dir]

    def predict(self, df: Any = None, horizon: int | None = None, future: Any = None, series: Any = None,
                levels: Sequence[int] | None = None) -> pd.DataFrame:
        """:meth:`Model.predict` of :meth:`model` (``df`` default: the training data)."""
        return self.model().predict(df, horizon=horizon, future=future, series=series, levels=levels)

    def forecast(self, horizon: int | None = None, future: Any = None, levels: Sequence[int] | None = None, *,
                 series: Any = None) -> pd.DataFrame:
        """The forecast past the end of the training data, as ``forecast predict --model <run>`` writes it:
        ``[<id_col>,] timestamp, yhat, lo-80, hi-80, ...``, ``horizon`` rows per series.

        Served by this result's own row (a comparison: the recommended one, or the best saved row while
        the recommended has no folder; a train: the cell trained).

        Args:
            horizon: steps (default and at most: the trained horizon).
            future: the known covariates' values after the end of each series (a DataFrame with the time
                column, the id column of a panel and each known covariate; or a file), needed when the
                run has ``known_covariates``.
            levels: interval levels among the calibrated ones (default: all; ``[]``: none).
            series: a panel's ids to forecast (default: every series).
        """
        return self.model().predict(None, horizon=horizon, future=future, series=series, levels=levels)

    def plot(self, series: str | None = None, *, names: Sequence[str] | None = None, future: Any = None,
             last: int | None = None) -> Figure:
        """The end of the training series and the forecasts past it, with the first row's widest interval.

        Args:
            series: a panel's series id (default: the first).
            names: the rows to draw (default: this result's own row and the best network).
            future: as :meth:`forecast`'s.
            last: history steps drawn (default: three horizons or seasons, at least 48).

        Returns:
            A matplotlib Figure (not left open in pyplot: a notebook shows it once, as the cell's value).
        """
        with calling():
            first = self.model(names[0] if names else None)
            rows = [first.name, *(names[1:] if names else [self._best_network()])]
            shown = list(dict.fromkeys(n for n in rows if n))
            panel = first._panel(None)
            sid = series if series is not None else panel.series[0].series_id
            match = [s for s in panel.series if s.series_id == sid]
            if not match:
                raise DataError(f"--series: {sid!r} is not a series of the training data ({len(panel.series)} series)")
            s = match[0]
            horizon = first.horizon
            tail = last if last is not None else max(3 * horizon, 3 * int(self.board.get("season") or 1), 48)
            history = s.frame[s.target].iloc[-tail:]
            with warnings.catch_warnings():  # a drawn row that lost to a baseline: the picture shows it
                warnings.simplefilter("ignore", ForecasterWarning)
                models = [first if n == first.name else self.model(n) for n in shown]
                frames = [(m.name, m.predict(series=[sid] if sid is not None else None, future=future)) for m in models]
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(10, 4.5))
        plt.close(fig)  # returned, not kept by pyplot: shown once
        ax.plot(history.index, history.to_numpy(), color="black", lw=1.5, label="actual")
        for k, (n, fc) in enumerate(frames):
            lo = sorted(c for c in fc.columns if c.startswith("lo-"))
            if k == 0 and lo:
                widest = max(lo, key=lambda c: int(c[3:]))
                ax.fill_between(fc["timestamp"], fc[widest], fc["hi-" + widest[3:]], color=f"C{k}", alpha=0.2,
                                label=f"{n} {widest[3:]}% interval")
            ax.plot(fc["timestamp"], fc["yhat"], color=f"C{k}", marker="o", ms=3, label=f"{n} forecast")
        who = f" (series {sid})" if sid is not None else ""
        ax.set(title=f"{s.target}{who}: the last {len(history)} steps and the {horizon}-step forecast", xlabel=s.time_col,
               ylabel=s.target)
        ax.legend(fontsize=8)
        fig.autofmt_xdate()
        fig.tight_layout()
        return fig

    def _best_network(self) -> str | None:
        from forecaster.artifacts.run import servable_rows

        rows = [r for r in servable_rows(self._run_dir) if r.get("kind") == "model" and r.get("mase") is not None]
        return str(min(rows, key=lambda r: float(r["mase"]))["name"]) if rows else None

    def save(self, models_dir: str | os.PathLike[str] | None = None) -> Path:
        """Save the run where the CLI would: ``<models_dir>/<name>/runs/<run id>/`` (default ``models_dir``: the
        setting's, ``models``), atomically, byte for byte the folder trained. ``forecast predict --model
        <models_dir>/<name>`` then serves it, and :func:`load` loads it.

        Returns:
            The saved run folder (saving again to the same place returns it again).

        Raises:
            ArtifactError: another run is already saved under that path.
        """
        from forecaster.artifacts import layout
        from forecaster.fs import staged_run

        with calling():
            root = self._home.root if self._home is not None else self._run_dir.parents[2]
            final = Path(models_dir if models_dir is not None else self.config.output.models_dir) / \
                self._run_dir.relative_to(root)
            board = (self._run_dir / layout.LEADERBOARD_JSON).read_bytes()
            if (final / layout.LEADERBOARD_JSON).is_file() and (final / layout.LEADERBOARD_JSON).read_bytes() == board:
                return final
            with staged_run(final) as tmp:
                shutil.copytree(self._run_dir, tmp, symlinks=True, dirs_exist_ok=True)
            self.saved = final
            return final

    def __repr__(self) -> str:
        where = f"saved={str(self.saved)!r}" if self.saved is not None else "not saved"
        return (f"{type(self).__name__}(name={self.name!r}, rows={len(self.board['rows'])}, "
                f"recommended={self.recommended!r}, {where})")

    def _repr_html_(self) -> str:
        board = self.leaderboard
        shown = board[[c for c in _SHOWN if c in board.columns and board[c].notna().any()]]
        esc = html.escape
        notes = "".join(f"<li>{esc(python_message(w))}</li>" for w in self.warnings)
        where = f"saved at {esc(str(self.saved))}" if self.saved is not None else "not saved yet: <code>.save()</code>"
        equal = (self.decision or {}).get("equal_to") or []
        reason = (f" (not significantly different at the {100 * float(self.decision['level']):g}% level: "
                  f"{', '.join(equal)})" if self.decision and equal else "")
        return (f"<div><p><b>{esc(type(self).__name__)}</b> {esc(self.name)} ({where})</p>{table_html(shown)}"
                f"<p><b>Verdict:</b> {esc(python_message(self.verdict))}</p>"
                f"<p><b>Recommended:</b> {esc(self.recommended)}{esc(reason)}</p>"
                + (f"<ul>{notes}</ul>" if notes else "") + "</div>")


class Comparison(Run):
    """What :func:`compare` returns: the leaderboard (mean ± std over seeds), the verdict, the recommended row,
    forecasts from it, plots and the run folder to save.

    Attributes:
        conditions: what every row shared (windows, split, seeds...), as the report's conditions table.
    """

    _kind = "comparison"

    @property
    def conditions(self) -> dict[str, Any]:
        return dict(self.board.get("conditions") or {})


class Trained(Run):
    """What :func:`train` returns: one cell trained beside the baselines; its forecasts come from that cell."""

    _kind = "trained cell"

    def __init__(self, run_dir: Path, config: RunConfig, *, row: str, **kwargs: Any) -> None:
        super().__init__(run_dir, config, **kwargs)
        self.row = row

    def _default_row(self) -> str:
        return self.row


