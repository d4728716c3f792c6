"""Training settings: when XLA is used, and that it keeps same seed -> same losses."""

from __future__ import annotations

import numpy as np
import pytest

from forecaster import training
from forecaster.architectures import build_model
from forecaster.config import resolve
from forecaster.errors import ConfigError


def test_use_jit_explicit_setting_wins_and_auto_needs_enough_windows():
    assert training.use_jit(True, 10, "lstm") is True and training.use_jit(False, 10**6, "gru") is False
    assert training.use_jit(None, training.JIT_MIN_WINDOWS - 1, "gru") is False
    assert training.use_jit(None, training.JIT_MIN_WINDOWS, "gru") is (not training.gpu_available())
    assert training.use_jit(None, 10**6, "lstm") is False  # measured: no gain for the LSTM


def test_jit_compile_config_and_flag(tmp_path):
    assert resolve().training.jit_compile is None
    assert resolve(overrides={"training.jit_compile": False}).training.jit_compile is False
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("training:\n  jit_compile: sometimes\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"training\.jit_compile: expected true/false or null, got 'sometimes'"):
        resolve(cfg_file)


def _losses(jit: bool) -> tuple[list[float], bool]:
    training.seed_everything(5)
    model = build_model(cell="gru", lookback=8, n_features=1, horizon=2, units=(6,))
    training.prepare_to_train(model, jit_compile=jit)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8, 1)).astype("float32")
    y = rng.normal(size=(300, 2)).astype("float32")
    history = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0).history["loss"]
    assert model.steps_per_execution == training.STEPS_PER_EXECUTION
    return history, bool(model.jit_compile)


@pytest.mark.parametrize("jit", [True, False])
def test_same_seed_same_losses_with_and_without_xla(jit):
    (a, kept), (b, _) = _losses(jit), _losses(jit)
    assert kept is jit and np.isfinite(a).all()
    assert a == b
