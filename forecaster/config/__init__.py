"""One typed, validated, immutable run configuration.

YAML files give defaults, command-line flags override them, and the result is a frozen
:class:`RunConfig` passed to the library. Validation is strict: an unknown key is an error
(with a "did you mean"), a wrong type or out-of-range value names the key, where it came from,
what was received and what was expected. Every flag that sets a key is declared once, in
:data:`SETTINGS`: the CLI's options, :data:`FLAG_FOR_KEY` and the simple range checks are
generated from it, with types, choices and defaults read from the dataclasses.

- :mod:`forecaster.config.schema`: the frozen sections and :class:`RunConfig`;
- :mod:`forecaster.config.settings`: one :class:`Setting` per flag;
- :mod:`forecaster.config.resolve`: YAML (bounded), coercion, range checks, round trips.

Example:
    >>> cfg = resolve(overrides={"window.lookback": 96})
    >>> cfg.window.lookback, cfg.window.horizon
    (96, 24)
"""

from forecaster.config.resolve import (
    MAX_CONFIG_NODES,
    dump_yaml,
    flatten,
    from_dict,
    load,
    resolve,
    safe_load_bounded,
    to_dict,
)
from forecaster.config.schema import (
    DEFAULT_DATA,
    DataConfig,
    ForecastConfig,
    MissingPolicy,
    ModelConfig,
    OutputConfig,
    RunConfig,
    ScheduleConfig,
    Strategy,
    TrainConfig,
    TuneConfig,
    VerdictConfig,
    WindowConfig,
)
from forecaster.config.settings import FLAG_FOR_KEY, SETTINGS, Setting, setting

__all__ = [
    "DataConfig", "WindowConfig", "ModelConfig", "TrainConfig", "ForecastConfig", "OutputConfig", "ScheduleConfig",
    "VerdictConfig", "TuneConfig", "RunConfig", "MissingPolicy", "Strategy", "DEFAULT_DATA", "Setting",
    "SETTINGS", "FLAG_FOR_KEY", "setting", "load", "resolve", "to_dict", "dump_yaml", "from_dict", "flatten",
    "safe_load_bounded", "MAX_CONFIG_NODES",
]
