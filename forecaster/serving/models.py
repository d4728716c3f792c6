"""The models a server serves: each name's champion, loaded and checked, swapped when its pointer changes.

Every folder of the models directory with a ``champion.json`` or a ``runs/`` folder is a model; it
serves what ``forecast predict --model <models_dir>/<name>`` would (:func:`~forecaster.artifacts.run.resolve_model`:
the champion, else the newest run's best servable row).

**Hot swap.** A pointer's state is two ``stat`` calls (``champion.json``'s inode, mtime and size; the
``runs/`` folder's mtime): :func:`pointer_state`. It is compared on every forecast request for that
model and by a background poll. When it changed, the new target is loaded *and fully checked* on a
loader thread (the manifest hashes and cross-checks of :func:`~forecaster.workflows.predict.load_model`,
then one forecast from the model's own data file, which proves the runtime accepts the windows its
manifest describes) before it replaces the served one: the swap itself is one reference
assignment. A request takes the reference once, when it starts, so requests in flight finish on the
version they started with (it stays in memory until the last of them ends). Requests that arrive
during a load wait for it (one load per change, shared), so once ``forecast models promote``
returns, the next request is answered by the new version. A target that fails its checks is never
swapped in: the old version keeps serving and :meth:`Champions.status` says why (retried every
:data:`RETRY_SECONDS`, and at once when the pointer changes again).

Example:
    >>> champions = Champions(Path("models"))  # doctest: +SKIP
    >>> served = asyncio.run(champions.get("seattle-temps"))  # doctest: +SKIP
    >>> served.version, served.row  # doctest: +SKIP
    (3, 'gru')
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from forecaster.artifacts import layout
from forecaster.artifacts.run import read_pointer, resolve_model
from forecaster.artifacts.statistical import LoadedStatistical
from forecaster.data.frame import Panel
from forecaster.errors import ArtifactError, DataError, ForecasterError
from forecaster.fs import read_json
from forecaster.models.statistical_state import has_state
from forecaster.workflows.predict import Loaded, forecast, load_for_predict, load_model

__all__ = ["Served", "Champions", "UnknownModel", "NotServable", "pointer_state", "is_model_dir", "load_served",
           "RETRY_SECONDS"]

log = logging.getLogger("forecaster.serving")

#: A target that failed its checks is tried again after this many seconds (a file fixed in place, a volume
#: that was briefly unreadable), and at once when its pointer changes.
RETRY_SECONDS = 30.0

#: The ``stat`` of a model's pointer files: ``champion.json`` (inode, mtime, size) and ``runs/`` (inode, mtime).
PointerState = tuple[tuple[int, int, int] | None, tuple[int, int] | None]


class UnknownModel(ForecasterError):
    """No model of that name in the models folder (HTTP 404)."""


class NotServable(ForecasterError):
    """The model exists but no version of it could be loaded yet (HTTP 503, with the reason)."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def is_model_dir(path: Path) -> bool:
    """A model's folder: one ``forecast predict --model`` can resolve (a champion pointer or runs)."""
    return (path / layout.CHAMPION_FILE).is_file() or (path / layout.RUNS_DIR).is_dir()


def pointer_state(root: Path) -> PointerState:
    """What decides which folder ``root`` serves, as cheap to compare as it gets: two ``stat`` calls.

    ``champion.json`` is replaced atomically (a new inode) by promote, rollback and retrain; a new run
    changes the ``runs/`` folder's mtime (it is renamed into place).
    """
    try:
        s = os.stat(root / layout.CHAMPION_FILE)
        champion: tuple[int, int, int] | None = (s.st_ino, s.st_mtime_ns, s.st_size)
    except OSError:
        champion = None
    try:
        r = os.stat(root / layout.RUNS_DIR)
        runs: tuple[int, int] | None = (r.st_ino, r.st_mtime_ns)
    except OSError:
        runs = None
    return champion, runs


@dataclass(frozen=True)
class Served:
    """One loaded, checked version of a model: what its requests forecast with.

    Attributes:
        name: the model name (its folder under the models directory).
        version: the registry version (``champion.json``'s ``version``), ``None`` for a plain run.
        cell_dir: the folder served (a network or a statistical row).
        why: why that folder (the champion, or the newest run's best row).
        loaded: the model, from :func:`~forecaster.workflows.predict.load_model`.
        info: what ``GET /v1/models`` shows about it.
        note: a remark on serving it (its data file cannot be read: requests must send a ``history``).
    """

    name: str
    version: int | None
    cell_dir: Path
    why: str
    loaded: Loaded
    info: dict[str, Any]
    note: str | None = None
    panels: dict[tuple[Any, ...], Panel] = field(default_factory=dict, compare=False, repr=False)

    @property
    def row(self) -> str:
        return self.cell_dir.name

    def data_panel(self) -> Panel:
        """The model's own data file as :func:`~forecaster.workflows.predict.load_for_predict` loads it, kept
        while the file's ``stat`` is unchanged (a request without ``history`` forecasts from it; a 1,000-series
        file takes a second to validate).

        Raises:
            DataError: the file is gone or no longer valid.
        """
        path = Path(self.loaded.manifest["data"]["path"])
        try:
            s = os.stat(path)
            key: tuple[Any, ...] = (str(path), s.st_ino, s.st_mtime_ns, s.st_size)
        except OSError:
            key = (str(path), None)
        panel = self.panels.get(key)
        if panel is None:
            panel = load_for_predict(self.loaded)
            self.panels.clear()
            self.panels[key] = panel
        return panel


def _describe(name: str, version: int | None, cell_dir: Path, why: str, loaded: Loaded,
              models_dir: Path) -> dict[str, Any]:
    """``GET /v1/models``' entry for a served version: what it is, when trained, how it scored on its test part."""
    manifest = loaded.manifest
    try:
        raw = read_json(cell_dir / layout.METRICS_FILE, "metrics")
        test = raw.get("test", {}) if isinstance(raw, dict) else {}
    except ArtifactError:
        test = {}
    metrics = {k: v for k, v in test.items() if k in ("mase", "mae", "rmse", "smape", "mape") and v is not None}
    coverage = {k.removeprefix("coverage_"): v for k, v in test.items() if k.startswith("coverage_")}
    d = manifest.get("data", {})
    backend = getattr(loaded, "backend", None)
    if isinstance(loaded, LoadedStatistical):  # served from its saved state with numpy, unless saved without one
        backend = "numpy" if all(has_state(spec) for spec in loaded.specs.values()) else "statsforecast (refit)"
    try:
        path = str(cell_dir.relative_to(models_dir))
    except ValueError:
        path = str(cell_dir)
    return {
        "name": name, "version": version, "row": cell_dir.name, "kind": manifest.get("kind") or "network",
        "backend": backend, "path": path, "why": why,
        "trained_at": manifest.get("created"), "horizon": loaded.horizon, "freq": manifest["window"].get("freq"),
        "target": d.get("target"), "id_col": d.get("id_col"), "known_covariates": list(d.get("known", [])),
        "metrics": metrics, "coverage": coverage,
    }


def load_served(name: str, cell_dir: Path, why: str, version: int | None, models_dir: Path) -> Served:
    """Load ``cell_dir`` and check it fully before it may serve (blocking: run it on a loader thread).

    The folder's own checks come first (:func:`~forecaster.workflows.predict.load_model`: hashes, manifest,
    scaler, calibration and network cross-checks); then one forecast from the model's data file, at
    every calibrated level, which must produce what the manifest promises. A data file that is gone or
    invalid is not the model's fault: it is noted (requests must then send ``history``), not refused.

    Raises:
        ArtifactError: the folder is incomplete, corrupt or inconsistent, or its forecast is broken.
    """
    loaded = load_model(cell_dir)
    note = None
    served = Served(name=name, version=version, cell_dir=cell_dir, why=why, loaded=loaded,
                    info=_describe(name, version, cell_dir, why, loaded, models_dir))
    try:
        panel = served.data_panel()
        forecast(loaded, panel, notes=[])
    except DataError as exc:  # the data file, not the model: requests may still send their history
        note = f"its data file cannot be forecast from ({exc}); requests must send a 'history'"
    except ArtifactError:
        raise
    except ForecasterError as exc:
        note = f"its data file cannot be forecast from ({exc})"
    if note is not None:
        served = Served(name=name, version=version, cell_dir=cell_dir, why=why, loaded=loaded,
                        info=served.info, note=note)
    return served


@dataclass
class _Slot:
    """One model name's state: what it serves, what it last saw, why its newest target was refused."""

    name: str
    root: Path
    served: Served | None = None
    seen: PointerState | None = None
    error: str | None = None  # why the newest target is not served (None: it is)
    failed_at: float | None = None
    loading: asyncio.Task[None] | None = None
    loaded_at: str | None = None
    swaps: int = 0


class Champions:
    """The models of a folder, each serving its champion, swapped when its pointer changes (see the module).

    Args:
        models_dir: the models folder.
        loader: the one thread loads run on (one at a time: a promotion storm loads in turn, never in parallel
            with itself); forecasts have their own threads.
        on_change: called ``(name, served or None, error or None, swapped)`` after each load attempt (metrics).
        load: how a folder is loaded and checked (:func:`load_served`; tests inject failures here).
    """

    def __init__(self, models_dir: Path, *, loader: ThreadPoolExecutor | None = None,
                 on_change: Callable[[str, Served | None, str | None, bool], None] | None = None,
                 load: Callable[..., Served] = load_served) -> None:
        self.models_dir = Path(models_dir)
        self._loader = loader or ThreadPoolExecutor(1, thread_name_prefix="forecaster-load")
        self._on_change = on_change
        self._load = load
        self._slots: dict[str, _Slot] = {}

    # -- discovery ------------------------------------------------------------------------------
    def scan(self) -> list[str]:
        """Add the model folders that appeared, drop those that are gone; returns the names."""
        try:
            found = {p.name for p in self.models_dir.iterdir()
                     if not p.name.startswith(".") and p.is_dir() and is_model_dir(p)}
        except OSError:
            found = set()
        for name in found - set(self._slots):
            self._slots[name] = _Slot(name, self.models_dir / name)
        for name in set(self._slots) - found:
            del self._slots[name]
        return sorted(self._slots)

    def _slot(self, name: str) -> _Slot:
        slot = self._slots.get(name)
        if slot is not None:
            return slot
        path = self.models_dir / name
        if (not name or name.startswith(".") or "/" in name or "\\" in name or "\x00" in name
                or not path.is_dir() or not is_model_dir(path)):
            known = ", ".join(sorted(self._slots)) or "none yet"
            raise UnknownModel(f"model {name!r} not found in {self.models_dir} (models: {known})")
        slot = self._slots[name] = _Slot(name, path)
        return slot

    # -- swapping -------------------------------------------------------------------------------
    async def get(self, name: str) -> Served:
        """The version of ``name`` to answer a request with, after checking its pointer (two ``stat`` calls);
        a changed pointer is loaded first (shared with any other request waiting for it).

        Raises:
            UnknownModel: no such model.
            NotServable: the model has no version that loads (the reason included).
        """
        slot = self._slot(name)
        await self._refresh(slot)
        if slot.served is None:
            raise NotServable(f"model {name!r} has no servable version: {slot.error or 'loading'}")
        return slot.served

    async def refresh(self) -> None:
        """Rescan the folder and bring every model up to date with its pointer (the background poll)."""
        for name in self.scan():
            slot = self._slots.get(name)
            if slot is not None:
                await self._refresh(slot, retry=True)

    async def _refresh(self, slot: _Slot, *, retry: bool = False) -> None:
        for _ in range(3):  # the pointer may move again during a load: catch up, a bounded number of times
            state = pointer_state(slot.root)
            stale = (retry and slot.error is not None and slot.failed_at is not None
                     and time.monotonic() - slot.failed_at > RETRY_SECONDS)
            if state == slot.seen and not stale:
                return
            if slot.loading is None or slot.loading.done():
                slot.loading = asyncio.ensure_future(self._swap(slot, state))
            await asyncio.shield(slot.loading)  # a request that goes away does not cancel the load
            retry = False

    async def _swap(self, slot: _Slot, state: PointerState) -> None:
        loop = asyncio.get_running_loop()
        target: str | None = None
        swapped = False
        try:
            cell_dir, why, version = await loop.run_in_executor(self._loader, self._target, slot)
            target = f"{cell_dir}" + (f" (version {version})" if version is not None else "")
            current = slot.served
            if current is None or current.cell_dir != cell_dir or current.version != version:
                served = await loop.run_in_executor(self._loader, self._load, slot.name, cell_dir, why, version,
                                                    self.models_dir)
                slot.served, slot.loaded_at = served, now()  # the swap: requests from now on use it
                swapped = current is not None
                slot.swaps += int(swapped)
                log.info("%s: serving %s (%s)%s", slot.name, target, why,
                         f"; was {current.cell_dir}" if current is not None else "")
            slot.error = slot.failed_at = None
        except (ForecasterError, OSError) as exc:
            message = f"{target} refused: {exc}" if target else f"its pointer could not be followed: {exc}"
            if message != slot.error:
                log.warning("%s: %s%s", slot.name, message,
                            f"; still serving {slot.served.cell_dir}" if slot.served is not None else "")
            slot.error, slot.failed_at = message, time.monotonic()
        finally:
            slot.seen = state
        if self._on_change is not None:
            self._on_change(slot.name, slot.served, slot.error, swapped)

    def _target(self, slot: _Slot) -> tuple[Path, str, int | None]:
        """The folder the model's pointer names now, its reason, and its registry version."""
        cell_dir, why = resolve_model(slot.root, self.models_dir)
        version = None
        if (slot.root / layout.CHAMPION_FILE).is_file():
            raw = read_pointer(slot.root / layout.CHAMPION_FILE).get("version")
            version = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
        return cell_dir, why, version

    # -- what the endpoints show ----------------------------------------------------------------
    def status(self) -> list[dict[str, Any]]:
        """Every model: its served version's :class:`Served` ``info``, when it was loaded, how many swaps, and
        ``error``: why the newest target is not served (``None`` when it is)."""
        out = []
        for name in sorted(self._slots):
            slot = self._slots[name]
            base: dict[str, Any] = dict(slot.served.info) if slot.served is not None else {"name": name}
            state = "serving" if slot.served is not None else "failed" if slot.error else "loading"
            base.update(status=state, loaded_at=slot.loaded_at, swaps=slot.swaps, error=slot.error,
                        note=slot.served.note if slot.served is not None else None)
            out.append(base)
        return out

    def waiting(self) -> dict[str, str]:
        """Models without a served version, and why (``/readyz``: ready when empty and some model exists)."""
        return {name: slot.error or "loading" for name, slot in sorted(self._slots.items()) if slot.served is None}

    def served(self) -> dict[str, Served]:
        return {name: slot.served for name, slot in self._slots.items() if slot.served is not None}

    def close(self) -> None:
        self._loader.shutdown(wait=False, cancel_futures=True)
