"""``--baselines``: every name is a model of the contract; a model that fails is a row, never a crash."""

from __future__ import annotations

import typing

from forecaster import config, lineup, statistical
from forecaster.cli import main
from forecaster.contract import Model
from forecaster.errors import ExitCode

from conftest import FAST, make_frame


def test_every_configurable_name_makes_a_model_with_that_name():
    names = typing.get_args(config.BaselineName)
    assert names == lineup.NAMES and set(names) == {"naive", "seasonal_naive", "linear", *statistical.STATISTICAL}
    models = lineup.make_baselines(names)
    assert [m.name for m in models] == list(names) and all(isinstance(m, Model) for m in models)
    assert all(m.kind == "baseline" for m in models)
    assert [m.name for m in lineup.make_baselines(["ets", "naive", "ets"])] == ["ets", "naive"]
    assert lineup.slow_notes(config.DEFAULT_BASELINES) == []  # the default line-up has no slow model
    assert [n.split(":")[0] for n in lineup.slow_notes(["arima", "mstl"])] == ["arima", "mstl"]


def test_train_scores_the_line_up_and_a_failing_model_is_a_row(tmp_path, write_csv, capsys):
    frame = make_frame(n=120, freq="YS", start="1900-01-01")  # yearly: season 1, nothing for MSTL to decompose
    path = write_csv(frame[["date", "y"]], name="yearly.csv")
    code = main(["train", "--data", str(path), "--models-dir", str(tmp_path / "m"), "--cell", "mlp",
                 "--baselines", "naive,linear,ets,mstl", *FAST])
    out = capsys.readouterr().out
    assert code == ExitCode.OK
    table = {line.split()[0]: line for line in out.splitlines() if line.split()}
    assert {"mlp", "naive", "linear", "ets", "mstl"} <= set(table) and "seasonal_naive" not in table
    assert "mstl: no scores (mstl failed: statistical model 'mstl' could not be fitted" in out


def test_a_bad_baseline_name_is_a_usage_error(tmp_path, capsys):
    assert main(["train", "--baselines", "naive,prophet", "--models-dir", str(tmp_path)]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--baselines (model.baselines): expected one of 'naive'" in err
