"""Strict config: defaults <- YAML <- flags; every mistake names the key and its source."""

from __future__ import annotations

import pytest

from forecaster import config
from forecaster.cli.main import main
from forecaster.errors import ConfigError, ExitCode


def test_defaults_are_the_shipped_sample():
    cfg = config.resolve()
    assert cfg.data.path == config.DEFAULT_DATA
    assert (cfg.window.lookback, cfg.window.horizon, cfg.model.cell) == (None, 24, "lstm")  # lookback: from the seasons
    assert cfg.model_name == "seattle_temps_2010"


def test_file_then_flags(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("window:\n  lookback: 96\n  horizon: 12\nmodel:\n  units: [32, 16]\n")
    cfg = config.resolve(path, {"window.horizon": 6, "training.epochs": None})
    assert (cfg.window.lookback, cfg.window.horizon, cfg.model.units) == (96, 6, (32, 16))
    assert cfg.training.epochs == config.TrainConfig().epochs  # None means "flag not given"


def test_round_trip_through_yaml(tmp_path):
    cfg = config.resolve(overrides={"model.cell": "gru", "data.covariates": "a,b"})
    path = tmp_path / "resolved.yaml"
    path.write_text(config.dump_yaml(cfg))
    assert config.resolve(path) == cfg


def test_unknown_key_suggests(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("window:\n  lookbak: 96\n")
    with pytest.raises(ConfigError, match=r"c.yaml: unknown key 'window.lookbak'; did you mean 'window.lookback'\?"):
        config.resolve(path)


def test_unknown_section(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("trainig:\n  epochs: 3\n")
    with pytest.raises(ConfigError, match="unknown key 'trainig'; did you mean 'training'"):
        config.resolve(path)


def test_wrong_type_names_file_and_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  epochs: ten\n")
    with pytest.raises(ConfigError, match=r"c.yaml: training.epochs: expected an integer, got 'ten'"):
        config.resolve(path)


def test_bad_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("window: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        config.resolve(path)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("window.lookback", 0, "--lookback (window.lookback): expected an integer >= 1 or null (from the seasons), got 0"),
        ("window.val", 1.5, "--val (window.val): expected a fraction between 0 and 1 or a whole number of rows"),
        ("model.dropout", 1.0, "--dropout (model.dropout): expected a number in [0, 1)"),
        ("model.cell", "transformer", "--cell (model.cell): expected one of lstm, gru, mlp"),
        ("training.learning_rate", 0.0, "--learning-rate (training.learning_rate): expected a number > 0"),
    ],
)
def test_range_errors_name_the_flag(key, value, message):
    from forecaster.models.catalog import choices

    with pytest.raises(ConfigError) as info:
        config.resolve(overrides={key: value}, choices=choices())  # model names: the catalog's, handed in
    assert message in str(info.value)


def test_cli_config_errors_exit_2(capsys, tmp_path):
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == ExitCode.USAGE
    assert "missing.yaml: config file not found" in capsys.readouterr().err
    assert main(["train", "--lookback", "abc"]) == ExitCode.USAGE
    err = capsys.readouterr().err.strip()
    assert err == "forecast: error: forecast train: argument --lookback: invalid int value: 'abc' (see forecast train --help)"
    assert main(["train", "--cell", "rnn"]) == ExitCode.USAGE
    assert "invalid choice: 'rnn' (choose from 'lstm', 'gru', 'mlp')" in capsys.readouterr().err


def test_units_accepts_the_flag_spellings_in_yaml(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  units: 8\n")
    assert config.resolve(path).model.units == (8,)
    path.write_text("model:\n  units: '64,32'\n")
    assert config.resolve(path).model.units == (64, 32)
    path.write_text("model:\n  units: [a]\n")
    with pytest.raises(ConfigError, match="model.units: expected an integer, got 'a'"):
        config.resolve(path)


@pytest.mark.parametrize("name", ["../../evil", "a/b", "..", ".hidden"])
def test_model_name_cannot_leave_the_models_dir(name):
    with pytest.raises(ConfigError, match="--name \\(output.name\\): expected a plain name"):
        config.resolve(overrides={"output.name": name})
