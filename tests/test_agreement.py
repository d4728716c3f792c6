"""A saved model's files are checked against each other (issue 30, class 2), not only one by one.

Every case edits the committed golden runs the way someone with write access could (the files'
hashes and the manifest's own checksum recomputed, :func:`conftest.rehash`), so only the
cross-checks can catch it: ``predict`` must refuse with exit 4 and one line naming what disagrees,
where before it served a forecast built from mismatched parts with exit 0.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecaster.artifacts.manifest import check_agreement, check_network, check_statistical, expected_inputs
from forecaster.cli.main import main
from forecaster.data.scaling import Scaler, SeriesScalers
from forecaster.errors import ArtifactError, ExitCode
from forecaster.evaluation.intervals import Calibration

from conftest import rehash

GOLDEN = Path(__file__).parent / "golden"
RUNS = GOLDEN / "runs"
DISAGREE = "its files disagree: retrain or pick another run"


def _copy(tmp_path: Path, name: str, row: str) -> Path:
    """A copy of a committed golden run's row folder (the repository is never written)."""
    (run,) = (RUNS / name / "runs").iterdir()
    target = tmp_path / name / run.name
    shutil.copytree(run, target)
    return target / row


def _edit(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    body = json.loads(path.read_text())
    change(body)
    path.write_text(json.dumps(body))


def _predict(cell: Path, data: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> str:
    code = main(["predict", "--model", str(cell), "--data", str(data), *flags])
    err = capsys.readouterr().err
    assert code == ExitCode.ARTIFACT, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _swap_target(m: dict[str, Any]) -> None:
    m["data"]["target"], m["data"]["covariates"] = "x", ["y"]


def _empty_covariates(m: dict[str, Any]) -> None:
    m["data"]["covariates"] = []


def _shorter_horizon(m: dict[str, Any]) -> None:
    m["window"]["horizon"] = 3


def _longer_lookback(m: dict[str, Any]) -> None:
    m["window"]["lookback"] += 2


def _recursive(m: dict[str, Any]) -> None:
    m["window"]["strategy"] = "recursive"


@pytest.mark.parametrize(("edit", "said"), [
    (_swap_target, "scaler.json scales the columns (y, x), but manifest.json's roles name (x, y) as the inputs"),
    (_empty_covariates, "scaler.json scales the columns (y, x), but manifest.json's roles name (y) as the inputs"),
    (_shorter_horizon, "the network outputs 6 steps, but manifest.json says 3 (horizon 3, direct)"),
    (_recursive, "the network outputs 6 steps, but manifest.json says 1 (horizon 6, recursive)"),
], ids=["target-and-covariate-swapped", "covariates-emptied", "horizon", "strategy"])
@pytest.mark.parametrize("backend", ["onnx", "keras"])
def test_a_one_series_manifest_that_disagrees_with_its_scaler_or_network_is_refused(tmp_path, capsys, edit, said,
                                                                                     backend):
    cell = _copy(tmp_path, "single", "gru")
    if backend == "keras":
        (cell / "model.onnx").unlink()
    _edit(cell / "manifest.json", edit)
    rehash(cell)
    err = _predict(cell, GOLDEN / "series.csv", capsys)
    assert err == f"forecast: error: {cell}: {said}; {DISAGREE}\n"


@pytest.mark.parametrize("backend", ["onnx", "keras"])
def test_a_network_wider_than_its_manifest_and_scaler_say_is_refused(tmp_path, capsys, backend):
    """Manifest and scaler edited together (the covariate dropped from both): only the network's input width
    can still tell."""
    cell = _copy(tmp_path, "single", "gru")
    if backend == "keras":
        (cell / "model.onnx").unlink()
    _edit(cell / "manifest.json", _empty_covariates)

    def one_column(s: dict[str, Any]) -> None:
        s["columns"], s["mean"], s["scale"] = s["columns"][:1], s["mean"][:1], s["scale"][:1]

    _edit(cell / "scaler.json", one_column)
    rehash(cell)
    err = _predict(cell, GOLDEN / "series.csv", capsys)
    assert "the network reads 2 input columns per step, but manifest.json and scaler.json name 1 (y)" in err


def test_a_lookback_the_network_was_not_built_for_is_refused(tmp_path, capsys):
    cell = _copy(tmp_path, "single", "gru")
    _edit(cell / "manifest.json", _longer_lookback)
    rehash(cell)
    err = _predict(cell, GOLDEN / "series.csv", capsys)
    assert "the network reads windows of" in err and "but manifest.json's lookback is" in err


def _no_panel(m: dict[str, Any]) -> None:
    del m["data"]["id_col"]


def _rename_series(s: dict[str, Any]) -> None:
    s["ids"] = [*s["ids"][:-1], "z"]


def _unscaled(c: dict[str, Any]) -> None:
    c.pop("scaled", None)


@pytest.mark.parametrize(("name", "file", "edit", "said"), [
    ("panel", "manifest.json", _no_panel,
     "scaler.json holds 3 series, but manifest.json is a model of one series (no id column)"),
    ("panel", "scaler.json", _rename_series,
     "scaler.json has series 'z', which is not among the 3 series of manifest.json (a, b, c)"),
    ("panel", "calibration.json", _unscaled,
     "calibration.json is in the target's units (a model of one series), but manifest.json is a panel's model"),
    ("per_series", "scaler.json", _rename_series,
     "scaler.json has series 'z', which is not among the 3 series of manifest.json (a, b, c)"),
], ids=["manifest-lost-its-id-column", "scaler-series-renamed", "calibration-not-scaled", "per-series-renamed"])
def test_a_panel_whose_files_name_other_series_is_refused(tmp_path, capsys, name, file, edit, said):
    cell = _copy(tmp_path, name, "gru")
    _edit(cell / file, edit)
    rehash(cell)
    err = _predict(cell, GOLDEN / "panel.csv", capsys)
    assert err == f"forecast: error: {cell}: {said}; {DISAGREE}\n"


def test_a_one_series_calibration_scaled_like_a_panels_is_refused(tmp_path, capsys):
    cell = _copy(tmp_path, "single", "gru")
    _edit(cell / "calibration.json", lambda c: c.update(scaled=True))
    rehash(cell)
    err = _predict(cell, GOLDEN / "series.csv", capsys)
    assert "calibration.json is scaled per series (a panel's), but manifest.json is a model of one series" in err


def test_a_statistical_spec_per_series_in_a_one_series_folder_is_refused(tmp_path, capsys):
    cell = _copy(tmp_path, "single", "ets")
    _edit(cell / "spec.json", lambda s: s.update(per_series={"a": dict(s)}))
    rehash(cell)
    err = _predict(cell, GOLDEN / "series.csv", capsys)
    assert "spec.json holds a spec per series, but manifest.json is a model of one series" in err


def test_the_committed_runs_agree_with_themselves():
    """The checks refuse nothing a real save wrote (every golden row folder, each file against the others)."""
    from forecaster.artifacts.cell import load_for_serving, read_calibration
    from forecaster.artifacts.statistical import read_spec

    checked = 0
    for manifest in sorted(RUNS.rglob("manifest.json")):
        cell = manifest.parent
        if (cell / "spec.json").is_file():
            read_spec(cell)
        else:
            loaded = load_for_serving(cell)
            list(loaded.members)
            read_calibration(cell, loaded.manifest)
        checked += 1
    assert checked == 5  # single: gru, ets, theta; panel: gru; per_series: gru


# -- properties over the pure checks ------------------------------------------------------------------------------

_COLUMNS = st.lists(st.sampled_from(["y", "x", "w", "promo", "size"]), min_size=1, max_size=5, unique=True)


def _manifest(columns: list[str], known: int, *, horizon: int = 4, ids: list[str] | None = None) -> dict[str, Any]:
    """A manifest whose roles read ``columns`` in order: the target, past covariates, then ``known`` known ones."""
    cut = len(columns) - known
    data: dict[str, Any] = {"target": columns[0], "covariates": columns[1:cut], "known": columns[cut:],
                            "calendar": False}
    if ids is not None:
        data.update(id_col="store", series_last={sid: "2024-01-01" for sid in ids})
    return {"window": {"lookback": 5, "horizon": horizon, "freq": "h", "strategy": "direct"}, "data": data}


def _scaler(columns: list[str], ids: list[str | None]) -> SeriesScalers:
    one = Scaler.from_dict({"kind": "standard", "columns": columns, "mean": [0.0] * len(columns),
                            "scale": [1.0] * len(columns)})
    return SeriesScalers(ids, [one] * len(ids))


@settings(max_examples=150, deadline=None)
@given(columns=_COLUMNS, order=st.permutations(range(5)), known=st.integers(0, 4))
def test_a_scaler_agrees_only_with_the_manifest_of_its_own_columns_in_their_order(columns, order, known):
    known = min(known, len(columns) - 1)
    manifest = _manifest(columns, known)
    assert list(expected_inputs(manifest)) == columns
    shuffled = [columns[i] for i in order if i < len(columns)]
    agrees = shuffled == columns
    try:
        check_agreement(Path("cell"), manifest, _scaler(shuffled, [None]))
    except ArtifactError as exc:
        assert not agrees and "its files disagree" in str(exc)
    else:
        assert agrees


@settings(max_examples=100, deadline=None)
@given(trained=st.lists(st.sampled_from("abcdef"), min_size=1, max_size=6, unique=True),
       scaled=st.lists(st.sampled_from("abcdefz"), min_size=1, max_size=7, unique=True))
def test_a_panels_scaler_and_calibration_may_name_only_its_series(trained, scaled):
    manifest = _manifest(["y"], 0, ids=trained)
    inside = set(scaled) <= set(trained)
    cal = Calibration(levels=(80,), radius=((1.0,) * 4,), n_windows=10, scaled=True,
                      scales=tuple((sid, 1.0) for sid in scaled))
    for scaler, calibration in ((_scaler(["y"], list(scaled)), None), (None, cal)):
        try:
            check_agreement(Path("cell"), manifest, scaler, calibration)
        except ArtifactError as exc:
            assert not inside and "is not among the" in str(exc)
        else:
            assert inside
    per = {"name": "ets", "per_series": {sid: {"name": "ets"} for sid in scaled}}
    try:
        check_statistical(Path("cell"), manifest, per)
    except ArtifactError:
        assert not inside
    else:
        assert inside


@settings(max_examples=100, deadline=None)
@given(steps=st.integers(1, 8), width=st.integers(1, 6), outputs=st.integers(1, 8), open_dim=st.integers(0, 3))
def test_a_network_agrees_only_with_its_window_inputs_and_horizon(steps, width, outputs, open_dim):
    manifest = _manifest(["y", "x", "w"], 0)  # lookback 5, 3 input columns, horizon 4 direct
    shape: list[int | None] = [steps, width, outputs]
    if open_dim < 3:
        shape[open_dim] = None  # a dimension the runtime leaves open is not checked
    fits = all(got is None or got == want for got, want in zip(shape, (5, 3, 4)))
    try:
        check_network(Path("cell"), manifest, (shape[0], shape[1], shape[2]))
    except ArtifactError:
        assert not fits
    else:
        assert fits
