"""One typed, validated, immutable run configuration.

YAML files give defaults, command-line flags override them, and the result is a frozen
:class:`RunConfig` passed to the library. Validation is strict: an unknown key is an error
(with a "did you mean"), a wrong type or out-of-range value names the key, where it came from,
what was received and what was expected. Every flag that sets a key is declared once, in
:data:`SETTINGS`: the CLI's options, :data:`FLAG_FOR_KEY` and the simple range checks are
generated from it, with types, choices and defaults read from the dataclasses below.

Example:
    >>> cfg = resolve(overrides={"window.lookback": 96})
    >>> cfg.window.lookback, cfg.window.horizon
    (96, 24)
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from forecaster.errors import ConfigError

__all__ = [
    "DataConfig",
    "WindowConfig",
    "ModelConfig",
    "TrainConfig",
    "OutputConfig",
    "ScheduleConfig",
    "RunConfig",
    "Setting",
    "SETTINGS",
    "FLAG_FOR_KEY",
    "setting",
    "DEFAULT_DATA",
    "load",
    "resolve",
    "to_dict",
    "dump_yaml",
    "from_dict",
    "flatten",
    "safe_load_bounded",
    "MAX_CONFIG_NODES",
]

MissingPolicy = Literal["error", "interpolate", "ffill"]
Strategy = Literal["direct", "recursive"]
#: Rows every leaderboard can hold beside the networks (see :mod:`forecaster.lineup`).
BaselineName = Literal["naive", "seasonal_naive", "linear", "ets", "theta", "arima", "mstl"]
DEFAULT_BASELINES: tuple[BaselineName, ...] = ("naive", "seasonal_naive", "linear", "ets", "theta")

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
    baselines: tuple[BaselineName, ...] = DEFAULT_BASELINES
    per_series: bool = False  # a panel: one network per series instead of one global network over all of them
    # a recurrent cell reads the last this-many steps of the window (the linear path reads all of it);
    # None: two main seasons, at least 48 steps (network.recurrent_steps)
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
class RunConfig:
    """Everything a run needs, validated."""

    data: DataConfig = field(default_factory=DataConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainConfig = field(default_factory=TrainConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    forecast: ForecastConfig = field(default_factory=ForecastConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)

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


_SECTION_TYPES = {
    "data": DataConfig,
    "window": WindowConfig,
    "model": ModelConfig,
    "training": TrainConfig,
    "output": OutputConfig,
    "forecast": ForecastConfig,
    "schedule": ScheduleConfig,
}


@functools.cache
def _hints(section_type: type) -> dict[str, Any]:
    return typing.get_type_hints(section_type)


def _cells() -> tuple[str, ...]:
    from forecaster.architectures import available_cells  # light: no TensorFlow import

    return available_cells()


def _show(value: Any) -> str:
    """A default as ``--help`` shows it: ``on``/``off``, ``0.001``, ``64,32``, ``'0 3 * * *'``."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "none"
    if isinstance(value, str) and " " in value:
        return f"'{value}'"
    return str(value)


@dataclass(frozen=True)
class Setting:
    """One config key with a command-line flag: the only place that flag is declared.

    The flag's value type, choices and default are read from the key's annotation and default
    in the config dataclasses, so ``--help``, parsing and validation cannot drift from them. The
    CLI builds its options from :data:`SETTINGS`; :data:`FLAG_FOR_KEY` and the simple range
    checks of :func:`resolve` come from the same records.

    Attributes:
        key: the dotted config key, e.g. ``"window.lookback"``.
        flag: the option, e.g. ``"--lookback"``; a boolean key also gets ``--no-<name>``.
        help: what the flag does; ``(default: ...)`` is appended from the dataclass default.
        group: the ``--help`` section. ``"registry"`` flags belong to retrain and schedule only.
        metavar: the value's placeholder in ``--help`` (unused for choices and booleans).
        none_means: what a ``None`` default means, shown as the default in ``--help``.
        at_least: the smallest allowed value (``at_least <= value``), if any.
        above: an exclusive lower bound (``above < value``), if any.
        below: an exclusive upper bound (``value < below``), if any.
        expected: the "expected ..." text of a range error, where the generated one reads badly.
        choices_from: the names of an open registry (cells), for a key that is not a ``Literal``.

    Example:
        >>> s = setting("window.horizon")
        >>> s.flag, s.default, s.help_text()
        ('--horizon', 24, 'steps to forecast (default: 24)')
        >>> s.expected_text(), s.in_range(0)
        ('an integer >= 1', False)
        >>> setting("model.strategy").choices
        ('direct', 'recursive')
        >>> setting("training.jit_compile").spelled
        '--jit/--no-jit'
    """

    key: str
    flag: str
    help: str
    group: str
    metavar: str | None = None
    none_means: str | None = None
    at_least: float | None = None
    above: float | None = None
    below: float | None = None
    expected: str | None = None
    choices_from: Callable[[], tuple[str, ...]] | None = None

    @property
    def dest(self) -> str:
        """The ``argparse`` attribute: ``--time-col`` -> ``time_col``."""
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def annotation(self) -> Any:
        """The key's type annotation in its config dataclass (e.g. ``int | None``)."""
        section, _, name = self.key.partition(".")
        return _hints(_SECTION_TYPES[section])[name]

    @property
    def value_type(self) -> Any:
        """The annotation without ``None``: ``int | None`` -> ``int``."""
        tp = self.annotation
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            (tp,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return tp

    @property
    def default(self) -> Any:
        """The dataclass default (what an unset flag and an absent YAML key give)."""
        section, _, name = self.key.partition(".")
        return getattr(_SECTION_TYPES[section](), name)

    @property
    def is_bool(self) -> bool:
        """A ``--x/--no-x`` switch."""
        return self.value_type is bool

    @property
    def choices(self) -> tuple[str, ...] | None:
        """The allowed values: the ``Literal``'s, the registry's, or ``None`` (open)."""
        if self.choices_from is not None:
            return self.choices_from()
        if typing.get_origin(self.value_type) is Literal:
            return typing.get_args(self.value_type)
        return None

    @property
    def spelled(self) -> str:
        """The flag as error messages name it: ``--lookback``, ``--residual/--no-residual``."""
        return f"{self.flag}/--no-{self.flag.removeprefix('--')}" if self.is_bool else self.flag

    def help_text(self) -> str:
        """``help`` with the real default: the dataclass's, or ``none_means`` for ``None``."""
        default = self.default
        shown = (self.none_means or "none") if default is None else _show(default)
        return f"{self.help} (default: {shown})"

    def in_range(self, value: Any) -> bool:
        """Whether ``value`` (already of the key's type) lies in the declared bounds (NaN never does)."""
        if value is None or not isinstance(value, (int, float)) or isinstance(value, bool):
            return True
        return ((self.at_least is None or value >= self.at_least)
                and (self.above is None or value > self.above)
                and (self.below is None or value < self.below))

    def expected_text(self) -> str | None:
        """What a range error says was expected (``"an integer >= 1"``); ``None`` if unbounded."""
        if self.expected is not None:
            return self.expected
        if self.at_least is None and self.above is None and self.below is None:
            return None
        noun = "an integer" if self.value_type is int else "a number"
        if self.at_least is not None and self.below is not None:
            return f"{noun} in [{self.at_least:g}, {self.below:g})"
        parts = [f"{op} {bound:g}" for op, bound in ((">=", self.at_least), (">", self.above), ("<", self.below))
                 if bound is not None]
        return f"{noun} " + " and ".join(parts)


_DATA, _WIN, _MODEL, _OUT, _REG = "data", "windows", "model and training", "output", "registry"

#: Every flag that sets a config key, in ``--help`` order within each group.
SETTINGS: tuple[Setting, ...] = (
    Setting("data.path", "--data", "CSV or Parquet file", _DATA, "PATH"),
    Setting("data.target", "--target", "column to forecast", _DATA, "COL", none_means="the only numeric column"),
    Setting("data.time_col", "--time-col", "timestamp column", _DATA, "COL",
            none_means="the only datetime-like column"),
    Setting("data.covariates", "--covariates", "extra input columns, comma-separated", _DATA, "COLS"),
    Setting("data.missing", "--missing", "missing values/timestamps inside the series: reject (error) or fill",
            _DATA),
    Setting("data.id_col", "--id-col", "series-id column of a long-format file of many series (one global model "
            "over all of them, scored per series)", _DATA, "COL", none_means="one series per file"),
    Setting("data.known_covariates", "--known-covariates", "input columns known in the future too (promotions, "
            "holidays), comma-separated; predict reads their future values from --future", _DATA, "COLS"),
    Setting("data.static_covariates", "--static-covariates", "with --id-col: columns holding one value per series "
            "(store size; a text category such as a region becomes one 0/1 input per category), comma-separated; "
            "scaled across series, so one global network can tell series apart", _DATA, "COLS"),
    Setting("data.calendar", "--calendar", "add calendar inputs from the timestamps (hour, day of week, day of "
            "year as sine and cosine, as the frequency allows)", _DATA),
    Setting("window.lookback", "--lookback", "input steps per window", _WIN, "N", at_least=1,
            none_means="from the seasons: the longest season plus the horizon, or two main seasons (48..400)",
            expected="an integer >= 1 or null (from the seasons)"),
    Setting("window.horizon", "--horizon", "steps to forecast", _WIN, "N", at_least=1),
    Setting("window.val", "--val", "validation part: a fraction or a number of rows", _WIN, "F"),
    Setting("window.test", "--test", "test part: a fraction or a number of rows", _WIN, "F"),
    Setting("window.season", "--season", "seasonal period for MASE and seasonal naive", _WIN, "N",
            none_means="from the frequency", at_least=1, expected="an integer >= 1 or null (inferred)"),
    Setting("window.seasons", "--seasons", "every seasonal period the models may use, e.g. 24,168 (the residual "
            "base picks among them on the training windows; the default lookback spans the longest)", _WIN, "N,N",
            none_means="the frequency's natural cycles the training part holds twice"),
    Setting("model.cell", "--cell", "network cell", _MODEL, choices_from=_cells),
    Setting("model.units", "--units", "units per stacked layer, e.g. 64 or 64,32", _MODEL, "N[,N...]"),
    Setting("model.dropout", "--dropout", "dropout between layers", _MODEL, "F", at_least=0, below=1),
    Setting("model.strategy", "--strategy", "direct: all horizon steps at once; recursive: one step fed back",
            _MODEL),
    Setting("model.residual", "--residual", "centre inputs on the last value and predict the change from it",
            _MODEL),
    Setting("model.linear", "--linear", "with --residual: add a linear path started at its least-squares fit",
            _MODEL, none_means="train with and without it, keep the lower validation loss"),
    Setting("model.baselines", "--baselines", "rows scored beside the networks, comma-separated, from "
            + ", ".join(typing.get_args(BaselineName)) + " (arima and mstl are slow: opt-in)", _MODEL, "A,B"),
    Setting("model.per_series", "--per-series", "with --id-col: train one network per series (each on its own "
            "windows only) instead of one global network over every series", _MODEL),
    Setting("training.epochs", "--epochs", "maximum epochs", _MODEL, "N", at_least=1),
    Setting("training.batch_size", "--batch-size", "windows per batch", _MODEL, "N", at_least=1),
    Setting("training.patience", "--patience", "early-stopping patience in epochs", _MODEL, "N", at_least=0),
    Setting("training.learning_rate", "--learning-rate", "Adam learning rate", _MODEL, "F", above=0),
    Setting("training.seed", "--seed", "random seed", _MODEL, "N", at_least=0, below=2**32,
            expected="an integer in [0, 4294967295] (a 32-bit seed)"),
    Setting("training.jit_compile", "--jit", "XLA-compile training", _MODEL,
            none_means="on for a GRU trained on a CPU with >= 2048 windows"),
    Setting("training.gain_epochs", "--gain-epochs", "epochs within which a network must beat its linear start "
            "on the validation windows beyond noise, or it is stopped and keeps that start; 0: never judged",
            _MODEL, "N", at_least=0),
    Setting("training.min_steps", "--min-steps", "optimizer steps per epoch, at least: the batch shrinks (to 64 "
            "windows at least) on a small training set", _MODEL, "N", at_least=1),
    Setting("training.time_budget", "--time-budget", "seconds each fit may train; the best epoch so far is kept",
            _MODEL, "S", above=0, none_means="no limit", expected="a number of seconds > 0 or null (no limit)"),
    Setting("model.recurrent_steps", "--recurrent-steps", "steps of the window a recurrent cell reads (its last "
            "ones; the linear path reads the whole lookback)", _MODEL, "N", at_least=1,
            none_means="two main seasons, at least 48", expected="an integer >= 1 or null (from the season)"),
    Setting("output.name", "--name", "model name under the models dir", _OUT, "NAME",
            none_means="the data file's stem"),
    Setting("output.models_dir", "--models-dir", "where runs are saved", _OUT, "DIR"),
    Setting("output.tensorboard", "--tensorboard", "write TensorBoard logs of every fit (tensorboard --logdir "
            "<models-dir>/<name>/tensorboard)", _OUT),
    Setting("output.mlflow_uri", "--mlflow-uri", "log each run to this MLflow tracking server or store (params, "
            "per-epoch losses, leaderboard, the run folder); needs pip install 'forecaster[tracking]'", _OUT, "URI",
            none_means="$MLFLOW_TRACKING_URI when set, else off"),
    Setting("forecast.levels", "--levels", "prediction interval levels in percent, comma-separated (conformal, "
            "calibrated on the validation windows); none: point forecasts only", _OUT, "P,P"),
    Setting("schedule.cron", "--cron", "when to retrain, UTC: 'min hour day month weekday' or 6 fields with "
            "seconds first", _REG, "EXPR"),
    Setting("schedule.metric", "--metric", "score compared on the newest holdout", _REG),
    Setting("schedule.margin", "--margin", "fraction by which the challenger must beat the champion", _REG, "F",
            at_least=0, below=1, expected="a fraction in [0, 1)"),
    Setting("schedule.coverage_tolerance", "--coverage-tolerance", "also require the challenger's interval "
            "coverage on the holdout within this fraction of nominal at every level", _REG, "F",
            none_means="not checked", at_least=0, below=1, expected="a fraction in [0, 1) or null (not checked)"),
    Setting("schedule.min_new_rows", "--min-new-rows", "rows after the champion's last timestamp needed to "
            "retrain", _REG, "N", at_least=0),
    Setting("schedule.keep", "--keep", "versions to keep, the champion always kept; 0 keeps all", _REG, "N",
            at_least=0),
)

_SETTING_FOR_KEY = {s.key: s for s in SETTINGS}

#: Config key -> the flag that sets it, as error messages name it (from :data:`SETTINGS`).
FLAG_FOR_KEY = {s.key: s.spelled for s in SETTINGS}


def setting(key: str) -> Setting:
    """The :class:`Setting` of a dotted config key.

    Raises:
        KeyError: no flag sets ``key``.

    Example:
        >>> setting("training.epochs").flag
        '--epochs'
    """
    try:
        return _SETTING_FOR_KEY[key]
    except KeyError:
        raise KeyError(f"no flag sets config key {key!r}; flagged keys: {', '.join(_SETTING_FOR_KEY)}") from None


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is tuple:
        item = typing.get_args(tp)[0]
        return "a list of " + {int: "integers", str: "strings"}.get(item, _type_name(item))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _type_name(args[0]) + " or null"
    return {int: "an integer", float: "a number", str: "a string", bool: "true/false"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it normalised (lists -> tuples)."""
    origin = typing.get_origin(tp)
    bad = ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise bad
        return value
    if origin is tuple:
        (item_tp, _ellipsis) = typing.get_args(tp)
        if isinstance(value, str):  # "64,32" as on the command line; "none": an empty list
            value = [] if value.strip().lower() == "none" else [v.strip() for v in value.split(",") if v.strip()]
            if item_tp is int and all(re.fullmatch(r"[-+]?\d+", v) for v in value):
                value = [int(v) for v in value]
        elif isinstance(value, int) and not isinstance(value, bool) and item_tp is int:
            value = [value]  # units: 64 means one layer of 64
        if not isinstance(value, (list, tuple)):
            raise bad
        return tuple(_coerce(v, item_tp, where) for v in value)
    args = typing.get_args(tp)
    if args and type(None) in args:  # Optional[X]
        if value is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        try:
            return _coerce(value, inner, where)
        except ConfigError:
            raise bad from None
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if tp is str:
        if not isinstance(value, str) or not value:
            raise bad
        return value
    raise TypeError(f"unsupported config type {tp!r}")  # pragma: no cover - a bug in this module


def _unknown(key: str, valid: list[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(valid)}"
    shown = key if key.isprintable() else repr(key)[1:-1]  # a newline in a key stays on one line
    return ConfigError(f"{where}: unknown key '{shown}'{hint}")


def _check_ranges(cfg: RunConfig, where: Mapping[str, str]) -> None:
    """Value checks that types alone cannot express. ``where`` names each key's source."""

    def fail(key: str, expected: str, got: Any) -> None:
        raise ConfigError(f"{where.get(key, key)}: expected {expected}, got {got!r}")

    for s in SETTINGS:  # the declared bounds and registry choices
        section, _, field_name = s.key.partition(".")
        value = getattr(getattr(cfg, section), field_name)
        if s.choices_from is not None and value is not None and value not in s.choices_from():
            fail(s.key, "one of " + ", ".join(s.choices_from()), value)
        expected = s.expected_text()
        if expected is not None and not s.in_range(value):
            fail(s.key, expected, value)
    w, m = cfg.window, cfg.model
    for key, frac in (("window.val", w.val), ("window.test", w.test)):
        if not (0 < frac < 1 or (frac >= 1 and float(frac).is_integer())):
            fail(key, "a fraction between 0 and 1 or a whole number of rows", frac)
    if w.val < 1 and w.test < 1 and w.val + w.test >= 1:
        fail("window.test", f"val + test < 1 (val is {w.val})", w.test)
    if any(not 1 <= v <= 99 for v in cfg.forecast.levels) or len(set(cfg.forecast.levels)) != len(cfg.forecast.levels):
        fail("forecast.levels", "distinct integer percentages in 1..99, e.g. 80,95 (or none)", list(cfg.forecast.levels))
    if w.seasons is not None and any(p < 2 for p in w.seasons):
        fail("window.seasons", "periods >= 2, e.g. 24,168 (or none for the main season only)", list(w.seasons))
    if not m.units or any(u < 1 for u in m.units):
        fail("model.units", "a non-empty list of integers >= 1, e.g. [64] or 64,32", list(m.units))
    sc = cfg.schedule
    for key, secs in (("schedule.heartbeat_every", sc.heartbeat_every), ("schedule.stale_after", sc.stale_after)):
        if not secs > 0:
            fail(key, "a number of seconds > 0", secs)
    if sc.coverage_tolerance is not None and not cfg.forecast.levels:
        fail("schedule.coverage_tolerance", "null (not checked) when forecast.levels is none", sc.coverage_tolerance)
    if m.strategy == "recursive" and cfg.data.covariates:
        fail("model.strategy", "'direct' when covariates are used (recursive forecasting would need their "
             "future values)", m.strategy)
    name = cfg.output.name
    if name is not None and (name in (".", "..") or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name)):
        fail("output.name", "a plain name (letters, digits, '.', '_', '-'; no path separators)", name)
    d = cfg.data
    if d.target is not None and d.target in d.covariates:
        fail("data.covariates", f"columns other than the target '{d.target}'", list(d.covariates))
    if d.target is not None and d.target in d.known_covariates:
        fail("data.known_covariates", f"columns other than the target '{d.target}'", list(d.known_covariates))
    both = sorted(set(d.covariates) & set(d.known_covariates))
    if both:
        fail("data.known_covariates", "columns not also listed in data.covariates (a column is past or known)", both)
    if m.strategy == "recursive" and (d.known_covariates or d.calendar):
        fail("model.strategy", "'direct' when known covariates or calendar inputs are used", m.strategy)
    if m.per_series and d.id_col is None:
        fail("model.per_series", "false unless data.id_col names the series-id column (--id-col): one network "
             "per series needs a file of many series", m.per_series)
    if d.static_covariates and d.id_col is None:
        fail("data.static_covariates", "none unless data.id_col names the series-id column (--id-col): a static "
             "covariate describes each series of a panel", list(d.static_covariates))
    if d.target is not None and d.target in d.static_covariates:
        fail("data.static_covariates", f"columns other than the target '{d.target}'", list(d.static_covariates))
    twice = sorted(set(d.static_covariates) & {*d.covariates, *d.known_covariates})
    if twice:
        fail("data.static_covariates", "columns not also listed as past or known covariates", twice)
    if d.id_col is not None and d.id_col in (d.target, d.time_col, *d.covariates, *d.known_covariates,
                                             *d.static_covariates):
        fail("data.id_col", "a column of its own (not the target, time or a covariate column)", d.id_col)


def _apply(base: RunConfig, values: Mapping[str, Any], where_of: Any) -> RunConfig:
    """Return ``base`` with dotted ``values`` applied; ``where_of(key)`` names the source."""
    sections: dict[str, dict[str, Any]] = {}
    for dotted, value in values.items():
        section, _, key = dotted.partition(".")
        section_type = _SECTION_TYPES[section]
        hints = typing.get_type_hints(section_type)
        sections.setdefault(section, {})[key] = _coerce(value, hints[key], where_of(dotted))
    replaced = {
        name: dataclasses.replace(getattr(base, name), **changes) for name, changes in sections.items()
    }
    return dataclasses.replace(base, **replaced)


#: Values a config may hold once its aliases are expanded. A real config has a few dozen; a
#: 300-byte file of nested aliases ("billion laughs") expands to 9**9 and, printed in an error
#: message, took 30 s and 2.3 GB before it was refused.
MAX_CONFIG_NODES = 10_000


def safe_load_bounded(text: str, path: Path) -> Any:
    """``yaml.safe_load`` that refuses a document whose aliases expand past :data:`MAX_CONFIG_NODES`."""
    import yaml

    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        sizes: dict[int, int] = {}
        stack: list[tuple[Any, bool]] = [(node, False)]
        while stack:  # post-order over the node graph; a node shared by aliases is sized once
            current, done = stack.pop()
            if id(current) in sizes:
                continue
            children = ([c for pair in current.value for c in pair] if isinstance(current, yaml.MappingNode)
                        else list(current.value) if isinstance(current, yaml.SequenceNode) else [])
            if done or not children:
                sizes[id(current)] = 1 + sum(sizes.get(id(c), 1) for c in children)
                if sizes[id(current)] > MAX_CONFIG_NODES:
                    raise ConfigError(f"{path}: aliases expand to more than {MAX_CONFIG_NODES:,} values; "
                                      "a config needs far fewer: write the values out")
                continue
            stack.append((current, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def load(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into dotted keys (``{"window.lookback": 48, ...}``).

    Raises:
        ConfigError: the file is missing, not YAML, or has an unknown section or key.
    """
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read config file ({exc.__class__.__name__}: {exc})") from None
    try:
        raw = safe_load_bounded(text, p)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or (str(exc).strip().splitlines() or [exc.__class__.__name__])[0]
        raise ConfigError(f"{p}: not valid YAML{at}: {problem}") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{p}: expected a mapping of sections ({', '.join(_SECTION_TYPES)})")
    flat: dict[str, Any] = {}
    for section, body in raw.items():
        if section not in _SECTION_TYPES:
            raise _unknown(str(section), list(_SECTION_TYPES), str(p))
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigError(f"{p}: section '{section}' must be a mapping of keys, got {body!r}")
        valid = [f.name for f in dataclasses.fields(_SECTION_TYPES[section])]
        for key, value in body.items():
            if key not in valid:
                raise _unknown(f"{section}.{key}", [f"{section}.{v}" for v in valid], str(p))
            flat[f"{section}.{key}"] = value
    return flat


def resolve(
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Build the run config: defaults <- config file <- overrides (``None`` values are ignored).

    Args:
        config_file: optional YAML file; its values replace the defaults.
        overrides: dotted keys (e.g. ``{"training.epochs": 5}``), typically from CLI flags.

    Raises:
        ConfigError: naming the key, its source (file or flag) and what was expected.
    """
    cfg = RunConfig()
    sources: dict[str, str] = {}
    if config_file is not None:
        from_file = load(config_file)
        cfg = _apply(cfg, from_file, lambda k: f"{config_file}: {k}")
        sources.update({k: f"{config_file}: {k}" for k in from_file})
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    for key in given:
        section = key.partition(".")[0]
        if section not in _SECTION_TYPES or key.partition(".")[2] not in {
            f.name for f in dataclasses.fields(_SECTION_TYPES[section])
        }:
            raise _unknown(key, list(FLAG_FOR_KEY), "override")

    def flag(k: str) -> str:
        return f"{FLAG_FOR_KEY[k]} ({k})" if k in FLAG_FOR_KEY else k

    cfg = _apply(cfg, given, flag)
    sources.update({k: flag(k) for k in given})
    _check_ranges(cfg, sources)
    return cfg


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    """The config as plain nested dicts/lists (YAML/JSON friendly)."""

    def plain(v: Any) -> Any:
        return list(v) if isinstance(v, tuple) else v

    return {
        section: {k: plain(v) for k, v in dataclasses.asdict(getattr(cfg, section)).items()}
        for section in _SECTION_TYPES
    }


def flatten(cfg: RunConfig) -> dict[str, Any]:
    """Dotted keys of a config (``{"window.lookback": 48, ...}``), usable as ``resolve`` overrides."""
    return {f"{section}.{k}": v for section, body in to_dict(cfg).items() for k, v in body.items()}


def from_dict(raw: Mapping[str, Any], where: str = "config") -> RunConfig:
    """Rebuild a config saved with :func:`to_dict` (e.g. from a run's ``config.yaml``)."""
    flat = {f"{s}.{k}": v for s, body in raw.items() for k, v in (body or {}).items()}
    return _apply(RunConfig(), flat, lambda k: f"{where}: {k}")


def dump_yaml(cfg: RunConfig) -> str:
    """The resolved config as YAML text, loadable again with ``--config``."""
    import yaml

    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
