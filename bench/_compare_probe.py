"""Run ``forecast compare`` of one checkout in this process and time its stages (driven by ``compare_speed.py``).

Usage: ``python bench/_compare_probe.py REPO OUT.json -- compare --data ... [flags]``

The checkout at ``REPO`` is put first on ``sys.path``; its own functions are wrapped with timers
before its CLI runs, by identity in every loaded ``forecaster`` module (so a name imported with
``from x import f`` is timed too). A stage whose function a checkout does not have (renamed,
moved) is simply not timed: the driver then reports it as part of "other". Nothing here imports
from ``bench/`` (an older checkout's ``bench/`` may differ).
"""

from __future__ import annotations

import functools
import importlib
import json
import sys
import time
from typing import Any

T0 = time.perf_counter()
WALL0 = time.time()
SPANS: list[dict[str, Any]] = []

#: (stage, dotted candidates, how the span is labelled): the first candidate that exists per entry.
TARGETS: list[tuple[str, tuple[str, ...], str]] = [
    # each entry: the newest layout first, then the names of older checkouts (2a7b316 and before)
    ("load", ("forecaster.data.load.load", "forecaster.data.load_series", "forecaster.data.load_panel"), ""),
    ("choose lookback", ("forecaster.models.network.residual.lookback_choice",), ""),
    ("prepare", ("forecaster.data.prepared.prepare", "forecaster.prepared.prepare", "forecaster.panel.prepare_panel"),
     ""),
    ("import tensorflow", ("forecaster.cli.flags.load_tensorflow", "forecaster.cli._load_tensorflow"), ""),
    ("baseline", ("forecaster.evaluation.scoring.score_row",), "model"),
    ("baseline", ("forecaster.scoring.fit_and_score",), "per-model"),
    ("baseline", ("forecaster.panels.score_rows",), "name"),
    ("network", ("forecaster.workflows.train.train_cell", "forecaster.network.train_cell",
                 "forecaster.panels.train_cell"), "cell"),
    ("save", ("forecaster.artifacts.run.store_run",), ""),
    ("latency timing", ("forecaster.workflows.compare._time_saved_cells", "forecaster.compare._time_saved_cells"), ""),
    ("report", ("forecaster.evaluation.report.write_report", "forecaster.report.write_report",
                "forecaster.report.write_panel_report"), ""),
]


def _now() -> float:
    return time.perf_counter() - T0


def _record(stage: str, label: str, start: float) -> None:
    SPANS.append({"stage": stage, "label": label, "start": start, "end": _now()})


def _timed(fn: Any, stage: str, how: str) -> Any:
    if how == "per-model":  # fit_and_score(models, prep, ...): one span per model, same results
        @functools.wraps(fn)
        def per_model(models: Any, *args: Any, **kwargs: Any) -> Any:
            out = []
            for m in list(models):
                t = _now()
                try:
                    out += fn([m], *args, **kwargs)
                finally:
                    _record(stage, str(getattr(m, "name", m)), t)
            return out
        return per_model

    if how == "model":  # score_row(model, prep, ...): a baseline's span; a network's scoring is inside its own
        @functools.wraps(fn)
        def baseline(*args: Any, **kwargs: Any) -> Any:
            model = args[0] if args else kwargs.get("model")
            if getattr(getattr(model, "capabilities", None), "network", False):
                return fn(*args, **kwargs)
            t = _now()
            try:
                return fn(*args, **kwargs)
            finally:
                _record(stage, str(getattr(model, "name", "")), t)
        return baseline

    @functools.wraps(fn)
    def inner(*args: Any, **kwargs: Any) -> Any:
        t = _now()
        try:
            return fn(*args, **kwargs)
        finally:
            label = ""
            if how == "cell":
                label = str(kwargs.get("cell", args[2] if len(args) > 2 else ""))
            elif how == "name":
                label = str(kwargs.get("name", ""))
            _record(stage, label, t)
    return inner


def _patch() -> list[str]:
    """Wrap every target that exists; returns the dotted names wrapped."""
    for mod in ("forecaster.cli.main", "forecaster.cli.flags", "forecaster.workflows.compare", "forecaster.workflows.train",
                "forecaster.workflows.executor", "forecaster.evaluation.report", "forecaster.cli", "forecaster.compare",
                "forecaster.pipeline", "forecaster.panels", "forecaster.panel", "forecaster.executor",
                "forecaster.report", "forecaster.artifacts.run"):
        try:
            importlib.import_module(mod)
        except ImportError:
            pass
    done = []
    for stage, candidates, how in TARGETS:
        for dotted in candidates:
            mod_name, _, attr = dotted.rpartition(".")
            mod = sys.modules.get(mod_name)
            original = getattr(mod, attr, None) if mod is not None else None
            if original is None:
                continue
            wrapped = _timed(original, stage, how)
            for name, m in list(sys.modules.items()):
                if (name == "forecaster" or name.startswith("forecaster.")) and m is not None:
                    for key, value in list(vars(m).items()):
                        if value is original:
                            setattr(m, key, wrapped)
            done.append(dotted)
    return done


def main() -> int:
    repo, out_path = sys.argv[1], sys.argv[2]
    argv = sys.argv[sys.argv.index("--") + 1:]
    sys.path.insert(0, repo)
    import forecaster

    if not str(getattr(forecaster, "__file__", "")).startswith(repo):
        raise SystemExit(f"probe: imported forecaster from {forecaster.__file__}, not from {repo}")
    imported = _now()
    wrapped = _patch()
    patched = _now()
    try:
        from forecaster.cli.main import main as cli_main
    except ImportError:  # a checkout before the cli package
        from forecaster.cli import main as cli_main

    rc = 1
    try:
        rc = cli_main(argv)
    finally:
        with open(out_path, "w", encoding="utf-8") as f:
            json.dump({"rc": rc, "wall0": WALL0, "imported": imported, "patched": patched, "end": _now(),
                       "wrapped": wrapped, "spans": SPANS}, f)
    return rc


if __name__ == "__main__":
    sys.exit(main())
