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

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from forecaster.config import RunConfig
from forecaster.errors import TrainingError
from forecaster.models.contract import Capabilities, Kind
from forecaster.models.network.inference import KerasRuntime, NetworkForecaster
from forecaster.models.network.residual import ResidualBase, start
from forecaster.types import Progress

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.data.prepared import Prepared, PreparedSeries

__all__ = ["NetworkModel", "leaderboard_name"]


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
        logs: ``logs(variant)`` gives the callbacks that log one fit (TensorBoard, from the workflow);
            ``variant`` is ``"linear"``/``"plain"`` when both ways are fitted, else ``""``.

    Attributes (after ``fit``): ``model_`` (the Keras model), ``fit_`` (its
    :class:`~forecaster.models.network.training.FitResult`), ``base_`` (what the residual corrects),
    ``linear_choice_``, ``train_seconds_`` and ``epochs_total_`` (every fit of the cell), and
    ``runtime_`` (the Keras model as a predictor).
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
        """Build and train the cell (both ways under ``model.linear: null``, lower validation loss kept).

        One network learns from the windows of every series of ``prep``; :meth:`on` then forecasts
        one series with that series' scaler.
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
        fits: list[tuple[Any, ResidualBase | None, Any]] = []
        for linear in variants:
            base = start(prep, steps, linear=linear) if m.residual else None
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
            if self.logs is not None:
                extra.extend(self.logs(("linear" if linear else "plain") if len(variants) > 1 else ""))
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
        return self

    def on(self, item: PreparedSeries) -> NetworkForecaster:
        """The fitted network forecasting one series, scaled with that series' own scaler."""
        return NetworkForecaster(self.runtime_, item.scaler, self.lookback_, self.strategy)
