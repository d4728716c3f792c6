"""forecaster: time-series forecasting with interchangeable recurrent models.

The Python API (:mod:`forecaster.api`) and the typed errors are exposed here lazily (PEP 562
``__getattr__``): ``import forecaster`` imports nothing else (about a millisecond; pandas and
TensorFlow load on the first call that needs them, TensorFlow without its log lines), so the CLI
and config checks stay fast.

Example:
    >>> import forecaster as fc
    >>> issubclass(fc.DataError, ValueError), issubclass(fc.KeywordError, TypeError)
    (True, True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from forecaster.api import Backtest, Comparison, ForecasterWarning, Model, Run, Trained, backtest, compare, load, train
    from forecaster.errors import (
        ArtifactError,
        BusyError,
        ConfigError,
        DataError,
        ForecasterError,
        HealthError,
        KeywordError,
        TrainingError,
    )

__version__ = "0.1.0"

__all__ = [
    "__version__", "compare", "train", "backtest", "load", "Run", "Comparison", "Trained", "Model", "Backtest",
    "ForecasterWarning", "ForecasterError", "ConfigError", "KeywordError", "DataError", "ArtifactError",
    "TrainingError", "BusyError", "HealthError",
]

#: The names :mod:`forecaster.api` defines; the other public names but the version are the errors'.
_API = frozenset(__all__[1:11])


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'forecaster' has no attribute {name!r}")
    if name in _API:
        from forecaster import api

        value = getattr(api, name)
    else:
        from forecaster import errors

        value = getattr(errors, name)
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
