"""The commands that train, forecast and evaluate: ``train``, ``predict``, ``compare``, ``backtest``.

Each parses nothing and catches nothing: flags come parsed (:mod:`forecaster.cli.flags`), errors go
to the one boundary (:func:`forecaster.cli.main.main`). Heavy imports happen inside, once the flags
are valid, so ``forecast --help`` stays quick.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from forecaster.cli.flags import (
    check_executor,
    levels,
    load_tensorflow,
    overrides,
    resolve_config,
    series_ids,
    tune_overrides,
)
from forecaster.cli.output import fmt, print_leaderboard, print_table, say, warn
from forecaster.errors import ConfigError, ExitCode

__all__ = ["cmd_train", "cmd_predict", "cmd_compare", "cmd_backtest", "UNTRACKED", "check_tracking", "track",
           "track_saved"]

def cmd_train(args: argparse.Namespace) -> int:
    cfg = resolve_config(args.config, overrides(args))
    from forecaster.workflows.train import prepare_run, train  # pandas and friends: once the config is valid
    check_tracking(cfg)

    t0 = time.perf_counter()
    progress: Callable[[str], None] | None = None if (args.quiet or args.json) else say
    prep = prepare_run(cfg)  # data errors before the TensorFlow import: they answer in a second
    load_tensorflow(args)
    result = train(cfg, prep, progress=progress)
    for warning in result.warnings:
        warn(str(warning))
    track(cfg, result.run_dir, result.leaderboard, result.cells, "train")
    if args.json:
        import json

        from forecaster.fs import json_ready

        payload = {"run_dir": str(result.run_dir), "season": result.season, "recommended": result.recommended,
                   "verdict": result.verdict.to_dict() if result.verdict is not None else None,
                   "leaderboard": result.leaderboard,
                   "forecasts": {c.name: str(result.run_dir / c.name / "forecast.csv") for c in result.cells}}
        print(json.dumps(json_ready(payload), indent=2))
        return ExitCode.OK
    print(f"run saved: {result.run_dir}  ({time.perf_counter() - t0:.1f}s)")
    print_leaderboard(result.leaderboard)
    if result.verdict is not None:
        print(f"\nverdict: {result.verdict.text}")
    for c in result.cells:
        steps = (f"{c.forecast.iloc[:, 0].nunique()} series x {cfg.window.horizon} steps" if cfg.data.id_col is not None
                 else f"{len(c.forecast)} steps")
        print(f"forecast ({steps}): {result.run_dir / c.name / 'forecast.csv'}")
    return ExitCode.OK


#: Tracking URIs found unusable by :func:`check_tracking` in this process: said once, not tried again.
UNTRACKED: set[str] = set()


def check_tracking(cfg: Any) -> None:
    """Before any work: a tracking URI the installed MLflow cannot use, or where no server answers (a few
    seconds at most), is one warning now; the run is then saved and not logged."""
    from forecaster.workflows.tracking import check_tracking_uri, mlflow_uri

    uri = mlflow_uri(cfg)
    if uri is None:
        return
    try:
        check_tracking_uri(uri)
    except ConfigError as exc:
        warn(f"{exc}; the run will be saved but not logged")
        UNTRACKED.add(uri)


def track(cfg: Any, run_dir: Path, rows: Sequence[dict[str, Any]], cells: Sequence[Any], kind: str) -> None:
    """Log a saved run to MLflow when a tracking URI is set; a failure is a warning (the run is saved). The
    MLflow run id is printed whenever it logged (``--quiet`` too: it is the result asked for)."""
    from forecaster.workflows.tracking import log_run, mlflow_uri

    uri = mlflow_uri(cfg)
    if uri is None or uri in UNTRACKED:
        return
    try:
        run_id = log_run(uri, cfg, run_dir, rows, cells, kind=kind)
    except ConfigError as exc:
        warn(str(exc))
        return
    say(f"mlflow: logged run {run_id} to {uri} (experiment {cfg.model_name})")


def track_saved(cfg: Any, run_dir: Path, kind: str) -> None:
    """:func:`track` for a run folder already on disk (a retrain's version): its leaderboard and histories."""
    from forecaster.workflows.tracking import mlflow_uri, saved_run

    if mlflow_uri(cfg) is None or mlflow_uri(cfg) in UNTRACKED:
        return
    try:
        rows, cells = saved_run(run_dir)
    except (OSError, ValueError, KeyError) as exc:
        warn(f"--mlflow-uri: {run_dir} could not be read to log it ({exc.__class__.__name__})")
        return
    track(cfg, run_dir, rows, cells, kind)


def cmd_predict(args: argparse.Namespace) -> int:
    from forecaster.artifacts.cell import read_calibration
    from forecaster.artifacts.run import advice, lost_to_baseline, resolve_model
    from forecaster.evaluation.scoring import NONNEGATIVE_NOTE
    from forecaster.fs import output_file, write_output
    from forecaster.workflows.formats import render
    from forecaster.workflows.predict import (
        beyond_history,
        forecast,
        load_for_predict,
        load_model,
        needs_tensorflow,
        read_future,
    )

    if args.horizon is not None and args.horizon < 1:
        raise ConfigError(f"--horizon: expected an integer >= 1, got {args.horizon}")
    destination = output_file(args.output) if args.output not in (None, "-") else None  # before any work
    cell_dir, why = resolve_model(args.model, args.models_dir)
    if needs_tensorflow(cell_dir):
        load_tensorflow(args)  # Keras fallback (runs without model.onnx); ONNX Runtime needs no TensorFlow
    loaded = load_model(cell_dir)
    panel = load_for_predict(loaded, args.data, missing=args.missing)
    future = read_future(loaded, args.future)
    if args.future and future is None:  # a naive or statistical row reads the target alone: say it is not used
        warn(f"--future {args.future}: {cell_dir.name} reads the target alone; the file was not used")
    wanted = series_ids(args.series)
    if wanted and panel.id_col is None:
        raise ConfigError(f"--series: {cell_dir} forecasts one series per file (trained without --id-col)")
    notes: list[str] = []
    frame = forecast(loaded, panel, args.horizon, levels(args.levels), series=wanted, future=future,
                     future_source=args.future or "--future", notes=notes)
    far = beyond_history(frame, panel)  # every kind served: one rule (predict.RANGE_MULTIPLE)
    if far is not None:
        notes.append(far)
    say(f"forecast: serving {cell_dir}: {why}")  # after success: an error stays one line
    for note in notes:
        warn(str(note))
    cal = read_calibration(loaded.path, loaded.manifest)
    floored = cal is not None and cal.nonnegative and any(str(c).startswith("lo-") for c in frame.columns)
    if floored:
        say(f"forecast: note: intervals have {NONNEGATIVE_NOTE}")
    told = advice(cell_dir)  # served a row its run does not recommend (given by its folder): which it does, and why
    if told is not None:
        warn(told)
    lost = lost_to_baseline(cell_dir)  # a run saved before the verdict recommended a row
    if lost is not None:
        saved = cell_dir.parent / lost[0]
        hint = f": serve it with --model {saved}" if (saved / "manifest.json").is_file() else ""
        warn(f"{cell_dir.name} lost to the {lost[0]} baseline on its own test windows "
             f"(MASE {lost[2]:.3f} vs {lost[1]:.3f}); the baseline may serve this series better{hint}")
    text = render(frame, args.format, id_col=panel.id_col,
                  meta={"model": str(cell_dir), "target": panel.first.target, "freq": panel.first.freq,
                        **({"nonnegative": NONNEGATIVE_NOTE} if floored else {})})
    if destination is None:
        sys.stdout.write(text)
    else:
        write_output(destination, text)
        what = (f"{frame.iloc[:, 0].nunique()} series x {args.horizon or loaded.horizon} steps"
                if panel.id_col is not None else f"{len(frame)} steps")
        say(f"forecast of {what} from {cell_dir} written to {args.output}")
    return ExitCode.OK


def cmd_compare(args: argparse.Namespace) -> int:
    import json

    from forecaster.fs import json_ready

    cfg = resolve_config(args.config, tune_overrides(args))
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    check_executor(args)
    check_tracking(cfg)
    from forecaster.workflows import compare
    from forecaster.workflows.train import prepare_run

    t0 = time.perf_counter()
    progress: Callable[[str], None] | None = None if (args.quiet or args.json) else say
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()] if args.strategies else None
    prep = prepare_run(cfg)  # data errors before the TensorFlow import
    load_tensorflow(args)
    result = compare.compare(cfg, cells=cells, repeats=args.repeats, progress=progress, backtest=args.backtest,
                             prep=prep, strategies=strategies, executor=args.executor, ray_address=args.ray_address,
                             resume=args.resume)
    import types

    seeds = len({t.seed for t in result.trials}) > 1  # one loss history per seed: their own names
    track(cfg, result.run_dir, result.rows,
           [types.SimpleNamespace(name=f"{t.name}.seed{t.seed}" if seeds else t.name, fit=t.result.fit)
            for t in result.trials], "compare")
    if args.json:
        payload = {"run_dir": str(result.run_dir), "recommended": result.recommended,
                   "verdict": result.decision.to_dict() if result.decision is not None else result.verdict,
                   "conditions": result.conditions, "leaderboard": result.rows}
        print(json.dumps(json_ready(payload), indent=2))
        return ExitCode.OK
    for warning in result.warnings:
        warn(str(warning))
    print(f"run saved: {result.run_dir}  ({time.perf_counter() - t0:.1f}s)")
    print_leaderboard(result.rows)
    print(f"\nverdict: {result.verdict}")
    print(f"report: {result.run_dir / 'report.html'} (and report.md, plots/)")
    return ExitCode.OK


def cmd_backtest(args: argparse.Namespace) -> int:
    import json

    from forecaster.artifacts.cell import load_cell
    from forecaster.artifacts.run import resolve_cell_dir
    from forecaster.data.load import load
    from forecaster.evaluation.intervals import coverage_columns, percent
    from forecaster.fs import atomic_write_text, json_ready
    from forecaster.workflows.backtest import FOLD_METRICS, backtest, config_of_run

    check_executor(args)
    cell_dir = resolve_cell_dir(args.model, args.models_dir, networks_only=True)  # backtest refits a network
    cfg, manifest = config_of_run(cell_dir, {"data.path": args.data, "training.epochs": args.epochs,
                                             "forecast.levels": args.levels})
    if args.no_refit and cfg.data.id_col is not None:
        raise ConfigError(f"--no-refit: {cell_dir} is a panel's model, backtested by refitting it per fold (each "
                          "series cut at its own origins); leave out --no-refit")
    panel = load(cfg)  # data errors before the TensorFlow import
    load_tensorflow(args)
    loaded = load_cell(cell_dir) if args.no_refit else None
    progress: Callable[[str], None] | None = None if (args.quiet or args.json) else say
    result = backtest(cfg, cell=str(manifest["cell"]), folds=args.folds, loaded=loaded, panel=panel,
                      progress=progress, executor=args.executor, ray_address=args.ray_address)
    payload = json_ready({"model": str(cell_dir), **result.to_dict()})
    name = f"backtest-{args.folds}folds-{'fixed' if args.no_refit else 'refit'}.json"
    atomic_write_text(cell_dir.parent / name, json.dumps(payload, indent=2))
    if args.json:
        print(json.dumps(payload, indent=2))
        return ExitCode.OK
    header = ["fold", "cut-off", "train rows", "windows"] + [f"{n} MASE" for n in result.folds[0].scores]
    body = [[str(f.fold), f.cutoff, str(f.train_rows), str(f.test_windows)]
            + [fmt(s.get("mase")) for s in f.scores.values()] for f in result.folds]
    summary = result.summary()
    body.append(["mean", "", "", ""] + [fmt(summary[n]["mase"]) for n in result.folds[0].scores])
    print_table(header, body)
    covered = coverage_columns([dict.fromkeys(result.metric_keys())])
    print("mean over folds: " + "; ".join(
        f"{n}: " + ", ".join([f"{m.upper()} {fmt(v[m])}" for m in FOLD_METRICS]
                             + [f"{level}% covered {percent(c)}" for k, level in covered if (c := v.get(k)) is not None])
        for n, v in summary.items()))
    overlapping = [str(f.fold) for f in result.folds if f.overlaps_training]
    if overlapping:
        print(f"note: fold(s) {', '.join(overlapping)} lie inside the saved model's training/validation data; "
              "their scores are optimistic (refit per fold for an honest estimate)")
    print(f"saved: {cell_dir.parent / name}")
    return ExitCode.OK
