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
    from forecaster.models.network.training import seed_everything

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


def test_both_ways_of_a_cell_keep_their_own_checkpoint(tmp_path, series_csv):
    """model.linear null fits a cell with and without the linear path: one checkpoint for each,
    so a resumed run resumes each fit from its own epochs."""
    from forecaster.data.prepared import prepare
    from forecaster.workflows.train import train_cell

    from conftest import small_cfg

    cfg = small_cfg(series_csv, tmp_path / "models", **{"training.epochs": 2, "training.patience": 10})
    result = train_cell(prepare(cfg), cfg, "gru", checkpoint=Checkpoint(tmp_path / "ck"))
    assert set(result.linear_choice) == {"linear", "plain"}
    assert Checkpoint(tmp_path / "ck" / "linear").completed_epochs() == 2
    assert Checkpoint(tmp_path / "ck" / "plain").completed_epochs() == 2
