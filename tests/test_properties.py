"""Property tests: any file either loads or is refused with a DataError; conformal radii keep their guarantee."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecaster.data.load import load_series
from forecaster.errors import ConfigError, DataError
from forecaster.evaluation import intervals

_CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
    st.integers(-10**6, 10**6).map(str),
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6),
    st.dates().map(str),
    st.datetimes().map(lambda d: d.isoformat(sep=" ")),
    st.just(""),
)
_NAME = st.one_of(st.sampled_from(["date", "y", "x", "time", "value"]), st.text(max_size=5))


@st.composite
def csv_files(draw: st.DrawFn) -> str:
    """A CSV text: a header and rows of arbitrary cells, sometimes a regular hourly series, sometimes junk."""
    names = draw(st.lists(_NAME, min_size=1, max_size=4))
    n = draw(st.integers(0, 40))
    if draw(st.booleans()):  # mostly valid: hourly timestamps in the first column, junk elsewhere
        start = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)))
        stamps = [str(t) for t in pd.date_range(start, periods=n, freq="h")]
        rows = [[stamps[i], *[draw(_CELL) for _ in names[1:]]] for i in range(n)]
    else:
        rows = [[draw(_CELL) for _ in names] for _ in range(n)]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(names)
    writer.writerows(rows)
    return buf.getvalue()


@settings(max_examples=120, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(text=csv_files(), missing=st.sampled_from(["error", "interpolate", "ffill"]))
def test_any_csv_loads_or_is_refused_with_a_data_error(tmp_path, text, missing):
    path = tmp_path / "fuzz.csv"
    path.write_text(text, encoding="utf-8")
    try:
        series = load_series(path, missing=missing)
    except DataError as exc:
        message = str(exc)
        assert message and str(path) in message
        return
    values = series.frame.to_numpy(dtype=np.float64)
    assert np.isfinite(values).all() and len(series.frame) >= 1 and series.freq


@settings(max_examples=200, derandomize=True, deadline=None)
@given(errors=st.lists(st.floats(0, 1e6), min_size=1, max_size=60), levels=st.sets(st.integers(1, 99), min_size=1,
                                                                                       max_size=4))
def test_conformal_radii_cover_their_calibration_windows_and_grow_with_the_level(errors, levels):
    e = np.asarray(errors)[:, None]
    cal = intervals.calibrate(e, np.zeros_like(e), sorted(levels))
    n = len(e)
    radii = [cal.radius_of(level)[0] for level in cal.levels]
    assert radii == sorted(radii) and all(r >= 0 for r in radii)
    for level, r in zip(cal.levels, radii):
        covered = int(np.sum(e[:, 0] <= r))
        assert covered >= min(n, -(-(n + 1) * level // 100))  # at least the conformal rank
    assert intervals.Calibration.from_dict(cal.to_dict(), horizon=1) == cal


_YAML_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
              st.text(max_size=12)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
_KEYS = st.sampled_from(["data", "window", "model", "training", "output", "forecast", "schedule", "nope"])
_FIELDS = st.sampled_from(["path", "lookback", "horizon", "season", "seasons", "units", "cell", "epochs", "levels",
                           "margin", "coverage_tolerance", "val", "test", "seed", "baselines", "x"])


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=st.dictionaries(_KEYS, st.one_of(_YAML_VALUE, st.dictionaries(_FIELDS, _YAML_VALUE, max_size=4)),
                           max_size=4), raw=st.text(max_size=80))
def test_any_yaml_config_resolves_or_is_refused_with_a_config_error(tmp_path, doc, raw):
    import yaml

    from forecaster import config
    from forecaster.errors import ConfigError

    for text in (yaml.safe_dump(doc), raw):
        path = tmp_path / "c.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            cfg = config.resolve(path)
        except ConfigError as exc:
            assert str(exc) and "\n" not in str(exc).strip()
            continue
        assert cfg.window.horizon >= 1 and all(1 <= v <= 99 for v in cfg.forecast.levels)


@pytest.fixture(scope="module")
def saved_cell(tmp_path_factory):
    from forecaster.workflows.train import train

    from conftest import make_frame, small_cfg

    root = tmp_path_factory.mktemp("props")
    data = root / "series.csv"
    make_frame()[["date", "y"]].to_csv(data, index=False)
    run = train(small_cfg(data, root / "m", **{"model.cell": "mlp", "model.baselines": "naive",
                                                        "training.epochs": 1}))
    return run.run_dir / "mlp"


_PATHS = st.sampled_from([("window", "lookback"), ("window", "horizon"), ("window", "strategy"), ("window", "freq"),
                          ("window", "split"), ("data", "target"), ("data", "covariates"), ("files",), ("format",),
                          ("window",), ("data",)])


@settings(max_examples=60, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=_PATHS, value=_YAML_VALUE, rehashed=st.booleans())
def test_any_tampered_manifest_is_served_or_refused_with_an_artifact_error(saved_cell, tmp_path_factory, path, value,
                                                                           rehashed):
    import json
    import shutil

    from forecaster.artifacts.cell import check_cell, load_for_serving
    from forecaster.errors import ArtifactError
    from forecaster.workflows.predict import forecast, load_for_predict

    from conftest import rehash

    cell = tmp_path_factory.mktemp("cell") / "mlp"
    shutil.copytree(saved_cell, cell)
    manifest = json.loads((cell / "manifest.json").read_text())
    node = manifest
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    (cell / "manifest.json").write_text(json.dumps(manifest))
    if rehashed and isinstance(manifest.get("files"), dict):
        rehash(cell)
    try:
        check_cell(cell)
        loaded = load_for_serving(cell)
        out = forecast(loaded, load_for_predict(loaded))
    except (ArtifactError, DataError, ConfigError):
        return
    assert np.isfinite(out["yhat"]).all()


# -- issue 30: paths inside artifacts, printable lines, --series lists, the forecast range rule, version names ------
@pytest.fixture(scope="module")
def artifact_root(tmp_path_factory):
    """A saved folder with a network folder, a file, and a link to a network elsewhere."""
    base = tmp_path_factory.mktemp("contained")
    root, elsewhere = base / "cell", base / "elsewhere"
    (root / "series" / "0").mkdir(parents=True)
    (root / "model.keras").write_bytes(b"k")
    elsewhere.mkdir()
    (root / "series" / "1").symlink_to(elsewhere)
    (root / "link.keras").symlink_to(root / "model.keras")  # a link even to its own file is refused
    return root


_SEGMENT = st.one_of(st.sampled_from(["..", ".", "", "series", "0", "1", "model.keras", "link.keras", "~"]),
                     st.text(alphabet="ab./\\:~", max_size=4))


@settings(max_examples=300, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(_SEGMENT, max_size=5), absolute=st.booleans())
def test_any_path_an_artifact_names_stays_inside_its_folder_or_is_refused(artifact_root, parts, absolute):
    from pathlib import Path

    from forecaster.errors import ArtifactError
    from forecaster.fs import contained, linked_part

    relative = ("/" if absolute else "") + "/".join(parts)
    try:
        path = contained(artifact_root, relative, "manifest.json")
    except ArtifactError as exc:
        assert "\n" not in str(exc) and ("leaves" in str(exc) or "symbolic link" in str(exc))
        return
    assert not Path(relative).is_absolute() and ".." not in Path(relative).parts
    assert linked_part(artifact_root, relative) is None
    assert path.resolve().is_relative_to(artifact_root.resolve())


@settings(max_examples=300, derandomize=True, deadline=None)
@given(text=st.text(max_size=300), limit=st.integers(40, 2000))
def test_any_text_becomes_one_safe_line_within_the_limit(text, limit):
    from forecaster.cli.output import printable

    line = printable(text, limit)
    assert len(line) <= limit and all(c.isprintable() for c in line)
    if len(text) < limit // 5 and text.isprintable():
        assert line == text


@settings(max_examples=300, derandomize=True, deadline=None)
@given(text=st.one_of(st.none(), st.text(alphabet="ab ,\t", max_size=12), st.text(max_size=12)))
def test_any_series_list_is_every_series_distinct_ids_or_a_usage_error(text):
    from forecaster.cli.flags import series_ids

    try:
        ids = series_ids(text)
    except ConfigError as exc:
        assert str(exc).startswith("--series: ")
        return
    if text is None:
        assert ids is None
        return
    assert ids and all(ids) and len(set(ids)) == len(ids) and all(i == i.strip() for i in ids)


@settings(max_examples=200, derandomize=True, deadline=None)
@given(history=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=30), inside=st.floats(0.01, 0.99),
       beyond=st.floats(1.001, 1e6), up=st.booleans())
def test_the_range_rule_warns_exactly_past_k_ranges_beyond_the_history(history, inside, beyond, up):
    from forecaster.data.frame import Panel, SeriesFrame
    from forecaster.workflows.predict import RANGE_MULTIPLE, beyond_history

    y = np.asarray(history)
    index = pd.date_range("2024-01-01", periods=len(y), freq="h", name="date")
    series = Panel.of(SeriesFrame(frame=pd.DataFrame({"y": y}, index=index), target="y", covariates=(), freq="h",
                                  path="p.csv", sha256="", time_col="date"))
    lo, hi = float(y.min()), float(y.max())
    span = hi - lo if hi > lo else max(abs(hi), 1.0)
    reach = RANGE_MULTIPLE * span
    within = lo - reach + inside * (hi - lo + 2 * reach)
    assert beyond_history(pd.DataFrame({"yhat": [within]}), series) is None
    far = hi + beyond * reach if up else lo - beyond * reach
    assert beyond_history(pd.DataFrame({"yhat": [within, far]}), series) is not None


@settings(max_examples=300, derandomize=True, deadline=None)
@given(name=st.one_of(st.text(max_size=6), st.integers(0, 10**6).map(str)))
def test_a_version_folder_name_is_a_version_only_in_canonical_ascii_digits(name):
    from forecaster.registry.store import version_name

    if version_name(name):
        assert name.isascii() and str(int(name)) == name and int(name) >= 1
    elif name.isascii() and name.isdigit():
        assert name.startswith("0")
