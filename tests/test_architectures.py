"""Every registered cell honours the same interface; recurrent layers stay on the fused path."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from forecaster.errors import ConfigError
from forecaster.models.network.cells import RECURRENT_CELLS, available_cells, build_model


@pytest.mark.parametrize("cell", available_cells())
def test_every_cell_same_interface(cell):
    model = build_model(cell=cell, lookback=10, n_features=3, horizon=4, units=(8, 6), dropout=0.1)
    assert model.input_shape == (None, 10, 3) and model.output_shape == (None, 4)
    x = np.random.default_rng(0).normal(size=(16, 10, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(16, 4)).astype("float32")
    loss = model.fit(x, y, epochs=1, verbose=0).history["loss"][0]
    assert np.isfinite(loss)
    assert model.predict(x, verbose=0).shape == (16, 4)


@pytest.mark.parametrize("cell", RECURRENT_CELLS)
def test_recurrent_defaults_keep_the_fused_kernel(cell):
    model = build_model(cell=cell, lookback=5, n_features=1, horizon=2, units=(4, 4), dropout=0.2)
    layers = [layer for layer in model.layers if layer.__class__.__name__ == cell.upper()]
    assert len(layers) == 2
    for layer in layers:
        cfg = layer.get_config()
        assert cfg["activation"] == "tanh" and cfg["recurrent_activation"] == "sigmoid"
        assert cfg["recurrent_dropout"] == 0 and cfg["unroll"] is False and cfg["use_bias"] is True
        if cell == "gru":
            assert cfg["reset_after"] is True


def test_gru_has_fewer_parameters_than_lstm():
    lstm = build_model(cell="lstm", lookback=8, n_features=1, horizon=3, units=(32,)).count_params()
    gru = build_model(cell="gru", lookback=8, n_features=1, horizon=3, units=(32,)).count_params()
    assert gru < lstm


def test_unknown_cell_lists_the_valid_ones():
    with pytest.raises(ConfigError, match="unknown cell 'tcn'; expected one of lstm, gru, mlp"):
        build_model(cell="tcn", lookback=5, n_features=1, horizon=2)


@pytest.mark.parametrize("cell", RECURRENT_CELLS)
def test_built_and_reloaded_recurrent_layers_are_cudnn_eligible(cell, tmp_path):
    """Keras' own cuDNN argument check (the GPU itself aside) passes for every built layer."""
    import importlib

    import keras

    rnn = importlib.import_module("keras.src.backend.tensorflow.rnn")  # the module, not its rnn() function

    model = build_model(cell=cell, lookback=6, n_features=2, horizon=3, units=(4, 3), dropout=0.1)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", compile=False, safe_mode=True)
    for m in (model, reloaded):
        layers = [layer for layer in m.layers if isinstance(layer, (keras.layers.LSTM, keras.layers.GRU))]
        assert len(layers) == 2
        for layer in layers:
            c = layer.cell
            args = {"activation": c.activation, "recurrent_activation": c.recurrent_activation,
                    "unroll": layer.unroll, "use_bias": c.use_bias}
            if cell == "gru":
                assert rnn._do_gru_arguments_support_cudnn(reset_after=c.reset_after, **args)
            else:
                assert rnn._do_lstm_arguments_support_cudnn(**args)
            assert layer.use_cudnn in ("auto", True) and c.recurrent_dropout == 0


@pytest.mark.parametrize("cell", available_cells())
def test_residual_models_are_level_equivariant(cell):
    """Shifting the target channel by c shifts every forecast step by c (covariates untouched)."""
    model = build_model(cell=cell, lookback=6, n_features=2, horizon=3, units=(5,))
    x = np.random.default_rng(2).normal(size=(4, 6, 2)).astype("float32")
    shifted = x.copy()
    shifted[:, :, 0] += 5.0
    np.testing.assert_allclose(np.asarray(model(shifted)), np.asarray(model(x)) + 5.0, atol=1e-4)
    plain = build_model(cell=cell, lookback=6, n_features=2, horizon=3, units=(5,), residual=False)
    assert not np.allclose(np.asarray(plain(shifted)), np.asarray(plain(x)) + 5.0, atol=1e-3)


@pytest.mark.parametrize("cell", available_cells())
def test_seasonal_base_is_level_equivariant_and_scaled(cell):
    """With a seasonal base the forecast is seasonal naive plus ``scale`` x the network's output."""
    from forecaster.models.network.residual import ResidualBase

    x = np.random.default_rng(3).normal(size=(4, 8, 1)).astype("float32")
    tiny = build_model(cell=cell, lookback=8, n_features=1, horizon=7, units=(5,),
                       base=ResidualBase("seasonal_naive", 3, 1e-7))
    snaive = np.concatenate([x[:, -3:, 0]] * 3, axis=1)[:, :7]  # steps 1..7 copy the last cycle
    np.testing.assert_allclose(np.asarray(tiny(x)), snaive, atol=1e-5)
    model = build_model(cell=cell, lookback=8, n_features=1, horizon=7, units=(5,),
                        base=ResidualBase("seasonal_naive", 3, 0.5))
    assert np.abs(np.asarray(model(x)) - snaive).max() > 1e-3  # the correction is not silenced
    np.testing.assert_allclose(np.asarray(model(x + 5.0)), np.asarray(model(x)) + 5.0, atol=1e-4)


def _drifting_cycle(n: int = 600) -> np.ndarray:
    """A daily cycle on a drift whose direction turns: seasonal naive misses each day's drift."""
    t = np.arange(n, dtype=np.float64)
    return np.sin(2 * np.pi * t / 24) + 0.002 * t - 1e-5 * (t - 300) ** 2


def test_linear_correction_is_the_least_squares_start_the_model_holds(monkeypatch):
    from forecaster.models.naive import seasonal_naive
    from forecaster.models.network import residual
    from forecaster.models.network.residual import linear_correction, residual_base

    y = _drifting_cycle()
    lookback, steps = 48, 12
    first = np.arange(lookback, len(y) - steps + 1)
    base = residual_base(y, first, steps, season=24, lookback=lookback)
    kernel, bias = linear_correction(y[:, None], first, steps, base, lookback=lookback)
    assert kernel.shape == (lookback, steps) and bias.shape == (steps,)

    x = np.stack([y[f - lookback : f] for f in first])[..., None].astype("float32")
    truth = np.stack([y[f : f + steps] for f in first])
    seasonal = seasonal_naive(y, first, steps, season=24)
    corrected = seasonal + base.scale * ((x[:, :, 0] - x[:, -1:, 0]) @ kernel + bias)
    assert base.name == "seasonal_naive"
    assert np.abs(truth - corrected).mean() < 0.05 * np.abs(truth - seasonal).mean()
    # long series: the fit samples windows evenly (here 4 per coefficient) and still finds it
    monkeypatch.setattr(residual, "LINEAR_MAX_WINDOWS", 4 * lookback)
    k_sampled, b_sampled = linear_correction(y[:, None], first, steps, base, lookback=lookback)
    sampled = seasonal + base.scale * ((x[:, :, 0] - x[:, -1:, 0]) @ k_sampled + b_sampled)
    assert np.abs(truth - sampled).mean() < 0.05 * np.abs(truth - seasonal).mean()

    # the network starts there: with its recurrent head silenced it forecasts exactly that
    with_fit = dataclasses.replace(base, linear=(kernel, bias))
    model = build_model(cell="lstm", lookback=lookback, n_features=1, horizon=steps, units=(4,), base=with_fit)
    np.testing.assert_allclose(model.get_layer("linear").get_weights()[0], kernel)
    head = model.get_layer("forecast")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    np.testing.assert_allclose(model.predict(x, verbose=0), corrected, atol=1e-4)
    plain = build_model(cell="lstm", lookback=lookback, n_features=1, horizon=steps, units=(4,), base=base)
    assert "linear" not in [layer.name for layer in plain.layers]  # no fit given: no linear part
