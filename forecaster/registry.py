"""A model registry: numbered versions, a champion pointer, promotion and rollback, a ledger.

Layout under ``<models_dir>/<name>/``::

    versions/<N>/        a complete run directory (``pipeline.train(run_dir=...)``), N = 1, 2, ...
    champion.json        {"path": "versions/<N>", "version": N, "previous": [...], "promoted_at": ...}
    ledger.jsonl         one JSON object per decision: promoted / kept / skipped / failed / ...
    retrain.lock         held by the one retrain (or promote/rollback) running now
    checkpoint/          the unfinished retrain's checkpoint (resumed by the next retrain)

A version directory appears only when complete (it is written under a hidden temporary name and
renamed), the champion pointer is replaced atomically (``os.replace``), and a retrain never
deletes a version (``schedule.keep`` may prune the oldest non-champion ones). ``forecast predict
--model <models_dir>/<name>`` serves the champion through ``champion.json``.

A retrain (:func:`retrain`) takes the lock, checks the new data against the champion's schema,
trains a challenger into the next version, re-scores the champion on the challenger's test
windows (the newest holdout) and promotes the challenger only if it is valid and beats the
champion by ``schedule.margin`` on ``schedule.metric``. Every outcome goes to the ledger.

Example:
    >>> from forecaster import config
    >>> cfg = config.resolve("configs/schedule.yaml")  # doctest: +SKIP
    >>> decision = retrain(cfg)  # doctest: +SKIP
    >>> decision.outcome, decision.version, decision.reason  # doctest: +SKIP
    ('promoted', 2, 'mase 0.8123 < 0.9021 (champion v1 0.9021, margin 0%)')
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from forecaster.config import RunConfig, to_dict
from forecaster.errors import ArtifactError, BusyError, DataError, ExitCode, TrainingError
from forecaster.export import atomic_write_text, best_cell, check_cell, read_json

__all__ = [
    "Registry",
    "VersionInfo",
    "Decision",
    "retrain",
    "gate",
    "check_new_data",
]

Outcome = Literal["promoted", "kept", "skipped", "failed", "stopped"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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


@dataclass(frozen=True)
class Decision:
    """What one retrain did, as written to the ledger."""

    outcome: Outcome
    reason: str
    version: int | None = None
    champion_before: int | None = None
    champion_after: int | None = None
    metric: str = "mase"
    challenger_score: float | None = None
    champion_score: float | None = None
    margin: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)
    exit_code: int = ExitCode.OK

    def to_record(self) -> dict[str, Any]:
        """The ledger line (without ``exit_code``)."""
        record = {"time": _now(), "event": "retrain", **asdict(self)}
        record.pop("exit_code")
        return record


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
        """Version numbers present, ascending (hidden temporary folders are ignored)."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(int(p.name) for p in self.versions_dir.iterdir() if p.is_dir() and p.name.isdigit())

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
        if not self.champion_path.exists():
            return {}
        raw = read_json(self.champion_path, "champion pointer")
        if not isinstance(raw, dict) or "path" not in raw:
            raise ArtifactError(f"{self.champion_path}: expected a JSON object with a 'path' key")
        return raw

    def champion(self) -> int | None:
        """The champion's version number (``None``: no champion, or a pointer to a plain run)."""
        version = self.pointer().get("version")
        return int(version) if isinstance(version, int) else None

    def _set_champion(self, version: int, previous: list[int]) -> None:
        pointer = {
            "path": f"versions/{version}",
            "version": version,
            "previous": previous,
            "promoted_at": _now(),
        }
        atomic_write_text(self.champion_path, json.dumps(pointer, indent=2) + "\n")

    def _promote(self, version: int) -> None:
        current = self.champion()
        previous = list(self.pointer().get("previous", [])) if current is not None else []
        if current is not None and current != version:
            previous.append(current)
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
            self.log({"time": _now(), "event": "promote", "version": version, "champion_before": before,
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
            pointer = self.pointer()
            previous = list(pointer.get("previous", []))
            before = self.champion()
            skipped: list[str] = []
            while previous:
                candidate = int(previous.pop())
                info = self.inspect(candidate)
                if info.ok:
                    self._set_champion(candidate, previous)
                    self.log({"time": _now(), "event": "rollback", "version": candidate, "champion_before": before,
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
            return []
        versions = self.versions()
        protected = {self.champion(), *self.pointer().get("previous", [])[-1:], *versions[-keep:]}
        removed: list[int] = []
        for v in versions:
            if v in protected:
                continue
            trash = self.versions_dir / f".pruned-{v}"
            os.rename(self.version_dir(v), trash)  # gone from versions/ at once, then deleted
            shutil.rmtree(trash, ignore_errors=True)
            removed.append(v)
        return removed

    # -- ledger and lock ------------------------------------------------------------------
    def log(self, record: dict[str, Any]) -> None:
        """Append one JSON line to the ledger (one ``write`` of a whole line, then fsync).

        A last line torn by a crash is terminated first, so it cannot swallow this record.
        """
        from forecaster.export import json_ready

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


def gate(challenger: float | None, champion: float | None, *, metric: str, margin: float,
         champion_version: int | None = None) -> tuple[bool, str]:
    """Decide whether a challenger's score beats the champion's by ``margin`` (lower is better).

    Returns:
        ``(promote, reason)``.

    Example:
        >>> gate(0.8, 1.0, metric="mase", margin=0.1)
        (True, 'mase 0.8000 < 0.9000 (champion 1.0000 - 10%)')
        >>> gate(float("nan"), 1.0, metric="mase", margin=0.0)[0]
        False
    """
    if not _finite(challenger):
        return False, f"challenger {metric} is {challenger}: not a finite score, never promoted"
    assert challenger is not None
    if champion_version is None and champion is None:
        return True, f"no champion yet; first valid version ({metric} {challenger:.4f})"
    if not _finite(champion):
        return True, f"champion {metric} is {champion}: the challenger ({challenger:.4f}) replaces it"
    assert champion is not None
    threshold = champion * (1 - margin) if champion >= 0 else champion * (1 + margin)
    detail = f"(champion {champion:.4f} - {margin:.0%})"
    if challenger < threshold:
        return True, f"{metric} {challenger:.4f} < {threshold:.4f} {detail}"
    return False, f"{metric} {challenger:.4f} does not beat {threshold:.4f} {detail}"


def check_new_data(series: Any, manifest: dict[str, Any], *, min_new_rows: int, horizon: int) -> str | None:
    """Compare new data with what the champion was trained on.

    Returns:
        ``None`` when a retrain may go ahead, else the reason to skip it.
    """
    import pandas as pd

    data, window = manifest.get("data", {}), manifest.get("window", {})
    expected = [data.get("target"), *data.get("covariates", [])]
    if series.columns != expected:
        return f"schema differs from the champion's: columns {series.columns}, expected {expected}"
    if window.get("freq") != series.freq:
        return f"frequency {series.freq!r} differs from the champion's {window.get('freq')!r}"
    if int(window.get("horizon", horizon)) != horizon:
        return f"horizon {horizon} differs from the champion's {window.get('horizon')}; scores would not compare"
    try:
        last = pd.Timestamp(data["last"])
    except (KeyError, ValueError, TypeError):
        return None
    new_rows = int((series.frame.index > last).sum())
    if new_rows < min_new_rows:
        return f"{new_rows} new rows after the champion's last timestamp {last}; need at least {min_new_rows}"
    return None


def _score_champion(cell_dir: Path, prep: Any, metric: str, batch_size: int) -> float | None:
    """The champion's ``metric`` on the challenger's test windows (same targets, same scaling)."""
    import numpy as np

    from forecaster import metrics
    from forecaster.export import load_cell
    from forecaster.strategies import predict_windows

    loaded = load_cell(cell_dir)
    first = prep.split.first_targets("test")
    if loaded.lookback > int(first.min()):
        raise DataError(f"the champion's lookback {loaded.lookback} reaches before the start of the new data")
    values = prep.series.frame[loaded.scaler.columns].to_numpy(dtype=np.float64)[: prep.split.n]
    scaled = loaded.scaler.transform(values)
    x = np.stack([scaled[t - loaded.lookback : t] for t in first])
    strategy = str(loaded.manifest["window"].get("strategy", "direct"))
    horizon = prep.split.horizon
    chunks = [
        predict_windows(lambda w: loaded.model(w, training=False), x[i : i + batch_size], strategy=strategy, horizon=horizon)
        for i in range(0, len(x), batch_size)
    ]
    y_pred = loaded.scaler.inverse_target(np.concatenate(chunks))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", metrics.MetricWarning)
        scores = metrics.score(prep.test_targets, y_pred, insample=prep.insample, season=prep.season)
    value = scores.get(metric)
    return float(value) if value is not None else None


def _trained_sha256(cell_dir: Path) -> str | None:
    """The data file hash recorded in a freshly saved cell's manifest."""
    try:
        return str(read_json(cell_dir / "manifest.json", "run manifest")["data"]["sha256"])
    except (ArtifactError, KeyError, TypeError):
        return None


def _checkpoint_key(cfg: RunConfig, data_sha256: str) -> str:
    """What a checkpoint must have been made with to be resumed: same data and settings.

    The epoch cap is left out: raising or lowering it does not invalidate the epochs already run.
    """
    body = {k: v for k, v in to_dict(cfg).items() if k in ("data", "window", "model", "training")}
    body["training"] = {k: v for k, v in body["training"].items() if k != "epochs"}
    return hashlib.sha256(json.dumps([body, data_sha256], sort_keys=True).encode()).hexdigest()


def retrain(
    cfg: RunConfig,
    *,
    progress: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Decision:
    """One retrain: lock, check data, train a challenger version, gate, promote or keep, log.

    Args:
        cfg: the resolved configuration (``schedule`` holds the gate and retention settings).
        progress: receives progress lines (``None``: silent).
        should_stop: polled between batches; when true the retrain stops, its checkpoint kept
            for the next retrain, and nothing is added to ``versions/``.

    Returns:
        The decision (also appended to the ledger). Busy, data-check and training failures are
        decisions too (``skipped`` / ``failed``), so a scheduler never crash-loops on them.

    Raises:
        checkpoint.Stopped: ``should_stop`` became true (the ledger records it).
    """
    from forecaster import pipeline
    from forecaster.checkpoint import Checkpoint, Stopped

    say = progress or (lambda _msg: None)
    sc = cfg.schedule
    reg = Registry(cfg.output.models_dir, cfg.model_name)
    base: dict[str, Any] = {"metric": sc.metric, "margin": sc.margin}

    def record(decision: Decision) -> Decision:
        reg.log(decision.to_record())
        return decision

    try:
        held = reg.lock()
        held.__enter__()
    except BusyError as exc:
        return record(Decision("skipped", str(exc), exit_code=ExitCode.BUSY, **base))
    try:
        leftovers = reg.clean_temporary()
        if leftovers:
            say(f"removed unfinished leftovers from {reg.versions_dir}: {', '.join(leftovers)}")
        champion = reg.champion()
        champ_info = reg.inspect(champion) if champion is not None else None
        if champ_info is not None and not champ_info.ok:
            say(f"champion version {champion} is unusable and will not be served: {champ_info.error}")
        base["champion_before"] = champion
        base["champion_after"] = champion
        try:
            series = pipeline.load(cfg)
        except DataError as exc:
            return record(Decision("skipped", f"data checks failed: {exc}", exit_code=ExitCode.DATA, **base))
        data = {"path": series.path, "sha256": series.sha256, "rows": len(series.frame),
                "last": str(series.frame.index[-1])}
        if champ_info is not None and champ_info.ok:
            reason = check_new_data(series, champ_info.manifest, min_new_rows=sc.min_new_rows,
                                    horizon=cfg.window.horizon)
            if reason is not None:
                return record(Decision("skipped", f"data checks: {reason}", data=data, **base))

        key = _checkpoint_key(cfg, series.sha256)
        key_file = reg.checkpoint_dir / "key.json"
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            if json.loads(key_file.read_text(encoding="utf-8"))["key"] != key:
                say("discarding a checkpoint made with other data or settings")
                shutil.rmtree(reg.checkpoint_dir, ignore_errors=True)
        atomic_write_text(key_file, json.dumps({"key": key, "data": data}))
        checkpoint = Checkpoint(reg.checkpoint_dir, should_stop=should_stop or (lambda: False), progress=say)

        version = reg.next_version()
        say(f"training challenger version {version} of {reg.root.name}")
        try:
            prep = pipeline.prepare(cfg, series)
            result = pipeline.train(cfg, progress=progress, run_dir=reg.version_dir(version), checkpoint=checkpoint)
        except TrainingError as exc:
            shutil.rmtree(reg.checkpoint_dir, ignore_errors=True)  # never resume a diverged run
            return record(Decision("failed", f"challenger invalid, not saved: {exc}", data=data,
                                   exit_code=ExitCode.TRAINING, **base))
        except DataError as exc:
            shutil.rmtree(reg.checkpoint_dir, ignore_errors=True)
            return record(Decision("skipped", f"data checks failed: {exc}", data=data, exit_code=ExitCode.DATA,
                                   **base))
        except Stopped as exc:
            record(Decision("stopped", f"{exc}; the next retrain resumes from the checkpoint", data=data, **base))
            raise
        shutil.rmtree(reg.checkpoint_dir, ignore_errors=True)

        cell = result.cells[0]
        challenger = cell.scores.get(sc.metric)
        challenger = float(challenger) if challenger is not None else None
        if not math.isfinite(cell.fit.best_val_loss):
            challenger = math.nan
        champion_score: float | None = None

        def judge(score: float | None) -> tuple[bool, str]:
            return gate(challenger, score, metric=sc.metric, margin=sc.margin, champion_version=champion)

        if _trained_sha256(best_cell(result.run_dir)) != series.sha256:
            promote, reason = False, (f"{series.path} changed while the challenger trained; it was not compared "
                                      "with the champion on the same holdout (the next retrain will)")
        elif champ_info is not None and champ_info.ok and champ_info.cell_dir is not None:
            try:
                champion_score = _score_champion(champ_info.cell_dir, prep, sc.metric, cfg.training.batch_size)
                promote, reason = judge(champion_score)
            except ArtifactError as exc:  # hashes fine but Keras cannot load it: it cannot be served either
                champion_score = math.nan
                promote, reason = judge(champion_score)
                reason += f"; champion could not be loaded ({exc})"
            except DataError as exc:  # a servable champion that cannot be compared stays
                promote, reason = False, f"champion could not be re-scored on the new holdout ({exc}); kept"
        else:  # no champion yet, or a corrupt one that any valid challenger replaces
            champion_score = math.nan if champ_info is not None else None
            promote, reason = judge(champion_score)
        if promote:
            reg._promote(version)
        pruned = reg.prune(sc.keep)
        extra = f"; pruned versions {pruned}" if pruned else ""
        return record(Decision(
            "promoted" if promote else "kept", reason + extra, version=version,
            champion_before=champion, champion_after=version if promote else champion, metric=sc.metric,
            challenger_score=challenger, champion_score=champion_score, margin=sc.margin, data=data,
        ))
    finally:
        held.__exit__(None, None, None)
