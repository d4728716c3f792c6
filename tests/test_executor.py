"""The Ray executor: trials as Ray tasks (local mode) give the sequential results; a failed task is a row."""

from __future__ import annotations

import json

import pytest
from test_panel import panel_cfg, panel_frame

from forecaster.data.prepared import prepare
from forecaster.errors import ConfigError
from forecaster.workflows import compare
from forecaster.workflows.executor import Failure, Outcome, TrialSpec, run_trials

ray = pytest.importorskip("ray")


@pytest.fixture
def tiny_panel(tmp_path):
    path = tmp_path / "panel.csv"
    panel_frame(lengths=(120, 130, 110), starts_h=(0, 4, 9)).to_csv(path, index=False)
    return panel_cfg(path, tmp_path / "models", **{"model.baselines": ["naive", "seasonal_naive"]})


@pytest.mark.slow  # a local Ray cluster starts in ~10 s and runs four trials in worker processes
def test_ray_compare_equals_the_sequential_one_for_the_same_seeds(ray_session, tiny_panel, tmp_path):
    local = compare.compare(tiny_panel, cells=["gru", "mlp"], repeats=2, report=False,
                                  run_dir=tmp_path / "local")
    fanned = compare.compare(tiny_panel, cells=["gru", "mlp"], repeats=2, report=False, executor="ray",
                                   run_dir=tmp_path / "ray")
    by_name = {r["name"]: r for r in local.rows}
    for row in fanned.rows:
        ref = by_name[row["name"]]
        for key in ("mase", "mase_median", "mae", "coverage_80"):
            # one TensorFlow thread per Ray task against two here: float sums in another order, nothing more
            assert row[key] == pytest.approx(ref[key], rel=1e-3), (row["name"], key)
        if row["kind"] == "model":
            assert row["epochs_run"] == ref["epochs_run"] and row["seeds"] == "42,43"
    # the saved run is complete: every network folder is servable (ONNX exported from the loaded model)
    for name in ("gru", "mlp"):
        assert (tmp_path / "ray" / name / "model.onnx").is_file()
        manifest = json.loads((tmp_path / "ray" / name / "manifest.json").read_text())
        assert manifest["data"]["id_col"] == "store"


@pytest.mark.slow
def test_a_failed_task_is_a_failure_with_its_reason_and_the_rest_finish(ray_session, tiny_panel):
    pp = prepare(tiny_panel)
    out = run_trials([TrialSpec("mlp", 42), TrialSpec("no-such-cell", 42)], pp, tiny_panel, executor="ray")
    assert isinstance(out[0], Outcome) and out[0].result.scores["mase"] > 0
    assert isinstance(out[1], Failure) and "no-such-cell" in out[1].reason


def test_failed_trials_become_rows():
    rows = [{"name": "gru", "kind": "model", "mase": 1.0, "error": None}]
    compare._add_failures(rows, [Failure(TrialSpec("gru", 43), "diverged"), Failure(TrialSpec("lstm", 42), "lost")])
    assert rows[0]["error"] == "seed 43 failed: diverged"
    assert rows[1] == {"name": "lstm", "kind": "model", "seeds": "42", "mase": None, "error": "seed 42 failed: lost"}


def test_unknown_executor_and_unreachable_cluster_are_config_errors(tiny_panel):
    with pytest.raises(ConfigError, match="--executor: expected one of local, ray"):
        run_trials([], None, tiny_panel, executor="spark")


def test_cli_flags(tmp_path, capsys):
    from forecaster.cli.main import main

    assert main(["compare", "--ray-address", "auto", "--models-dir", str(tmp_path)]) == 2
    assert "--ray-address: only with --executor ray" in capsys.readouterr().err


@pytest.mark.slow
def test_backtest_folds_as_ray_tasks_equal_the_sequential_ones(ray_session, tmp_path):
    from forecaster.workflows.backtest import backtest

    from conftest import make_frame, small_cfg

    path = tmp_path / "series.csv"
    make_frame(400).to_csv(path, index=False)
    cfg = small_cfg(path, tmp_path / "m", **{"model.baselines": ["naive", "seasonal_naive"], "window.test": 0.3})
    local = backtest(cfg, cell="mlp", folds=3)
    fanned = backtest(cfg, cell="mlp", folds=3, executor="ray")
    assert [f.cutoff for f in fanned.folds] == [f.cutoff for f in local.folds]
    for a, b in zip(fanned.folds, local.folds):
        assert a.scores["seasonal_naive"]["mase"] == b.scores["seasonal_naive"]["mase"]
        assert a.scores["mlp"]["mase"] == pytest.approx(b.scores["mlp"]["mase"], rel=1e-3)
