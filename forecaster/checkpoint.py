"""Resumable training: Keras ``BackupAndRestore`` plus the state it does not keep.

``BackupAndRestore`` restores the weights, the optimizer and the epoch counter after a crash,
but ``EarlyStopping`` starts again from zero patience and no best weights, and our per-epoch
history is lost. A :class:`Checkpoint` adds both, written atomically after every epoch, so a
run killed with SIGKILL continues where it stopped and stops at the same epoch it would have
without the kill. It also lets a caller stop training cleanly between batches
(``should_stop``): :class:`Stopped` is raised, nothing is saved by the pipeline, and the last
completed epoch stays on disk for the next attempt.

Layout of ``Checkpoint.directory``::

    backup/latest.weights.h5  backup/training_metadata.json   # BackupAndRestore's own files
    state.json        # completed epochs, history rows, EarlyStopping counters, backup hash
    best.weights.npz  # EarlyStopping's best weights (plain arrays, loaded without pickle)

Example:
    >>> ck = Checkpoint(Path("models/sales/checkpoint"))  # doctest: +SKIP
    >>> fit(model, train_ds, val_ds, epochs=50, patience=5, checkpoint=ck)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from forecaster.artifacts.io import atomic_write_text

__all__ = ["Checkpoint", "Stopped"]


class Stopped(Exception):
    """Training was asked to stop (SIGTERM/SIGINT); the last completed epoch is checkpointed."""


def _never() -> bool:
    return False


@dataclass(frozen=True)
class Checkpoint:
    """Where a resumable fit keeps its state, and how it is told to stop.

    Attributes:
        directory: folder for the checkpoint (created on the first completed epoch).
        should_stop: polled after every batch; when it returns true, :class:`Stopped` is raised.
        progress: receives a line when a run resumes.
    """

    directory: Path
    should_stop: Callable[[], bool] = field(default=_never, compare=False)
    progress: Callable[[str], None] | None = field(default=None, compare=False)

    def child(self, name: str) -> Checkpoint:
        """The same checkpoint settings in a sub-folder (one per cell)."""
        return replace(self, directory=self.directory / name)

    @property
    def backup_dir(self) -> Path:
        return self.directory / "backup"

    @property
    def state_path(self) -> Path:
        return self.directory / "state.json"

    def clear(self) -> None:
        """Forget the checkpoint (after the run was saved, or when it cannot be trusted)."""
        shutil.rmtree(self.directory, ignore_errors=True)

    def completed_epochs(self) -> int:
        """Epochs a resumed fit would skip: 0 when there is no usable checkpoint."""
        state = self._valid_state()
        return int(state["epochs"]) if state else 0

    def _valid_state(self) -> dict[str, Any] | None:
        """The saved state if it matches BackupAndRestore's files exactly, else ``None``."""
        from forecaster.data import file_sha256

        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            meta = json.loads((self.backup_dir / "training_metadata.json").read_text(encoding="utf-8"))
            weights = self.backup_dir / "latest.weights.h5"
            ok = (
                isinstance(state, dict)
                and int(meta["epoch"]) == int(state["epochs"]) == len(state["rows"])
                and file_sha256(weights) == state["backup_sha256"]
                and (state["best_epoch"] is None or (self.directory / "best.weights.npz").is_file())
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return state if ok else None

    def callbacks(self, stopper: Any, recorder: Any) -> list[Any]:
        """Keras callbacks to append after ``stopper`` (an ``EarlyStopping``) in ``fit``.

        An inconsistent checkpoint (killed half-way through writing one) is discarded first,
        so the run starts from scratch rather than from a mixture of two epochs.
        """
        import keras

        state = self._valid_state()
        if state is None:
            self.clear()
        ck = self

        class _State(keras.callbacks.Callback):
            """Restores and saves EarlyStopping's counters and the history rows."""

            def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
                if state is None:
                    return
                recorder.rows[:] = [dict(r) for r in state["rows"]]
                stopper.wait = int(state["wait"])
                stopper.best = None if state["best"] is None else float(state["best"])
                stopper.best_epoch = int(state["best_epoch"] or 0)
                if state["best_epoch"] is not None:
                    with np.load(ck.directory / "best.weights.npz", allow_pickle=False) as npz:
                        stopper.best_weights = [npz[f"arr_{i}"] for i in range(len(npz.files))]
                if ck.progress is not None:
                    ck.progress(f"  resuming from the checkpoint after epoch {state['epochs']}")

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                from forecaster.data import file_sha256

                npz_path = ck.directory / "best.weights.npz"
                if stopper.best_weights is not None and stopper.best_epoch == epoch:
                    tmp = ck.directory / ".best.weights.tmp.npz"
                    np.savez(tmp, *[np.asarray(w) for w in stopper.best_weights])
                    tmp.replace(npz_path)
                best = stopper.best
                saved = {
                    "epochs": epoch + 1,
                    "rows": recorder.rows,
                    "wait": int(stopper.wait),
                    "best": None if best is None else float(best),
                    "best_epoch": int(stopper.best_epoch) if stopper.best_weights is not None else None,
                    "backup_sha256": file_sha256(ck.backup_dir / "latest.weights.h5"),
                }
                atomic_write_text(ck.state_path, json.dumps(saved))

        class _StopCheck(keras.callbacks.Callback):
            """Raises :class:`Stopped` between batches once ``should_stop`` is true."""

            def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
                if ck.should_stop():
                    raise Stopped("stopped between batches; resuming from the last completed epoch")

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                if ck.should_stop():
                    raise Stopped(f"stopped after epoch {epoch + 1}; its checkpoint is saved")

        self.directory.mkdir(parents=True, exist_ok=True)
        backup = keras.callbacks.BackupAndRestore(str(self.backup_dir), double_checkpoint=False, delete_checkpoint=False)
        return [backup, _State(), _StopCheck()]
