"""Every flag that sets a config key, declared once (:data:`SETTINGS`).

The CLI builds its options from these records; :data:`FLAG_FOR_KEY` and the simple range
checks of :func:`forecaster.config.resolve` come from the same records, with types, choices and
defaults read from the dataclasses of :mod:`forecaster.config.schema`.
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from forecaster.config.schema import SECTION_TYPES

__all__ = ["Setting", "SETTINGS", "FLAG_FOR_KEY", "setting"]

@functools.cache
def _hints(section_type: type) -> dict[str, Any]:
    return typing.get_type_hints(section_type)


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
        catalog: the key names models of the model catalog (cells, baselines): its valid names are handed
            to :func:`forecaster.config.resolve` (``choices=``) and to the CLI by their callers, which
            read them from :mod:`forecaster.models.catalog` (config sits below the models).

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
    catalog: bool = False

    @property
    def dest(self) -> str:
        """The ``argparse`` attribute: ``--time-col`` -> ``time_col``."""
        return self.flag.removeprefix("--").replace("-", "_")

    @property
    def annotation(self) -> Any:
        """The key's type annotation in its config dataclass (e.g. ``int | None``)."""
        section, _, name = self.key.partition(".")
        return _hints(SECTION_TYPES[section])[name]

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
        return getattr(SECTION_TYPES[section](), name)

    @property
    def is_bool(self) -> bool:
        """A ``--x/--no-x`` switch."""
        return self.value_type is bool

    @property
    def choices(self) -> tuple[str, ...] | None:
        """The allowed values: the ``Literal``'s, the registry's, or ``None`` (open)."""
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
_TUNE = "tuning"  # compare only

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
    Setting("model.cell", "--cell", "network cell", _MODEL, "CELL", catalog=True),
    Setting("model.units", "--units", "units per stacked layer, e.g. 64 or 64,32", _MODEL, "N[,N...]"),
    Setting("model.dropout", "--dropout", "dropout between layers", _MODEL, "F", at_least=0, below=1),
    Setting("model.strategy", "--strategy", "direct: all horizon steps at once; recursive: one step fed back",
            _MODEL),
    Setting("model.residual", "--residual", "centre inputs on the last value and predict the change from it",
            _MODEL),
    Setting("model.linear", "--linear", "with --residual: add a linear path started at its least-squares fit",
            _MODEL, none_means="train with and without it, keep the lower validation loss"),
    Setting("model.baselines", "--baselines", "rows scored beside the networks, comma-separated", _MODEL, "A,B",
            none_means="the catalog's default line-up", catalog=True),
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
    Setting("forecast.nonnegative", "--nonnegative", "no interval bound below 0 (a count, a price); --no-nonnegative: "
            "bounds as calibrated", _OUT, none_means="when the target is never negative in the training rows"),
    Setting("verdict.level", "--significance", "significance level of the verdict's paired tests: rows whose "
            "losses on the same test windows differ with p >= this are equal, and the cheapest of them is "
            "recommended", _OUT, "A", above=0, below=1, expected="a level in (0, 1), e.g. 0.05"),
    Setting("verdict.coverage_tolerance", "--coverage-shortfall", "the verdict flags an interval whose test "
            "coverage falls short of nominal by more than this (0.05: 5 points)", _OUT, "F", at_least=0, below=1,
            expected="a fraction in [0, 1)"),
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
    Setting("tune.trials", "--tune", "compare only: also tune each cell with this many Optuna trials (TPE, pruned on the "
            "validation curve, chosen on validation loss only): a <cell>-tuned row beside each default; 0: off",
            _TUNE, "N", at_least=0),
    Setting("tune.time", "--tune-time", "compare only: also tune each cell for this many seconds (with --tune: whichever ends "
            "first)", _TUNE, "S", above=0, none_means="no time limit",
            expected="a number of seconds > 0 or null (no time limit)"),
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

