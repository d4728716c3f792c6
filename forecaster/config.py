"""One typed, validated, immutable run configuration.

YAML files give defaults, command-line flags override them, and the result is a frozen
:class:`RunConfig` passed to the library. Validation is strict: an unknown key is an error
(with a "did you mean"), a wrong type or out-of-range value names the key, where it came from,
what was received and what was expected.

Example:
    >>> cfg = resolve(overrides={"window.lookback": 96})
    >>> cfg.window.lookback, cfg.window.horizon
    (96, 24)
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping
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
    "DEFAULT_DATA",
    "load",
    "resolve",
    "to_dict",
    "dump_yaml",
    "from_dict",
    "flatten",
]

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
    covariates: tuple[str, ...] = ()
    missing: MissingPolicy = "error"
    freq: str | None = None  # None: inferred from the timestamps


@dataclass(frozen=True)
class WindowConfig:
    """Lookback -> horizon windows and the chronological split."""

    lookback: int = 48
    horizon: int = 24
    val: float = 0.15  # a fraction (0 < v < 1) or a number of rows (>= 1)
    test: float = 0.15
    season: int | None = None  # None: inferred from the frequency


@dataclass(frozen=True)
class ModelConfig:
    """Which network: a registered cell and its size."""

    cell: str = "lstm"
    units: tuple[int, ...] = (64,)
    dropout: float = 0.0
    strategy: Strategy = "direct"  # direct: all horizon steps at once; recursive: one step, fed back
    residual: bool = True  # inputs centred on the last value; the network predicts the change from it
    linear: bool | None = None  # with residual: a linear path started at its least-squares fit; None: with and without, lower val loss wins


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimiser, stopping rule, seed."""

    epochs: int = 50
    batch_size: int = 512  # windows per batch; on a CPU split into one shard per core (training.shard_count)
    patience: int = 5
    learning_rate: float = 1e-3
    seed: int = 42
    jit_compile: bool | None = None  # XLA; None: on for GRU training on a CPU with >= 2,048 windows (measured)


@dataclass(frozen=True)
class OutputConfig:
    """Where runs are saved: ``<models_dir>/<name>/runs/<run-id>/``."""

    name: str | None = None  # None: the data file's stem
    models_dir: str = "models"


@dataclass(frozen=True)
class ScheduleConfig:
    """Scheduled retraining: when, how a challenger is judged, what is kept (see ``registry``)."""

    cron: str = "0 3 * * *"  # 5 fields (minute hour day month weekday) or 6 (seconds first); UTC
    metric: Literal["mase", "mae", "rmse", "smape"] = "mase"  # compared on the newest holdout
    margin: float = 0.0  # the challenger must beat the champion by this fraction (0.05 = 5 %)
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
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)

    @property
    def model_name(self) -> str:
        """The model name under ``models_dir`` (defaults to the data file's stem)."""
        return self.output.name or Path(self.data.path).stem


# Flags that map onto config keys: used to name the flag in error messages.
FLAG_FOR_KEY = {
    "data.path": "--data",
    "data.target": "--target",
    "data.time_col": "--time-col",
    "data.covariates": "--covariates",
    "data.missing": "--missing",
    "window.lookback": "--lookback",
    "window.horizon": "--horizon",
    "window.val": "--val",
    "window.test": "--test",
    "window.season": "--season",
    "model.cell": "--cell",
    "model.units": "--units",
    "model.dropout": "--dropout",
    "model.strategy": "--strategy",
    "model.residual": "--residual/--no-residual",
    "model.linear": "--linear/--no-linear",
    "training.epochs": "--epochs",
    "training.batch_size": "--batch-size",
    "training.patience": "--patience",
    "training.learning_rate": "--learning-rate",
    "training.seed": "--seed",
    "training.jit_compile": "--jit/--no-jit",
    "output.name": "--name",
    "output.models_dir": "--models-dir",
    "schedule.cron": "--cron",
    "schedule.metric": "--metric",
    "schedule.margin": "--margin",
    "schedule.min_new_rows": "--min-new-rows",
    "schedule.keep": "--keep",
}

_SECTION_TYPES = {
    "data": DataConfig,
    "window": WindowConfig,
    "model": ModelConfig,
    "training": TrainConfig,
    "output": OutputConfig,
    "schedule": ScheduleConfig,
}


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
        if isinstance(value, str):  # "64,32" as on the command line
            value = [v.strip() for v in value.split(",") if v.strip()]
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
    return ConfigError(f"{where}: unknown key '{key}'{hint}")


def _check_ranges(cfg: RunConfig, where: Mapping[str, str]) -> None:
    """Value checks that types alone cannot express. ``where`` names each key's source."""

    def fail(key: str, expected: str, got: Any) -> None:
        raise ConfigError(f"{where.get(key, key)}: expected {expected}, got {got!r}")

    w, m, t = cfg.window, cfg.model, cfg.training
    for key, value in (
        ("window.lookback", w.lookback),
        ("window.horizon", w.horizon),
        ("training.epochs", t.epochs),
        ("training.batch_size", t.batch_size),
    ):
        if value < 1:
            fail(key, "an integer >= 1", value)
    if t.patience < 0:
        fail("training.patience", "an integer >= 0", t.patience)
    if t.seed < 0:
        fail("training.seed", "an integer >= 0", t.seed)
    for key, frac in (("window.val", w.val), ("window.test", w.test)):
        if not (0 < frac < 1 or (frac >= 1 and float(frac).is_integer())):
            fail(key, "a fraction between 0 and 1 or a whole number of rows", frac)
    if w.val < 1 and w.test < 1 and w.val + w.test >= 1:
        fail("window.test", f"val + test < 1 (val is {w.val})", w.test)
    if w.season is not None and w.season < 1:
        fail("window.season", "an integer >= 1 or null (inferred)", w.season)
    if not m.units or any(u < 1 for u in m.units):
        fail("model.units", "a non-empty list of integers >= 1, e.g. [64] or 64,32", list(m.units))
    if not 0 <= m.dropout < 1:
        fail("model.dropout", "a number in [0, 1)", m.dropout)
    if not t.learning_rate > 0:
        fail("training.learning_rate", "a number > 0", t.learning_rate)
    from forecaster.architectures import available_cells  # light: no TensorFlow import

    sc = cfg.schedule
    if sc.margin < 0 or sc.margin >= 1:
        fail("schedule.margin", "a fraction in [0, 1)", sc.margin)
    for key, value in (("schedule.min_new_rows", sc.min_new_rows), ("schedule.keep", sc.keep)):
        if value < 0:
            fail(key, "an integer >= 0", value)
    for key, secs in (("schedule.heartbeat_every", sc.heartbeat_every), ("schedule.stale_after", sc.stale_after)):
        if not secs > 0:
            fail(key, "a number of seconds > 0", secs)
    if m.cell not in available_cells():
        fail("model.cell", "one of " + ", ".join(available_cells()), m.cell)
    if m.strategy == "recursive" and cfg.data.covariates:
        fail("model.strategy", "'direct' when covariates are used (recursive forecasting would need their "
             "future values)", m.strategy)
    name = cfg.output.name
    if name is not None and (name in (".", "..") or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name)):
        fail("output.name", "a plain name (letters, digits, '.', '_', '-'; no path separators)", name)
    if cfg.data.target is not None and cfg.data.target in cfg.data.covariates:
        fail("data.covariates", f"columns other than the target '{cfg.data.target}'", list(cfg.data.covariates))


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
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{p}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
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
