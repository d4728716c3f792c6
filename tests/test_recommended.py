"""``forecast predict`` serves exactly the row a run's verdict recommends, whatever its kind, and says so.

Each saved row of a real (tiny) run is made the recommendation in turn, as the verdict writes it in
``leaderboard.json``; predict on the model name and on the run must then serve that row's folder, say
which and why, and forecast exactly what predicting that folder directly forecasts. Kinds: a network
and a statistical row of one series; a ``--per-series`` network and a statistical row of a panel
(naive, seasonal naive and linear join once they are saved with folders).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster.cli.main import main
from forecaster.errors import ExitCode

from conftest import FAST, make_frame


def _panel_frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    frames = []
    for k, n in enumerate((130, 150, 140)):
        t = np.arange(n)
        y = (k + 1) * 10 + (k + 1) * 3 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 0.3, n)
        frames.append(pd.DataFrame({"date": pd.date_range("2024-01-01", periods=n, freq="h"), "store": f"s{k}",
                                    "y": y.round(3)}))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("recommended")
    one, many = root / "one.csv", root / "many.csv"
    make_frame(300)[["date", "y"]].to_csv(one, index=False)
    _panel_frame().to_csv(many, index=False)
    common = ["--models-dir", str(root / "models"), "--no-tensorboard", *FAST]
    assert main(["compare", "--data", str(one), "--target", "y", "--cells", "gru", "--baselines", "naive,linear,ets",
                 "--name", "one", *common]) == ExitCode.OK
    assert main(["compare", "--data", str(many), "--id-col", "store", "--target", "y", "--cells", "gru",
                 "--per-series", "--baselines", "naive,ets", "--name", "many", *common]) == ExitCode.OK
    return {"one": root / "models" / "one", "many": root / "models" / "many"}


def _predict(capsys: pytest.CaptureFixture[str], model: Path) -> tuple[pd.DataFrame, str]:
    capsys.readouterr()
    assert main(["predict", "--model", str(model), "--format", "csv"]) == ExitCode.OK
    out, err = capsys.readouterr()
    return pd.read_csv(io.StringIO(out)), err


@pytest.mark.parametrize(("name", "kinds"), [("one", {"gru": "network", "ets": "statistical"}),
                                              ("many", {"gru": "per-series network", "ets": "statistical per series"})])
def test_predict_serves_exactly_the_recommended_row_of_every_kind(runs, capsys, name, kinds):
    model = runs[name]
    (run,) = (model / "runs").iterdir()
    board_path = run / "leaderboard.json"
    saved = board_path.read_text()
    board = json.loads(saved)
    served = [r["name"] for r in board["rows"] if (run / r["name"] / "manifest.json").is_file()]
    assert set(kinds) <= set(served)
    if name == "many":
        from forecaster.artifacts.cell import is_per_series

        assert is_per_series(json.loads((run / "gru" / "manifest.json").read_text()))  # a network per series
    try:
        for row in served:
            board["verdict"] = {**board["verdict"], "recommended": row, "reason": f"{row} is the cheapest of the equals."}
            board_path.write_text(json.dumps(board))
            direct, _ = _predict(capsys, run / row)
            for target, said in ((model, "the newest run (no champion.json): "), (run, "the run given: ")):
                frame, err = _predict(capsys, target)
                assert f"forecast: serving {run / row}: {said}the run's recommended row, {row}: {row} is the cheapest" \
                    in err, err
                pd.testing.assert_frame_equal(frame, direct)
    finally:
        board_path.write_text(saved)


def test_the_run_serves_its_own_verdicts_recommendation_or_says_what_instead(runs, capsys):
    for model in runs.values():
        (run,) = (model / "runs").iterdir()
        verdict = json.loads((run / "leaderboard.json").read_text())["verdict"]
        recommended = verdict["recommended"]
        assert recommended and verdict["text"].startswith("Use ")
        _, err = _predict(capsys, model)
        if (run / recommended / "manifest.json").is_file():
            assert f"forecast: serving {run / recommended}: " in err
        else:  # a row saved without a folder (naive, linear before they had one): the fallback, said
            assert f"the run recommends {recommended}, which has no saved folder to serve it" in err
        report = (run / "report.md").read_text()
        shown = next(line for line in err.splitlines() if line.startswith("forecast: serving "))
        row = Path(shown.split(": ")[1].removeprefix("serving ")).name
        assert f"The future forecast drawn is {row}'s" in report  # the report draws the served row


def test_a_row_given_by_its_folder_that_the_run_does_not_recommend_is_served_with_a_warning(runs, capsys):
    model = runs["one"]
    (run,) = (model / "runs").iterdir()
    board_path = run / "leaderboard.json"
    saved = board_path.read_text()
    board = json.loads(saved)
    board["verdict"] = {**board["verdict"], "recommended": "ets", "equal_to": [], "reason": "ets is lowest."}
    board_path.write_text(json.dumps(board))
    try:
        _, err = _predict(capsys, run / "gru")
        assert f"forecast: serving {run / 'gru'}: the cell folder given" in err
        assert ("gru is significantly worse than another row of its run on the test windows (at the 5% level); the run "
                f"recommends ets: ets is lowest; serve it with --model {run / 'ets'}") in err
    finally:
        board_path.write_text(saved)
