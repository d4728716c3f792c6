"""Run folders and the champion pointer: store a run, find the cell that ``--model`` means.

A run directory is complete or absent (:func:`store_run` stages it under a hidden name). The
champion pointer (``champion.json``) is read and written here only; every path read from it
must stay inside the model's folder.

A run serves the row its verdict recommends (``leaderboard.json``'s ``verdict.recommended``) when that
row has a folder, else the servable row with the lowest test MASE, and says which and why.

Example:
    >>> resolve_cell_dir("seattle-temps", "models")  # doctest: +SKIP
    PosixPath('models/seattle-temps/versions/3/gru')
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from forecaster.artifacts import layout
from forecaster.errors import ArtifactError
from forecaster.evaluation import intervals
from forecaster.evaluation.verdict import partial
from forecaster.fs import atomic_write_text, json_ready, linked_part, read_json, staged_run

__all__ = ["store_run", "leaderboard_csv", "best_cell", "pick_row", "choose_row", "recommended_of", "resolve_model",
           "resolve_cell_dir", "lost_to_baseline", "advice", "servable_rows", "read_pointer", "write_pointer",
           "list_runs", "inside"]


def leaderboard_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """The leaderboard rows as CSV text with the given columns (others dropped)."""
    buf = io.StringIO()
    columns = [*columns, *(k for k in (*intervals.flat_keys(rows), *intervals.series_coverage_keys(rows))
                           if k not in columns)]
    writer = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def store_run(
    final: Path,
    *,
    config_yaml: str,
    write_cells: Callable[[Path], None],
    board: dict[str, Any],
    columns: Sequence[str],
    extra: Callable[[Path], None] | None = None,
) -> None:
    """Write a complete run directory atomically: config, cell folders, extras, leaderboard.

    ``write_cells(tmp)`` writes the cell folders; ``extra(tmp)`` runs after them and before the
    leaderboard, so it may measure the saved cells (updating ``board["rows"]``) and add files (a
    report, plots). The directory is renamed into place only after all of it.
    """
    with staged_run(final) as tmp:
        atomic_write_text(tmp / layout.CONFIG_FILE, config_yaml)
        write_cells(tmp)
        if extra is not None:
            extra(tmp)
        atomic_write_text(tmp / layout.LEADERBOARD_JSON, json.dumps(json_ready(board), indent=2))
        atomic_write_text(tmp / layout.LEADERBOARD_CSV, leaderboard_csv(board["rows"], columns))


def inside(root: Path, path: Path) -> bool:
    """Whether ``path`` is ``root`` or below it: no ``..``, no symbolic link on the way down from ``root``
    (see :func:`~forecaster.fs.contained`), and resolving there."""
    try:
        relative = path.relative_to(root)
        if ".." in relative.parts or linked_part(root, relative) is not None:
            return False
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, ValueError):
        return False


def list_runs(model_dir: Path) -> list[Path]:
    """A model's run folders, oldest first (hidden temporary folders ignored)."""
    runs = model_dir / layout.RUNS_DIR
    if not runs.is_dir():
        return []
    return sorted(p for p in runs.iterdir() if p.is_dir() and not p.name.startswith("."))


def _board(run_dir: Path) -> dict[str, Any]:
    board = read_json(run_dir / layout.LEADERBOARD_JSON, "leaderboard")
    if not isinstance(board, dict) or not isinstance(board.get("rows"), list):
        raise ArtifactError(f"{run_dir}/{layout.LEADERBOARD_JSON}: unexpected content")
    return board


def servable_rows(run_dir: Path) -> list[dict[str, Any]]:
    """The leaderboard rows of a run that ``predict`` can serve: every network, and every baseline row saved
    with its folder (naive, seasonal naive, linear, ets, theta, ...; runs saved before baseline folders lack
    the first three).

    Raises:
        ArtifactError: the leaderboard is unreadable.
    """
    board = _board(run_dir)
    try:
        rows = [r for r in board["rows"] if isinstance(r, dict)]
        return [r for r in rows if not r.get("error") and isinstance(r.get("name"), str)
                and (r.get("kind") == "model" or (run_dir / r["name"] / layout.MANIFEST).is_file())
                and inside(run_dir, run_dir / r["name"])]
    except (KeyError, TypeError, AttributeError):
        raise ArtifactError(f"{run_dir}/{layout.LEADERBOARD_JSON}: unexpected content") from None


def _by_mase(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The row with the lowest test MASE (then MAE); on a panel a row that scored every series comes before one
    that scored fewer (:func:`partial`)."""
    def key(row: dict[str, Any]) -> tuple[bool, float, float]:
        mase = row.get("mase")
        return (partial(row, rows), math.inf if mase is None else float(mase), float(row.get("mae") or math.inf))

    return min(rows, key=key)


def recommended_of(board: dict[str, Any]) -> tuple[str | None, str]:
    """``(row, reason)`` the verdict of a run's leaderboard recommends; ``(None, "")`` for a run saved before the
    verdict recommended a row (its ``verdict`` was text)."""
    verdict = board.get("verdict")
    if isinstance(verdict, dict) and isinstance(verdict.get("recommended"), str):
        return verdict["recommended"], str(verdict.get("reason") or "").rstrip(".")
    return None, ""


#: Why :func:`choose_row` picked a row of a run saved before the verdict recommended one.
OLD_RUN = "lowest test MASE"


def choose_row(rows: Sequence[dict[str, Any]], verdict: dict[str, Any] | None, servable: Callable[[str], bool], *,
               networks_only: bool = False) -> tuple[str, str]:
    """The row of a run to serve, and why: the verdict's recommended row when ``servable`` (it has a folder),
    else the servable row with the lowest test MASE, said as a fallback.

    ``networks_only``: networks only (backtest refits a network): the recommended row if it is one.

    Raises:
        ValueError: no row can be served.

    Example:
        >>> rows = [{"name": "gru", "kind": "model", "mase": 0.5}, {"name": "linear", "kind": "baseline", "mase": 0.51}]
        >>> verdict = {"recommended": "linear", "reason": "linear is the cheapest of the equal rows."}
        >>> choose_row(rows, verdict, lambda n: True)[0]
        'linear'
        >>> choose_row(rows, verdict, lambda n: n == "gru")[1][:64]
        'the run recommends linear, which has no saved folder to serve it'
    """
    named = {r.get("name"): r for r in rows if isinstance(r, dict)}
    candidates = [r for r in rows if isinstance(r, dict) and not r.get("error") and isinstance(r.get("name"), str)
                  and servable(r["name"]) and (not networks_only or r.get("kind") == "model")]
    recommended, reason = recommended_of({"verdict": verdict})
    if recommended is not None and recommended in {r["name"] for r in candidates}:
        return recommended, f"the run's recommended row, {recommended}: {reason}"
    if not candidates:
        raise ValueError("no servable row")
    best = _by_mase(candidates)["name"]
    if recommended is None:
        return best, OLD_RUN
    if networks_only and named.get(recommended, {}).get("kind") != "model":
        return best, f"the best network by test MASE; the run recommends {recommended}, which is not a network"
    return best, (f"the run recommends {recommended}, which has no saved folder to serve it; serving the best "
                  f"servable row by test MASE instead, {best}")


def pick_row(run_dir: Path, *, networks_only: bool = False) -> tuple[Path, str]:
    """The folder of the row a run serves (:func:`choose_row` on its leaderboard), and why.

    Raises:
        ArtifactError: the run holds no servable row, or its leaderboard is unreadable or names a folder
            outside the run.
    """
    board = _board(run_dir)
    servable = {r["name"] for r in servable_rows(run_dir)}
    try:
        name, why = choose_row(board["rows"], board.get("verdict"), servable.__contains__, networks_only=networks_only)
    except ValueError:
        raise ArtifactError(f"{run_dir}: the run holds no trained model") from None
    cell = run_dir / name
    if not inside(run_dir, cell):
        raise ArtifactError(f"{run_dir}/{layout.LEADERBOARD_JSON}: names a cell outside the run folder")
    return cell, why


def best_cell(run_dir: Path, *, networks_only: bool = False) -> Path:
    """The folder of the row a run serves: its recommended row (the verdict's) when it has a folder, else the
    servable row (:func:`servable_rows`) with the lowest test MASE (see :func:`pick_row`)."""
    return pick_row(run_dir, networks_only=networks_only)[0]


def read_pointer(path: Path) -> dict[str, Any]:
    """The champion pointer at ``path`` (``{}`` when there is none), checked.

    Raises:
        ArtifactError: unreadable, not an object with a relative ``path`` inside the model folder.
    """
    if not path.exists():
        return {}
    raw = read_json(path, "champion pointer")
    if not isinstance(raw, dict) or not isinstance(raw.get("path"), str):
        raise ArtifactError(f"{path}: expected a JSON object with a 'path' key")
    if Path(raw["path"]).is_absolute() or not inside(path.parent, path.parent / raw["path"]):
        raise ArtifactError(f"{path}: 'path' {raw['path']!r} leaves the model folder {path.parent}; "
                            "a champion must be a version or run inside it")
    return raw


def write_pointer(path: Path, pointer: dict[str, Any]) -> None:
    """Replace the champion pointer atomically."""
    atomic_write_text(path, json.dumps(pointer, indent=2) + "\n")


def resolve_model(model: str | Path, models_dir: str | Path = "models", *,
                  networks_only: bool = False) -> tuple[Path, str]:
    """Turn ``--model`` into a cell folder, and say why that one (for the user's stderr).

    Accepts a cell folder (has ``manifest.json``), a run folder (the row it serves: its recommended
    row, see :func:`pick_row`), or a model name's folder (its ``champion.json`` when present,
    otherwise the newest run's row); a bare name is also looked up under ``models_dir``.
    ``networks_only``: a network of a run, never a statistical row (backtest refits networks).
    """
    row = "network" if networks_only else "servable row"
    path = Path(model)
    if not path.exists() and not path.is_absolute() and (Path(models_dir) / path).exists():
        path = Path(models_dir) / path
    if not path.is_dir():
        raise ArtifactError(f"--model {model}: no such model folder (looked in . and {models_dir}/)")
    if (path / layout.MANIFEST).exists():
        return path, "the cell folder given"
    if (path / layout.LEADERBOARD_JSON).exists():
        cell, why = pick_row(path, networks_only=networks_only)  # a run saved before the verdict: as it always said
        return cell, f"the best {row} of the run given (lowest test MASE)" if why == OLD_RUN else f"the run given: {why}"
    champion = path / layout.CHAMPION_FILE
    if champion.exists():
        pointer = read_pointer(champion)
        target = path / str(pointer["path"])
        if not target.is_dir():
            raise ArtifactError(f"{champion}: points to {target}, which does not exist")
        why = f"the champion ({layout.CHAMPION_FILE}: {pointer['path']})"
        if (target / layout.MANIFEST).exists():
            return target, why
        cell, how = pick_row(target, networks_only=networks_only)
        return cell, why if how == OLD_RUN else f"{why}, {how}"
    runs = list_runs(path)
    if not runs:
        raise ArtifactError(f"--model {model}: no trained run found (expected {path}/{layout.RUNS_DIR}/<run-id>/)")
    cell, why = pick_row(runs[-1], networks_only=networks_only)
    return cell, (f"the newest run's best {row} (no champion.json)" if why == OLD_RUN
                  else f"the newest run (no champion.json): {why}")


def resolve_cell_dir(model: str | Path, models_dir: str | Path = "models", *, networks_only: bool = False) -> Path:
    """The cell folder ``--model`` means (see :func:`resolve_model`)."""
    return resolve_model(model, models_dir, networks_only=networks_only)[0]


def lost_to_baseline(cell_dir: Path) -> tuple[str, float, float] | None:
    """``(baseline, its MASE, the cell's MASE)`` when a baseline row of the cell's own run scored a
    lower test MASE than the cell, else ``None`` (also when the run records no leaderboard, and for a run
    whose verdict recommended a row: :func:`advice` speaks for those)."""
    try:
        board = read_json(cell_dir.parent / layout.LEADERBOARD_JSON, "leaderboard")
        if recommended_of(board)[0] is not None:
            return None
        rows = board["rows"]
        mine = next(float(r["mase"]) for r in rows if r.get("name") == cell_dir.name)
        scored = [(str(r["name"]), float(r["mase"])) for r in rows
                  if r.get("kind") == "baseline" and r.get("name") != cell_dir.name
                  and isinstance(r.get("mase"), (int, float)) and not r.get("error") and not partial(r, rows)]
    except (ArtifactError, KeyError, TypeError, ValueError, StopIteration, AttributeError):
        return None
    if not scored:
        return None
    name, best = min(scored, key=lambda nb: nb[1])
    return (name, best, mine) if best < mine else None


def advice(cell_dir: Path) -> str | None:
    """A line for the user when the row served (given by its folder) is not the one its run recommends: ``None``
    when it is, when the run has no recommendation, or when the row is in the running (no row significantly
    better) and the recommended one has no folder to serve instead."""
    try:
        board = read_json(cell_dir.parent / layout.LEADERBOARD_JSON, "leaderboard")
        recommended, reason = recommended_of(board)
        equal = board["verdict"].get("equal_to") or [] if recommended is not None else []
        level = float(board["verdict"].get("level", 0.05)) if recommended is not None else 0.05
    except (ArtifactError, KeyError, TypeError, ValueError, AttributeError):
        return None
    if recommended is None or cell_dir.name == recommended:
        return None
    folder = cell_dir.parent / recommended
    hint = f"; serve it with --model {folder}" if (folder / layout.MANIFEST).is_file() else ""
    if cell_dir.name in equal:
        return (f"no row of its run is significantly better than {cell_dir.name}, but the run recommends {recommended}, "
                f"as cheaper: {reason}{hint}") if hint else None
    return (f"{cell_dir.name} is significantly worse than another row of its run on the test windows (at the "
            f"{100 * level:g}% level); the run recommends {recommended}: {reason}{hint}")
