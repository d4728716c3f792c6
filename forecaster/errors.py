"""Typed errors raised by the library and the exit codes the CLI maps them to.

Core code raises these; only :func:`forecaster.cli.main.main` turns them into a one-line message
and an exit code (see :class:`ExitCode`).
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "ExitCode",
    "ForecasterError",
    "ConfigError",
    "KeywordError",
    "DataError",
    "ArtifactError",
    "TrainingError",
    "BusyError",
    "HealthError",
]


class ExitCode(IntEnum):
    """Process exit codes of the ``forecast`` command."""

    OK = 0
    INTERNAL = 1  # a bug: run with --debug for the traceback
    USAGE = 2  # bad flag, option or config file
    DATA = 3  # the data file is missing, unreadable or invalid
    ARTIFACT = 4  # a saved model/run is missing, corrupt or incompatible
    TRAINING = 5  # training failed (diverged, NaN loss)
    BUSY = 6  # another retrain holds the model's lock
    UNHEALTHY = 7  # the scheduler's heartbeat is missing or stale
    SYSTEM = 8  # the operating system refused: disk full, read-only file system, permission, a file for a folder
    INTERRUPTED = 130  # Ctrl-C / SIGINT


class ForecasterError(Exception):
    """Base class: a problem the user can fix, reported as one line."""

    exit_code: ExitCode = ExitCode.INTERNAL


class ConfigError(ForecasterError, ValueError):
    """A config key, flag or value is wrong."""

    exit_code = ExitCode.USAGE


class KeywordError(ConfigError, TypeError):
    """A keyword argument of the Python API (:mod:`forecaster.api`) that no setting or option has: the
    ``TypeError`` Python raises for an unknown keyword, and a :class:`ConfigError` like a misspelt flag."""


class DataError(ForecasterError, ValueError):
    """The input series cannot be used as given."""

    exit_code = ExitCode.DATA


class ArtifactError(ForecasterError):
    """A saved run or model is missing, corrupt or incompatible."""

    exit_code = ExitCode.ARTIFACT


class TrainingError(ForecasterError):
    """Training did not produce a usable model."""

    exit_code = ExitCode.TRAINING


class BusyError(ForecasterError):
    """Another process holds the model's retrain lock."""

    exit_code = ExitCode.BUSY


class HealthError(ForecasterError):
    """The scheduler's heartbeat is missing, unreadable or stale."""

    exit_code = ExitCode.UNHEALTHY
