"""A GRU is exported as one fused ONNX ``GRU`` operator (not a per-step ``Loop``), agreeing with Keras."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest


def _ops(path: Path) -> collections.Counter[str]:
    import onnx

    return collections.Counter(n.op_type for n in onnx.load(str(path)).graph.node)


@pytest.mark.parametrize(("units", "residual", "dropout"), [((8,), False, 0.0), ((8, 4), True, 0.2)])
def test_gru_exports_as_a_fused_operator(tmp_path: Path, units: tuple[int, ...], residual: bool, dropout: float) -> None:
    from forecaster.artifacts.onnx_runtime import OnnxRuntime, export_onnx
    from forecaster.models.network.cells import build_model

    model = build_model(cell="gru", lookback=12, n_features=2, horizon=3, units=units, residual=residual,
                        dropout=dropout)
    x = np.random.default_rng(1).normal(size=(32, 12, 2)).astype(np.float32)
    model(x[:1])
    rng = np.random.default_rng(2)  # weights away from the initial ones, biases included
    model.set_weights([w + rng.normal(0, 0.3, w.shape).astype(np.float32) for w in model.get_weights()])
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    ops = _ops(path)
    assert ops["GRU"] == len(units) and ops["Loop"] == 0, dict(ops)
    got = OnnxRuntime(path)(x)
    assert np.abs(got - np.asarray(model(x, training=False))).max() < 1e-5


def test_lstm_export_is_unchanged(tmp_path: Path) -> None:
    from forecaster.artifacts.onnx_runtime import export_onnx
    from forecaster.models.network.cells import build_model

    model = build_model(cell="lstm", lookback=12, n_features=1, horizon=3, units=(8,), residual=False)
    model(np.zeros((1, 12, 1), dtype=np.float32))
    export_onnx(model, tmp_path / "model.onnx")
    assert _ops(tmp_path / "model.onnx")["LSTM"] == 1


def test_a_twin_that_disagrees_falls_back_to_the_plain_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from forecaster.artifacts import onnx_runtime as runtime
    from forecaster.models.network.cells import build_model

    model = build_model(cell="gru", lookback=12, n_features=1, horizon=3, units=(8,), residual=False)
    model(np.zeros((1, 12, 1), dtype=np.float32))
    monkeypatch.setattr(runtime, "_reproduces", lambda *_a, **_k: False)
    runtime.export_onnx(model, tmp_path / "model.onnx")
    assert _ops(tmp_path / "model.onnx")["Loop"] == 1  # the slow but exact graph, never a wrong one
