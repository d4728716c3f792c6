"""``forecast serve``: the real server on a loopback port, every endpoint, hot swaps under a running client
loop, each class of bad request, a broken version never swapped in, no TensorFlow for ONNX rows."""

from __future__ import annotations

import http.client
import json
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from forecaster.cli.main import main
from forecaster.errors import ExitCode
from forecaster.registry.store import Registry
from forecaster.serving.server import Running
from forecaster.serving.settings import ServeSettings
from forecaster.workflows.train import train

from conftest import ROOT, make_frame, rehash, small_cfg

PANEL_RUN = ROOT / "tests" / "golden" / "runs" / "panel"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny run, shared by every test here: MLP and GRU (ONNX) and an ETS row, on 240 hourly rows."""
    root = tmp_path_factory.mktemp("serve")
    data = root / "series.csv"
    make_frame().to_csv(data, index=False)
    cfg = small_cfg(data, root / "models", **{"model.baselines": ["naive", "seasonal_naive", "ets"]})
    return train(cfg, cells=["mlp", "gru"]).run_dir


def version_of(run_dir: Path, row: str, target: Path) -> None:
    """A copy of ``run_dir`` serving ``row`` alone (its leaderboard names that row only), at ``target``."""
    shutil.copytree(run_dir, target)
    for folder in target.iterdir():
        if folder.is_dir() and folder.name != row:
            shutil.rmtree(folder)
    board = json.loads((target / "leaderboard.json").read_text())
    board["rows"] = [r for r in board["rows"] if r["name"] == row]
    (target / "leaderboard.json").write_text(json.dumps(board))


#: The registry the tests serve: version 1 the MLP, 2 the GRU, 3 the ETS row.
ROWS = {1: "mlp", 2: "gru", 3: "ets"}


@pytest.fixture
def models(trained: Path, tmp_path: Path) -> Path:
    """A models folder: ``demo`` (a registry, champion version 1) and ``panel`` (the golden panel run)."""
    root = tmp_path / "models"
    for version, row in ROWS.items():
        version_of(trained, row, root / "demo" / "versions" / str(version))
    Registry(root, "demo").promote(1)
    shutil.copytree(PANEL_RUN, root / "panel")
    return root


def wait_ready(url: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, body = call(url + "/readyz")
        if status == 200:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


@pytest.fixture
def server(models: Path) -> Iterator[Running]:
    settings = ServeSettings(models_dir=models, port=0, poll_seconds=0.2, max_body_bytes=64 * 1024).check()
    with Running(settings) as running:
        wait_ready(running.url)
        yield running


def call(url: str, body: Any = None, *, method: str | None = None, raw: Any = None) -> tuple[int, Any]:
    """One request on its own connection: ``(status, JSON body)``; an error body is checked to be one line of JSON
    with an ``error`` only. ``raw``: the body's bytes, or an iterator of them (sent chunked)."""
    host, _, rest = url.removeprefix("http://").partition("/")
    conn = http.client.HTTPConnection(host, timeout=60)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    try:
        conn.request(method or ("POST" if data is not None else "GET"), "/" + rest, body=data,
                     encode_chunked=data is not None and not isinstance(data, bytes))
        response = conn.getresponse()
        text = response.read().decode()
    finally:
        conn.close()
    if response.status >= 400 and not url.endswith("/readyz"):
        assert text.count("\n") == 1 and text.endswith("\n"), text  # one line of JSON
        payload = json.loads(text)
        assert list(payload) == ["error"] and "Traceback" not in text, text
        return response.status, payload
    try:
        return response.status, json.loads(text)
    except ValueError:
        return response.status, text


def predict_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code = main(["predict", "--format", "json", *args])
    out = capsys.readouterr()
    assert code == ExitCode.OK, out.err
    return json.loads(out.out)


def predict_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["predict", *args])
    err = capsys.readouterr().err.strip()
    assert code != ExitCode.OK
    return err.removeprefix("forecast: error: ")


# -- every endpoint -------------------------------------------------------------------------------------

def test_the_server_listens_on_loopback_only(server):
    assert server.host == "127.0.0.1" and server.url == f"http://127.0.0.1:{server.port}"
    assert server._sock.getsockname()[0] == "127.0.0.1"


def test_health_ready_and_the_models_list(server):
    assert call(server.url + "/healthz") == (200, {"status": "ok", "serving": 2})
    assert call(server.url + "/readyz") == (200, {"ready": True, "models": {"demo": 1, "panel": None}})
    status, listing = call(server.url + "/v1/models")
    assert status == 200
    demo, panel = listing["models"]
    assert (demo["name"], demo["version"], demo["row"], demo["kind"], demo["backend"]) == ("demo", 1, "mlp",
                                                                                         "network", "onnx")
    assert demo["path"] == "demo/versions/1/mlp" and demo["status"] == "serving" and demo["error"] is None
    manifest = json.loads((Path(listing["models_dir"]) / "demo/versions/1/mlp/manifest.json").read_text())
    metrics = json.loads((Path(listing["models_dir"]) / "demo/versions/1/mlp/metrics.json").read_text())["test"]
    assert demo["trained_at"] == manifest["created"]
    assert demo["metrics"]["mase"] == metrics["mase"] and demo["metrics"]["mae"] == metrics["mae"]
    assert demo["coverage"] == {"80": metrics["coverage_80"], "95": metrics["coverage_95"]}
    assert (panel["name"], panel["version"], panel["row"], panel["id_col"]) == ("panel", None, "gru", "store")


def test_metrics_count_requests_and_show_the_served_version(server):
    call(server.url + "/v1/models/demo/forecast", {})
    call(server.url + "/v1/models/demo/forecast", {"horizon": 0})
    call(server.url + "/v1/models/nope/forecast", {})
    status, text = call(server.url + "/metrics")
    assert status == 200
    lines = text.splitlines()
    sample = 'forecaster_http_requests_total{endpoint="/v1/models/{name}/forecast",method="POST",model="demo",'
    assert f'{sample}status="200"}} 1.0' in lines and f'{sample}status="422"}} 1.0' in lines
    assert ('forecaster_http_requests_total{endpoint="/v1/models/{name}/forecast",method="POST",model="",'
            'status="404"} 1.0') in lines  # an unknown name never becomes a label value
    assert 'forecaster_http_errors_total{endpoint="/v1/models/{name}/forecast",kind="invalid",model="demo"} 1.0' in lines
    assert 'forecaster_model_version{model="demo"} 1.0' in lines and 'forecaster_model_ready{model="panel"} 1.0' in lines
    assert any(line.startswith('forecaster_http_request_duration_seconds_bucket{endpoint="/v1/models/{name}/forecast"')
               for line in lines)


# -- forecasts: the numbers of `forecast predict --format json` -------------------------------------------

@pytest.mark.parametrize("version", sorted(ROWS))
def test_forecast_equals_predict_json_for_each_row_kind(server, models, capsys, version):
    Registry(models, "demo").promote(version)
    status, got = call(server.url + "/v1/models/demo/forecast", {"horizon": 3, "levels": [95]})
    assert status == 200, got
    want = predict_json(capsys, "--model", str(models / "demo"), "--horizon", "3", "--levels", "95")
    assert (got["model"], got["version"], got["row"]) == ("demo", version, ROWS[version])
    assert got["forecast"] == want["forecast"] and (got["target"], got["freq"]) == (want["target"], want["freq"])
    assert len(got["forecast"]) == 3 and list(got["forecast"][0]) == ["timestamp", "yhat", "lo-95", "hi-95"]
    served = call(server.url + "/v1/models")[1]["models"][0]
    assert (served["row"], served["backend"]) == (ROWS[version], "numpy" if ROWS[version] == "ets" else "onnx")


def test_a_baseline_row_is_served_by_name_as_predict_serves_it(server, models, trained, capsys):
    version_of(trained, "seasonal_naive", models / "demo" / "versions" / "7")
    Registry(models, "demo").promote(7)
    status, got = call(server.url + "/v1/models/demo/forecast", {"levels": [80]})
    assert status == 200, got
    want = predict_json(capsys, "--model", str(models / "demo"), "--levels", "80")
    assert (got["version"], got["row"], got["forecast"]) == (7, "seasonal_naive", want["forecast"])
    served = call(server.url + "/v1/models")[1]["models"][0]
    assert (served["row"], served["kind"], served["backend"]) == ("seasonal_naive", "baseline", "numpy")


def test_a_history_body_forecasts_as_predict_data_does(server, models, tmp_path, capsys):
    frame = make_frame(100, seed=3, start="2024-03-01")
    frame.to_csv(tmp_path / "recent.csv", index=False)
    history = {"date": frame["date"].dt.strftime("%Y-%m-%d %H:%M:%S").tolist(), "y": frame["y"].tolist()}
    status, got = call(server.url + "/v1/models/demo/forecast", {"history": history})
    assert status == 200, got
    want = predict_json(capsys, "--model", str(models / "demo"), "--data", str(tmp_path / "recent.csv"))
    assert got["forecast"] == want["forecast"] and got["forecast"][0]["timestamp"] == "2024-03-05T04:00:00"


def test_a_panel_forecasts_every_series_or_some_and_from_a_long_history(server, models, capsys):
    status, got = call(server.url + "/v1/models/panel/forecast", {})
    assert status == 200, got
    assert got["forecast"] == predict_json(capsys, "--model", str(models / "panel"))["forecast"]
    assert {r["store"] for r in got["forecast"]} == {"a", "b", "c"}
    status, some = call(server.url + "/v1/models/panel/forecast", {"series": ["c", "a"], "levels": []})
    assert status == 200, some
    want = predict_json(capsys, "--model", str(models / "panel"), "--series", "c,a", "--levels", "none")
    assert some["forecast"] == want["forecast"] and list(some["forecast"][0]) == ["store", "timestamp", "yhat"]
    panel = pd.read_csv(ROOT / "tests" / "golden" / "panel.csv", dtype={"store": str})
    history = {c: panel[c].tolist() for c in panel.columns}
    status, long = call(server.url + "/v1/models/panel/forecast", {"history": history})
    assert status == 200 and long["forecast"] == got["forecast"]


# -- bad requests: 404, 422 (the CLI's messages), 413; never a 500 for input -----------------------------

def test_an_unknown_model_or_endpoint_is_404(server):
    assert call(server.url + "/v1/models/nope/forecast", {}) == (
        404, {"error": "model 'nope' not found in " + str(server.settings.models_dir) + " (models: demo, panel)"})
    assert call(server.url + "/v1/models/..%2F..%2Fetc/forecast", {})[0] == 404
    status, body = call(server.url + "/v2/forecast")
    assert status == 404 and body["error"].startswith("no endpoint GET /v2/forecast; the endpoints are GET /healthz")
    assert call(server.url + "/v1/models/demo/forecast") == (
        405, {"error": "GET is not allowed on /v1/models/demo/forecast; use POST"})


@pytest.mark.parametrize(("model", "body", "flags"), [
    ("demo", {"horizon": 9}, ["--horizon", "9"]),  # horizon: expected 1..4 (the model was trained for 4 steps), got 9
    ("demo", {"horizon": 0}, ["--horizon", "0"]),
    ("demo", {"levels": [99]}, ["--levels", "99"]),  # levels: 99 is not calibrated for ... (it has 80, 95); ...
    ("panel", {"series": ["a", "zz"]}, ["--series", "a,zz"]),  # series: 'zz' is not a series of ...
])
def test_a_field_out_of_range_is_422_with_the_clis_message(server, models, capsys, model, body, flags):
    status, got = call(server.url + f"/v1/models/{model}/forecast", body)
    cli = predict_error(capsys, "--model", str(models / model), *flags)
    assert (status, got["error"]) == (422, cli.removeprefix("--"))


@pytest.mark.parametrize(("raw", "said"), [
    (b"{not json", "body: not valid JSON (Expecting property name enclosed in double quotes"),
    (b"[24]", "body: expected a JSON object such as {\"horizon\": 24}, got list"),
    (b'{"horizn": 4}', "body: unknown field 'horizn' (did you mean 'horizon'?); expected some of horizon, levels,"),
    (b'{"horizon": "4"}', 'horizon: expected an integer >= 1, got "4"'),
    (b'{"horizon": true}', "horizon: expected an integer >= 1, got true"),
    (b'{"levels": "80"}', 'levels: expected a list of integer percentages such as [80, 95]'),
    (b'{"series": []}', "series: expected a non-empty list of series ids"),
    (b'{"missing": "drop"}', 'missing: expected one of error, interpolate, ffill, got "drop"'),
    (b'{"history": [1, 2]}', "history: expected an object of columns"),
    (b'{"history": {"date": ["2024-01-01"], "y": [1, 2]}}',
     "history: column 'y' has 2 values, column 'date' has 1; every column needs one value per row"),
    (b'{"history": {"date": ["2024-01-01 00:00", "2024-01-01 01:00", "2024-01-01 02:00"], "y": [1, "abc", 3]}}',
     "history: column 'y' (--target): row 2 (index 1 in the arrays) value 'abc' is not a number (1 non-numeric in all)"),
    (b'{"history": {"when": ["2024-01-01"], "y": [1]}}', "history: column 'date' (--time-col) not found"),
    (b'{"future": {"date": ["2024-01-11"], "y": [1]}}', "future: "),
    (b'{"series": ["a"], "history": {"date": ["2024-01-01"], "y": [1]}}', "series: demo forecasts one series"),
])
def test_a_malformed_body_is_422_naming_the_field(server, raw, said):
    status, got = call(server.url + "/v1/models/demo/forecast", raw=raw)
    assert (status, got["error"][: len(said)]) == (422, said), got


def test_the_rows_of_a_bad_history_are_named_as_predict_names_a_files(server, models, tmp_path, capsys):
    frame = make_frame(60)
    frame.loc[7, "y"] = float("nan")  # a gap: refused unless "missing" says how to fill it
    frame.to_csv(tmp_path / "gap.csv", index=False)
    history = {"date": frame["date"].astype(str).tolist(), "y": [None if pd.isna(v) else v for v in frame["y"]]}
    status, got = call(server.url + "/v1/models/demo/forecast", {"history": history})
    cli = predict_error(capsys, "--model", str(models / "demo"), "--data", str(tmp_path / "gap.csv"))
    assert status == 422 and got["error"].startswith("history: column 'y'")
    assert got["error"].split(": ", 1)[1].replace("row 8 (index 7 in the arrays)", "line 9") == cli.split(": ", 1)[1].replace(
        "set --missing interpolate|ffill (data.missing)", 'set "missing": "interpolate" or "ffill"')
    status, filled = call(server.url + "/v1/models/demo/forecast", {"history": history, "missing": "interpolate"})
    assert status == 200 and filled["forecast"] == predict_json(
        capsys, "--model", str(models / "demo"), "--data", str(tmp_path / "gap.csv"), "--missing", "interpolate")["forecast"]


def test_limits_are_settings_413_for_a_body_422_for_horizon_and_series(models):
    settings = ServeSettings(models_dir=models, port=0, max_body_bytes=2048, max_horizon=2, max_series=2).check()
    with Running(settings) as server:
        wait_ready(server.url)
        status, got = call(server.url + "/v1/models/demo/forecast", raw=b" " * 4096)
        assert status == 413 and got["error"] == ("body: 4096 bytes is over this server's limit of 2048 "
                                                  "(--max-body-bytes); send fewer series or rows per request")
        chunks = iter([b'{"history": {"y": [', b"1, " * 2000, b"1]}}"])  # no Content-Length: counted as it streams
        status, got = call(server.url + "/v1/models/demo/forecast", raw=chunks)
        assert status == 413 and "is over this server's limit of 2048" in got["error"]
        assert call(server.url + "/v1/models/demo/forecast", {"horizon": 3}) == (
            422, {"error": "horizon: 3 steps is over this server's limit of 2 (--max-horizon)"})
        assert call(server.url + "/v1/models/demo/forecast", {"horizon": 2})[0] == 200
        status, got = call(server.url + "/v1/models/panel/forecast", {})
        assert status == 422 and got["error"].startswith("series: the request would forecast 3 series; this server "
                                                         "forecasts at most 2 per request (--max-series)")
        assert call(server.url + "/v1/models/panel/forecast", {"series": ["a", "b"]})[0] == 200


def test_a_model_whose_data_file_is_gone_is_503_until_the_history_is_sent(server, models, tmp_path, capsys):
    version = models / "demo" / "versions" / "4"
    version_of(models / "demo" / "versions" / "1", "mlp", version)
    manifest = version / "mlp" / "manifest.json"
    body = json.loads(manifest.read_text())
    body["data"]["path"] = str(tmp_path / "gone.csv")
    manifest.write_text(json.dumps(body))
    rehash(version / "mlp")
    Registry(models, "demo").promote(4)
    status, got = call(server.url + "/v1/models/demo/forecast", {})
    assert status == 503 and got["error"].startswith("model 'demo' cannot forecast from its data file (")
    assert got["error"].endswith("send the series in \"history\"")
    frame = make_frame()
    history = {"date": frame["date"].astype(str).tolist(), "y": frame["y"].tolist()}
    status, ok = call(server.url + "/v1/models/demo/forecast", {"history": history})
    assert status == 200 and ok["version"] == 4
    assert call(server.url + "/v1/models")[1]["models"][0]["note"].startswith("its data file cannot be forecast from")


# -- hot swap --------------------------------------------------------------------------------------------

class ClientLoop:
    """Threads posting forecasts to ``url`` on keep-alive connections until stopped: every answer kept."""

    def __init__(self, url: str, threads: int = 3, body: dict[str, Any] | None = None) -> None:
        self.url, self.body = url, json.dumps(body or {}).encode()
        self.answers: list[tuple[int, Any]] = []
        self.stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def _run(self) -> None:
        host, _, rest = self.url.removeprefix("http://").partition("/")
        conn = http.client.HTTPConnection(host, timeout=60)
        while not self.stop.is_set():
            try:
                conn.request("POST", "/" + rest, body=self.body)
                response = conn.getresponse()
                text = response.read()
                self.answers.append((response.status, json.loads(text)))
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.answers.append((0, repr(exc)))
                conn.close()
                conn = http.client.HTTPConnection(host, timeout=60)
        conn.close()

    def __enter__(self) -> ClientLoop:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        for t in self._threads:
            t.join(60)

    def wait_for(self, check: Callable[[dict[str, Any]], bool], timeout: float = 30) -> None:
        seen = len(self.answers)
        deadline = time.monotonic() + timeout
        while not any(s == 200 and check(a) for s, a in self.answers[seen:]):
            assert time.monotonic() < deadline, self.answers[-3:]
            time.sleep(0.02)

    def failures(self) -> list[tuple[int, Any]]:
        return [(s, a) for s, a in self.answers if s != 200]


def test_promote_and_rollback_swap_under_a_client_loop_with_no_failed_request(server, models, capsys):
    expected = {}
    for version, row in ROWS.items():
        expected[version] = predict_json(capsys, "--model", str(models / "demo" / "versions" / str(version) / row))
    url = server.url + "/v1/models/demo/forecast"
    with ClientLoop(url) as loop:
        loop.wait_for(lambda a: a["version"] == 1)
        for argv, version in ((["promote", "--version", "2"], 2), (["promote", "--version", "3"], 3),
                              (["rollback"], 2)):
            assert main(["models", *argv, "--name", "demo", "--models-dir", str(models)]) == 0
            capsys.readouterr()
            assert call(url, {})[1]["version"] == version  # the next request after the pointer moved
            loop.wait_for(lambda a, v=version: a["version"] == v)
    assert loop.failures() == [] and len(loop.answers) > 20
    for _, answer in loop.answers:  # each answer wholly from one version: its row and its numbers
        assert answer["row"] == ROWS[answer["version"]]
        assert answer["forecast"] == expected[answer["version"]]["forecast"]
    listing = call(server.url + "/v1/models")[1]
    assert listing["models"][0]["swaps"] == 3 and listing["models"][0]["version"] == 2


def test_a_broken_new_version_is_never_swapped_in_and_the_models_list_says_why(server, models, capsys):
    broken = models / "demo" / "versions" / "4"
    version_of(models / "demo" / "versions" / "1", "mlp", broken)
    manifest = json.loads((broken / "mlp" / "manifest.json").read_text())
    manifest["window"]["lookback"] += 2  # intact files, a manifest the network disagrees with
    (broken / "mlp" / "manifest.json").write_text(json.dumps(manifest))
    rehash(broken / "mlp")
    url = server.url + "/v1/models/demo/forecast"
    with ClientLoop(url) as loop:
        loop.wait_for(lambda a: a["version"] == 1)
        assert main(["models", "promote", "--version", "4", "--name", "demo", "--models-dir", str(models)]) == 0
        capsys.readouterr()  # the registry's own check (hashes, manifest) passes: the server's full load does not
        assert call(url, {})[1]["version"] == 1
        time.sleep(0.5)
    assert loop.failures() == [] and {a["version"] for _, a in loop.answers} == {1}
    demo = call(server.url + "/v1/models")[1]["models"][0]
    assert (demo["version"], demo["status"]) == (1, "serving")
    assert demo["error"].startswith(f"{broken / 'mlp'} (version 4) refused: {broken / 'mlp'}: the network reads "
                                    "windows of 12 steps, but manifest.json's lookback is 14")
    assert 'forecaster_model_load_failures_total{model="demo"} 1.0' in call(server.url + "/metrics")[1].splitlines()
    assert call(server.url + "/readyz")[0] == 200  # still serving its champion's predecessor
    assert main(["models", "promote", "--version", "2", "--name", "demo", "--models-dir", str(models)]) == 0
    assert call(url, {})[1]["version"] == 2
    assert call(server.url + "/v1/models")[1]["models"][0]["error"] is None


def test_a_model_that_never_loaded_is_503_and_not_ready(models, tmp_path):
    (models / "demo" / "versions" / "1" / "mlp" / "model.onnx").write_bytes(b"not onnx")
    settings = ServeSettings(models_dir=models, port=0).check()
    with Running(settings) as server:
        status, got = call(server.url + "/v1/models/demo/forecast", {})
        assert status == 503 and got["error"].startswith("model 'demo' has no servable version: ")
        assert "model.onnx" in got["error"]
        deadline = time.monotonic() + 30
        while call(server.url + "/v1/models")[1]["models"][1]["status"] != "serving":  # the panel loads
            assert time.monotonic() < deadline
            time.sleep(0.05)
        status, ready = call(server.url + "/readyz")
        assert status == 503 and list(ready["waiting"]) == ["demo"] and ready["ready"] is False
        assert call(server.url + "/healthz")[0] == 200  # alive: the panel serves


# -- processes -------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_an_onnx_row_is_served_without_importing_tensorflow(models):
    code = (
        "import json, sys, urllib.request\n"
        "from pathlib import Path\n"
        "from forecaster.serving.server import Running\n"
        "from forecaster.serving.settings import ServeSettings\n"
        f"with Running(ServeSettings(models_dir=Path({str(models)!r}), port=0).check()) as s:\n"
        "    ask = urllib.request.Request(s.url + '/v1/models/demo/forecast', data=b'{}', method='POST')\n"
        "    answer = json.load(urllib.request.urlopen(ask, timeout=60))\n"
        "    ask = urllib.request.Request(s.url + '/v1/models/panel/forecast', data=b'{}', method='POST')\n"
        "    panel = json.load(urllib.request.urlopen(ask, timeout=60))\n"
        "print(json.dumps({'row': answer['row'], 'panel': len(panel['forecast']), "
        "'tf': 'tensorflow' in sys.modules, 'keras': 'keras' in sys.modules}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {"row": "mlp", "panel": 3 * 6, "tf": False, "keras": False}


def _start(models: Path, *flags: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([str(Path(sys.executable).parent / "forecast"), "serve", "--models-dir", str(models),
                             "--port", "0", *flags], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line.startswith("forecast serve: listening on http://127.0.0.1:"), line + proc.stderr.read()
    return proc, line.split("listening on ")[1].split()[0]


@pytest.mark.slow
def test_the_command_serves_until_sigterm_and_refuses_a_port_in_use(models):
    proc, url = _start(models, "--workers", "2")
    try:
        wait_ready(url)
        port = int(url.rsplit(":", 1)[1])
        for _ in range(4):  # whichever worker answers, it serves the champion
            assert call(url + "/v1/models/demo/forecast", {})[1]["version"] == 1
        taken = subprocess.run([str(Path(sys.executable).parent / "forecast"), "serve", "--models-dir", str(models),
                                "--port", str(port)], capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert taken.returncode == ExitCode.USAGE
        assert taken.stderr.startswith(f"forecast: error: --host 127.0.0.1 --port {port}: cannot listen there")
        assert taken.stderr.count("\n") == 1
        metrics = call(url + "/metrics")[1]  # summed over the two workers
        assert 'forecaster_model_version{model="demo"} 1.0' in metrics
    finally:
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and time.monotonic() - t0 < 10, err
    assert "Traceback" not in err


@pytest.mark.slow
def test_a_retrain_and_its_promotion_under_a_client_loop_with_no_failed_request(models, tmp_path):
    """``forecast retrain`` saves version 4 while forecasts are served; promoted by its gate (or, when the gate keeps
    the champion, by ``forecast models promote``), it is served next with no request failing on the way."""
    import yaml

    data = tmp_path / "more.csv"
    make_frame(264).to_csv(data, index=False)  # 24 new rows: the retrain has something to learn
    config = tmp_path / "retrain.yaml"
    config.write_text(yaml.safe_dump({
        "data": {"path": str(data), "target": "y"}, "window": {"lookback": 12, "horizon": 4},
        "model": {"cell": "mlp", "units": [8], "baselines": ["naive"]},
        "training": {"epochs": 2, "batch_size": 32}, "output": {"name": "demo", "models_dir": str(models)},
        "schedule": {"min_new_rows": 0},
    }))
    with Running(ServeSettings(models_dir=models, port=0, poll_seconds=0.2).check()) as server:
        wait_ready(server.url)
        with ClientLoop(server.url + "/v1/models/demo/forecast") as loop:
            loop.wait_for(lambda a: a["version"] == 1)
            done = subprocess.run([str(Path(sys.executable).parent / "forecast"), "retrain", "--config", str(config),
                                   "--quiet"], capture_output=True, text=True, timeout=300, cwd=ROOT)
            assert done.returncode == 0 and "version 4" in done.stdout, done.stdout + done.stderr
            if done.stdout.startswith("kept"):  # the gate kept the champion: promote the new version by hand
                assert main(["models", "promote", "--version", "4", "--name", "demo", "--models-dir", str(models)]) == 0
            loop.wait_for(lambda a: a["version"] == 4)
    assert loop.failures() == []
    assert {a["version"] for _, a in loop.answers} == {1, 4}


def test_nothing_listens_beyond_loopback(server):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # this machine's outward address (no packet)
        try:
            probe.connect(("10.255.255.255", 1))
            other = probe.getsockname()[0]
        except OSError:
            other = "127.0.0.1"
    if other.startswith("127.") or other == "0.0.0.0":
        pytest.skip("this machine has no address but loopback")
    with socket.socket() as s:  # the port is not open there
        s.settimeout(1)
        assert s.connect_ex((other, server.port)) != 0
