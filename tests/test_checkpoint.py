"""Resumable fit: BackupAndRestore plus the early-stopping state and history it does not keep."""

from __future__ import annotations

import json

import numpy as np
import pytest

from forecaster.models.network.checkpoint import Checkpoint, Stopped


def _data():
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6, 1)).astype("float32")
    y = x[:, -2:, 0] * 0.5
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    return ds, ds


def _model(learning_rate: float):
    from forecaster.models.network.cells import build_model
    from forecaster.models.network.hardware import seed_everything

    seed_everything(3)
    return build_model(cell="gru", lookback=6, n_features=1, horizon=2, units=(4,), learning_rate=learning_rate)


def _stop_after(epochs: int, ck_dir) -> Checkpoint:
    """A checkpoint whose should_stop turns true once ``epochs`` epochs are saved."""

    def should_stop() -> bool:
        state = ck_dir / "state.json"
        return state.exists() and json.loads(state.read_text())["epochs"] >= epochs

    return Checkpoint(ck_dir, should_stop=should_stop)


def test_early_stopping_patience_survives_an_interruption(tmp_path):
    from forecaster.models.network.training import fit

    train, val = _data()
    # learning rate 0: val_loss never improves after epoch 1, so patience 3 stops after epoch 4.
    plain = fit(_model(0.0), train, val, epochs=10, patience=3)
    assert plain.epochs_run == 4

    ck_dir = tmp_path / "ck"
    with pytest.raises(Stopped):
        fit(_model(0.0), train, val, epochs=10, patience=3, checkpoint=_stop_after(2, ck_dir))
    assert json.loads((ck_dir / "state.json").read_text())["epochs"] == 2
    lines: list[str] = []
    resumed = fit(_model(0.0), train, val, epochs=10, patience=3,
                  checkpoint=Checkpoint(ck_dir, progress=lines.append))
    # Without the saved EarlyStopping state the resumed fit would wait 3 more epochs (5 in all).
    assert resumed.epochs_run == 4
    assert list(resumed.history["epoch"]) == [1, 2, 3, 4]
    assert resumed.best_epoch == 1
    assert lines == ["  resuming from the checkpoint after epoch 2"]


def test_resumed_fit_restores_weights_and_keeps_training(tmp_path):
    from forecaster.models.network.training import fit

    train, val = _data()
    ck_dir = tmp_path / "ck"
    with pytest.raises(Stopped):
        fit(_model(0.01), train, val, epochs=6, patience=10, checkpoint=_stop_after(3, ck_dir))
    first = json.loads((ck_dir / "state.json").read_text())["rows"]
    model = _model(0.01)
    resumed = fit(model, train, val, epochs=6, patience=10, checkpoint=Checkpoint(ck_dir))
    assert list(resumed.history["epoch"]) == [1, 2, 3, 4, 5, 6]
    assert resumed.history["loss"].iloc[:3].tolist() == [r["loss"] for r in first]
    # epoch 4 starts from epoch 3's weights, not from scratch: its loss continues the descent
    assert resumed.history["loss"].iloc[3] < resumed.history["loss"].iloc[0]


def test_a_torn_backup_is_rebuilt_from_the_states_own_copy(tmp_path):
    """A kill while BackupAndRestore rewrites its files in place (torn, or an epoch ahead of state.json)
    costs nothing: the state names its own copy of the weights, and the fit resumes from it."""
    from forecaster.models.network.training import fit

    train, val = _data()
    ck_dir = tmp_path / "ck"
    with pytest.raises(Stopped):
        fit(_model(0.01), train, val, epochs=6, patience=10, checkpoint=_stop_after(2, ck_dir))
    weights = ck_dir / "backup" / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes()[:100])  # a kill in the middle of BackupAndRestore's save
    (ck_dir / "backup" / "training_metadata.json").write_text('{"epoch": 3, "batch": 0}')  # ... of epoch 3
    assert Checkpoint(ck_dir).completed_epochs() == 2
    assert sorted(p.name for p in ck_dir.glob("weights-*.h5")) == ["weights-2.h5"]  # earlier copies deleted
    lines: list[str] = []
    result = fit(_model(0.01), train, val, epochs=4, patience=10, checkpoint=Checkpoint(ck_dir, progress=lines.append))
    assert list(result.history["epoch"]) == [1, 2, 3, 4]
    assert lines == ["  resuming from the checkpoint after epoch 2"]


def test_a_torn_copy_named_by_the_state_discards_the_checkpoint(tmp_path):
    from forecaster.models.network.training import fit

    train, val = _data()
    ck_dir = tmp_path / "ck"
    with pytest.raises(Stopped):
        fit(_model(0.01), train, val, epochs=6, patience=10, checkpoint=_stop_after(2, ck_dir))
    copy = ck_dir / "weights-2.h5"
    copy.write_bytes(copy.read_bytes()[:100])
    assert Checkpoint(ck_dir).completed_epochs() == 0
    lines: list[str] = []
    result = fit(_model(0.01), train, val, epochs=3, patience=10, checkpoint=Checkpoint(ck_dir, progress=lines.append))
    assert list(result.history["epoch"]) == [1, 2, 3] and lines == []


def test_a_fit_judged_against_its_linear_start_resumes_to_the_same_end(tmp_path, series_csv):
    """The start (epoch 0) is a best-weights candidate and the gain check's verdict is state: a fit
    interrupted before its gain check ends where the uninterrupted one does. (One fit per cell now:
    model.linear null decides with or without the linear path from the start's validation loss.)"""
    from forecaster.workflows.train import prepare_run, train_cell

    from conftest import small_cfg

    cfg = small_cfg(series_csv, tmp_path / "models", **{"training.epochs": 6, "training.patience": 10,
                                                         "training.gain_epochs": 3, "forecast.levels": []})
    prep = prepare_run(cfg)
    whole = train_cell(prep, cfg, "gru")
    ck_dir = tmp_path / "ck"
    with pytest.raises(Stopped):
        train_cell(prep, cfg, "gru", checkpoint=_stop_after(2, ck_dir))
    assert sorted(p.name for p in ck_dir.glob("best-*.npz")) in (["best-0.npz"], ["best-1.npz"], ["best-2.npz"])
    resumed = train_cell(prep, cfg, "gru", checkpoint=Checkpoint(ck_dir))
    assert resumed.fit.best_epoch == whole.fit.best_epoch and resumed.fit.epochs_run == whole.fit.epochs_run
    # the saved epochs are the same; later ones differ in the last digits (a fresh iterator's shuffle)
    assert resumed.fit.history["val_loss"].iloc[:2].tolist() == whole.fit.history["val_loss"].iloc[:2].tolist()
    said = [(r.fit.stop_reason or "").split(" (")[0] for r in (whole, resumed)]
    assert said[0] == said[1] and resumed.fit.start_val_loss == pytest.approx(whole.fit.start_val_loss)
    if whole.fit.best_epoch == 0:  # the start handed back: exactly the linear row, resumed or not
        np.testing.assert_allclose(resumed.test_pred, whole.test_pred, rtol=1e-6)
