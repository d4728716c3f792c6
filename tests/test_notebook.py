"""``examples/quickstart.ipynb`` executed by a real Jupyter kernel (nbclient + ipykernel), its outputs checked.

The notebook runs from a copy of ``examples/`` in a temporary folder beside a link to ``data/``, so
its saved run never lands in the checkout.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def _text(cell: Any, mime: str = "text/plain") -> str:
    return "".join(str(o.get("data", {}).get(mime, "")) for o in cell.outputs if o.output_type == "execute_result")


def _streams(cell: Any, name: str) -> str:
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == name)


@pytest.mark.slow
def test_quickstart_notebook_runs_and_shows_the_results(tmp_path: Path):
    (tmp_path / "examples").mkdir()
    (tmp_path / "data").symlink_to(ROOT / "data")
    nb = nbformat.read(ROOT / "examples" / "quickstart.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path / "examples")}})
    client.execute()
    cells = {c.source.splitlines()[0]: c for c in nb.cells if c.cell_type == "code"}
    assert not [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]

    compared = cells['cmp = fc.compare(df, target="sst", horizon=12, cells=["gru", "mlp"], epochs=5)']
    html = _text(compared, "text/html")
    for name in ("gru", "mlp", "naive", "seasonal_naive", "linear", "ets", "Verdict", "Recommended"):
        assert f">{name}<" in html or name in html, name
    # quiet: no TensorFlow/Keras log line, no progress (a ForecasterWarning about the result may be said)
    noise = [line for c in nb.cells if c.cell_type == "code" for line in _streams(c, "stderr").splitlines()
             if line.strip() and "ForecasterWarning" not in line and not line.startswith("  ")]
    assert noise == [], noise

    board = _text(cells['cmp.leaderboard[["name", "kind", "mase", "mae", "coverage_80", "coverage_95"]]'])
    names = re.findall(r"^\d+\s+(\S+)\s+(model|baseline)", board, flags=re.MULTILINE)
    assert {"gru", "mlp", "naive", "seasonal_naive"} <= {n for n, _ in names} and len(names) == 7, board

    verdict = cells["print(cmp.verdict)"]
    recommended = _text(verdict).strip().strip("'")
    assert "MASE" in _streams(verdict, "stdout") and recommended in {n for n, _ in names}

    plot = cells["cmp.plot()"]
    assert [o for o in plot.outputs if "image/png" in o.get("data", {})], "the figure is shown as an image"
    assert len([o for o in plot.outputs if "image/png" in o.get("data", {})]) == 1, "shown once"

    forecast = _text(cells["forecast = cmp.forecast()"])
    rows = re.findall(r"^\d+\s+2011-\d\d-01", forecast, flags=re.MULTILINE)
    assert len(rows) == 12 and "lo-80" in forecast and "hi-95" in forecast, forecast

    saved = _text(cells['path = cmp.save("models")'])
    assert "models/sst/runs/" in saved
    run = next((tmp_path / "examples" / "models" / "sst" / "runs").iterdir())
    assert (run / "leaderboard.csv").is_file() and (run / "config.yaml").is_file()

    predicted = _text(cells['model = fc.load("models/sst")'])
    assert len(re.findall(r"^\d+\s+2011-\d\d-01", predicted, flags=re.MULTILINE)) == 6, predicted

    mistake = _streams(cells["try:"], "stdout")
    assert "unexpected keyword argument 'horizn'; did you mean 'horizon'?" in mistake
