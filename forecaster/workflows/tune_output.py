"""What a tuning leaves in its run folder (:mod:`forecaster.workflows.tune`): each ``<cell>-tuned`` folder with
``trials.csv``, ``tuning.json`` and ``config.yaml``, the tuning plots, and the study (``tuning.db``)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from forecaster.artifacts import layout
from forecaster.config import RunConfig, dump_yaml
from forecaster.fs import atomic_write_text
from forecaster.workflows.tune import (
    PRUNE_AFTER_TRIALS,
    PRUNE_WARMUP_EPOCHS,
    STUDY_FILE,
    TRIALS_CSV,
    Tuned,
    best_trial,
    budget_of,
    tuning_dir,
)

__all__ = ["trials_table", "write_tuned"]


def trials_table(study: Any) -> pd.DataFrame:
    """Every trial of a study: number, state, validation loss, pruned or not, epochs, seconds, parameters."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({"trial": t.number, "state": t.state.name.lower(), "val_loss": t.value,
                     "pruned": t.state.name == "PRUNED", "epochs": t.user_attrs.get("epochs"),
                     "seconds": t.user_attrs.get("seconds"), "batch_used": t.user_attrs.get("batch_used"),
                     "counted": not t.user_attrs.get("interrupted", False),
                     **{f"param_{k}": v for k, v in t.params.items()}})
    return pd.DataFrame(rows)


def _plots(plots: Path, tuned: Tuned) -> None:
    """The optimisation history and, with two completed trials or more, the parameter importances."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    plots.mkdir(parents=True, exist_ok=True)
    import warnings

    with warnings.catch_warnings():  # optuna marks its matplotlib plots experimental
        warnings.simplefilter("ignore")
        fig: Any = ovm.plot_optimization_history(tuned.study).figure
        fig.savefig(plots / f"tune-history-{tuned.name}.png", dpi=90, bbox_inches="tight")
        plt.close(fig)
        done = [t for t in tuned.study.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
        if len(done) >= 2:
            try:
                fig = ovm.plot_param_importances(tuned.study).figure
            except (RuntimeError, ValueError):  # every completed trial alike: nothing to attribute
                return
            fig.savefig(plots / f"tune-importances-{tuned.name}.png", dpi=90, bbox_inches="tight")
            plt.close(fig)


def write_tuned(tmp: Path, tuned: Sequence[Tuned], base: dict[str, Any], cfg: RunConfig, run_dir: Path) -> None:
    """Into a staged run folder: each tuned row's folder (as a network's, with its own lookback), its
    ``trials.csv`` and ``config.yaml``, the plots, a copy of the study (``tuning.db``) and, for a panel, the
    tuned rows' lines of ``series_metrics.csv``."""
    from forecaster.workflows.save import _write_cell

    for t in tuned:
        cell_dir, best = tmp / t.name, best_trial(t.study)
        _write_cell(cell_dir, t.prep, t.cfg, t.result, base)
        atomic_write_text(cell_dir / TRIALS_CSV, trials_table(t.study).to_csv(index=False))
        first = t.prep.items[0].series
        resolved = dataclasses.replace(t.cfg, data=dataclasses.replace(t.cfg.data, target=first.target,
                                                                       time_col=first.time_col))
        atomic_write_text(cell_dir / "config.yaml", dump_yaml(resolved))
        atomic_write_text(cell_dir / "tuning.json", json.dumps({
            "cell": t.cell, "budget": budget_of(cfg), "trials_counted": t.counted, "seconds": t.seconds,
            "best_trial": best.number, "best_val_loss": best.value, "best_params": best.params,
            "sampler": f"TPE seed {cfg.training.seed}",
            "pruner": f"median after {PRUNE_AFTER_TRIALS} trials, from epoch {PRUNE_WARMUP_EPOCHS + 1}"}, indent=2))
        _plots(tmp / "plots", t)
    if not tuned:
        return
    shutil.copyfile(tuning_dir(run_dir) / STUDY_FILE, tmp / "tuning.db")
    table = tmp / layout.SERIES_METRICS
    if table.is_file():  # a panel: the tuned rows' scores per series beside the others'
        from forecaster.evaluation.scoring import series_table

        extra = [series_table(t.prep, [t.result.row]) for t in tuned if t.result.row is not None]
        id_col = tuned[0].prep.panel.id_col  # ids are text (as api.results reads them): "001" stays "001"
        saved = pd.read_csv(table, dtype={id_col: str} if id_col else None, keep_default_na=False, na_values=[""])
        atomic_write_text(table, pd.concat([saved, *extra], ignore_index=True).to_csv(index=False))
