"""``--baselines``: every name is a model of the contract; a model that fails is a row, never a crash."""

from __future__ import annotations

from forecaster.cli.main import main
from forecaster.errors import ExitCode
from forecaster.models import catalog, statistical
from forecaster.models.contract import Model

from conftest import FAST, make_frame


def test_every_catalog_name_makes_a_model_with_that_name():
    names = catalog.baseline_names()
    assert set(names) == {"naive", "seasonal_naive", "linear", *statistical.STATISTICAL}  # registered by their modules
    assert catalog.choices()["model.baselines"] == names
    models = catalog.line_up(names)
    assert [m.name for m in models] == list(names) and all(isinstance(m, Model) for m in models)
    assert all(m.kind == "baseline" for m in models)
    assert [m.capabilities.global_fit for m in models] == [name == "linear" for name in names]  # local: per series
    assert [m.name for m in catalog.line_up(["ets", "naive", "ets"])] == ["ets", "naive"]
    assert catalog.slow_notes(None) == []  # the default line-up has no slow model
    assert [n.split(":")[0] for n in catalog.slow_notes(["arima", "mstl"])] == ["arima", "mstl"]


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
    assert err.count("\n") == 1 and "--baselines (model.baselines): expected one of naive, seasonal_naive" in err
    assert "got 'prophet'" in err


def test_a_statistical_row_is_saved_and_served_by_predict(tmp_path, series_csv, capsys):
    import json

    import numpy as np
    import pandas as pd
    import pytest

    from forecaster.artifacts.cell import load_cell
    from forecaster.errors import ArtifactError

    models = tmp_path / "m"
    assert main(["train", "--data", str(series_csv), "--target", "y", "--models-dir", str(models), "--cell", "mlp",
                 "--baselines", "naive,ets", *FAST]) == ExitCode.OK
    (run,) = (models / "series" / "runs").iterdir()
    assert {p.name for p in (run / "ets").iterdir()} == {"spec.json", "calibration.json", "metrics.json",
                                                         "manifest.json"}
    assert json.loads((run / "naive" / "manifest.json").read_text())["kind"] == "baseline"  # every row has a folder
    spec = json.loads((run / "ets" / "spec.json").read_text())
    assert spec["name"] == "ets" and spec["season"] == 24
    capsys.readouterr()
    assert main(["predict", "--model", str(run / "ets"), "--horizon", "3"]) == ExitCode.OK
    captured = capsys.readouterr()
    served = pd.read_csv(__import__("io").StringIO(captured.out))
    y = pd.read_csv(series_csv)["y"].to_numpy(dtype=float)
    from forecaster.models import statistical_spec, statistical_state  # served from its saved state (frozen, as scored)

    assert statistical_spec.has_state(spec)
    np.testing.assert_allclose(served["yhat"], statistical_state.forecast(spec, y, 3), rtol=1e-5)  # CSV: 6 digits
    assert list(served["timestamp"]) == ["2024-01-11T00:00:00", "2024-01-11T01:00:00", "2024-01-11T02:00:00"]
    assert f"forecast: serving {run / 'ets'}: the cell folder given" in captured.err
    with pytest.raises(ArtifactError, match="a statistical model's folder, not a network"):
        load_cell(run / "ets")
    (run / "ets" / "spec.json").write_text(json.dumps({**spec, "season": 12}))  # tampered: hash differs
    assert main(["predict", "--model", str(run / "ets")]) == ExitCode.ARTIFACT
    assert "spec.json: corrupt (checksum differs from manifest.json)" in capsys.readouterr().err


def test_a_statistical_row_that_beats_every_network_is_served_and_can_be_champion(tmp_path, capsys):
    """--model on a run whose best row is ets serves ets; the retrain gate promotes and re-scores it."""
    import json

    import pytest

    from forecaster.registry.retrain import retrain
    from forecaster.registry.store import Registry

    from conftest import make_frame, small_cfg

    def write(n):
        path = tmp_path / "sales.csv"
        make_frame(n)[["date", "y"]].to_csv(path, index=False)
        return path

    weak = {"model.cell": "mlp", "model.residual": False, "model.units": [2], "training.epochs": 1,
            "model.baselines": "naive,ets", "output.name": "sales", "schedule.min_new_rows": 1}
    first = retrain(small_cfg(write(300), tmp_path / "models", **weak))
    assert first.outcome == "promoted", first.reason
    reg = Registry(tmp_path / "models", "sales")
    board = {r["name"]: r for r in json.loads((reg.version_dir(1) / "leaderboard.json").read_text())["rows"]}
    assert board["ets"]["mase"] < board["mlp"]["mase"]  # the setting this test needs: a weak network
    assert reg.inspect(1).cell_dir.name == "ets" and "the version serves ets, the row its verdict recommends over mlp" \
        in first.reason
    capsys.readouterr()
    assert main(["predict", "--model", str(tmp_path / "models" / "sales"), "--horizon", "3"]) == ExitCode.OK
    captured = capsys.readouterr()
    assert f"serving {reg.version_dir(1) / 'ets'}: the champion" in captured.err
    assert len(captured.out.strip().splitlines()) == 4
    second = retrain(small_cfg(write(330), tmp_path / "models", **weak))  # the ets champion is re-scored
    assert second.outcome in ("promoted", "kept") and second.champion_score is not None, second.reason
    assert second.champion_score == pytest.approx(board["ets"]["mase"], rel=0.5)
