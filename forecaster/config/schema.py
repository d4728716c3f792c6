"""The run configuration's typed sections: frozen dataclasses, their defaults and value types.

:class:`RunConfig` is the one validated, immutable object every workflow takes; it is built by
:func:`forecaster.config.resolve` (YAML defaults, then flag overrides) and never mutated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

__all__ = ["MissingPolicy", "Strategy", "DEFAULT_DATA", "DataConfig",
           "WindowConfig", "ModelConfig", "TrainConfig", "ForecastConfig", "OutputConfig", "ScheduleConfig", "VerdictConfig",
           "TuneConfig", "RunConfig", "SECTION_TYPES"]

MissingPolicy = Literal["error", "interpolate", "ffill"]
Strategy = Literal["direct", "recursive"]

#: The shipped sample series: the embedded default when no data file is given.
DEFAULT_DATA = "data/seattle_temps_2010.csv"


@dataclass(frozen=True)
class DataConfig:
    """Where the series is and how to read it."""

    path: str = DEFAULT_DATA
    target: str | None = None  # None: the file's only numeric column
    time_col: str | None = None  # None: the file's only datetime-like column
    covariates: tuple[str, ...] = ()  # past covariates: their values up to each forecast origin
    missing: MissingPolicy = "error"
    freq: str | None = None  # None: inferred from the timestamps
    id_col: str | None = None  # a long-format file of many series: the series-id column (one global model)
    known_covariates: tuple[str, ...] = ()  # known in the future too: predict needs their values (--future)
    static_covariates: tuple[str, ...] = ()  # a panel: one value per series (number or category), scaled across series
    calendar: bool = False  # add hour/day-of-week/month as sine and cosine of the timestamps (known in the future)


@dataclass(frozen=True)
class WindowConfig:
    """Lookback -> horizon windows and the chronological split."""

    lookback: int | None = None  # None: from the seasons (prepared.default_lookback)
    horizon: int = 24
    val: float = 0.15  # a fraction (0 < v < 1) or a number of rows (>= 1)
    test: float = 0.15
    season: int | None = None  # None: inferred from the frequency
    # every seasonal period the models may use (the residual base, the lookback); None: the
    # frequency's natural cycles (hourly: 24, 168) that the training part holds twice
    seasons: tuple[int, ...] | None = None


@dataclass(frozen=True)
class ModelConfig:
    """Which network: a registered cell and its size."""

    cell: str = "lstm"
    units: tuple[int, ...] = (64,)
    dropout: float = 0.0
    strategy: Strategy = "direct"  # direct: all horizon steps at once; recursive: one step, fed back
    residual: bool = True  # inputs centred on the last value; the network predicts the change from it
    # with residual: a linear path started at its least-squares fit; None: with and without, lower val loss wins
    linear: bool | None = None
    # rows scored beside the networks on the same windows; arima and mstl are slow (opt-in)
    baselines: tuple[str, ...] | None = None  # None: the model catalog's default line-up
    per_series: bool = False  # a panel: one network per series instead of one global network over all of them
    # a recurrent cell reads the last this-many steps of the window (the linear path reads all of it);
    # None: two main seasons, at least 48 steps (models.network.model.recurrent_steps)
    recurrent_steps: int | None = None


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, stopping rule, seed."""

    epochs: int = 50
    batch_size: int = 512  # windows per batch; on a CPU split into one shard per core (training.shard_count)
    patience: int = 5
    learning_rate: float = 1e-3
    seed: int = 42
    jit_compile: bool | None = None  # XLA; None: on for GRU training on a CPU with >= 2,048 windows (measured)
    # a network with a linear start must beat it on validation beyond noise within this many epochs, or it
    # is stopped and keeps the start (0: never judged)
    gain_epochs: int = 3
    min_steps: int = 16  # optimizer steps an epoch, at least: the batch shrinks on small training sets (>= 64)
    time_budget: float | None = None  # seconds a fit may train (the best epoch is kept); None: no limit


@dataclass(frozen=True)
class ForecastConfig:
    """What a forecast carries beside the point: conformal prediction intervals (see ``intervals``)."""

    levels: tuple[int, ...] = (80, 95)  # nominal coverage in percent; empty: point forecasts only
    # no interval bound below 0; None: when the target is never negative in the training rows of every series
    nonnegative: bool | None = None


@dataclass(frozen=True)
class VerdictConfig:
    """How the verdict decides (see ``evaluation.verdict``): the significance level of its paired tests and
    how far below nominal an interval's test coverage may fall before it is flagged."""

    level: float = 0.05  # rows whose losses differ with p >= level are equal; the cheapest of the equals is used
    coverage_tolerance: float = 0.05  # an interval covering less than nominal minus this (0.05 = 5 points) is flagged


@dataclass(frozen=True)
class OutputConfig:
    """Where runs are saved: ``<models_dir>/<name>/runs/<run-id>/``."""

    name: str | None = None  # None: the data file's stem
    models_dir: str = "models"
    tensorboard: bool = True  # per-epoch losses of every fit under <models_dir>/<name>/tensorboard/
    mlflow_uri: str | None = None  # None: $MLFLOW_TRACKING_URI if set, else no MLflow tracking


@dataclass(frozen=True)
class ScheduleConfig:
    """Scheduled retraining: when, how a challenger is judged, what is kept (see ``registry``)."""

    cron: str = "0 3 * * *"  # 5 fields (minute hour day month weekday) or 6 (seconds first); UTC
    metric: Literal["mase", "mae", "rmse", "smape"] = "mase"  # compared on the newest holdout
    margin: float = 0.0  # the challenger must beat the champion by this fraction (0.05 = 5 %)
    # the challenger's interval coverage on the holdout must lie within this of nominal (0.05 = 5 points)
    coverage_tolerance: float | None = None
    min_new_rows: int = 1  # rows after the champion's last timestamp needed to retrain
    keep: int = 0  # versions kept (oldest non-champion ones pruned); 0 keeps all
    heartbeat: str | None = None  # None: <models_dir>/<name>/heartbeat.json
    heartbeat_every: float = 30.0  # seconds between heartbeats
    stale_after: float = 300.0  # `forecast health` fails when the heartbeat is older (seconds)


@dataclass(frozen=True)
class TuneConfig:
    """Hyperparameter tuning of each compared cell (``forecast compare --tune``; see ``workflows.tune``)."""

    trials: int = 0  # Optuna trials per cell, the same for every cell; 0 (and no time): no tuning
    time: float | None = None  # seconds of tuning per cell, the same for every cell; None: no time limit


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, validated."""

    data: DataConfig = field(default_factory=DataConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    verdict: VerdictConfig = field(default_factory=VerdictConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)

    @property
    def model_name(self) -> str:
        """The model name under ``models_dir``: ``output.name``, or the data file's stem.

        A stem that could lead elsewhere or hide (``..``, ``.x``, control characters) is rewritten
        to a plain name; any other stem (``my sales``, ``données``) is kept as it always was, so an
        existing model folder keeps its name.

        Example:
            >>> RunConfig(data=DataConfig(path="data/my sales.csv")).model_name
            'my sales'
            >>> RunConfig(data=DataConfig(path="/tmp/...csv")).model_name, RunConfig(data=DataConfig(path=".x.csv")).model_name
            ('series', 'x')
        """
        if self.output.name:
            return self.output.name
        stem = Path(self.data.path).stem
        if stem and not stem.startswith(".") and stem.isprintable() and "/" not in stem and "\\" not in stem:
            return stem
        return re.sub(r"[^\w.-]+", "_", stem).strip("._-") or "series"



SECTION_TYPES = {
    "data": DataConfig,
    "window": WindowConfig,
    "model": ModelConfig,
    "training": TrainConfig,
    "output": OutputConfig,
    "forecast": ForecastConfig,
    "schedule": ScheduleConfig,
    "verdict": VerdictConfig,
    "tune": TuneConfig,
}
