"""One declaration per flag: config.SETTINGS drives argparse, the overrides and the error names."""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
from typing import Any

import pytest

from forecaster import config
from forecaster.cli import flags as cli
from forecaster.cli.main import build_parser, main
from forecaster.errors import ConfigError, ExitCode
from forecaster.models import catalog

from conftest import ROOT

RUN = [s for s in config.SETTINGS if s.group in cli.RUN_GROUPS]
REGISTRY = [s for s in config.SETTINGS if s.group == cli.REGISTRY_GROUP]


def subparser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return sub.choices[name]


def options(name: str) -> dict[str, argparse.Action]:
    return {o: a for a in subparser(name)._actions for o in a.option_strings}


def sample(s: config.Setting) -> tuple[list[str], Any]:
    """Command-line words that set ``s`` to a valid non-default value, and that value."""
    default = s.default
    if s.is_bool:
        return ([f"--no-{s.flag[2:]}"], False) if default else ([s.flag], True)
    choices = s.choices if s.choices is not None else catalog.choices().get(s.key) if s.value_type is str else None
    if choices is not None:
        value = next(c for c in choices if c != default)
        return [s.flag, value], value
    if s.value_type is int:
        value = (default or 1) + 1
        return [s.flag, str(value)], value
    if s.value_type is float:
        value = 0.3 if default == 0.25 else 0.25
        return [s.flag, str(value)], value
    if s.value_type == tuple[int, ...]:
        return [s.flag, "16,8"], (16, 8)
    if s.value_type == tuple[str, ...]:
        return [s.flag, "a,b"], ("a", "b")
    if s.key == "model.baselines":
        return [s.flag, "naive,ets"], ("naive", "ets")
    return [s.flag, "sample"], "sample"


def test_the_table_names_real_keys_once():
    keys = [s.key for s in config.SETTINGS]
    flags = [s.flag for s in config.SETTINGS]
    assert len(set(keys)) == len(keys) and len(set(flags)) == len(flags)
    every_key = set(config.flatten(config.RunConfig()))
    assert set(keys) <= every_key
    # the keys deliberately set only in YAML (the frequency override, the scheduler's heartbeat)
    assert every_key - set(keys) == {"data.freq", "schedule.heartbeat", "schedule.heartbeat_every",
                                     "schedule.stale_after"}
    for s in config.SETTINGS:
        assert s.group in (*cli.RUN_GROUPS, cli.REGISTRY_GROUP, cli.TUNE_GROUP), s.key
        assert s.default is not None or s.none_means, f"{s.key}: say what its None default means"
        assert s.flag.startswith("--") and s.dest.isidentifier()


#: Settings valid only beside another one: the words that set it, and its key.
NEEDS = {"model.per_series": (["--id-col", "store"], "data.id_col"),
         "data.static_covariates": (["--id-col", "store"], "data.id_col")}


@pytest.mark.parametrize("s", RUN, ids=lambda s: s.key)
def test_every_run_setting_is_a_train_flag_that_lands_on_its_key(s):
    argv, value = sample(s)
    extra, other = NEEDS.get(s.key, ([], None))
    args = build_parser().parse_args(["train", *argv, *extra])
    cfg = config.resolve(args.config, cli.overrides(args))
    flat, defaults = config.flatten(cfg), config.flatten(config.RunConfig())
    section, _, name = s.key.partition(".")
    assert getattr(getattr(cfg, section), name) == value
    assert {k for k in flat if flat[k] != defaults[k]} == {s.key, *([other] if other else [])}  # nothing else moved


@pytest.mark.parametrize(("command", "s"), [(c, s) for c in ("retrain", "schedule") for s in REGISTRY
                                             if c == "schedule" or s.key != "schedule.cron"],
                         ids=lambda v: getattr(v, "key", v))
def test_every_registry_setting_lands_on_its_key(command, s):
    argv, value = sample(s)
    cfg = cli.registry_config(build_parser().parse_args([command, *argv]))
    assert getattr(cfg.schedule, s.key.partition(".")[2]) == value


@pytest.mark.parametrize("command", ["train", "compare", "retrain", "schedule"])
def test_flag_for_key_and_argparse_agree(command):
    opts = options(command)
    expected = RUN + (REGISTRY if command in ("retrain", "schedule") else [])
    expected += [s for s in config.SETTINGS if s.group == cli.TUNE_GROUP] if command == "compare" else []
    expected = [s for s in expected if not (s.key == "model.cell" and command == "compare")
                and not (s.key == "schedule.cron" and command != "schedule")]
    for s in expected:
        spelled = config.FLAG_FOR_KEY[s.key].split("/")
        action = opts[spelled[0]]
        assert list(action.option_strings) == spelled and action.dest == s.dest
        assert action.default is None  # unset flags never override the config file
        names = catalog.choices().get(s.key) if s.catalog else None
        help_text = s.help_text() if names is None or s.value_type is str else s.help_text().replace(
            " (default", f", from {', '.join(names)} (default")  # a list of catalog names says which
        assert action.help is not None and action.help.replace("%%", "%") == help_text
        choices = names if s.catalog and s.value_type is str else None if s.is_bool else s.choices
        assert (tuple(action.choices) if action.choices else None) == choices
    setting_dests = {s.dest for s in config.SETTINGS}
    declared = {a.dest for a in subparser(command)._actions if a.dest in setting_dests}
    assert declared == {s.dest for s in expected}
    assert ("--cell" in opts) == (command != "compare") and ("--cron" in opts) == (command == "schedule")


def test_help_states_the_dataclass_default():
    opts = options("train")
    assert f"(default: {config.TrainConfig().epochs})" in opts["--epochs"].help
    assert f"(default: {config.TrainConfig().learning_rate:g})" in opts["--learning-rate"].help
    assert "(default: on)" in opts["--residual"].help
    assert "(default: '0 3 * * *')" in options("schedule")["--cron"].help


@pytest.mark.parametrize("s", [s for s in config.SETTINGS if s.expected_text()], ids=lambda s: s.key)
def test_declared_ranges_are_checked_with_the_flag_named(s):
    bad = s.at_least - 1 if s.at_least is not None else s.above if s.above is not None else s.below
    bad = int(bad) if s.value_type is int else float(bad)
    with pytest.raises(ConfigError) as info:
        config.resolve(overrides={s.key: bad})
    assert str(info.value) == f"{s.spelled} ({s.key}): expected {s.expected_text()}, got {bad!r}"
    assert dataclasses.is_dataclass(config.resolve(overrides={s.key: sample(s)[1]}))


def test_nan_is_out_of_every_range():
    with pytest.raises(ConfigError, match=r"--margin \(schedule.margin\): expected a fraction in \[0, 1\), got nan"):
        config.resolve(overrides={"schedule.margin": float("nan")})


def test_abbreviated_flags_are_refused(capsys):
    assert main(["train", "--look", "12"]) == ExitCode.USAGE
    assert "unrecognized arguments: --look 12" in capsys.readouterr().err
    assert main(["predict", "--model", "x", "--hor", "2"]) == ExitCode.USAGE
    assert "unrecognized arguments: --hor 2" in capsys.readouterr().err


def test_a_bad_flag_names_forecast_once(capsys):
    assert main(["--bogus"]) == ExitCode.USAGE
    assert capsys.readouterr().err.strip() == "forecast: error: unrecognized arguments: --bogus (see forecast --help)"
    assert main(["train", "--bogus"]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip()
    assert err.startswith("forecast: error: unrecognized arguments: --bogus") and err.count("forecast:") == 1
    assert main(["train", "--strategy", "sideways"]) == ExitCode.USAGE  # a subcommand still names itself
    assert capsys.readouterr().err.startswith("forecast: error: forecast train: argument --strategy: invalid choice")


def test_units_flag_errors_stay_one_line(capsys):
    assert main(["train", "--units", "64,x"]) == ExitCode.USAGE
    assert capsys.readouterr().err.strip() == "forecast: error: --units: expected comma-separated integers (N[,N...]), got '64,x'"


def test_building_the_parser_imports_no_pandas_or_tensorflow():
    # numpy comes with the model catalog (the --cell choices and the --baselines names are its table)
    code = ("import sys; from forecaster.cli.main import build_parser; build_parser().format_help(); "
            "heavy = [m for m in ('pandas', 'sklearn', 'tensorflow', 'keras') if m in sys.modules]; "
            "assert not heavy, heavy")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
