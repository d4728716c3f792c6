"""Training settings: when XLA and batch shards are used, and that neither changes what is learned."""

from __future__ import annotations

import os

import numpy as np
import pytest

from forecaster.config import resolve
from forecaster.errors import ConfigError
from forecaster.models.network import hardware, training
from forecaster.models.network.cells import build_model


def test_use_jit_explicit_setting_wins_and_auto_needs_enough_windows():
    assert hardware.use_jit(True, 10, "lstm") is True and hardware.use_jit(False, 10**6, "gru") is False
    assert hardware.use_jit(None, hardware.JIT_MIN_WINDOWS - 1, "gru") is False
    assert hardware.use_jit(None, hardware.JIT_MIN_WINDOWS, "gru") is (not hardware.gpu_available())
    assert hardware.use_jit(None, 10**6, "lstm") is False  # measured: no gain for the LSTM


def test_jit_compile_config_and_flag(tmp_path):
    assert resolve().training.jit_compile is None
    assert resolve(overrides={"training.jit_compile": False}).training.jit_compile is False
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("training:\n  jit_compile: sometimes\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"training\.jit_compile: expected true/false or null, got 'sometimes'"):
        resolve(cfg_file)


def _losses(jit: bool) -> tuple[list[float], bool]:
    hardware.seed_everything(5)
    model = build_model(cell="gru", lookback=8, n_features=1, horizon=2, units=(6,))
    hardware.prepare_to_train(model, jit_compile=jit)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 8, 1)).astype("float32")
    y = rng.normal(size=(300, 2)).astype("float32")
    history = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0).history["loss"]
    return history, bool(model.jit_compile)


@pytest.mark.graph  # XLA compiles traced functions only
@pytest.mark.parametrize("jit", [True, False])
def test_same_seed_same_losses_with_and_without_xla(jit):
    (a, kept), (b, _) = _losses(jit), _losses(jit)
    assert kept is jit and np.isfinite(a).all()
    assert a == b


def test_shard_count_rules(monkeypatch):
    monkeypatch.setattr(hardware, "gpu_available", lambda: False)
    monkeypatch.setattr(hardware, "cpu_cores", lambda: 4)
    assert hardware.shard_count("lstm", 512) == 4 and hardware.shard_count("gru", 512) == 4
    assert hardware.shard_count("lstm", 128) == 128 // hardware.MIN_SHARD_WINDOWS  # never below the minimum shard
    assert hardware.shard_count("lstm", 32) == 1
    assert hardware.shard_count("mlp", 512) == 1
    assert hardware.shard_count("gru", 512, jit_compile=True) == 1  # XLA ran the shards one after the other
    monkeypatch.setattr(hardware, "cpu_cores", lambda: 1)
    assert hardware.shard_count("lstm", 512) == 1
    monkeypatch.setattr(hardware, "cpu_cores", lambda: 8)
    monkeypatch.setattr(hardware, "gpu_available", lambda: True)
    assert hardware.shard_count("lstm", 512) == 1  # one cuDNN kernel per batch


def test_container_cpu_quota_caps_the_cores():
    assert hardware.quota_cores("200000 100000\n") == 2 and hardware.quota_cores("150000 100000") == 2
    assert hardware.quota_cores("50000 100000") == 1
    assert hardware.quota_cores("max 100000") is None and hardware.quota_cores("") is None
    assert 1 <= hardware.cpu_cores() <= (os.cpu_count() or 1)


def _train(shards: int, cell: str) -> tuple[dict[str, list[float]], list[np.ndarray]]:
    import tensorflow as tf

    hardware.seed_everything(3)
    model = build_model(cell=cell, lookback=10, n_features=2, horizon=3, units=(8,))
    hardware.prepare_to_train(model, jit_compile=False, shards=shards)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 10, 2)).astype("float32")
    y = rng.normal(size=(300, 3)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(128)  # 128, 128 and a last batch of 44
    history = model.fit(ds, validation_data=ds, epochs=2, verbose=0).history
    return history, model.get_weights()


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sharded_batches_train_the_same_model(cell):
    """Shards change how a batch is run, not what is learned: same losses, same weights."""
    plain, w_plain = _train(1, cell)
    for shards in (2, 3):
        history, weights = _train(shards, cell)
        np.testing.assert_allclose(history["loss"], plain["loss"], rtol=1e-5)
        np.testing.assert_allclose(history["val_loss"], plain["val_loss"], rtol=1e-5)
        for a, b in zip(weights, w_plain):
            np.testing.assert_allclose(a, b, atol=1e-5)
    assert plain["loss"][-1] < plain["loss"][0]  # it did train
    assert _train(2, cell)[0] == _train(2, cell)[0]  # and a sharded run is as reproducible as any other


@pytest.mark.parametrize("val_size_known", [True, False])
def test_fit_validates_every_epoch_as_keras_does(val_size_known):
    """``fit`` validates through one iterator in a callback, not Keras' ``validation_data``; the
    losses it records are Keras' own, epoch by epoch, for a validation set of known size or not."""
    import tensorflow as tf

    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 10, 1)).astype("float32"), rng.normal(size=(300, 3)).astype("float32")
    train = tf.data.Dataset.from_tensor_slices((x[:200], y[:200])).batch(64)
    val = tf.data.Dataset.from_tensor_slices((x[200:], y[200:])).batch(48)  # 48, 48 and a last batch of 4
    if not val_size_known:
        val = val.filter(lambda a, b: True)
    assert (int(val.cardinality()) > 0) is val_size_known

    def model():
        hardware.seed_everything(4)
        m = build_model(cell="lstm", lookback=10, n_features=1, horizon=3, units=(6,))
        hardware.prepare_to_train(m, jit_compile=False, shards=2)
        return m

    keras_history = model().fit(train, validation_data=val, epochs=3, verbose=0).history
    ours = model()
    result = training.fit(ours, train, val, epochs=3, patience=10, shards=2)
    np.testing.assert_allclose(result.history["loss"], keras_history["loss"], rtol=1e-6)
    np.testing.assert_allclose(result.history["val_loss"], keras_history["val_loss"], rtol=1e-6)
    assert result.best_val_loss == pytest.approx(ours.evaluate(val, verbose=0), rel=1e-6)  # best weights restored
