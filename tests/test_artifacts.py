"""The run format's own rules: permissions that follow the umask, a champion pointer kept inside its folder."""

from __future__ import annotations

import json
import os
import stat

import pytest

from forecaster.artifacts.run import read_pointer, resolve_cell_dir
from forecaster.errors import ArtifactError
from forecaster.fs import atomic_write_text, staged_run


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_saved_files_and_run_folders_follow_the_umask(tmp_path, umask_022):
    atomic_write_text(tmp_path / "a.json", "{}")
    with staged_run(tmp_path / "run") as tmp:
        atomic_write_text(tmp / "config.yaml", "x: 1\n")
    assert mode(tmp_path / "a.json") == 0o644 and mode(tmp_path / "run/config.yaml") == 0o644
    assert mode(tmp_path / "run") == 0o755  # mkdtemp alone would give 0700: unreadable to another uid
    os.umask(0o077)
    atomic_write_text(tmp_path / "private.json", "{}")
    assert mode(tmp_path / "private.json") == 0o600


def test_saved_cells_are_readable_by_other_users(tmp_path, umask_022):
    from forecaster.workflows.train import train

    from conftest import make_frame, small_cfg

    data = tmp_path / "s.csv"
    make_frame().to_csv(data, index=False)
    run = train(small_cfg(data, tmp_path / "models", **{"training.epochs": 1, "model.linear": False}),
                         cells=["mlp"])
    for path in (run.run_dir, run.run_dir / "mlp", *(run.run_dir / "mlp").iterdir()):
        assert mode(path) & 0o044 == 0o044, path  # group and others can read


@pytest.mark.parametrize("pointer", ["../..", "/etc", "versions/../../outside"])
def test_a_champion_pointer_leaving_the_model_folder_is_refused(tmp_path, pointer):
    model = tmp_path / "models" / "sales"
    (model / "versions" / "1").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (model / "champion.json").write_text(json.dumps({"path": pointer, "version": 1}))
    with pytest.raises(ArtifactError, match="leaves the model folder"):
        read_pointer(model / "champion.json")
    with pytest.raises(ArtifactError, match="leaves the model folder"):
        resolve_cell_dir(model)


@pytest.mark.parametrize("raw", ['{"path": 3}', "[1, 2]", '{"version": 1}'])
def test_a_champion_pointer_of_the_wrong_shape_is_an_artifact_error(tmp_path, raw):
    (tmp_path / "champion.json").write_text(raw)
    with pytest.raises(ArtifactError, match="expected a JSON object with a 'path' key"):
        read_pointer(tmp_path / "champion.json")


def test_staging_left_by_a_killed_process_is_removed_by_the_next_save(tmp_path):
    import os
    import time

    from forecaster.fs import STALE_SECONDS, staged_run

    runs = tmp_path / "runs"
    runs.mkdir()
    old_dir, old_file = runs / ".tmp-20260101-x-abcd", runs / ".leaderboard.json.k2j3.tmp"
    recent = runs / ".tmp-20261203-y-ef01"
    for d in (old_dir, recent):
        d.mkdir()
        (d / "partial.keras").write_bytes(b"x")
    old_file.write_text("{")
    past = time.time() - STALE_SECONDS - 60
    for p in (old_dir, old_file):
        os.utime(p, (past, past))
    with staged_run(runs / "new-run") as tmp:
        (tmp / "f").write_text("ok")
    assert sorted(p.name for p in runs.iterdir()) == [recent.name, "new-run"]  # a save in progress is kept
