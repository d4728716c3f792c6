"""Splits, scaler leakage, and window alignment."""

from __future__ import annotations

import numpy as np
import pytest

from forecaster.data.scaling import Scaler
from forecaster.data.windows import make_dataset, split, target_windows
from forecaster.errors import ArtifactError, DataError


def test_split_sizes_and_window_counts():
    sp = split(1000, lookback=48, horizon=24, val=0.15, test=0.15)
    assert (sp.train_end, sp.val_end) == (700, 850)
    assert len(sp.starts("train")) == 700 - 48 - 24 + 1
    assert len(sp.starts("val")) == 150 - 24 + 1
    assert len(sp.starts("test")) == 150 - 24 + 1
    # targets stay inside their part: first/last target rows of each part
    for part in ("train", "val", "test"):
        lo, hi = sp.bounds(part)
        first = sp.first_targets(part)
        assert first.min() >= max(lo, 48) and first.max() + 24 <= hi


def test_split_by_row_counts():
    sp = split(500, lookback=10, horizon=5, val=50, test=60)
    assert (sp.train_end, sp.val_end, sp.n) == (390, 440, 500)


def test_split_too_short():
    with pytest.raises(DataError, match="30 rows are too few for lookback 24, horizon 12"):
        split(30, lookback=24, horizon=12, val=0.2, test=0.2, source="x.csv")


def test_scaler_is_fitted_on_train_only_and_round_trips():
    values = np.column_stack([np.arange(100.0), np.arange(100.0) ** 2])
    sp = split(100, lookback=5, horizon=2, val=0.2, test=0.2)
    scaler = Scaler(["y", "x"]).fit(values[: sp.train_end])
    train = values[: sp.train_end]
    np.testing.assert_allclose(scaler.mean_, train.mean(axis=0))
    np.testing.assert_allclose(scaler.scale_, train.std(axis=0))
    assert scaler.mean_[0] != pytest.approx(values[:, 0].mean())  # the future did not leak in
    again = Scaler.from_dict(scaler.to_dict())
    np.testing.assert_array_equal(again.transform(values), scaler.transform(values))
    np.testing.assert_allclose(scaler.inverse_target(scaler.transform(values)[:, 0]), values[:, 0], atol=1e-4)


def test_scaler_rejects_bad_json():
    with pytest.raises(ArtifactError, match="not a valid scaler"):
        Scaler.from_dict({"kind": "standard", "columns": ["y"], "mean": [0.0], "scale": [0.0]})


def test_windows_are_aligned():
    """Input rows s..s+L-1, target rows s+L..s+L+H-1: checked on a series whose value is its row."""
    n, lookback, horizon = 60, 7, 3
    values = np.column_stack([np.arange(n, dtype=np.float32), 1000 + np.arange(n, dtype=np.float32)])
    sp = split(n, lookback=lookback, horizon=horizon, val=10, test=10)
    for part in ("train", "val", "test"):
        starts = sp.starts(part)
        ds = make_dataset(values, starts, lookback=lookback, horizon=horizon, batch_size=4)
        xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
        x, y = np.concatenate(xs), np.concatenate(ys)
        assert x.shape == (len(starts), lookback, 2) and y.shape == (len(starts), horizon)
        for i, s in enumerate(starts):
            np.testing.assert_array_equal(x[i, :, 0], np.arange(s, s + lookback))
            np.testing.assert_array_equal(x[i, :, 1], 1000 + np.arange(s, s + lookback))
            np.testing.assert_array_equal(y[i], np.arange(s + lookback, s + lookback + horizon))
        np.testing.assert_array_equal(target_windows(values[:, 0], sp.first_targets(part), horizon), y)


def test_shuffled_training_windows_are_a_permutation():
    values = np.arange(50, dtype=np.float32)[:, None]
    starts = range(40)
    ds = make_dataset(values, starts, lookback=5, horizon=2, batch_size=8, shuffle=True, seed=3)
    first = np.concatenate([x.numpy()[:, 0, 0] for x, _ in ds])
    assert sorted(first.tolist()) == list(range(40)) and first.tolist() != list(range(40))


def test_shuffle_is_a_new_permutation_each_epoch_and_reproducible():
    values = np.arange(50, dtype=np.float32)[:, None]

    def epochs(seed: int) -> list[list[float]]:
        ds = make_dataset(values, range(40), lookback=5, horizon=2, batch_size=8, shuffle=True, seed=seed)
        return [np.concatenate([x.numpy()[:, 0, 0] for x, _ in ds]).tolist() for _ in range(3)]

    first = epochs(3)
    assert all(sorted(e) == list(range(40)) for e in first)
    assert first[0] != first[1] != first[2]  # reshuffled every epoch (no all-windows buffer)
    assert epochs(3) == first and epochs(4) != first


@pytest.mark.parametrize("shuffle", [True, False])
def test_datasets_know_their_size_and_repeat_one_epoch_per_pass(shuffle):
    """training.fit repeats datasets of known size and cuts epochs by step count (one iterator)."""
    values = np.arange(60, dtype=np.float32)[:, None]

    def passes(seed: int) -> list[list[float]]:
        ds = make_dataset(values, range(41), lookback=5, horizon=2, batch_size=8, shuffle=shuffle, seed=seed)
        assert int(ds.cardinality()) == 6  # 5 full batches and one of 1
        it = iter(ds.repeat())
        return [np.concatenate([next(it)[0].numpy()[:, 0, 0] for _ in range(6)]).tolist() for _ in range(3)]

    first = passes(3)
    assert all(sorted(p) == list(range(41)) for p in first)  # each pass is exactly one epoch
    assert (first[0] != first[1] != first[2]) if shuffle else (first[0] == first[1] == list(range(41)))
    assert passes(3) == first
