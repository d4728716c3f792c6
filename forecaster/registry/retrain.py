"""One retrain (:func:`retrain`): take the lock, check the new data against the champion's schema,
train a challenger into the next version, re-score the champion on the challenger's test windows
(the newest holdout) and promote the challenger only if it is valid and, by the verdict's paired test
on ``schedule.metric``, significantly better (by ``schedule.margin``), or not significantly different
and cheaper. Every outcome goes to the ledger.

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
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from forecaster.config import RunConfig, to_dict
from forecaster.errors import ArtifactError, BusyError, DataError, ExitCode, ForecasterError, TrainingError
from forecaster.fs import atomic_write_text
from forecaster.registry.gate import (
    champion_row,
    check_new_data,
    coverage_gate,
    gate,
    rescore_champion,
    served_row,
    tested_gate,
    unscored_series,
)
from forecaster.registry.store import Registry, VersionInfo, now
from forecaster.workflows import tracking

if TYPE_CHECKING:  # pragma: no cover
    from forecaster.data.prepared import Prepared
    from forecaster.evaluation.scoring import Scored

__all__ = ["Outcome", "Decision", "retrain"]

Outcome = Literal["promoted", "kept", "skipped", "failed", "stopped"]


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
        record = {"time": now(), "event": "retrain", **asdict(self)}
        record.pop("error")
        return record


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

    def judge(self, challenger: float | None, prep: Prepared, served: dict[str, Any] | None = None,
              scored: Scored | None = None) -> tuple[bool, str, float | None]:
        """Re-score the champion on the challenger's holdout and apply the gate: the verdict's paired test
        (:func:`~forecaster.registry.gate.tested_gate`) when both have losses on it, else the score gate."""
        sc, info = self.cfg.schedule, self.champ_info

        def gated(score: float | None) -> tuple[bool, str]:
            return gate(challenger, score, metric=sc.metric, margin=sc.margin, champion_version=self.champion)

        if info is None or not info.ok or info.cell_dir is None:  # none yet, or a corrupt one any valid one replaces
            score = math.nan if info is not None else None
            return (*gated(score), score)
        try:
            champ = rescore_champion(info.cell_dir, prep, sc.metric)
        except (ArtifactError, TrainingError) as exc:  # it cannot be loaded (or refitted): nor served either
            promote, reason = gated(math.nan)
            return promote, f"{reason}; champion could not be used ({exc})", math.nan
        except DataError as exc:  # a servable champion that cannot be compared stays
            return False, f"champion could not be re-scored on the new holdout ({exc}); kept", None
        value = champ.scores.get(sc.metric)
        score = float(value) if value is not None else None
        finite = [v for v in (challenger, score) if v is not None and math.isfinite(v)]
        if served is None or scored is None or len(finite) < 2:
            return (*gated(score), score)
        from forecaster.evaluation.scoring import unit_blocks, unit_losses
        from forecaster.evaluation.verdict import paired_test

        test = paired_test(unit_losses(prep, scored, sc.metric), unit_losses(prep, champ, sc.metric),
                           lag=prep.split.horizon - 1, level=self.cfg.verdict.level, names=("challenger", "champion"),
                           seeded=(False, False), blocks=unit_blocks(prep) if prep.panel.id_col is not None else None)
        promote, reason = tested_gate(test, {**served, sc.metric: challenger},
                                      {**champion_row(info.cell_dir), sc.metric: score}, metric=sc.metric,
                                      margin=sc.margin, champion_version=self.champion)
        return promote, reason, score


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
        # (a champion that reads no static column, a baseline's, binds none: the challenger reads the file's)
        series = load(cfg, static_levels=champ.get("static_levels") if champ and champ.get("static") else None)
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
            result = train(cfg, prep, progress=run.progress, run_dir=reg.version_dir(version), checkpoint=checkpoint,
                           beside=False)  # its gate compares costs with the champion's, measured alone
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
    served = served_row(reg.version_dir(version), result.leaderboard, cell.name)
    score = served.get(sc.metric)
    challenger = float(score) if isinstance(score, (int, float)) else None
    if served["name"] == cell.name and not math.isfinite(cell.fit.best_val_loss):
        challenger = math.nan
    row_scored = cell.row if served["name"] == cell.name else next(
        (s for s in result.scored if s.name == served["name"]), None)
    promote, reason, champion_score = run.judge(challenger, prep, served, row_scored)
    if served["name"] != cell.name:  # the version's verdict recommends another row (or the network left series out)
        own = next((r for r in result.leaderboard if r.get("name") == cell.name), {})
        short = unscored_series(own, prep)
        why = (f"{cell.name} left series out: {short.removeprefix('the challenger ')}" if short is not None
               else f"the row its verdict recommends over {cell.name}")
        reason = f"{reason} (the version serves {served['name']}, {why})"
    refused = coverage_gate(served, cfg.forecast.levels, sc.coverage_tolerance) if promote else None
    if refused is not None and run.champ_info is not None and run.champ_info.ok:
        promote, reason = False, f"{reason}, but {refused} (schedule.coverage_tolerance); not promoted"
    elif refused is not None:  # nothing intact to keep: an unserved model folder helps nobody
        reason = f"{reason}; {refused} (schedule.coverage_tolerance), promoted anyway: there is no champion to keep"
    short = unscored_series(served, prep)  # a panel's challenger scored (and so serves) fewer series than it has
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
