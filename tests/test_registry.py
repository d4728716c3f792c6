"""Registry: versions, champion pointer, promotion gate, data checks, ledger, lock, corruption."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from forecaster import config
from forecaster.artifacts.cell import load_cell
from forecaster.artifacts.run import resolve_cell_dir
from forecaster.cli.main import main
from forecaster.errors import ArtifactError, ExitCode
from forecaster.registry.gate import check_new_data, gate
from forecaster.registry.retrain import retrain
from forecaster.registry.store import Registry

from conftest import make_frame, small_cfg


def cfg_for(root: Path, data: Path, **extra: object) -> config.RunConfig:
    """The shared tiny config, as a GRU of 4 units named ``sales`` under ``root/models``; no baseline rows, so
    each version recommends and serves its network (a statistical champion: tests/test_lineup.py; a baseline
    one: tests/test_baseline_rows.py)."""
    return small_cfg(data, root / "models", **{"model.cell": "gru", "model.units": [4], "output.name": "sales",
                                               "model.baselines": [], **extra})


def write(root: Path, n: int, name: str | None = None, **kw: object) -> Path:
    path = root / (name or f"series-{n}.csv")
    make_frame(n, **kw).to_csv(path, index=False)
    return path


# -- the gate alone ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("challenger", "champion", "margin", "promote"),
    [
        (0.80, 1.00, 0.0, True),
        (0.95, 1.00, 0.10, False),  # better, but not by the margin
        (0.89, 1.00, 0.10, True),
        (1.00, 1.00, 0.0, False),  # a tie keeps the champion
        (math.nan, 1.00, 0.0, False),
        (math.inf, 1.00, 0.0, False),
        (None, 1.00, 0.0, False),
        (0.50, math.nan, 0.0, True),  # champion could not be scored (corrupt): a valid challenger wins
    ],
)
def test_gate(challenger, champion, margin, promote):
    ok, reason = gate(challenger, champion, metric="mase", margin=margin, champion_version=1)
    assert ok is promote and reason


def test_gate_first_version_needs_only_a_finite_score():
    assert gate(3.0, None, metric="mase", margin=0.5)[0] is True
    assert gate(math.nan, None, metric="mase", margin=0.5)[0] is False


# -- end to end, in-process -------------------------------------------------------------------
@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory):
    """v1: a weak champion; v2 (significantly better, promoted); v3 (weak again, significantly worse: kept)."""
    root = tmp_path_factory.mktemp("gated")
    # no residual design: a barely trained network forecasts about the training mean, far worse than a trained one
    weak = {"training.learning_rate": 1e-6, "training.epochs": 1, "model.residual": False}
    d1, d2, d3 = write(root, 300), write(root, 330), write(root, 360)
    decisions = [
        retrain(cfg_for(root, d1, **weak)),
        retrain(cfg_for(root, d2, **{"training.learning_rate": 0.02, "training.epochs": 15, "training.patience": 15})),
        retrain(cfg_for(root, d3, **weak)),
    ]
    return root, decisions


def test_first_retrain_promotes_and_predict_serves_the_champion(gated):
    root, (first, _, _) = gated
    assert (first.outcome, first.version, first.champion_after) == ("promoted", 1, 1)
    reg = Registry(root / "models", "sales")
    assert reg.versions() == [1, 2, 3]
    pointer = json.loads(reg.champion_path.read_text())
    assert pointer["path"] == "versions/2" and pointer["previous"] == [1]
    # `forecast predict --model models/sales` resolves to the champion's cell
    assert resolve_cell_dir(reg.root) == reg.version_dir(2) / "gru"
    for v in (1, 2, 3):
        assert {p.name for p in reg.version_dir(v).iterdir()} >= {"config.yaml", "leaderboard.json", "gru"}


def test_gate_promotes_a_better_challenger_and_keeps_a_worse_one(gated):
    _, (_, better, worse) = gated
    assert better.outcome == "promoted" and better.champion_after == 2
    assert better.challenger_score < better.champion_score  # champion v1 re-scored on v2's holdout
    assert worse.outcome == "kept" and worse.champion_after == 2 and worse.version == 3
    assert worse.challenger_score >= worse.champion_score
    assert "significantly better (p " in better.reason and "significantly worse (p " in worse.reason
    assert "at the 5% level" in worse.reason and worse.reason.endswith("; kept")


def test_ledger_records_every_decision_with_both_scores(gated):
    root, decisions = gated
    records = Registry(root / "models", "sales").ledger()
    retrains = [r for r in records if r["event"] == "retrain"][:3]
    assert [r["outcome"] for r in retrains] == ["promoted", "promoted", "kept"]
    assert retrains[2]["champion_score"] == pytest.approx(decisions[2].champion_score)
    assert retrains[2]["challenger_score"] == pytest.approx(decisions[2].challenger_score)
    assert all(r["metric"] == "mase" and r["reason"] and r["data"]["sha256"] for r in retrains)


def test_models_list_json_and_table(gated, capsys):
    root, _ = gated
    assert main(["models", "list", "--name", "sales", "--models-dir", str(root / "models"), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["champion"] == 2
    assert [(v["version"], v["champion"], v["error"]) for v in payload["versions"]] == [
        (1, False, None), (2, True, None), (3, False, None)]
    assert payload["versions"][0]["data"]["rows"] == 300 and payload["versions"][1]["metrics"]["mase"] > 0
    assert main(["models", "list", "--name", "sales", "--models-dir", str(root / "models")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["version", "champion"] and lines[2].split()[:2] == ["2", "*"]
    assert lines[-1].startswith("* on each version's own test part") and "%" in lines[1]  # 80% covered


def test_promote_rollback_and_their_errors(tmp_path, gated, capsys):
    import shutil

    root, _ = gated
    models = tmp_path / "models"
    shutil.copytree(root / "models", models)
    args = ["--name", "sales", "--models-dir", str(models)]
    reg = Registry(models, "sales")
    assert main(["models", "promote", *args, "--version", "3"]) == 0
    assert reg.champion() == 3 and reg.pointer()["previous"] == [1, 2]
    assert main(["models", "rollback", *args]) == 0
    assert reg.champion() == 2 and resolve_cell_dir(reg.root) == reg.version_dir(2) / "gru"
    assert main(["models", "rollback", *args]) == 0
    assert reg.champion() == 1
    capsys.readouterr()
    assert main(["models", "rollback", *args]) == ExitCode.ARTIFACT
    assert "no previous champion to roll back to" in capsys.readouterr().err
    assert main(["models", "promote", *args, "--version", "9"]) == ExitCode.ARTIFACT
    err = capsys.readouterr().err.strip()
    assert "version 9 of sales cannot be promoted" in err and len(err.splitlines()) == 1
    events = [r["event"] for r in reg.ledger()]
    assert events[-3:] == ["promote", "rollback", "rollback"]


def test_champion_rescored_on_unchanged_data_matches_its_saved_score_and_a_tie_is_kept(tmp_path):
    data = write(tmp_path, 300)
    assert retrain(cfg_for(tmp_path, data)).outcome == "promoted"
    saved = json.loads((Registry(tmp_path / "models", "sales").version_dir(1) / "gru" / "metrics.json").read_text())
    # same data, seed and settings: an equal model; a margin of 0.1 % keeps float noise from deciding
    again = retrain(cfg_for(tmp_path, data, **{"schedule.min_new_rows": 0, "schedule.margin": 0.001}))
    assert again.champion_score == pytest.approx(saved["test"]["mase"], rel=1e-5)
    assert again.challenger_score == pytest.approx(again.champion_score, rel=1e-5)
    assert again.outcome == "kept" and again.champion_after == 1


def test_truncated_model_is_reported_never_served_and_rollback_skips_it(tmp_path, gated, capsys):
    import shutil

    root, _ = gated
    models = tmp_path / "models"
    shutil.copytree(root / "models", models)
    reg = Registry(models, "sales")
    keras_file = reg.version_dir(1) / "gru" / "model.keras"
    keras_file.write_bytes(keras_file.read_bytes()[:200])
    champion_file = reg.version_dir(2) / "gru" / "model.keras"

    info = reg.inspect(1)
    assert not info.ok and "corrupt" in info.error
    assert main(["models", "list", "--name", "sales", "--models-dir", str(models)]) == 0
    assert "CORRUPT, never served" in capsys.readouterr().out.splitlines()[1]
    assert main(["models", "promote", "--name", "sales", "--models-dir", str(models), "--version", "1"]) == 4
    assert "corrupt" in capsys.readouterr().err
    # rollback from v2 would land on v1: it is skipped, and with nothing older it is refused
    assert main(["models", "rollback", "--name", "sales", "--models-dir", str(models)]) == ExitCode.ARTIFACT
    assert "version 1 skipped" in capsys.readouterr().err
    assert reg.champion() == 2
    # a corrupt champion is reported by predict, not served
    champion_file.write_bytes(champion_file.read_bytes()[:200])
    assert main(["predict", "--model", str(reg.root)]) == ExitCode.ARTIFACT
    assert "corrupt (checksum differs" in capsys.readouterr().err
    with pytest.raises(ArtifactError):
        load_cell(resolve_cell_dir(reg.root))


def test_retrain_replaces_a_corrupt_champion(tmp_path, gated):
    import shutil

    root, _ = gated
    models = tmp_path / "models"
    shutil.copytree(root / "models", models)
    reg = Registry(models, "sales")
    f = reg.version_dir(2) / "gru" / "model.keras"
    f.write_bytes(f.read_bytes()[:100])
    lines: list[str] = []
    d = retrain(cfg_for(tmp_path, write(tmp_path, 380)), progress=lines.append)
    assert d.outcome == "promoted" and d.version == 4 and reg.champion() == 4
    assert any("champion version 2 is unusable" in line for line in lines)


def test_nan_loss_challenger_is_never_promoted(tmp_path):
    first = retrain(cfg_for(tmp_path, write(tmp_path, 300)))
    assert first.outcome == "promoted"
    d = retrain(cfg_for(tmp_path, write(tmp_path, 330), **{"training.learning_rate": 1e30}))
    reg = Registry(tmp_path / "models", "sales")
    assert d.outcome == "failed" and d.exit_code == ExitCode.TRAINING
    assert "not saved" in d.reason and ("nan" in d.reason or "inf" in d.reason)
    assert reg.versions() == [1] and reg.champion() == 1
    assert not reg.checkpoint_dir.exists()  # a diverged run is never resumed
    assert reg.ledger()[-1]["outcome"] == "failed"
    assert sorted(p.name for p in (reg.root / "tensorboard").iterdir()) == ["version-1"]  # nor its logs kept


def test_data_checks_skip_without_training(tmp_path, capsys):
    reg = Registry(tmp_path / "models", "sales")
    assert retrain(cfg_for(tmp_path, write(tmp_path, 300, name="a.csv"))).outcome == "promoted"
    same = retrain(cfg_for(tmp_path, tmp_path / "a.csv"))
    assert same.outcome == "skipped" and "0 new rows" in same.reason and same.exit_code == 0
    few = retrain(cfg_for(tmp_path, write(tmp_path, 305), **{"schedule.min_new_rows": 10}))
    assert few.outcome == "skipped" and "5 new rows" in few.reason and "at least 10" in few.reason
    schema = retrain(cfg_for(tmp_path, write(tmp_path, 330), **{"data.covariates": ["x"]}))
    assert schema.outcome == "skipped" and "schema differs" in schema.reason
    horizon = retrain(cfg_for(tmp_path, write(tmp_path, 340), **{"window.horizon": 6}))
    assert horizon.outcome == "skipped" and "horizon 6 differs" in horizon.reason
    broken = tmp_path / "broken.csv"
    broken.write_text("date,y\n2024-01-01 00:00,1\n2024-01-01 01:00,oops\n")
    bad = retrain(cfg_for(tmp_path, broken))
    assert bad.outcome == "skipped" and bad.exit_code == ExitCode.DATA and "data checks failed" in bad.reason
    assert reg.versions() == [1] and len(reg.ledger()) == 6
    # the CLI: a skip for lack of rows is not an error, invalid data is (one line, exit 3)
    flags = ["--target", "y", "--name", "sales", "--models-dir", str(tmp_path / "models"), "--cell", "gru",
             "--lookback", "12", "--horizon", "4", "--quiet"]
    assert main(["retrain", "--data", str(tmp_path / "a.csv"), *flags]) == 0
    assert capsys.readouterr().out.startswith("skipped: data checks: 0 new rows")
    assert main(["retrain", "--data", str(broken), *flags]) == ExitCode.DATA
    err = capsys.readouterr().err.strip()
    assert err.startswith("forecast: skipped: data checks failed:") and len(err.splitlines()) == 1


def test_check_new_data_unit():
    import pandas as pd

    from forecaster.data.frame import Panel, SeriesFrame

    frame = pd.DataFrame({"y": range(5)}, index=pd.date_range("2024-01-01", periods=5, freq="h"))
    series = Panel.of(SeriesFrame(frame, "y", (), "h", "f.csv", "", "date"))
    manifest = {"data": {"target": "y", "covariates": [], "last": "2024-01-01 02:00:00"},
                "window": {"freq": "h", "horizon": 4}}
    assert check_new_data(series, manifest, min_new_rows=2, horizon=4) is None
    assert "2 new rows" in check_new_data(series, manifest, min_new_rows=3, horizon=4)
    daily = Panel.of(SeriesFrame(frame, "y", (), "D", "f.csv", "", "date"))
    assert "frequency 'D'" in check_new_data(daily, manifest, min_new_rows=1, horizon=4)


def test_a_champion_reading_the_target_alone_accepts_new_data_with_covariates():
    """A naive or seasonal naive champion (the verdict's recommended row) reads the target alone: a covariate in the
    new data is the challenger's, not a schema change; the linear map reads every column, so it is one."""
    import pandas as pd

    from forecaster.data.frame import Panel, SeriesFrame

    frame = pd.DataFrame({"y": range(5), "temp": range(5)}, index=pd.date_range("2024-01-01", periods=5, freq="h"))
    series = Panel.of(SeriesFrame(frame, "y", ("temp",), "h", "f.csv", "", "date"))
    window = {"freq": "h", "horizon": 4}
    alone = {"kind": "baseline", "data": {"target": "y", "covariates": [], "last": "2024-01-01 02:00:00"},
             "window": window}
    assert check_new_data(series, alone, min_new_rows=2, horizon=4) is None
    other = {**alone, "data": {**alone["data"], "target": "x"}}
    assert "target 'y', expected 'x'" in check_new_data(series, other, min_new_rows=2, horizon=4)
    linear = {**alone, "data": {**alone["data"], "covariates": ["wind"]}}
    assert "columns ['y', 'temp'], expected ['y', 'wind']" in check_new_data(series, linear, min_new_rows=2, horizon=4)


def test_busy_lock_skips_with_a_message(tmp_path, capsys):
    reg = Registry(tmp_path / "models", "sales")
    data = write(tmp_path, 300)
    with reg.lock():  # another retrain (or promote) holds the lock
        d = retrain(cfg_for(tmp_path, data))
        assert d.outcome == "skipped" and d.exit_code == ExitCode.BUSY
        assert "another retrain of sales is running" in d.reason
        code = main(["retrain", "--data", str(data), "--target", "y", "--name", "sales",
                     "--models-dir", str(tmp_path / "models"), "--quiet"])
        assert code == ExitCode.BUSY
        err = capsys.readouterr().err.strip()
        assert "another retrain of sales is running; skipped" in err and len(err.splitlines()) == 1
        assert main(["models", "promote", "--name", "sales", "--models-dir", str(tmp_path / "models"),
                     "--version", "1"]) == ExitCode.BUSY
    assert reg.versions() == [] and [r["outcome"] for r in reg.ledger()] == ["skipped", "skipped"]


def test_keep_prunes_oldest_non_champion_versions(tmp_path):
    reg = Registry(tmp_path / "models", "sales")
    for n in (300, 320, 340, 360):
        retrain(cfg_for(tmp_path, write(tmp_path, n), **{"training.epochs": 1, "schedule.keep": 2}))
    champion, previous = reg.champion(), reg.pointer()["previous"]
    expected = sorted({3, 4, champion, *previous[-1:]})
    assert reg.versions() == expected and len(expected) < 4  # something was pruned, the newest two stay
    assert not [p for p in reg.versions_dir.iterdir() if p.name.startswith(".")]
    pruned = [r for r in reg.ledger() if "pruned versions" in r["reason"]]
    assert pruned  # the ledger says what was deleted
    # each version's TensorBoard logs live and go with it
    assert sorted(p.name for p in (reg.root / "tensorboard").iterdir()) == [f"version-{v}" for v in expected]


def test_leftovers_of_a_killed_save_are_removed(tmp_path):
    reg = Registry(tmp_path / "models", "sales")
    stale = reg.versions_dir / ".tmp-1-abcd"
    (stale / "gru").mkdir(parents=True)
    lines: list[str] = []
    d = retrain(cfg_for(tmp_path, write(tmp_path, 300)), progress=lines.append)
    assert d.version == 1 and not stale.exists()
    assert any("removed unfinished leftovers" in line for line in lines)


def test_config_errors_name_the_key(tmp_path, capsys):
    data = write(tmp_path, 300)
    assert main(["retrain", "--data", str(data), "--margin", "1.5"]) == ExitCode.USAGE
    assert "--margin (schedule.margin): expected a fraction in [0, 1), got 1.5" in capsys.readouterr().err
    cfg_file = tmp_path / "s.yaml"
    cfg_file.write_text("schedule:\n  cronn: '* * * * *'\n")
    assert main(["retrain", "--config", str(cfg_file)]) == ExitCode.USAGE
    assert "unknown key 'schedule.cronn'; did you mean 'schedule.cron'?" in capsys.readouterr().err


def test_ledger_appends_whole_lines_and_skips_a_torn_one(tmp_path):
    reg = Registry(tmp_path / "models", "sales")
    reg.log({"event": "retrain", "outcome": "kept", "challenger_score": math.nan})
    with reg.ledger_path.open("a") as fh:
        fh.write('{"event": "retrain", "outc')  # a crash in the middle of a write
    reg.log({"event": "promote", "version": 2})
    lines = reg.ledger_path.read_text().splitlines()
    assert json.loads(lines[0])["challenger_score"] is None  # NaN stored as null: valid JSON
    assert [r["event"] for r in reg.ledger()] == ["retrain", "promote"]  # the torn line is skipped
    assert len(lines) == 3 and lines[1] == '{"event": "retrain", "outc'


def test_versions_ignore_hidden_and_non_numeric_folders(tmp_path):
    reg = Registry(tmp_path / "models", "sales")
    for name in ("1", "3", ".tmp-2-abcd", "notes", "10"):
        (reg.versions_dir / name).mkdir(parents=True)
    assert reg.versions() == [1, 3, 10] and reg.next_version() == 11


def test_retrain_cli_takes_every_train_flag_and_reports_the_decision(tmp_path, capsys):
    from conftest import FAST

    data = write(tmp_path, 300)
    argv = ["retrain", "--data", str(data), "--target", "y", "--cell", "gru", "--name", "sales",
            "--models-dir", str(tmp_path / "models"), "--covariates", "x", "--seed", "3", "--patience", "1", *FAST]
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("promoted: no champion yet") and out[2] == "champion: version 1"
    assert out[1] == f"version 1: {tmp_path / 'models' / 'sales' / 'versions' / '1'}"
    saved = config.from_dict(yaml.safe_load(
        (tmp_path / "models" / "sales" / "versions" / "1" / "config.yaml").read_text()))
    assert saved.data.covariates == ("x",) and saved.training.seed == 3 and saved.model.units == (8,)


def test_shipped_schedule_config_is_valid():
    from forecaster.registry.schedule import parse_cron

    from conftest import ROOT

    cfg = config.resolve(ROOT / "configs" / "schedule.yaml")
    parse_cron(cfg.schedule.cron)
    assert cfg.schedule.metric == "mase" and cfg.output.name == "seattle-temps"
    assert (ROOT / cfg.data.path).is_file()


def test_retrain_and_schedule_accept_every_train_flag():
    from forecaster.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices

    def flags(name: str) -> set[str]:
        return {s for a in sub[name]._actions for s in a.option_strings}

    run = flags("train") - {"--json"}  # every setting; --json is train's output format, not a setting
    assert run <= flags("retrain") and run <= flags("schedule")
    assert {"--metric", "--margin", "--min-new-rows", "--keep"} <= flags("retrain")
    assert "--cron" in flags("schedule")


def test_data_changing_during_the_retrain_is_read_once(tmp_path, monkeypatch):
    """The file is read once: challenger, champion re-score and manifest all use that snapshot."""
    from forecaster.fs import file_sha256
    from forecaster.workflows import train as train_flow

    data = write(tmp_path, 300, name="live.csv")
    assert retrain(cfg_for(tmp_path, data)).outcome == "promoted"
    make_frame(330).to_csv(data, index=False)
    snapshot = file_sha256(data)
    real_train = train_flow.train

    def train_while_rows_arrive(*args, **kwargs):
        make_frame(340).to_csv(data, index=False)  # the feeder appends while we train
        return real_train(*args, **kwargs)

    monkeypatch.setattr(train_flow, "train", train_while_rows_arrive)
    d = retrain(cfg_for(tmp_path, data))
    assert d.outcome in ("promoted", "kept") and d.version == 2 and d.champion_score is not None
    assert d.data["rows"] == 330 and d.data["sha256"] == snapshot
    info = Registry(tmp_path / "models", "sales").inspect(2)
    assert info.manifest["data"]["rows"] == 330 and info.manifest["data"]["sha256"] == snapshot


def test_a_kept_challengers_data_counts_as_seen(tmp_path):
    """After a kept challenger, the same data is not retrained on again (a version a day otherwise)."""
    reg = Registry(tmp_path / "models", "sales")
    assert retrain(cfg_for(tmp_path, write(tmp_path, 300, name="a.csv"))).outcome == "promoted"
    grown = write(tmp_path, 340, name="a.csv")
    strict = {"schedule.margin": 0.99}  # the challenger would have to be 100x better: kept
    kept = retrain(cfg_for(tmp_path, grown, **strict))
    assert kept.outcome == "kept" and reg.versions() == [1, 2] and reg.champion() == 1
    again = retrain(cfg_for(tmp_path, grown, **strict))
    assert again.outcome == "skipped" and "0 new rows after the newest version's last timestamp" in again.reason
    assert reg.versions() == [1, 2]
    more = retrain(cfg_for(tmp_path, write(tmp_path, 360, name="a.csv"), **{"schedule.min_new_rows": 10}))
    assert more.outcome in ("promoted", "kept") and reg.versions() == [1, 2, 3]  # 20 new rows: it trains


def test_coverage_tolerance_keeps_a_challenger_whose_intervals_miss_nominal(tmp_path, monkeypatch):
    import forecaster.registry.retrain as registry

    first = retrain(cfg_for(tmp_path, write(tmp_path, 300), **{"schedule.coverage_tolerance": 0.0}))
    assert first.outcome == "promoted"  # coverage exactly nominal is never met, but there is no champion to keep
    assert "promoted anyway: there is no champion to keep" in first.reason
    monkeypatch.setattr(registry, "gate", lambda *a, **k: (True, "forced by the test"))  # the score gate passes
    monkeypatch.setattr(registry, "tested_gate", lambda *a, **k: (True, "forced by the test"))  # and the tested one
    strict = retrain(cfg_for(tmp_path, write(tmp_path, 330), **{"schedule.coverage_tolerance": 0.0}))
    assert strict.outcome == "kept" and strict.champion_after == 1, strict.reason
    assert "interval covered" in strict.reason and "(schedule.coverage_tolerance); not promoted" in strict.reason
    loose = retrain(cfg_for(tmp_path, write(tmp_path, 360), **{"schedule.coverage_tolerance": 0.9}))
    assert loose.outcome == "promoted" and loose.champion_after == 3, loose.reason
    with pytest.raises(Exception, match="null \\(not checked\\) when forecast.levels is none"):
        cfg_for(tmp_path, write(tmp_path, 330), **{"schedule.coverage_tolerance": 0.1, "forecast.levels": "none"})


def test_previous_never_lists_the_champion_and_a_bad_previous_is_one_line(tmp_path, gated, capsys):
    import shutil

    root, _ = gated
    models = tmp_path / "models"
    shutil.copytree(root / "models", models)
    args = ["--name", "sales", "--models-dir", str(models)]
    reg = Registry(models, "sales")
    for v in (1, 2, 1):
        assert main(["models", "promote", *args, "--version", str(v)]) == 0
    assert reg.champion() == 1 and 1 not in reg.pointer()["previous"] and reg.pointer()["previous"][-1] == 2
    pointer = reg.pointer()
    reg.champion_path.write_text(json.dumps({**pointer, "previous": "2"}))
    capsys.readouterr()
    assert main(["models", "rollback", *args]) == ExitCode.ARTIFACT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "champion.json: 'previous' must be a list of version numbers, got '2'" in err
    assert main(["models", "promote", *args, "--version", "3"]) == 0  # as the message says: a promote rewrites it
    assert reg.champion() == 3 and reg.pointer()["previous"] == [1]


def test_a_column_moved_between_past_and_known_is_a_schema_change():
    import numpy as np
    import pandas as pd

    from forecaster.data.frame import Panel, SeriesFrame
    from forecaster.registry.gate import check_new_data

    idx = pd.date_range("2024-01-01", periods=10, freq="D", name="date")
    frame = pd.DataFrame({"y": np.arange(10.0), "promo": np.zeros(10)}, index=idx)
    manifest = {"data": {"target": "y", "covariates": ["promo"], "known": [], "last": "2024-01-05"},
                "window": {"freq": "D", "horizon": 2}}
    past = SeriesFrame(frame, "y", ("promo",), "D", "f.csv", "", "date")
    known = SeriesFrame(frame, "y", ("promo",), "D", "f.csv", "", "date", known=("promo",))
    assert check_new_data(Panel.of(past), manifest, min_new_rows=1, horizon=2) is None
    reason = check_new_data(Panel.of(known), manifest, min_new_rows=1, horizon=2)
    assert reason == "schema differs from the champion's: known covariates ['promo'], expected []"


def test_a_statistical_champion_reads_the_target_alone_so_covariates_are_no_schema_change():
    """A run with a past covariate whose champion is ETS (it reads the target only): the next retrain with the
    same data and flags goes ahead; before, every later retrain was skipped as a schema change."""
    import pandas as pd

    from forecaster.data.frame import Panel, SeriesFrame

    idx = pd.date_range("2024-01-01", periods=10, freq="h", name="date")
    frame = pd.DataFrame({"y": range(10), "x": range(10)}, index=idx, dtype=float)
    panel = Panel.of(SeriesFrame(frame, "y", ("x",), "h", "f.csv", "", "date"))
    statistical = {"kind": "statistical", "window": {"freq": "h", "horizon": 4},
                   "data": {"target": "y", "covariates": [], "known": [], "last": "2024-01-01 05:00:00"}}
    assert check_new_data(panel, statistical, min_new_rows=2, horizon=4) is None
    other = {**statistical, "data": {**statistical["data"], "target": "z"}}
    assert "target 'y', expected 'z'" in check_new_data(panel, other, min_new_rows=2, horizon=4)
    network = {**statistical, "kind": None}
    assert "columns ['y', 'x'], expected ['y']" in check_new_data(panel, network, min_new_rows=2, horizon=4)
