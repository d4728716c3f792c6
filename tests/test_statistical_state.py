"""A statistical row served from its saved state (numpy, no refit): the same forecasts as the fitted
statsforecast model, a schema checked at load, and a failure at predict time that is exit 4."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from forecaster.cli.main import main
from forecaster.data.prepared import Prepared, prepare
from forecaster.errors import ArtifactError, ExitCode
from forecaster.models import arima_state
from forecaster.models import statistical as st
from forecaster.models import statistical_spec as spec_schema
from forecaster.models import statistical_state as ss

from conftest import FAST, make_frame, rehash, small_cfg

pytestmark = pytest.mark.filterwarnings("ignore:possible convergence problem:UserWarning")

SERVED = ("ets", "theta", "arima")
H = 6


@pytest.fixture(scope="module")
def prep(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    tmp = tmp_path_factory.mktemp("state")
    path = tmp / "series.csv"
    make_frame(n=420).to_csv(path, index=False)
    return prepare(small_cfg(path, tmp / "models"))


@pytest.fixture(scope="module")
def fitted(prep: Prepared) -> dict[str, st.StatisticalModel]:
    return {name: (st.make(name, history=200) if name == "theta" else st.make(name)).fit(prep) for name in SERVED}


@pytest.mark.parametrize("name", SERVED)
def test_state_forecasts_equal_the_fitted_models(name: str, prep: Prepared, fitted: dict[str, Any]) -> None:
    """At the end of the whole series (test rows included) and on another series (ARIMA: no resume)."""
    model = fitted[name]
    spec = model.spec()
    spec_schema.check_spec(spec)
    assert spec_schema.has_state(spec) and "state_note" not in spec
    json.dumps(spec, allow_nan=False)  # plain, finite JSON
    y = prep.single.values[:, 0].astype(np.float64)
    other = 1.3 * y[17:] + 2.0  # a series that does not start with the fitted rows
    for series in (y, other, y[: len(y) - 40]):
        ours = ss.forecast(spec, series, H)
        theirs = model.predict(series, np.array([len(series)]), H)[0]
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9 * np.std(series))


def test_arima_resumes_only_from_its_own_rows(prep: Prepared, fitted: dict[str, Any]) -> None:
    spec = fitted["arima"].spec()
    resume = spec["state"]["series"][""]["resume"]
    y = prep.single.values[:, 0].astype(np.float64)
    assert resume["n"] == prep.single.split.val_end and resume["sha256"] == arima_state.fingerprint(y[: resume["n"]])
    edited = y.copy()
    edited[3] += 1.0  # same length, other rows: the filter restarts and still agrees with the library
    np.testing.assert_allclose(ss.forecast(spec, edited, H), fitted["arima"].predict(edited, np.array([len(y)]), H)[0],
                               rtol=0, atol=1e-9 * np.std(y))


def test_getq0_equals_the_librarys() -> None:
    from statsforecast.arima import getQ0

    rng = np.random.default_rng(0)
    for p, q in ((0, 0), (1, 0), (0, 3), (2, 1), (3, 4), (1, 26), (27, 2)):
        phi = rng.uniform(-0.4, 0.4, p) / max(p, 1)  # stationary
        theta = rng.uniform(-0.5, 0.5, q)
        np.testing.assert_allclose(arima_state.getq0(phi, theta), getQ0(phi, theta), rtol=1e-10, atol=1e-12)
    phi, theta = rng.uniform(-0.3, 0.3, 40) / 40, rng.uniform(-0.5, 0.5, 52)  # r = 53: solved by doubling
    np.testing.assert_allclose(arima_state.getq0(phi, theta), getQ0(phi, theta), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("kind", ["additive", "multiplicative"])
@pytest.mark.parametrize("m", [7, 24])
def test_decomposition_equals_statsmodels(kind: str, m: int) -> None:
    from statsmodels.tsa.seasonal import seasonal_decompose

    y = make_frame(n=300)["y"].to_numpy()
    np.testing.assert_allclose(ss._decompose(y, m, kind), seasonal_decompose(y, model=kind, period=m).seasonal,
                               rtol=1e-12)


def test_seasonality_threshold_is_scipys() -> None:
    from scipy.stats import norm

    assert norm.ppf(0.95) == ss._Z95


def test_names_are_the_registry() -> None:
    assert tuple(st.STATISTICAL) == spec_schema.NAMES


def _ets_spec() -> dict[str, Any]:
    return {"name": "ets", "season": 24, "n_fit": 300, "history": None,
            "model": {"error": "A", "trend": "N", "season": "A", "damped": False},
            "state": {"format": 1, "series": {"": {"components": "ANAN", "m": 24, "alpha": 0.5, "beta": 0.0,
                                                   "gamma": 0.1, "phi": 1.0, "init": [10.0] + [0.0] * 24}}}}


def _with(spec: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = json.loads(json.dumps(spec))
    *head, last = path.split(".")
    node = out
    for key in head:
        node = node[key]
    node[last] = value
    return out


@pytest.mark.parametrize(("path", "value", "message"), [
    ("name", "prophet", "name: expected one of ets, theta, arima, mstl, got 'prophet'"),
    ("season", 0, "season: expected an integer in 1..100000, got 0"),
    ("season", "24", "season: expected an integer in 1..100000, got '24'"),
    ("season", 10**9, "season: expected an integer in 1..100000"),
    ("season", 300, "season: a seasonal ets structure's season 300 is not shorter than the 300 rows"),
    ("season", 12, "state.series[''].m: 24 differs from the spec's season 12"),
    ("model.season", "X", "model.season: expected one of N, A, M, got 'X'"),
    ("model.damped", True, "model.damped: a damped trend needs a trend"),
    ("state.format", 2, "state.format: expected 1, got 2"),
    ("state.series..alpha", None, "state.series[''].alpha: expected a finite number, got None"),
    ("state.series..init", [1.0, 2.0], "state.series[''].init: expected a list of 25 numbers, got list of 2"),
])
def test_a_malformed_spec_is_refused(path: str, value: Any, message: str) -> None:
    spec = _ets_spec()
    if path.startswith("state.series.."):
        spec["state"]["series"][""][path.split("..")[1]] = value
    else:
        spec = _with(spec, path, value)
    with pytest.raises(spec_schema.SpecError) as info:
        spec_schema.check_spec(spec)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_seasonal_structure_with_season_one_is_refused() -> None:
    spec = _with(_ets_spec(), "season", 1)
    del spec["state"]
    with pytest.raises(spec_schema.SpecError, match="a seasonal ets structure needs a season >= 2, got 1"):
        spec_schema.check_spec(spec)


def test_arima_schema_checks_orders_and_state() -> None:
    spec = {"name": "arima", "season": 12, "n_fit": 200, "history": None,
            "model": {"order": [1, 1, 1], "seasonal_order": [0, 1, 1], "period": 12, "include_mean": False,
                      "include_drift": False}}
    spec_schema.check_spec(spec)
    with pytest.raises(spec_schema.SpecError, match=r"model.order\[0\]: expected an integer in 0..50, got -1"):
        spec_schema.check_spec(_with(spec, "model.order", [-1, 1, 1]))
    with pytest.raises(spec_schema.SpecError, match="model.period: 7 differs from the spec's season 12"):
        spec_schema.check_spec(_with(spec, "model.period", 7))
    state = {"arma": [1, 1, 0, 1, 12, 1, 1], "coef": [0.1, 0.2, 0.3], "intercept": None, "drift": None,
             "resume": {"n": 200, "sha256": "0" * 64, "a": [0.0] * 27, "P": [0.0] * 3}}
    with pytest.raises(spec_schema.SpecError, match=r"resume.P: expected a list of 729 numbers, got list of 3"):
        spec_schema.check_spec({**spec, "state": {"format": 1, "series": {"": state}}})


def _run(tmp_path: Path, baselines: str = "naive,ets,theta,arima") -> Path:
    path = tmp_path / "series.csv"
    make_frame(n=300).to_csv(path, index=False)
    models = tmp_path / "m"
    assert main(["train", "--data", str(path), "--target", "y", "--models-dir", str(models), "--cell", "mlp",
                 "--baselines", baselines, *FAST]) == ExitCode.OK
    (run,) = (models / "series" / "runs").iterdir()
    return run


def test_predict_serves_each_row_from_its_state_and_refuses_a_tampered_one(tmp_path: Path, capsys: Any) -> None:
    import io

    import pandas as pd

    from forecaster.artifacts.statistical import read_spec

    run = _run(tmp_path)
    y = pd.read_csv(tmp_path / "series.csv")["y"].to_numpy(dtype=float)
    for name in ("ets", "theta", "arima"):
        _, spec = read_spec(run / name)
        assert spec_schema.has_state(spec), spec.get("state_note")
        capsys.readouterr()
        assert main(["predict", "--model", str(run / name), "--horizon", "3", "--levels", "none"]) == ExitCode.OK
        served = pd.read_csv(io.StringIO(capsys.readouterr().out))
        np.testing.assert_allclose(served["yhat"], ss.forecast(spec, y, 3), rtol=1e-5)  # CSV: 6 digits
    spec_file = run / "ets" / "spec.json"
    spec = json.loads(spec_file.read_text())
    spec_file.write_text(json.dumps({**spec, "name": "prophet"}))
    rehash(run / "ets")  # its checksum recomputed: the schema must still refuse it
    with pytest.raises(ArtifactError, match="name: expected one of ets, theta, arima, mstl, got 'prophet'"):
        read_spec(run / "ets")
    assert main(["predict", "--model", str(run / "ets")]) == ExitCode.ARTIFACT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--baselines" not in err and "the saved model is unusable" in err
    spec_file.write_text(json.dumps({**spec, "season": 500}))
    rehash(run / "ets")
    assert main(["predict", "--model", str(run / "ets")]) == ExitCode.ARTIFACT
    assert "season 500 is not shorter than the" in capsys.readouterr().err


def test_a_spec_without_state_refits_and_a_failure_at_predict_is_exit_4(tmp_path: Path, capsys: Any) -> None:
    """A run saved before state format 1 is served as before (refit); a refit that fails is "saved model
    unusable" (exit 4), not "training failed" (5); so is a state that cannot forecast the series."""
    import io

    import pandas as pd

    run = _run(tmp_path, "naive,ets,theta")
    spec_file = run / "ets" / "spec.json"
    spec = json.loads(spec_file.read_text())
    old = {k: v for k, v in spec.items() if k != "state"}
    spec_file.write_text(json.dumps(old))
    rehash(run / "ets")
    capsys.readouterr()
    assert main(["predict", "--model", str(run / "ets"), "--horizon", "3", "--levels", "none"]) == ExitCode.OK
    served = pd.read_csv(io.StringIO(capsys.readouterr().out))
    y = pd.read_csv(tmp_path / "series.csv")["y"].to_numpy(dtype=float)
    np.testing.assert_allclose(served["yhat"], st.forecast_future(y, 3, old), rtol=1e-5)
    flat = tmp_path / "flat.csv"
    frame = make_frame(n=300)
    frame["y"] = 5.0
    frame.to_csv(flat, index=False)
    assert main(["predict", "--model", str(run / "ets"), "--data", str(flat)]) == ExitCode.ARTIFACT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refitting the saved ets model failed" in err and "constant" in err
    short = tmp_path / "short.csv"
    make_frame(n=3).to_csv(short, index=False)
    assert main(["predict", "--model", str(run / "theta"), "--data", str(short)]) == ExitCode.ARTIFACT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot forecast this series (theta needs more than 3 rows, got 3)" in err


@pytest.mark.slow
def test_serving_from_state_imports_no_statsforecast(tmp_path: Path) -> None:
    run = _run(tmp_path, "naive,ets,theta")
    code = ("import sys; from forecaster.cli.main import main; rc = main(['predict', '--model', sys.argv[1]]);"
            "assert rc == 0, rc; bad = [m for m in sys.modules if m.split('.')[0] in ('statsforecast', 'statsmodels',"
            " 'scipy', 'tensorflow')]; assert not bad, bad")
    for name in ("ets", "theta"):
        done = subprocess.run([sys.executable, "-c", code, str(run / name)], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
