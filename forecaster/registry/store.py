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
import re
import shutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from forecaster.artifacts.cell import LoadedCell, check_cell
from forecaster.artifacts.run import best_cell, read_pointer, write_pointer
from forecaster.artifacts.statistical import LoadedStatistical
from forecaster.config import RunConfig, to_dict
from forecaster.errors import ArtifactError, BusyError, DataError, ExitCode, ForecasterError, TrainingError
from forecaster.fs import atomic_write_text, json_ready, read_json
from forecaster.workflows import tracking

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.data.frame import Panel
    from forecaster.data.prepared import Prepared

__all__ = [
    "Registry",
    "version_name",
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
    #: the typed error behind a ``skipped``/``failed`` outcome (busy, data, training); the CLI
    #: maps it to an exit code like any other error (``None``: nothing went wrong).
    error: ForecasterError | None = field(default=None, compare=False)

    @property
    def exit_code(self) -> int:
        """The exit code the CLI gives this outcome (that of :attr:`error`, else 0)."""
        return int(self.error.exit_code) if self.error is not None else int(ExitCode.OK)

    def to_record(self) -> dict[str, Any]:
        """The ledger line (without ``error``)."""
        record = {"time": _now(), "event": "retrain", **asdict(self)}
        record.pop("error")
        return record


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
            "promoted_at": _now(),
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


def coverage_gate(scores: dict[str, Any], levels: Sequence[int], tolerance: float | None) -> str | None:
    """Why a challenger's intervals keep it from promotion (``None``: they pass, or no tolerance is set).

    Each level's coverage on the holdout must lie within ``tolerance`` of nominal.

    Example:
        >>> coverage_gate({"coverage_80": 0.71, "coverage_95": 0.94}, (80, 95), 0.05)
        'the 80% interval covered 71.0% of the holdout, outside 80% +- 5 points'
        >>> coverage_gate({"coverage_80": 0.78}, (80,), 0.05) is None
        True
    """
    if tolerance is None:
        return None
    for level in sorted(levels):
        covered = scores.get(f"coverage_{level}")
        if covered is None:
            return f"the {level}% interval could not be measured on the holdout"
        if abs(covered - level / 100) > tolerance + 1e-12:
            return (f"the {level}% interval covered {100 * covered:.1f}% of the holdout, outside {level}% "
                    f"+- {100 * tolerance:g} points")
    return None


def check_new_data(panel: Panel, manifest: dict[str, Any], *, min_new_rows: int, horizon: int,
                   seen: dict[str, Any] | None = None) -> str | None:
    """Compare new data with what the champion was trained on.

    Args:
        panel: the data now (a file of one series: a panel of one).
        manifest: the champion's manifest (schema, frequency, horizon, and what it has seen).
        min_new_rows: rows needed after the last timestamp already trained on.
        horizon: the configured horizon.
        seen: the manifest of a newer version trained since (a kept challenger): its data counts
            as seen too, so data already trained on once is not retrained on every run.

    Returns:
        ``None`` when a retrain may go ahead, else the reason to skip it.
    """
    import pandas as pd

    data, window = manifest.get("data", {}), manifest.get("window", {})
    many = panel.id_col is not None
    if many != bool(data.get("id_col")):
        return ("schema differs from the champion's: " + (f"it forecasts many series by '{data.get('id_col')}'" if
                data.get("id_col") else "it forecasts one series per file") + "; train a new model name")
    one = panel.first
    if manifest.get("kind") == "statistical":  # it reads the target alone: the other columns are the challenger's
        if one.target != data.get("target"):
            return f"schema differs from the champion's: target {one.target!r}, expected {data.get('target')!r}"
    else:
        expected = [data.get("target"), *data.get("covariates", []), *data.get("static", []), *data.get("known", [])]
        if one.columns != expected:
            return f"schema differs from the champion's: columns {one.columns}, expected {expected}"
        for role, now, then in (("known covariates", one.known, data.get("known", [])),
                                ("static covariates", one.static, data.get("static", []))):
            if list(now) != list(then):  # the same columns in another role would feed the champion wrong inputs
                return f"schema differs from the champion's: {role} {list(now)}, expected {list(then)}"
    if window.get("freq") != one.freq:
        return f"frequency {one.freq!r} differs from the champion's {window.get('freq')!r}"
    if int(window.get("horizon", horizon)) != horizon:
        return f"horizon {horizon} differs from the champion's {window.get('horizon')}; scores would not compare"
    lasts = []
    for who, m in (("the champion's", manifest), ("the newest version's", seen or {})):
        with contextlib.suppress(KeyError, ValueError, TypeError, AttributeError):
            lasts.append((pd.Timestamp(m["data"]["last"]), who, m["data"].get("series_last")))
    if not lasts:
        return None
    last, who, per_series = max(lasts, key=lambda lw: lw[0])
    if many and isinstance(per_series, dict):  # each series after its own end; a new series counts whole
        new_rows = 0
        for s in panel.series:
            with contextlib.suppress(ValueError, TypeError):
                end = per_series.get(str(s.series_id))
                new_rows += len(s.frame) if end is None else int((s.frame.index > pd.Timestamp(end)).sum())
        if new_rows < min_new_rows:
            return (f"{new_rows} new rows after the end of each series in {who} data; need at least "
                    f"{min_new_rows}")
        return None
    new_rows = sum(int((s.frame.index > last).sum()) for s in panel.series)
    if new_rows < min_new_rows:
        return f"{new_rows} new rows after {who} last timestamp {last}; need at least {min_new_rows}"
    return None


def _served_row(run_dir: Path, rows: Sequence[dict[str, Any]], fallback: str) -> dict[str, Any]:
    """The leaderboard row a version serves (:func:`~forecaster.artifacts.run.best_cell`)."""
    from forecaster.artifacts.run import best_cell

    try:
        name = best_cell(run_dir).name
    except ArtifactError:
        name = fallback
    return next((r for r in rows if r.get("name") == name), next(r for r in rows if r.get("name") == fallback))


def _unscored_series(row: dict[str, Any], prep: Prepared) -> str | None:
    """On a panel, ``"the challenger scored 14 of 15 series"`` when its row left series out (a
    ``--per-series`` network that failed to train on them); ``None`` otherwise."""
    scored, total = row.get("series"), len(prep.items)
    if not isinstance(scored, int) or scored >= total:
        return None
    return f"the challenger scored {scored} of {total} series (no network for the others)"


def _champion_score(cell_dir: Path, prep: Prepared, metric: str) -> float | None:
    """The champion's ``metric`` on the challenger's test windows (same targets, same MASE scales), pooled
    over series as the challenger's is.

    A network is scored as saved; a statistical champion keeps its structure and re-estimates its
    parameters on the new train + validation rows, as it did when it was chosen.

    Raises:
        ArtifactError: it cannot be loaded, or has no model for a series of the data (a new series:
            it could not serve it), or fails on every series.
        DataError: its lookback reaches before the start of a series' data.
    """
    from forecaster.evaluation.scoring import score_row
    from forecaster.workflows.predict import load_model

    loaded = load_model(cell_dir, backend="keras")
    trained_on = loaded.manifest["data"].get("series_last") or {}
    missing = [sid for sid in prep.ids if not loaded.serves(sid)]
    failed = [sid for sid in missing if sid in trained_on]
    if failed:
        raise ArtifactError(f"it has no model for series {failed[0]!r} ({len(failed)} whose training failed) and "
                            "cannot serve it")
    if missing:
        what = f"series {missing[0]!r} ({len(missing)} new in the data)" if prep.panel.id_col else "this data"
        raise ArtifactError(f"it was not trained on {what} and cannot serve it")
    if isinstance(loaded, LoadedCell):
        list(loaded.members)  # load every network now: a broken one is an unusable champion, not a series it failed on
        short = [p.series_id for p in prep.items if loaded.lookback > int(p.origins("test").min())]
        if short:
            where = f" of series {short[0]!r}" if prep.panel.id_col else " of the new data"
            raise DataError(f"the champion's lookback {loaded.lookback} reaches before the start{where}")
    scored = score_row(loaded, prep, fit=isinstance(loaded, LoadedStatistical))
    if scored.error:
        raise ArtifactError(scored.error)
    value = scored.scores.get(metric)
    return float(value) if value is not None else None


def _checkpoint_key(cfg: RunConfig, data_sha256: str) -> str:
    """What a checkpoint must have been made with to be resumed: same data and settings.

    The epoch cap is left out: raising or lowering it does not invalidate the epochs already run.
    """
    body = {k: v for k, v in to_dict(cfg).items() if k in ("data", "window", "model", "training")}
    body["training"] = {k: v for k, v in body["training"].items() if k != "epochs"}
    return hashlib.sha256(json.dumps([body, data_sha256], sort_keys=True).encode()).hexdigest()


@dataclass
class _Retrain:
    """The state one retrain carries from step to step (inside the lock)."""

    cfg: RunConfig
    reg: Registry
    say: Callable[[str], None]
    progress: Callable[[str], None] | None
    should_stop: Callable[[], bool]
    base: dict[str, Any]
    champion: int | None = None
    champ_info: VersionInfo | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def decide(self, outcome: Outcome, reason: str, error: ForecasterError | None = None, **extra: Any) -> Decision:
        return Decision(outcome, reason, data=self.data, error=error, **{**self.base, **extra})

    def open(self) -> None:
        """Clean a killed save's leftovers and look at the champion."""
        leftovers = self.reg.clean_temporary()
        if leftovers:
            self.say(f"removed unfinished leftovers from {self.reg.versions_dir}: {', '.join(leftovers)}")
        self.champion = self.reg.champion()
        self.champ_info = self.reg.inspect(self.champion) if self.champion is not None else None
        if self.champ_info is not None and not self.champ_info.ok:
            self.say(f"champion version {self.champion} is unusable and will not be served: {self.champ_info.error}")
        self.base.update(champion_before=self.champion, champion_after=self.champion)

    def checkpoint(self, sha256: str) -> Any:
        """The retrain's checkpoint, discarded first when made with other data or settings."""
        from forecaster.models.network.checkpoint import Checkpoint

        reg = self.reg
        key, key_file = _checkpoint_key(self.cfg, sha256), reg.checkpoint_dir / "key.json"
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            if json.loads(key_file.read_text(encoding="utf-8"))["key"] != key:
                self.say("discarding a checkpoint made with other data or settings")
                shutil.rmtree(reg.checkpoint_dir, ignore_errors=True)
        atomic_write_text(key_file, json.dumps({"key": key, "data": self.data}))
        return Checkpoint(reg.checkpoint_dir, should_stop=self.should_stop, progress=self.say)

    def judge(self, challenger: float | None, prep: Prepared) -> tuple[bool, str, float | None]:
        """Re-score the champion on the challenger's holdout and apply the gate."""
        sc, info = self.cfg.schedule, self.champ_info

        def gated(score: float | None) -> tuple[bool, str]:
            return gate(challenger, score, metric=sc.metric, margin=sc.margin, champion_version=self.champion)

        if info is None or not info.ok or info.cell_dir is None:  # none yet, or a corrupt one any valid one replaces
            score = math.nan if info is not None else None
            return (*gated(score), score)
        try:
            score = _champion_score(info.cell_dir, prep, sc.metric)
            return (*gated(score), score)
        except (ArtifactError, TrainingError) as exc:  # it cannot be loaded (or refitted): nor served either
            promote, reason = gated(math.nan)
            return promote, f"{reason}; champion could not be used ({exc})", math.nan
        except DataError as exc:  # a servable champion that cannot be compared stays
            return False, f"champion could not be re-scored on the new holdout ({exc}); kept", None


def _retrain_locked(run: _Retrain) -> Decision:
    """The steps of one retrain, lock held: data, checks, challenger, gate, promotion, retention."""
    from forecaster.data.load import load
    from forecaster.models.network.checkpoint import Stopped
    from forecaster.workflows.train import prepare_run, train

    cfg, reg, sc = run.cfg, run.reg, run.cfg.schedule
    run.open()
    try:  # the data is read once: checks, challenger and champion all see this snapshot
        champ = run.champ_info.manifest.get("data", {}) if run.champ_info is not None and run.champ_info.ok else {}
        # a text static covariate keeps the champion's categories (a new one is all zeros), so both read one input
        series = load(cfg, static_levels=champ.get("static_levels") if champ else None)
    except DataError as exc:
        return run.decide("skipped", f"data checks failed: {exc}", exc)
    frames = [s.frame for s in series.series]
    run.data = {"path": series.path, "sha256": series.sha256, "rows": sum(len(f) for f in frames),
                "last": str(max(f.index[-1] for f in frames))}
    if run.champ_info is not None and run.champ_info.ok:
        newest = reg.inspect(reg.versions()[-1]) if reg.versions() else None
        reason = check_new_data(series, run.champ_info.manifest, min_new_rows=sc.min_new_rows,
                                horizon=cfg.window.horizon, seen=newest.manifest if newest and newest.ok else None)
        if reason is not None:
            return run.decide("skipped", f"data checks: {reason}")

    checkpoint = run.checkpoint(series.sha256)
    version = reg.next_version()
    run.say(f"training challenger version {version} of {reg.root.name}")
    try:
        # its logs go with the version: kept once its folder exists, whatever happens after
        with tracking.tensorboard_group(reg.tensorboard_group(version), lambda: int(reg.version_dir(version).is_dir())):
            prep = prepare_run(cfg, series)  # a panel: one global network over every series, the gate on the pooled score
            result = train(cfg, prep, progress=run.progress, run_dir=reg.version_dir(version), checkpoint=checkpoint)
    except TrainingError as exc:
        shutil.rmtree(reg.checkpoint_dir, ignore_errors=True)  # never resume a diverged run
        reg.prune_logs()  # nor keep the logs of a version never saved
        return run.decide("failed", f"challenger invalid, not saved: {exc}", exc)
    except DataError as exc:
        shutil.rmtree(reg.checkpoint_dir, ignore_errors=True)
        reg.prune_logs()
        return run.decide("skipped", f"data checks failed: {exc}", exc)
    except Stopped as exc:
        reg.log(run.decide("stopped", f"{exc}; the next retrain resumes from the checkpoint").to_record())
        raise
    shutil.rmtree(reg.checkpoint_dir, ignore_errors=True)

    cell = result.cells[0]
    served = _served_row(reg.version_dir(version), result.leaderboard, cell.name)
    score = served.get(sc.metric)
    challenger = float(score) if isinstance(score, (int, float)) else None
    if served["name"] == cell.name and not math.isfinite(cell.fit.best_val_loss):
        challenger = math.nan
    promote, reason, champion_score = run.judge(challenger, prep)
    if served["name"] != cell.name:  # a statistical row beat the network: the version serves it
        reason = f"{reason} (the version serves {served['name']}, which beat {cell.name} on the holdout)"
    refused = coverage_gate(served, cfg.forecast.levels, sc.coverage_tolerance) if promote else None
    if refused is not None and run.champ_info is not None and run.champ_info.ok:
        promote, reason = False, f"{reason}, but {refused} (schedule.coverage_tolerance); not promoted"
    elif refused is not None:  # nothing intact to keep: an unserved model folder helps nobody
        reason = f"{reason}; {refused} (schedule.coverage_tolerance), promoted anyway: there is no champion to keep"
    short = _unscored_series(served, prep)  # a panel's challenger scored (and so serves) fewer series than it has
    rescored = champion_score is not None and math.isfinite(champion_score)  # the champion served every series
    if promote and short is not None and rescored:
        promote, reason = False, f"{reason}, but {short}; not promoted (its pooled score leaves them out)"
    elif promote and short is not None:
        reason = f"{reason}; {short}, promoted anyway: no champion served every series of this data"
    if promote:
        reg._promote(version)
    pruned = reg.prune(sc.keep)
    extra = f"; pruned versions {pruned}" if pruned else ""
    return run.decide("promoted" if promote else "kept", reason + extra, version=version,
                      champion_after=version if promote else run.champion,
                      challenger_score=challenger, champion_score=champion_score)


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
        decisions too (``skipped`` / ``failed``, with the typed error the CLI maps to an exit
        code), so a scheduler never crash-loops on them.

    Raises:
        checkpoint.Stopped: ``should_stop`` became true (the ledger records it).
    """
    reg = Registry(cfg.output.models_dir, cfg.model_name)
    run = _Retrain(cfg, reg, progress or (lambda _msg: None), progress, should_stop or (lambda: False),
                   base={"metric": cfg.schedule.metric, "margin": cfg.schedule.margin})
    try:
        lock = reg.lock()
        lock.__enter__()
    except BusyError as exc:
        decision = run.decide("skipped", str(exc), exc)
    else:
        try:
            decision = _retrain_locked(run)
        finally:
            lock.__exit__(None, None, None)
    reg.log(decision.to_record())
    return decision
