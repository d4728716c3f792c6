"""The ``forecast`` command's flags: the run and registry flags come from :data:`forecaster.config.SETTINGS`,
the few command-only flags (``--levels``, ``--series``, the executor) are parsed and checked here."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, NoReturn

from forecaster import config
from forecaster.errors import ConfigError

__all__ = ["PROG", "RUN_GROUPS", "REGISTRY_GROUP", "Parser", "add_settings", "flag_value", "add_run_flags",
           "add_executor_flags", "check_executor", "overrides", "resolve_config", "load_tensorflow", "levels",
           "series_ids", "add_schedule_flags", "registry_config", "TUNE_GROUP", "add_tune_flags", "tune_overrides"]

PROG = "forecast"


#: ``--help`` sections of the flags every training command takes; ``registry``: retrain, schedule.
RUN_GROUPS = ("data", "windows", "model and training", "output")


REGISTRY_GROUP = "registry"

#: ``--help`` section of the tuning flags (compare only).
TUNE_GROUP = "tuning"


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag as a :class:`ConfigError` (one line, exit 2).

    Abbreviations are off: ``--look`` is not taken for ``--lookback``, so a script's shortened
    flag cannot change meaning (or break) when a longer flag with the same prefix is added.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # main() prints "forecast: error: ..." already: name only a subcommand ("forecast train: ...")
        where = "" if self.prog == PROG else f"{self.prog}: "
        raise ConfigError(f"{where}{message} (see {self.prog} --help)")


def add_settings(groups: dict[str, Any], *, skip: Sequence[str] = ()) -> None:
    """Add the flag of every :data:`config.SETTINGS` entry whose ``group`` is in ``groups``.

    Type, choices and the default in the help text come from the config dataclasses; booleans
    become ``--x/--no-x``. Every flag defaults to ``None`` ("not given": the config file or the
    dataclass default applies).
    """
    from forecaster.models.catalog import choices

    names = choices()
    for s in config.SETTINGS:
        if s.group not in groups or s.key in skip:
            continue
        text = s.help_text()
        if s.catalog and s.value_type is not str:  # a list of names: say which
            text = text.replace(" (default", f", from {', '.join(names[s.key])} (default")
        kwargs: dict[str, Any] = {"dest": s.dest, "help": text.replace("%", "%%")}
        if s.is_bool:
            kwargs.update(action=argparse.BooleanOptionalAction, default=None)
        elif s.catalog and s.value_type is str:
            kwargs["choices"] = names[s.key]
        elif s.choices is not None:
            kwargs["choices"] = s.choices
        else:  # a tuple (units, covariates) stays a "64,32" string here: see flag_value
            kwargs.update(type=s.value_type if s.value_type in (int, float) else None, metavar=s.metavar)
        groups[s.group].add_argument(s.flag, **kwargs)


def flag_value(s: config.Setting, args: argparse.Namespace) -> Any:
    """The parsed value of ``s``'s flag (``None``: not given); ``--units 64,32`` -> ``[64, 32]``."""
    raw = getattr(args, s.dest, None)
    if raw is None or s.value_type != tuple[int, ...]:
        return raw
    if raw.strip().lower() == "none":  # an empty list (--levels none)
        return []
    try:
        return [int(u) for u in raw.split(",") if u.strip()]
    except ValueError:
        raise ConfigError(f"{s.flag}: expected comma-separated integers ({s.metavar}), got {raw!r}") from None


def add_run_flags(p: argparse.ArgumentParser, *, cell: bool = True) -> None:
    """Flags shared by every command that trains (train, compare, retrain, schedule).

    ``cell=False`` leaves out ``--cell`` (compare takes ``--cells``).
    """
    groups = {name: p.add_argument_group(name) for name in RUN_GROUPS}
    groups["data"].add_argument("--config", metavar="FILE",
                                help="YAML config; its values are defaults that flags override")
    add_settings(groups, skip=() if cell else ("model.cell",))
    groups["output"].add_argument("--quiet", action="store_true", help="no progress lines")


def add_executor_flags(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help=f"where {what} run: one after another here, or as Ray tasks (default local)")
    p.add_argument("--ray-address", metavar="ADDR",
                   help="with --executor ray: a Ray cluster to join (ray://head:10001, auto); default: start one here")


def check_executor(args: argparse.Namespace) -> None:
    """``--ray-address`` only with ``--executor ray``, and a cluster that answers there, checked before any work
    (a few seconds at most: :func:`forecaster.workflows.executor.check_ray_address`)."""
    if args.ray_address and args.executor != "ray":
        raise ConfigError("--ray-address: only with --executor ray")
    if args.executor == "ray" and args.ray_address:
        from forecaster.workflows.executor import check_ray_address

        check_ray_address(args.ray_address)


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Dotted config overrides from the run flags on ``args`` (``None``: flag not given)."""
    return {s.key: flag_value(s, args) for s in config.SETTINGS if s.group in RUN_GROUPS}


def resolve_config(config_file: str | None, overrides: dict[str, Any]) -> Any:
    """The run config, its model names checked against the model catalog."""
    from forecaster.models.catalog import choices

    return config.resolve(config_file, overrides, choices=choices())


def load_tensorflow(args: argparse.Namespace) -> None:
    """Import TensorFlow now, without its C++ banner unless --debug."""
    if not args.debug:
        from forecaster.models.network.tensorflow_quiet import import_tensorflow_quietly

        import_tensorflow_quietly()


def levels(text: str | None) -> tuple[int, ...] | None:
    """``--levels`` of predict: ``None`` (not given), ``()`` for ``none``, else checked percentages."""
    if text is None:
        return None
    if text.strip().lower() == "none":
        return ()
    from forecaster.evaluation.intervals import parse_levels

    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        if not all(p.isascii() and p.isdecimal() for p in parts):
            raise ValueError(text)
        return parse_levels([int(p) for p in parts])
    except ValueError:
        bad = next((p for p in parts if not (p.isascii() and p.isdecimal()) or not 1 <= int(p) <= 99), text)
        raise ConfigError(f"--levels: expected integer percentages in 1..99 such as 80,95 (or none), "
                          f"got {bad!r}") from None


def series_ids(text: str | None) -> list[str] | None:
    """``--series``: ``None`` (not given: every series) or the ids, each given once.

    An empty list (``--series ''``, ``,,``) is refused rather than read as "every series", and so is
    an empty id between commas. A duplicate is refused too, not merged: the output has one block per
    series, so a list that names one twice was built wrong, and saying so beats guessing.

    Example:
        >>> series_ids(" a, b ")
        ['a', 'b']
        >>> series_ids(",,")
        Traceback (most recent call last):
        ...
        forecaster.errors.ConfigError: --series: expected series ids such as a,b (leave the flag out for every \
series), got ',,'
    """
    if text is None:
        return None
    ids = [s.strip() for s in text.split(",")]
    if not any(ids):
        raise ConfigError(f"--series: expected series ids such as a,b (leave the flag out for every series), got {text!r}")
    if "" in ids:
        raise ConfigError(f"--series: an empty id in {text!r} (two commas in a row, or one at an end); "
                          "give ids separated by single commas")
    from collections import Counter

    twice = [sid for sid, n in Counter(ids).items() if n > 1]
    if twice:
        raise ConfigError(f"--series: {twice[0]!r} is given {ids.count(twice[0])} times; give each series once")
    return ids


def add_schedule_flags(p: argparse.ArgumentParser, *, cron: bool = False) -> None:
    """Gate and retention flags shared by retrain and schedule (config section ``schedule``)."""
    add_settings({REGISTRY_GROUP: p.add_argument_group(REGISTRY_GROUP)},
                  skip=() if cron else ("schedule.cron",))


def registry_config(args: argparse.Namespace) -> Any:
    extra = {s.key: flag_value(s, args) for s in config.SETTINGS if s.group == REGISTRY_GROUP}
    return resolve_config(args.config, {**overrides(args), **extra})


def add_tune_flags(p: argparse.ArgumentParser) -> None:
    """``--tune``/``--tune-time`` (config section ``tune``) and ``--resume`` (compare only)."""
    group = p.add_argument_group(TUNE_GROUP)
    add_settings({TUNE_GROUP: group})
    group.add_argument("--resume", action="store_true",
                       help="continue the interrupted tuning of the same data and settings where it stopped "
                            "(its study in <models-dir>/<name>/tuning/) instead of starting a new one")


def tune_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The run flags' overrides plus the tuning flags' (``None``: not given)."""
    return {**overrides(args), **{s.key: flag_value(s, args) for s in config.SETTINGS if s.group == TUNE_GROUP}}
