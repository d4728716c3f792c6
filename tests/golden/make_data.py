"""Write the golden data fixtures (run once; the CSVs are committed and never regenerated).

``python tests/golden/make_data.py`` writes, beside this file:

- ``series.csv``: 400 hourly rows from 2024-01-01, ``date,y,x``: a daily cycle with noise and a
  covariate ``x`` (a phase-shifted cycle), values rounded to 4 decimals.
- ``series_more.csv``: the same 400 rows followed by 48 more (the data a second retrain sees).
- ``panel.csv``: 3 daily series ``a, b, c`` of 150, 120 and 100 days with ragged starts, a weekly
  cycle and trend, and a static numeric covariate ``size``: ``date,store,y,size``.

Everything comes from one seeded generator, so re-running it writes the same bytes; it exists to
show how the files were made, not to be re-run by the tests.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def series(n: int = 448, seed: int = 25) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    y = 20 + 4 * np.sin(2 * np.pi * t / 24) + 0.004 * t + rng.normal(0, 0.4, n)
    x = np.cos(2 * np.pi * t / 24) + rng.normal(0, 0.1, n)
    return pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n, freq="h"), "y": y.round(4), "x": x.round(4)})


def panel(seed: int = 26) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frames = []
    for k, (sid, n, start, size) in enumerate([("a", 150, 0, 120.0), ("b", 120, 20, 80.0), ("c", 100, 45, 45.0)]):
        t = np.arange(n) + start
        y = size / 4 + (k + 2) * np.sin(2 * np.pi * t / 7) + 0.02 * (k + 1) * t + rng.normal(0, 0.5, n)
        frames.append(pd.DataFrame({"date": pd.date_range(pd.Timestamp("2023-01-01") + pd.Timedelta(days=start),
                                                          periods=n, freq="D"),
                                    "store": sid, "y": y.round(3), "size": size}))
    return pd.concat(frames, ignore_index=True)


if __name__ == "__main__":
    full = series()
    full.iloc[:400].to_csv(HERE / "series.csv", index=False)
    full.to_csv(HERE / "series_more.csv", index=False)
    panel().to_csv(HERE / "panel.csv", index=False)
