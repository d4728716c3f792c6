"""A model registry: numbered versions, a champion pointer, promotion and rollback, a ledger.

Layout under ``<models_dir>/<name>/``::

    versions/<N>/        a complete run directory (``workflows.train.train(run_dir=...)``), N = 1, 2, ...
    champion.json        {"path": "versions/<N>", "version": N, "previous": [...], "promoted_at": ...}
    ledger.jsonl         one JSON object per decision: promoted / kept / skipped / failed / ...
    retrain.lock         held by the one retrain (or promote/rollback) running now
    checkpoint/          the unfinished retrain's checkpoint (resumed by the next retrain)

A version directory appears only when complete (it is written under a hidden temporary name and
renamed), the champion pointer is replaced atomically (``os.replace``), and a retrain never
deletes a version (``schedule.keep`` may prune the oldest non-champion ones). ``forecast predict
--model <models_dir>/<name>`` serves the champion through ``champion.json``. What decides a
promotion is :mod:`forecaster.registry.gate`; one retrain's steps are :mod:`forecaster.registry.retrain`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from forecaster.artifacts.cell import check_cell
from forecaster.artifacts.run import best_cell, read_pointer, write_pointer
from forecaster.errors import ArtifactError, BusyError
from forecaster.fs import json_ready, read_json
from forecaster.workflows import tracking

__all__ = ["Registry", "VersionInfo", "version_name", "now"]

def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class VersionInfo:
    """One version as ``forecast models list`` shows it.

    Attributes:
        version: the number N of ``versions/<N>``.
        path: the version's run directory.
        cell_dir: the cell served from it (its best cell).
        metrics: the cell's test metrics (``metrics.json``'s ``test``) when intact.
        manifest: the cell's manifest when intact.
        error: why the version cannot be served (corrupt, incomplete), else ``None``.
    """

    version: int
    path: Path
    cell_dir: Path | None
    metrics: dict[str, Any]
    manifest: dict[str, Any]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def version_name(name: str) -> bool:
    """Whether a folder name under ``versions/`` is a version: ASCII digits as :meth:`Registry.version_dir`
    writes them (``str.isdigit`` also holds for ``'١٢'`` or ``'²'``, and ``'007'`` would alias ``7``).

    Example:
        >>> [version_name(n) for n in ("12", "\u0661\u0662", "\u00b2", "007", "0")]
        [True, False, False, False, False]
    """
    return name.isascii() and name.isdecimal() and name == str(int(name)) and int(name) >= 1


class Registry:
    """The versions, champion pointer and ledger of one named model.

    Args:
        models_dir: the models folder (``output.models_dir``).
        name: the model name (``output.name``).
    """

    def __init__(self, models_dir: str | Path, name: str) -> None:
        self.root = Path(models_dir) / name
        self.versions_dir = self.root / "versions"
        self.champion_path = self.root / "champion.json"
        self.ledger_path = self.root / "ledger.jsonl"
        self.checkpoint_dir = self.root / "checkpoint"

    # -- versions -------------------------------------------------------------------------
    def versions(self) -> list[int]:
        """Version numbers present, ascending (hidden temporary folders and :meth:`strays` are ignored)."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(int(p.name) for p in self.versions_dir.iterdir() if p.is_dir() and version_name(p.name))

    def strays(self) -> list[str]:
        """Names under ``versions/`` that are not versions and not hidden (``١٢``, ``007``, a file): ignored by
        the registry, named by ``forecast models list``."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(p.name for p in self.versions_dir.iterdir()
                      if not p.name.startswith(".") and not (p.is_dir() and version_name(p.name)))

    def version_dir(self, version: int) -> Path:
        return self.versions_dir / str(version)

    def next_version(self) -> int:
        found = self.versions()
        return (found[-1] + 1) if found else 1

    def inspect(self, version: int) -> VersionInfo:
        """Check a version's files (hashes, manifest) without loading Keras."""
        path = self.version_dir(version)
        if not path.is_dir():
            return VersionInfo(version, path, None, {}, {}, error=f"{path}: no such version")
        try:
            cell = best_cell(path)
            manifest = check_cell(cell)
            raw = read_json(cell / "metrics.json", "metrics")
            scores = raw.get("test", {}) if isinstance(raw, dict) else {}
        except ArtifactError as exc:
            return VersionInfo(version, path, None, {}, {}, error=str(exc))
        return VersionInfo(version, path, cell, scores if isinstance(scores, dict) else {}, manifest)

    def inspect_all(self) -> list[VersionInfo]:
        """Every version, oldest first, with its integrity checked."""
        return [self.inspect(v) for v in self.versions()]

    def clean_temporary(self) -> list[str]:
        """Remove hidden leftovers of a killed save or prune; returns their names."""
        if not self.versions_dir.is_dir():
            return []
        stale = [p for p in self.versions_dir.iterdir() if p.name.startswith(".")]
        for p in stale:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
        return [p.name for p in stale]

    # -- champion -------------------------------------------------------------------------
    def pointer(self) -> dict[str, Any]:
        """The champion pointer (``{}`` when there is none)."""
        return read_pointer(self.champion_path)

    def champion(self) -> int | None:
        """The champion's version number (``None``: no champion, or a pointer to a plain run)."""
        version = self.pointer().get("version")
        return int(version) if isinstance(version, int) else None

    def _set_champion(self, version: int, previous: list[int]) -> None:
        pointer = {
            "path": f"versions/{version}",
            "version": version,
            "previous": previous,
            "promoted_at": now(),
        }
        write_pointer(self.champion_path, pointer)

    def previous(self) -> list[int]:
        """The former champions a rollback restores, oldest first (``champion.json``'s ``previous``).

        Raises:
            ArtifactError: ``previous`` is not a list of version numbers.
        """
        previous = self.pointer().get("previous", [])
        if not isinstance(previous, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in previous):
            raise ArtifactError(f"{self.champion_path}: 'previous' must be a list of version numbers, got "
                                f"{str(previous)[:80]!r}; fix or delete the file (`forecast models promote` rewrites it)")
        return list(previous)

    def _promote(self, version: int) -> None:
        current = self.champion()
        try:
            kept = self.previous()
        except ArtifactError:  # an unreadable rollback list is rewritten by this promote (the error says so)
            kept = []
        previous = [v for v in kept if v != version] if current is not None else []
        if current is not None and current != version:
            previous.append(current)  # never lists the new champion itself: a rollback always changes version
        self._set_champion(version, previous)

    def promote(self, version: int, *, reason: str = "manual promote") -> int | None:
        """Make ``version`` the champion (it must be intact); returns the former champion.

        Raises:
            ArtifactError: the version does not exist or is corrupt.
            BusyError: a retrain holds the lock.
        """
        with self.lock():
            info = self.inspect(version)
            if not info.ok:
                raise ArtifactError(f"version {version} of {self.root.name} cannot be promoted: {info.error}")
            before = self.champion()
            self._promote(version)
            self.log({"time": now(), "event": "promote", "version": version, "champion_before": before,
                      "champion_after": version, "reason": reason})
            return before

    def rollback(self) -> tuple[int, list[str]]:
        """Restore the previous champion, skipping versions that are gone or corrupt.

        Returns:
            The new champion and a line per skipped version.

        Raises:
            ArtifactError: no intact previous champion.
            BusyError: a retrain holds the lock.
        """
        with self.lock():
            previous = self.previous()
            before = self.champion()
            skipped: list[str] = []
            while previous:
                candidate = int(previous.pop())
                if candidate == before:  # an older file may list the champion itself
                    continue
                info = self.inspect(candidate)
                if info.ok:
                    self._set_champion(candidate, previous)
                    self.log({"time": now(), "event": "rollback", "version": candidate, "champion_before": before,
                              "champion_after": candidate, "reason": "rollback", "skipped": skipped})
                    return candidate, skipped
                skipped.append(f"version {candidate} skipped: {info.error}")
            detail = f" ({'; '.join(skipped)})" if skipped else ""
            raise ArtifactError(f"{self.champion_path}: no previous champion to roll back to{detail}")

    def prune(self, keep: int) -> list[int]:
        """Keep the ``keep`` newest versions plus the champion and the one a rollback restores.

        Returns:
            The deleted version numbers (none when ``keep`` is 0).
        """
        if keep <= 0:
            self.prune_logs()
            return []
        versions = self.versions()
        protected = {self.champion(), *self.previous()[-1:], *versions[-keep:]}
        removed: list[int] = []
        for v in versions:
            if v in protected:
                continue
            trash = self.versions_dir / f".pruned-{v}"
            os.rename(self.version_dir(v), trash)  # gone from versions/ at once, then deleted
            shutil.rmtree(trash, ignore_errors=True)
            removed.append(v)
        self.prune_logs()
        return removed

    def prune_logs(self) -> None:
        """Delete the TensorBoard logs of every version that is gone (pruned, or never saved: a failed challenger)."""
        logs = self.root / tracking.TENSORBOARD_DIR
        if not logs.is_dir():
            return
        kept = {self.tensorboard_group(v) for v in self.versions()}
        for group in logs.iterdir():
            if group.is_dir() and re.fullmatch(r"version-[0-9]+", group.name) and group.name not in kept:
                shutil.rmtree(group, ignore_errors=True)

    @staticmethod
    def tensorboard_group(version: int) -> str:
        """The folder under ``tensorboard/`` holding the logs of the fits that made ``version``."""
        return f"version-{version}"

    # -- ledger and lock ------------------------------------------------------------------
    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON line to the ledger (one ``write`` of a whole line, then fsync).

        A last line torn by a crash is terminated first, so it cannot swallow this record.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        line = json.dumps(json_ready(record), sort_keys=False) + "\n"
        fd = os.open(self.ledger_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                line = "\n" + line  # end a line torn by a crash so this record stays whole
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def ledger(self) -> list[dict[str, Any]]:
        """Every ledger record, oldest first (a torn last line is ignored)."""
        if not self.ledger_path.exists():
            return []
        records = []
        for line in self.ledger_path.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                records.append(json.loads(line))
        return records

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the model's file lock (works across processes and containers sharing the volume).

        Raises:
            BusyError: another process holds it.
        """
        import filelock

        target = self.root / "retrain.lock"
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(target), timeout=0)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise BusyError(f"{target}: another retrain of {self.root.name} is running; skipped") from None
        try:
            yield
        finally:
            lock.release()
