"""A Keras network as a model of the leaderboard contract: build, fit on a prepared split, forecast.

:class:`NetworkModel` trains one registered cell (``lstm``, ``gru``, ``mlp``...) on a
:class:`~forecaster.prepared.Prepared` split with the run's seed, early stopping and optional
checkpoint, and then forecasts through a :class:`~forecaster.inference.NetworkForecaster`,
the same object a saved cell is served by. :func:`train_cell` fits and scores one cell.

Example:
    >>> from forecaster import config
    >>> from forecaster.prepared import prepare
    >>> cfg = config.resolve(overrides={"training.epochs": 2})
    >>> result = train_cell(prepare(cfg), cfg, "gru")  # doctest: +SKIP
    >>> result.name, round(result.scores["mase"], 2)  # doctest: +SKIP
    ('gru', 0.51)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecaster import baselines, scoring
from forecaster.config import RunConfig
from forecaster.contract import Capabilities, Kind
from forecaster.inference import KerasRuntime, NetworkForecaster
from forecaster.panel import PanelPrepared
from forecaster.prepared import Prepared, future_index
from forecaster.tracking import tensorboard_available, tensorboard_callback, tensorboard_dir
from forecaster.windows import Scaler

__all__ = ["NetworkModel", "SeriesView", "CellResult", "train_cell", "leaderboard_name", "recurrent_steps",
           "MIN_RECURRENT_STEPS"]

Progress = Callable[[str], None]


#: The fewest steps a recurrent cell reads by default (see :func:`recurrent_steps`).
MIN_RECURRENT_STEPS = 48


def recurrent_steps(setting: int | None, lookback: int, season: int) -> int:
    """Steps of each window a recurrent cell reads (its last ones): ``model.recurrent_steps``, or by
    default two main seasons, at least :data:`MIN_RECURRENT_STEPS`, never more than the lookback.

    The linear path reads the whole lookback (a half-hourly year's week plus horizon, 360 steps),
    and the head learns what it misses from the recent steps: a recurrent layer's time grows with
    the steps it runs, one after another (docs/architecture.md has the measurements).

    Example:
        >>> recurrent_steps(None, 360, 48), recurrent_steps(None, 192, 24), recurrent_steps(None, 104, 52)
        (96, 48, 104)
        >>> recurrent_steps(500, 360, 48), recurrent_steps(None, 30, 7)
        (360, 30)
    """
    wanted = setting if setting is not None else max(MIN_RECURRENT_STEPS, 2 * season)
    return int(min(lookback, wanted))


def leaderboard_name(cell: str, strategy: str) -> str:
    """Folder and leaderboard name: the cell, suffixed by a non-default strategy (``gru-recursive``)."""
    return cell if strategy == "direct" else f"{cell}-{strategy}"


class NetworkModel:
    """One cell trained on a prepared split (the model contract for networks).

    Args:
        cell: a registered cell name.
        cfg: the run's configuration (model, training and seed settings).
        progress: receives per-epoch lines (``None``: silent).
        checkpoint: a :class:`forecaster.checkpoint.Checkpoint` that makes the fit resumable.
        callbacks: extra Keras callbacks for every fit (a tracker, for instance).

    Attributes (after ``fit``): ``model_`` (the Keras model), ``fit_`` (its
    :class:`~forecaster.training.FitResult`), ``base_`` (what the residual corrects),
    ``linear_choice_``, ``train_seconds_`` and ``epochs_total_`` (its one fit), ``recurrent_steps_``, and
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
        """Build and train the cell once: with the linear path when its least-squares start beats the
        residual base alone on the validation windows (``model.linear: null``), else as configured.

        On a panel (:class:`~forecaster.panel.PanelPrepared`) one global network learns from the
        windows of every series; :meth:`on` then forecasts one series with that series' scaler.

        With the linear path the network starts as the ``linear`` row (frozen least-squares path,
        head output at zero), that start is epoch 0 of early stopping, and after
        ``training.gain_epochs`` epochs a fit that has not beaten it beyond noise stops and keeps
        it (``fit_.stop_reason`` says so).
        """
        from forecaster.architectures import build_model
        from forecaster.strategies import output_steps
        from forecaster.training import StartCheck, batch_for, fit, seed_everything, shard_count, use_jit

        t, m, progress, checkpoint = self.cfg.training, self.cfg.model, self.progress, self.checkpoint
        steps = output_steps(m.strategy, prep.split.horizon)
        n_train = len(prep.split.starts("train"))
        batch = batch_for(t.batch_size, n_train, t.min_steps)
        seed_everything(t.seed)  # before the datasets: their shuffle seeds derive from the global seed too
        train, val = (prep.dataset("train", batch_size=batch, shuffle=True, seed=t.seed),
                      prep.dataset("val", batch_size=batch))
        if m.strategy == "recursive":  # same windows, first target step only
            train, val = (d.map(lambda x, y: (x, y[:, :1])) for d in (train, val))
        jit = use_jit(t.jit_compile, n_train, self.cell)
        # model.linear null: one fit, with the linear path when its start (ridge chosen on the validation
        # windows) beats the residual base alone there. Training both ways and keeping the lower validation
        # loss cost two fits a cell (616 s for a half-hourly year); see docs/architecture.md.
        base = None
        self.linear_choice_ = None
        if m.residual:
            base = prep.residual_base(steps, linear=m.linear is not False)
            if m.linear is None and base.start is not None:
                self.linear_choice_ = {"linear": base.start.val_loss, "plain": base.start.base_val_loss}
                if not base.start.val_loss < base.start.base_val_loss:
                    base = dataclasses.replace(base, linear=None)
        linear = base is not None and base.linear is not None
        self.recurrent_steps_ = recurrent_steps(m.recurrent_steps, prep.split.lookback, prep.season)
        seed_everything(t.seed)
        model = build_model(
            cell=self.cell, lookback=prep.split.lookback, n_features=prep.scaled.shape[1],
            horizon=steps, units=m.units, dropout=m.dropout, learning_rate=t.learning_rate,
            residual=m.residual, base=base, recurrent_steps=self.recurrent_steps_,
        )
        extra = list(self.callbacks)
        if self.cfg.output.tensorboard and tensorboard_available():
            extra.append(tensorboard_callback(tensorboard_dir(self.cfg, self.log_name or self.name)))
        check = StartCheck(t.gain_epochs, prep.split.horizon) if linear else None
        self.fit_ = fit(model, train, val, epochs=t.epochs, patience=t.patience, progress=progress,
                        checkpoint=checkpoint, jit_compile=jit, callbacks=extra,
                        shards=shard_count(self.cell, batch, jit_compile=jit), start_check=check,
                        time_budget=t.time_budget)
        self.fit_ = dataclasses.replace(self.fit_, batch_size=batch)
        if progress is not None and self.fit_.stop_reason:
            progress(f"  stopped: {self.fit_.stop_reason}")
        self.model_, self.base_ = model, base
        self.train_seconds_ = self.fit_.seconds
        self.epochs_total_ = self.fit_.epochs_run
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
    linear_choice: dict[str, float] | None = None  # model.linear null: validation loss of the linear start and the base
    train_seconds: float = 0.0  # the cell's fit
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

    ``checkpoint`` (a :class:`forecaster.checkpoint.Checkpoint`) makes the fit resumable.
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
