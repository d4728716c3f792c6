"""The forecast writers: the vectorised per-series rounding and the column-built JSON equal what they replaced."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecaster.workflows.formats import by_series, rounded, to_json


def per_group(frame: pd.DataFrame, id_col: str) -> pd.DataFrame:
    """The rounding as it was written first: each series' rows rounded on their own, then put together."""
    return pd.concat([g.pipe(rounded) for _, g in frame.groupby(id_col, sort=False)])


@st.composite
def forecasts(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 30))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    frame = pd.DataFrame({"sid": rng.choice(list("abcd"), n), "timestamp": pd.date_range("2024-01-01", periods=n,
                                                                                         freq="h")})
    scale = 10.0 ** rng.integers(-8, 9, size=n)
    frame["yhat"] = rng.normal(size=n) * scale
    for _ in range(draw(st.integers(0, 2))):
        frame.loc[int(rng.integers(0, n)), "yhat"] = draw(st.sampled_from([0.0, np.nan, 1e-300]))
    for level in range(draw(st.integers(0, 2))):
        radius = np.abs(rng.normal(size=n)) * scale * 10.0 ** rng.integers(-3, 2)
        frame[f"lo-{level}"], frame[f"hi-{level}"] = frame["yhat"] - radius, frame["yhat"] + radius
    return frame


@settings(max_examples=200, deadline=None)
@given(forecasts())
def test_by_series_rounds_as_each_series_alone_would(frame):
    pd.testing.assert_frame_equal(by_series(frame, "sid"), per_group(frame, "sid"))


@pytest.mark.parametrize("tz", [None, "UTC", "Europe/Paris"])
def test_the_json_is_the_row_by_row_json(tz):
    frame = pd.DataFrame({"store": ["a", "a", "7"], "timestamp": pd.date_range("2024-03-31", periods=3, freq="h", tz=tz),
                          "yhat": [1.5, 2, 3], "lo-80": [1.0, 1.5, 2.5]})
    records = [{"store": str(s), "timestamp": t.isoformat(), "yhat": float(y), "lo-80": float(lo)}
               for s, t, y, lo in frame.itertuples(index=False)]
    assert to_json(frame, model="m") == json.dumps({"model": "m", "forecast": records}, indent=2)
    assert json.loads(to_json(frame, indent=None, model="m")) == {"model": "m", "forecast": records}
    assert "\n" not in to_json(frame, indent=None)
