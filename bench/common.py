"""Shared helpers for the bench scripts: result rows, one table, JSON hand-off to ``run_all``.

Every target is a ratio measured in one run (this machine is shared and noisy), printed as
``target | measured | reference | ratio | pass``. ``ratio`` is measured / reference; whether a
target passes depends on its direction (``>=`` or ``<=``).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["Row", "row", "print_table", "emit", "ROOT"]

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@dataclass(frozen=True)
class Row:
    """One target: what was measured against what reference, and whether it passes."""

    target: str
    measured: str
    reference: str
    ratio: str
    passed: str  # "pass", "FAIL" or "info" (reported, not a target)


def row(target: str, measured: float, reference: float, unit: str, *, better: str, digits: int = 2) -> Row:
    """A row for ``measured`` (``better``: ``"higher"`` or ``"lower"``) against ``reference``."""
    ratio = measured / reference if reference else float("nan")
    ok = measured >= reference if better == "higher" else measured <= reference
    sign = ">=" if better == "higher" else "<="
    return Row(target, f"{measured:.{digits}f} {unit}".strip(), f"{sign} {reference:g} {unit}".strip(),
               f"{ratio:.2f}", "pass" if ok else "FAIL")


def info(target: str, measured: str, reference: str = "-", ratio: str = "-") -> Row:
    """A reported figure that is not a target."""
    return Row(target, measured, reference, ratio, "info")


def print_table(rows: list[Row], out=sys.stdout) -> None:
    """Print rows as one aligned table."""
    header = ["target", "measured", "reference", "ratio", "pass/fail"]
    body = [[r.target, r.measured, r.reference, r.ratio, r.passed] for r in rows]
    widths = [max(len(x[i]) for x in [header, *body]) for i in range(len(header))]
    for i, line in enumerate([header, *body]):
        print("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip(), file=out)
        if i == 0:
            print("  ".join("-" * w for w in widths), file=out)
    out.flush()


def emit(rows: list[Row], argv: list[str] | None = None) -> None:
    """Print the table, and with ``--json PATH`` also write the rows there for ``run_all``."""
    argv = sys.argv[1:] if argv is None else argv
    print_table(rows)
    if "--json" in argv:
        Path(argv[argv.index("--json") + 1]).write_text(json.dumps([asdict(r) for r in rows]), encoding="utf-8")
