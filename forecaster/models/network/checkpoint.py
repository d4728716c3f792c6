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
    state.json        # completed epochs, history rows, EarlyStopping counters, the two files below
    weights-<E>.h5    # a copy of the backup's weights after epoch E, named by state.json
    best-<E>.npz      # EarlyStopping's best weights (epoch E; plain arrays, loaded without pickle)

BackupAndRestore rewrites its files in place, so a kill while it writes them leaves them torn
or one epoch ahead of ``state.json``. The state therefore names its own copies, written under
new names before it and deleted only after the next state is written: whatever instant the
process dies, ``state.json`` and the files it names belong to one completed epoch, and the
backup is rebuilt from them before the fit resumes. (Before, such a kill discarded every epoch:
measured in the Docker test, a kill at epoch 2,439 of a long retrain restarted it from zero.)

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

from forecaster.fs import atomic_write_text

__all__ = ["Checkpoint", "Stopped"]


def _read_state(path: Path) -> dict[str, Any] | None:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


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
        """The saved state if the files it names are there and intact, else ``None``.

        A state with its own weights copy (``snapshot``) needs only that copy; an older one must
        match BackupAndRestore's files exactly.
        """
        from forecaster.fs import file_sha256

        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if not isinstance(state, dict) or int(state["epochs"]) != len(state["rows"]):
                return None
            best = state.get("best_file", "best.weights.npz")
            if state["best_epoch"] is not None and not (self.directory / best).is_file():
                return None
            if "snapshot" in state:
                ok = file_sha256(self.directory / state["snapshot"]) == state["backup_sha256"]
            else:
                meta = json.loads((self.backup_dir / "training_metadata.json").read_text(encoding="utf-8"))
                ok = (int(meta["epoch"]) == int(state["epochs"])
                      and file_sha256(self.backup_dir / "latest.weights.h5") == state["backup_sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return state if ok else None

    def _restore_backup(self, state: dict[str, Any]) -> None:
        """BackupAndRestore's files rebuilt from the state's own weights copy (they may be torn or ahead)."""
        if "snapshot" not in state:
            return
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        for name in ("latest.weights.h5.bkp", "training_metadata.json.bkp"):
            (self.backup_dir / name).unlink(missing_ok=True)
        tmp = self.backup_dir / ".latest.weights.tmp.h5"
        shutil.copyfile(self.directory / state["snapshot"], tmp)
        tmp.replace(self.backup_dir / "latest.weights.h5")
        atomic_write_text(self.backup_dir / "training_metadata.json", json.dumps({"epoch": int(state["epochs"]),
                                                                                  "batch": 0}))

    def callbacks(self, stopper: Any, recorder: Any) -> list[Any]:
        """Keras callbacks to append after ``stopper`` (an ``EarlyStopping``) in ``fit``.

        An inconsistent checkpoint (killed half-way through writing one) is discarded first,
        so the run starts from scratch rather than from a mixture of two epochs.
        """
        import keras

        state = self._valid_state()
        if state is None:
            self.clear()
        else:
            self._restore_backup(state)
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
                for key in ("reason", "gain_z", "start_loss"):  # a fit judged against its start (training.StartCheck)
                    if key in state and hasattr(stopper, key):
                        setattr(stopper, key, state[key])
                if state["best_epoch"] is not None:
                    with np.load(ck.directory / state.get("best_file", "best.weights.npz"), allow_pickle=False) as npz:
                        stopper.best_weights = [npz[f"arr_{i}"] for i in range(len(npz.files))]
                if ck.progress is not None:
                    ck.progress(f"  resuming from the checkpoint after epoch {state['epochs']}")

            def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
                from forecaster.fs import file_sha256

                done = epoch + 1
                previous = _read_state(ck.state_path)
                best_file = previous.get("best_file") if previous else None
                if stopper.best_weights is not None and (  # a new best, or the start handed back (epoch 0)
                        best_file is None or stopper.best_epoch == epoch
                        or (previous or {}).get("best_epoch") != int(stopper.best_epoch)):
                    label = int(stopper.best_epoch) + 1  # 0: the weights the fit started from
                    best_file = f"best-{label}.npz"
                    tmp = ck.directory / f".best-{label}.tmp.npz"
                    np.savez(tmp, *[np.asarray(w) for w in stopper.best_weights])
                    tmp.replace(ck.directory / best_file)
                snapshot = f"weights-{done}.h5"
                tmp_h5 = ck.directory / f".weights-{done}.tmp.h5"
                shutil.copyfile(ck.backup_dir / "latest.weights.h5", tmp_h5)
                tmp_h5.replace(ck.directory / snapshot)
                best = stopper.best
                saved = {
                    "epochs": done,
                    "rows": recorder.rows,
                    "wait": int(stopper.wait),
                    "best": None if best is None else float(best),
                    "best_epoch": int(stopper.best_epoch) if stopper.best_weights is not None else None,
                    "best_file": best_file,
                    **{key: getattr(stopper, key) for key in ("reason", "gain_z", "start_loss") if hasattr(stopper, key)},
                    "snapshot": snapshot,
                    "backup_sha256": file_sha256(ck.directory / snapshot),
                }
                atomic_write_text(ck.state_path, json.dumps(saved))
                keep = {snapshot, best_file}
                for old in [*ck.directory.glob("weights-*.h5"), *ck.directory.glob("best-*.npz")]:
                    if old.name not in keep:  # files of earlier epochs, unnamed by the state now on disk
                        old.unlink(missing_ok=True)

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
