"""No long silence: a single series' baselines each say when they start (the slow ones) and what they took."""

from __future__ import annotations

import re
from pathlib import Path

from forecaster.data.prepared import prepare
from forecaster.workflows.train import score_baselines

from conftest import make_frame, small_cfg


def test_each_baseline_says_what_it_does_and_its_time(tmp_path: Path) -> None:
    path = tmp_path / "series.csv"
    make_frame(n=300).to_csv(path, index=False)
    cfg = small_cfg(path, tmp_path / "m", **{"model.baselines": "naive,ets"})
    prep = prepare(cfg)
    lines: list[str] = []
    score_baselines(prep, cfg, progress=lines.append)
    assert lines[0].startswith("baseline naive: ") and re.fullmatch(r"baseline naive: \d+\.\ds \(MASE \d\.\d{3}\)",
                                                                       lines[0])
    assert lines[1] == (f"baseline ets: fitting on {prep.single.split.val_end:,} rows, forecasting "
                        f"{len(prep.single.origins('test')):,} test origins and calibrating")
    assert re.fullmatch(r"baseline ets: \d+\.\ds \(MASE \d\.\d{3}\)", lines[2]) and len(lines) == 3
