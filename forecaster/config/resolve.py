"""Resolve a run configuration: YAML defaults, flag overrides, strict validation.

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
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from forecaster.config.schema import SECTION_TYPES, RunConfig
from forecaster.config.settings import FLAG_FOR_KEY, SETTINGS
from forecaster.errors import ConfigError

__all__ = ["load", "resolve", "to_dict", "dump_yaml", "from_dict", "flatten", "safe_load_bounded", "MAX_CONFIG_NODES"]

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


def _check_names(cfg: RunConfig, where: Mapping[str, str], choices: Mapping[str, Sequence[str]]) -> None:
    """Each catalog key's value(s) among ``choices[key]`` (with a "did you mean")."""
    for key, valid in choices.items():
        section, _, field_name = key.partition(".")
        value = getattr(getattr(cfg, section), field_name)
        for name in (value if isinstance(value, tuple) else () if value is None else (value,)):
            if name not in valid:
                close = difflib.get_close_matches(str(name), list(valid), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(f"{where.get(key, key)}: expected one of {', '.join(valid)}, got {name!r}{hint}")


def _check_ranges(cfg: RunConfig, where: Mapping[str, str]) -> None:
    """Value checks that types alone cannot express. ``where`` names each key's source."""

    def fail(key: str, expected: str, got: Any) -> None:
        raise ConfigError(f"{where.get(key, key)}: expected {expected}, got {got!r}")

    for s in SETTINGS:  # the declared bounds
        section, _, field_name = s.key.partition(".")
        value = getattr(getattr(cfg, section), field_name)
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
        section_type = SECTION_TYPES[section]
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
        raise ConfigError(f"{p}: expected a mapping of sections ({', '.join(SECTION_TYPES)})")
    flat: dict[str, Any] = {}
    for section, body in raw.items():
        if section not in SECTION_TYPES:
            raise _unknown(str(section), list(SECTION_TYPES), str(p))
        if body is None:
            continue
        if not isinstance(body, dict):
            raise ConfigError(f"{p}: section '{section}' must be a mapping of keys, got {body!r}")
        valid = [f.name for f in dataclasses.fields(SECTION_TYPES[section])]
        for key, value in body.items():
            if key not in valid:
                raise _unknown(f"{section}.{key}", [f"{section}.{v}" for v in valid], str(p))
            flat[f"{section}.{key}"] = value
    return flat


def resolve(
    config_file: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    choices: Mapping[str, Sequence[str]] | None = None,
) -> RunConfig:
    """Build the run config: defaults <- config file <- overrides (``None`` values are ignored).

    Args:
        config_file: optional YAML file; its values replace the defaults.
        overrides: dotted keys (e.g. ``{"training.epochs": 5}``), typically from CLI flags.
        choices: the valid names of catalog keys (``model.cell``, ``model.baselines``), from
            :func:`forecaster.models.catalog.choices`; a key left out is not checked here (the
            workflow that builds its models refuses an unknown name).

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
        if section not in SECTION_TYPES or key.partition(".")[2] not in {
            f.name for f in dataclasses.fields(SECTION_TYPES[section])
        }:
            raise _unknown(key, list(FLAG_FOR_KEY), "override")

    def flag(k: str) -> str:
        return f"{FLAG_FOR_KEY[k]} ({k})" if k in FLAG_FOR_KEY else k

    cfg = _apply(cfg, given, flag)
    sources.update({k: flag(k) for k in given})
    _check_ranges(cfg, sources)
    _check_names(cfg, sources, choices or {})
    return cfg


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    """The config as plain nested dicts/lists (YAML/JSON friendly)."""

    def plain(v: Any) -> Any:
        return list(v) if isinstance(v, tuple) else v

    return {
        section: {k: plain(v) for k, v in dataclasses.asdict(getattr(cfg, section)).items()}
        for section in SECTION_TYPES
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
