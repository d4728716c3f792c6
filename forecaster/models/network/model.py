"""A Keras network as a model of the leaderboard contract: build, fit on a prepared split, forecast.

:class:`NetworkModel` trains one registered cell (``lstm``, ``gru``, ``mlp``...) on a
:class:`~forecaster.data.prepared.Prepared` split with the run's seed, early stopping and optional
checkpoint, and then forecasts through a :class:`~forecaster.models.network.inference.NetworkForecaster`,
the same object a saved cell is served by. :func:`train_cell` fits and scores one cell.

Example:
    >>> from forecaster import config
    >>> from forecaster.data.prepared import prepare
    >>> cfg = config.resolve(overrides={"training.epochs": 2})
    >>> result = train_cell(prepare(cfg), cfg, "gru")  # doctest: +SKIP
    >>> result.name, round(result.scores["mase"], 2)  # doctest: +SKIP
    ('gru', 0.51)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecaster.config import RunConfig
from forecaster.data.panel import PanelPrepared
from forecaster.data.prepared import Prepared, future_index
from forecaster.data.windows import Scaler
from forecaster.errors import TrainingError
from forecaster.evaluation import scoring
from forecaster.models import baselines
from forecaster.models.contract import Capabilities, Kind
from forecaster.models.network.inference import KerasRuntime, NetworkForecaster
from forecaster.workflows.tracking import tensorboard_available, tensorboard_callback, tensorboard_dir

__all__ = ["NetworkModel", "SeriesView", "CellResult", "train_cell", "leaderboard_name"]

Progress = Callable[[str], None]


def leaderboard_name(cell: str, strategy: str) -> str:
    """Folder and leaderboard name: the cell, suffixed by a non-default strategy (``gru-recursive``)."""
    return cell if strategy == "direct" else f"{cell}-{strategy}"


class NetworkModel:
    """One cell trained on a prepared split (the model contract for networks).

    Args:
        cell: a registered cell name.
        cfg: the run's configuration (model, training and seed settings).
        progress: receives per-epoch lines (``None``: silent).
        checkpoint: a :class:`forecaster.models.network.checkpoint.Checkpoint` that makes the fit resumable.
        callbacks: extra Keras callbacks for every fit (a tracker, for instance).

    Attributes (after ``fit``): ``model_`` (the Keras model), ``fit_`` (its
    :class:`~forecaster.models.network.training.FitResult`), ``base_`` (what the residual corrects),
    ``linear_choice_``, ``train_seconds_`` and ``epochs_total_`` (every fit of the cell), and
    ``forecaster_`` (the inference path).
    """

    kind: Kind = "model"

    def __init__(self, cell: str, cfg: RunConfig, *, progress: Progress | None = None, checkpoint: Any = None,
                 callbacks: Sequence[Any] = (), log_name: str | None = None) -> None:
        self.cell = cell
        self.log_name = log_name  # its TensorBoard folder's label (default: its name)
        self.cfg = cfg
        self.progress = progress
        self.checkpoint = checkpoint
        self.callbacks = tuple(callbacks)
        self.strategy = cfg.model.strategy
        self.capabilities = Capabilities(uses_covariates=True, recursive_only=self.strategy == "recursive",
                                         network=True, saves=True)

    @property
    def name(self) -> str:
        return leaderboard_name(self.cell, self.strategy)

    def fit(self, prep: Prepared | PanelPrepared) -> NetworkModel:
        """Build and train the cell (both ways under ``model.linear: null``, lower validation loss kept).

        On a panel (:class:`~forecaster.data.panel.PanelPrepared`) one global network learns from the
        windows of every series; :meth:`on` then forecasts one series with that series' scaler.
        """
        from forecaster.models.network.cells import build_model
        from forecaster.models.network.strategies import output_steps
        from forecaster.models.network.training import fit, seed_everything, shard_count, use_jit

        t, m, progress, checkpoint = self.cfg.training, self.cfg.model, self.progress, self.checkpoint
        steps = output_steps(m.strategy, prep.split.horizon)
        seed_everything(t.seed)  # before the datasets: their shuffle seeds derive from the global seed too
        train, val = (prep.dataset("train", batch_size=t.batch_size, shuffle=True, seed=t.seed),
                      prep.dataset("val", batch_size=t.batch_size))
        if m.strategy == "recursive":  # same windows, first target step only
            train, val = (d.map(lambda x, y: (x, y[:, :1])) for d in (train, val))
        jit = use_jit(t.jit_compile, len(prep.split.starts("train")), self.cell)
        # model.linear null: fit with and without the linear path, keep the lower validation loss
        # (the linear start won 2.5x on the hourly sample and lost 1.5-7 % on the daily one; see docs).
        variants = [False] if not m.residual else ([m.linear] if m.linear is not None else [True, False])
        fits: list[tuple[Any, baselines.ResidualBase | None, Any]] = []
        logs = (tensorboard_dir(self.cfg, self.log_name or self.name)
                if self.cfg.output.tensorboard and tensorboard_available() else None)
        for linear in variants:
            base = prep.residual_base(steps, linear=linear) if m.residual else None
            seed_everything(t.seed)
            model = build_model(
                cell=self.cell, lookback=prep.split.lookback, n_features=prep.scaled.shape[1],
                horizon=steps, units=m.units, dropout=m.dropout, learning_rate=t.learning_rate,
                residual=m.residual, base=base,
            )
            part = checkpoint
            extra = list(self.callbacks)
            if len(variants) > 1:
                part = checkpoint.child("linear" if linear else "plain") if checkpoint is not None else None
                if progress is not None:
                    progress(f"  {'with' if linear else 'without'} the linear path")
            if logs is not None:
                extra.append(tensorboard_callback(logs / ("linear" if linear else "plain") if len(variants) > 1
                                                  else logs))
            try:
                fits.append((model, base, fit(model, train, val, epochs=t.epochs, patience=t.patience,
                                              progress=progress, checkpoint=part, jit_compile=jit,
                                              callbacks=extra,
                                              shards=shard_count(self.cell, t.batch_size, jit_compile=jit))))
            except TrainingError:
                if linear is variants[-1] and not fits:  # every variant diverged
                    raise
        self.model_, self.base_, self.fit_ = min(fits, key=lambda f: f[2].best_val_loss)
        self.linear_choice_ = ({("linear" if f[1] is not None and f[1].linear is not None else "plain"): f[2].best_val_loss
                                for f in fits}
                               if len(variants) > 1 else None)
        self.train_seconds_ = sum(f[2].seconds for f in fits)
        self.epochs_total_ = sum(f[2].epochs_run for f in fits)
        self.runtime_ = KerasRuntime(self.model_)
        self.lookback_ = prep.split.lookback
        if isinstance(prep, Prepared):
            self.forecaster_ = NetworkForecaster(self.runtime_, prep.scaler, prep.split.lookback, self.strategy)
        return self

    def on(self, scaler: Scaler) -> SeriesView:
        """The fitted (global) network forecasting one series, scaled with that series' ``scaler``."""
        return SeriesView(self.name, self.capabilities, NetworkForecaster(self.runtime_, scaler, self.lookback_,
                                                                          self.strategy))

    def predict(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        return self.forecaster_.predict(values, origins, horizon)

    def future(self, prep: Prepared) -> pd.DataFrame:
        """``timestamp, yhat``: the horizon after the last row of the prepared series (no rows when known
        covariates are inputs: their future values come with ``forecast predict --future``)."""
        sp, s = prep.split, prep.series
        index = future_index(s.frame.index[sp.n - 1], s.freq, sp.horizon)
        if s.known:
            return pd.DataFrame({"timestamp": index[:0], "yhat": np.empty(0)})
        yhat = self.predict(prep.values, np.array([sp.n]), sp.horizon)[0]
        return pd.DataFrame({"timestamp": index, "yhat": yhat})


@dataclass(frozen=True)
class SeriesView:
    """A panel's global network on one series, with that series' scaler: the model contract.

    Made by :meth:`NetworkModel.on` (a fitted network) or from a saved panel cell
    (:meth:`forecaster.artifacts.cell.LoadedCell.on`)."""

    name: str
    capabilities: Capabilities
    forecaster: NetworkForecaster
    kind: Kind = "model"

    def fit(self, prep: Prepared) -> SeriesView:
        return self  # trained once on every series

    def predict(self, values: np.ndarray, origins: np.ndarray, horizon: int) -> np.ndarray:
        return self.forecaster.predict(values, origins, horizon)


@dataclass
class CellResult:
    """One trained cell: its model, training record, test scores and future forecast."""

    cell: str
    model: Any
    params: int
    fit: Any  # training.FitResult
    scores: dict[str, Any]
    forecast: pd.DataFrame
    test_pred: np.ndarray | None = None  # (n_test_windows, horizon), original units
    strategy: str = "direct"
    base: baselines.ResidualBase | None = None  # what the network corrects; None without the residual design
    linear_choice: dict[str, float] | None = None  # model.linear null: best validation loss with and without
    train_seconds: float = 0.0  # every fit of the cell (both ways under model.linear null); ``fit`` is the kept one
    epochs_total: int = 0  # epochs of every fit of the cell
    network: NetworkModel | None = None  # the fitted contract model (forecasts at any origin)
    calibration: Any = None  # intervals.Calibration from the validation windows; None without --levels

    @property
    def name(self) -> str:
        """Folder and leaderboard name: the cell, suffixed by a non-default strategy."""
        return leaderboard_name(self.cell, self.strategy)


def train_cell(
    prep: Prepared, cfg: RunConfig, cell: str, *, progress: Progress | None = None, checkpoint: Any = None,
    callbacks: Sequence[Any] = (),
) -> CellResult:
    """Build, fit and score one cell on the prepared windows (seeded from ``cfg``).

    ``checkpoint`` (a :class:`forecaster.models.network.checkpoint.Checkpoint`) makes the fit resumable.
    """
    net = NetworkModel(cell, cfg, progress=progress, checkpoint=checkpoint, callbacks=callbacks).fit(prep)
    test_pred = scoring.predict_part(net, prep, "test")
    scores = scoring.score(prep, test_pred)
    cal = scoring.calibrate_and_measure(net, prep, test_pred, scores, cfg.forecast.levels)
    forecast = net.future(prep)
    if cal is not None:
        forecast = forecast.assign(**cal.columns(forecast["yhat"].to_numpy()))
    return CellResult(
        cell=cell, model=net.model_, params=int(net.model_.count_params()), fit=net.fit_,
        scores=scores, forecast=forecast, test_pred=test_pred,
        strategy=net.strategy, base=net.base_, linear_choice=net.linear_choice_,
        train_seconds=net.train_seconds_, epochs_total=net.epochs_total_, network=net, calibration=cal,
    )
