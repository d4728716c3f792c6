"""Seasonalities and the default lookback inferred from the data; the residual base picks among the seasons."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from forecaster import config, metrics
from forecaster.errors import DataError
from forecaster.prepared import default_lookback, describe, prepare, seasons_for

from conftest import small_cfg


@pytest.mark.parametrize(("freq", "expected"), [
    ("30min", [48, 336]), ("h", [24, 168]), ("15min", [96, 672]), ("D", [7, 365]), ("W-SUN", [52]),
    ("MS", [12]), ("QS", [4]), ("YS", []),
])
def test_natural_seasons_of_each_frequency(freq, expected):
    assert metrics.natural_seasons(metrics.infer_season(freq), freq) == expected


def test_inferred_seasons_need_two_cycles_in_the_training_part():
    cfg = config.resolve()
    assert seasons_for(cfg, "h", 6000, "x.csv") == (24, (24, 168), ())
    season, kept, notes = seasons_for(cfg, "h", 300, "x.csv")
    assert (season, kept) == (24, (24,))
    assert notes == ("season 168 left out: the training part's 300 rows hold fewer than two cycles",)
    assert seasons_for(cfg, "D", 1000, "x.csv")[1] == (7, 365)
    assert seasons_for(cfg, "D", 700, "x.csv")[1] == (7,)


def test_given_seasons_are_used_or_refused_with_the_reason():
    cfg = config.resolve(overrides={"window.seasons": "24,168"})
    assert seasons_for(cfg, "h", 336, "x.csv")[1] == (24, 168)  # exactly two weeks: enough
    assert seasons_for(cfg, "h", 1000, "x.csv") == (24, (24, 168), ())
    with pytest.raises(DataError, match=r"x.csv: season 168 \(--seasons\) needs two full cycles \(336 rows\) in the "
                                         r"training part, which has 300"):
        seasons_for(cfg, "h", 300, "x.csv")
    assert seasons_for(config.resolve(overrides={"window.seasons": "none"}), "h", 6000, "x.csv")[1] == (24,)
    with pytest.raises(Exception, match=r"--seasons \(window.seasons\): expected periods >= 2"):
        config.resolve(overrides={"window.seasons": "1,24"})


@pytest.mark.parametrize(("seasons", "horizon", "n_train", "expected"), [
    ((24, 168), 24, 6000, 192),  # hourly: a week plus the horizon
    ((48, 336), 48, 3000, 384),  # half-hourly: the week fits under the cap
    ((24, 168), 24, 500, 48),  # too short for three (week + horizon) spans: the day alone is under the floor
    ((24, 168), 24, 648, 192),  # just long enough: three windows of 192 + 24 steps
    ((24, 168), 24, 647, 48),
    ((7, 365), 7, 1000, 48),  # daily: the year does not fit three times; the week is under the floor
    ((52,), 24, 1500, 104),  # weekly: two years (more than a year plus the horizon)
    ((96, 672), 96, 50_000, 192),  # 15-minute: the week (768 steps) is over the cap; the day plus horizon
    ((), 10, 200, 48),  # yearly: no season, the floor
])
def test_default_lookback_spans_the_longest_season_that_fits(seasons, horizon, n_train, expected):
    assert default_lookback(seasons, horizon, n_train) == expected


def _weekly(n, *, seed=0):
    """Hourly series whose pattern repeats weekly, not daily (each weekday has its own profile)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    profile = rng.normal(0, 3, 168)
    y = 20 + profile[t % 168] + rng.normal(0, 0.2, n)
    return pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n, freq="h"), "y": y})


def test_defaults_infer_the_week_and_span_it(tmp_path):
    data = tmp_path / "weekly.csv"
    _weekly(2000).to_csv(data, index=False)
    cfg = small_cfg(data, tmp_path / "m", **{"window.lookback": None, "window.horizon": 24})
    prep = prepare(cfg)
    assert prep.season == 24 and prep.seasons == (24, 168) and prep.split.lookback == 192
    assert "season 24, also 168; lookback 192" in describe(prep)
    explicit = prepare(dataclasses.replace(cfg, window=dataclasses.replace(cfg.window, lookback=60)))
    assert explicit.split.lookback == 60  # --lookback wins


def test_the_residual_base_chooses_the_week_on_training_windows_only(tmp_path):
    data = tmp_path / "weekly.csv"
    frame = _weekly(2000)
    frame.to_csv(data, index=False)
    cfg = small_cfg(data, tmp_path / "m", **{"window.lookback": None, "window.horizon": 24})
    prep = prepare(cfg)
    base = prep.residual_base(24, linear=False)
    assert (base.name, base.season) == ("seasonal_naive", 168)
    # the same choice when everything after the training part is replaced by a daily cycle
    after = frame.copy()
    tail = np.arange(prep.split.train_end, len(after))
    after.loc[tail, "y"] = 20 + 3 * np.sin(2 * np.pi * tail / 24)
    after.to_csv(data, index=False)
    # (the default lookback is chosen on the validation windows, so it is pinned to the first run's here)
    pinned = dataclasses.replace(cfg, window=dataclasses.replace(cfg.window, lookback=prep.split.lookback))
    changed = prepare(pinned).residual_base(24, linear=False)
    assert (changed.name, changed.season) == ("seasonal_naive", 168) and changed.scale == pytest.approx(base.scale)
    # with a lookback shorter than the week, the week cannot be read from the window: the day or naive
    short = prepare(dataclasses.replace(cfg, window=dataclasses.replace(cfg.window, lookback=48)))
    assert short.residual_base(24, linear=False).season in (None, 24)


def test_a_run_saves_the_lookback_its_defaults_chose(tmp_path):
    import yaml

    from forecaster import pipeline

    data = tmp_path / "weekly.csv"
    _weekly(700).to_csv(data, index=False)  # 490 training rows: the week is kept (two cycles) but 3 x 192 > 490
    cfg = small_cfg(data, tmp_path / "m", **{"window.lookback": None, "model.baselines": "naive",
                                             "model.cell": "mlp", "training.epochs": 1})
    run = pipeline.train(cfg)
    saved = yaml.safe_load((run.run_dir / "config.yaml").read_text())
    assert saved["window"]["lookback"] == 48
    manifest = __import__("json").loads((run.run_dir / "mlp" / "manifest.json").read_text())
    assert manifest["window"]["seasons"] == [24, 168] and manifest["window"]["lookback"] == 48
