"""A Keras network as a model of the leaderboard contract: build, fit on prepared data, forecast.

:class:`NetworkModel` trains one registered cell (``lstm``, ``gru``, ``mlp``...) on a
:class:`~forecaster.data.prepared.Prepared` (one series, or every series' windows stacked: one
global network) with the run's seed, early stopping and optional checkpoint, and then forecasts
each series through a :class:`~forecaster.models.network.inference.NetworkForecaster` with that
series' scaler: the same object a saved cell is served by. A ``--per-series`` network is this
model fitted per series by :class:`~forecaster.models.local.PerSeries`.

Example:
    >>> from forecaster import config
    >>> from forecaster.data.prepared import prepare
    >>> cfg = config.resolve(overrides={"training.epochs": 2})
    >>> net = NetworkModel("gru", cfg).fit(prepare(cfg))  # doctest: +SKIP
    >>> net.on(prep.single).predict(prep.single.values, prep.single.origins("test"), 24).shape  # doctest: +SKIP
    (1291, 24)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from forecaster.config import RunConfig
from forecaster.models.contract import Capabilities, Kind
from forecaster.models.network.inference import KerasRuntime, NetworkForecaster
from forecaster.models.network.residual import start
from forecaster.types import Progress

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.data.prepared import Prepared, PreparedSeries

__all__ = ["NetworkModel", "leaderboard_name", "recurrent_steps", "MIN_RECURRENT_STEPS"]


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
        checkpoint: a :class:`forecaster.models.network.checkpoint.Checkpoint` that makes the fit resumable.
        callbacks: extra Keras callbacks for every fit (a tracker, for instance).
        logs: ``logs("")`` gives the callbacks that log the fit (TensorBoard, from the workflow).

    Attributes (after ``fit``): ``model_`` (the Keras model), ``fit_`` (its
    :class:`~forecaster.models.network.training.FitResult`), ``base_`` (what the residual corrects),
    ``linear_choice_`` (the validation losses of the linear start and the base alone),
    ``train_seconds_`` and ``epochs_total_`` (its one fit), ``recurrent_steps_``, and ``runtime_``
    (the Keras model as a predictor).
    """

    kind: Kind = "model"

    def __init__(self, cell: str, cfg: RunConfig, *, progress: Progress | None = None, checkpoint: Any = None,
                 callbacks: Sequence[Any] = (), logs: Callable[[str], Sequence[Any]] | None = None) -> None:
        self.cell = cell
        self.logs = logs
        self.cfg = cfg
        self.progress = progress
        self.checkpoint = checkpoint
        self.callbacks = tuple(callbacks)
        self.strategy = cfg.model.strategy
        self.capabilities = Capabilities(uses_covariates=True, recursive_only=self.strategy == "recursive",
                                         network=True, saves=True, global_fit=True)

    @property
    def name(self) -> str:
        return leaderboard_name(self.cell, self.strategy)

    def fit(self, prep: Prepared) -> NetworkModel:
        """Build and train the cell once: with the linear path when its least-squares start beats the
        residual base alone on the validation windows (``model.linear: null``), else as configured.

        One network learns from the windows of every series of ``prep``; :meth:`on` then forecasts
        one series with that series' scaler.

        With the linear path the network starts as the ``linear`` row (frozen least-squares path,
        head output at zero), that start is epoch 0 of early stopping, and after
        ``training.gain_epochs`` epochs a fit that has not beaten it beyond noise stops and keeps
        it (``fit_.stop_reason`` says so).
        """
        from forecaster.models.network.cells import build_model
        from forecaster.models.network.hardware import seed_everything, shard_count, use_jit
        from forecaster.models.network.strategies import output_steps
        from forecaster.models.network.training import StartCheck, batch_for, fit

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
            base = start(prep, steps, linear=m.linear is not False)
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
        extra = [*self.callbacks, *(self.logs("") if self.logs is not None else ())]
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
        return self

    def on(self, item: PreparedSeries) -> NetworkForecaster:
        """The fitted network forecasting one series, scaled with that series' own scaler."""
        return NetworkForecaster(self.runtime_, item.scaler, self.lookback_, self.strategy)
