"""Statistical baselines (statsforecast) behind the model contract: same numbers as the library,
fitted on train + validation rows only, forecasting each origin from the rows before it."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from forecaster.data.prepared import Prepared, prepare
from forecaster.errors import ConfigError, ExitCode
from forecaster.models import statistical as st
from forecaster.models.contract import Model

from conftest import make_frame, small_cfg

pytestmark = pytest.mark.filterwarnings("ignore:possible convergence problem:UserWarning")  # the reference fits

NAMES = list(st.STATISTICAL)
H = 4


def _prep(tmp: Path, n: int = 420, **extra: object) -> Prepared:
    path = tmp / "series.csv"
    make_frame(n=n).to_csv(path, index=False)
    return prepare(small_cfg(path, tmp / "models", **extra))


@pytest.fixture(scope="module")
def prep(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    """420 hourly rows: train 294, validation to 357 (> two weeks, so MSTL gets 24 and 168)."""
    return _prep(tmp_path_factory.mktemp("stat"))


@pytest.fixture(scope="module")
def fitted(prep: Prepared) -> dict[str, st.StatisticalModel]:
    return {name: st.make(name).fit(prep) for name in NAMES}


def _library(name: str, season: int = 24) -> Any:
    """The statsforecast model, configured by hand as statistical.py should configure it."""
    from statsforecast.models import MSTL, AutoARIMA, AutoETS, AutoTheta

    return {
        "ets": lambda: AutoETS(season_length=season),
        "theta": lambda: AutoTheta(season_length=season),
        "arima": lambda: AutoARIMA(season_length=season, approximation=None),
        "mstl": lambda: MSTL(season_length=[24, 168], trend_forecaster=AutoETS(model="ZZN")),
    }[name]()


def _library_class(name: str) -> type:
    from statsforecast import models

    return {"ets": models.AutoETS, "theta": models.AutoTheta, "arima": models.AutoARIMA, "mstl": models.MSTL}[name]


def test_import_is_cheap() -> None:
    code = "import sys, forecaster.models.statistical; assert 'statsforecast' not in sys.modules, 'statsforecast imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_registry_models_honour_the_contract() -> None:
    assert NAMES == ["ets", "theta", "arima", "mstl"]
    assert [n for n in NAMES if st.STATISTICAL[n].default] == ["ets", "theta"]  # arima, mstl: opt-in (slow)
    for name in NAMES:
        m = st.make(name)
        assert isinstance(m, Model)
        assert (m.name, m.kind, m.capabilities.uses_covariates) == (name, "baseline", False)


def test_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ConfigError) as err:
        st.make("etss")
    assert str(err.value) == (
        "--baselines: unknown statistical model 'etss' (did you mean 'ets'?); expected one of: ets, theta, arima, mstl"
    )
    assert err.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("season", "freq", "n", "expected"),
    [(24, "h", 8000, [24, 168]), (24, "h", 300, [24]), (48, "30min", 700, [48, 336]), (7, "D", 1200, [7, 365]),
     (7, "D", 500, [7]), (12, "MS", 700, [12]), (1, "YS-JAN", 300, [])],
)
def test_mstl_seasons(season: int, freq: str, n: int, expected: list[int]) -> None:
    assert st.mstl_seasons(season, freq, n) == expected


@pytest.mark.parametrize("name", NAMES)
def test_forecast_equals_the_librarys_own(name: str, prep: Prepared, fitted: dict[str, st.StatisticalModel]) -> None:
    """At val_end: the library fitted on y[:val_end] and .predict(h); later: its .forward over y[:t]."""
    y, val_end = prep.single.y, prep.single.split.val_end
    later = val_end + 37
    ours = fitted[name].predict(y[:, None], np.array([val_end, later]), H)
    lib = _library(name).fit(y=y[:val_end].copy())
    np.testing.assert_allclose(ours[0], lib.predict(h=H)["mean"], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(ours[1], lib.forward(y=y[:later].copy(), h=H)["mean"], rtol=1e-10, atol=1e-10)


def test_ets_one_pass_equals_forward_at_every_origin(prep: Prepared, fitted: dict[str, st.StatisticalModel]) -> None:
    m, origins = fitted["ets"], prep.single.split.first_targets("test")
    ours = m.predict(prep.single.y[:, None], origins, H)
    ref = np.stack([m.model_.forward(y=prep.single.y[:t], h=H)["mean"] for t in origins])
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_fit_never_sees_test_rows(name: str, prep: Prepared, monkeypatch: pytest.MonkeyPatch) -> None:
    val_end = prep.single.split.val_end
    poisoned = prep.single.y.copy()
    poisoned[val_end:] = np.nan  # a test row reaching the library would make the fit fail or go NaN
    seen: list[np.ndarray] = []
    cls = _library_class(name)
    real_fit = cls.fit

    def spy(self: Any, y: np.ndarray, X: Any = None) -> Any:
        seen.append(np.array(y, copy=True))
        return real_fit(self, y=y, X=X)

    monkeypatch.setattr(cls, "fit", spy)
    m = st.make(name).fit(dataclasses.replace(prep, items=(dataclasses.replace(prep.single, y=poisoned),)))
    assert len(seen) == 1 and len(seen[0]) == val_end
    np.testing.assert_array_equal(seen[0], prep.single.y[:val_end])
    assert np.isfinite(m.predict(poisoned[:, None], np.array([val_end]), H)).all()


@pytest.mark.parametrize("name", NAMES)
def test_forecast_uses_only_rows_before_the_origin(name: str, prep: Prepared, fitted: dict[str, st.StatisticalModel]) -> None:
    t = prep.single.split.val_end + 20
    origins = np.array([t - 3, t, t + 30])  # t + 30: past a season, so even a purely seasonal ARIMA sees the change
    before = fitted[name].predict(prep.single.y[:, None], origins, H)
    changed = prep.single.y.copy()
    changed[t:] = changed[t:] * 3.0 + 100.0
    after = fitted[name].predict(changed[:, None], origins, H)
    np.testing.assert_array_equal(after[:2], before[:2])
    assert not np.allclose(after[2], before[2])  # the change is visible once it lies before the origin


@pytest.mark.parametrize("name", NAMES)
def test_constant_series_raises_fit_failed(name: str) -> None:
    with pytest.raises(st.FitFailed) as err:
        st.make(name).fit_array(np.full(300, 5.0), season=24, freq="h")
    assert str(err.value) == (
        f"statistical model '{name}' could not be fitted: the 300 rows to fit are constant (5): there is nothing to fit; "
        "leave it out of --baselines"
    )
    assert (err.value.name, err.value.exit_code) == (name, ExitCode.TRAINING)


def test_missing_and_short_series_raise_fit_failed() -> None:
    y = np.arange(50.0)
    y[7] = np.nan
    with pytest.raises(st.FitFailed, match=r"1 missing or infinite value\(s\), the first at row 7"):
        st.make("ets").fit_array(y, season=1)
    with pytest.raises(st.FitFailed, match=r"3 rows to fit are too few \(need >= 4\)"):
        st.make("theta").fit_array(np.arange(3.0), season=1)
    with pytest.raises(st.FitFailed, match=r"'mstl' could not be fitted: no seasonal cycle to decompose: season 1 and 50 rows"):
        st.make("mstl").fit_array(np.sin(np.arange(50.0)), season=1, freq="YS-JAN")


def test_library_error_becomes_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(self: Any, y: np.ndarray, X: Any = None) -> Any:
        raise RuntimeError("matrix is singular\n  at arima.cpp:123\n  (C++ frame)")

    monkeypatch.setattr(_library_class("arima"), "fit", boom)
    with pytest.raises(st.FitFailed) as err:
        st.make("arima").fit_array(np.sin(np.arange(100.0)), season=1)
    assert str(err.value) == (
        "statistical model 'arima' could not be fitted: 100 rows, season 1: "
        "RuntimeError: matrix is singular at arima.cpp:123 (C++ frame); leave it out of --baselines"
    )


def test_season_one_gives_non_seasonal_models(tmp_path: Path) -> None:
    p = _prep(tmp_path, n=200, **{"window.season": 1})
    assert p.season == 1
    ets = st.make("ets").fit(p).spec()
    assert (ets["season"], ets["model"]["season"], ets["params"]["gamma"]) == (1, "N", None)
    arima = st.make("arima").fit(p).spec()
    assert arima["model"]["seasonal_order"] == [0, 0, 0]


@pytest.mark.parametrize("name", NAMES)
def test_spec_is_plain_json_and_serves_a_forecast(name: str, prep: Prepared, fitted: dict[str, st.StatisticalModel]) -> None:
    spec = fitted[name].spec()
    loaded = json.loads(json.dumps(spec, allow_nan=False))
    assert loaded == spec
    assert (spec["name"], spec["season"], spec["freq"], spec["n_fit"]) == (name, 24, "h", prep.single.split.val_end)
    future = st.forecast_future(prep.single.y, 6, loaded)
    assert future.shape == (6,) and np.isfinite(future).all()


def test_forecast_future_refits_the_selected_structure(prep: Prepared, fitted: dict[str, st.StatisticalModel]) -> None:
    from statsforecast.models import AutoETS

    spec = json.loads(json.dumps(fitted["ets"].spec()))
    s = spec["model"]
    ref = AutoETS(season_length=24, model=s["error"] + s["trend"] + s["season"], damped=s["damped"]).fit(y=prep.single.y)
    np.testing.assert_allclose(st.forecast_future(prep.single.y, 6, spec), ref.predict(h=6)["mean"], rtol=1e-10)


def test_arima_spec_rebuilds_its_orders(fitted: dict[str, st.StatisticalModel]) -> None:
    spec = fitted["arima"].spec()
    model = st.ARIMA._from_spec(spec)
    s = spec["model"]
    assert (model.order, model.seasonal_order, model.season_length) == (tuple(s["order"]), tuple(s["seasonal_order"]), 24)


def test_history_caps_the_rows_forward_sees(prep: Prepared, fitted: dict[str, st.StatisticalModel]) -> None:
    m = st.make("theta", history=50)
    m.model_, m.season_, m.freq_, m.n_fit_ = fitted["theta"].model_, 24, "h", prep.single.split.val_end
    t = prep.single.split.val_end + 10
    ours = m.predict(prep.single.y[:, None], np.array([t]), H)[0]
    np.testing.assert_allclose(ours, m.model_.forward(y=prep.single.y[t - 50 : t], h=H)["mean"], rtol=1e-12)
    with pytest.raises(ConfigError, match="history must be >= 2 rows or None"):
        st.make("arima", history=1)


def test_predict_checks_its_inputs(prep: Prepared, fitted: dict[str, st.StatisticalModel]) -> None:
    with pytest.raises(RuntimeError, match="call fit before predict"):
        st.make("ets").predict(prep.single.y[:, None], np.array([10]), H)
    with pytest.raises(ValueError, match=r"origins must lie in \[1, 420\]"):
        fitted["ets"].predict(prep.single.y[:, None], np.array([421]), H)
    assert fitted["ets"].predict(prep.single.y[:, None], np.array([], dtype=int), H).shape == (0, H)
