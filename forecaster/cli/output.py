"""What the ``forecast`` command prints: safe one-line messages on stderr, tables, OS error lines.

Everything from the user (a series id, a path, a header) may hold anything: it passes through
:func:`printable` before it reaches the terminal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["MAX_MESSAGE", "printable", "say", "warn", "show_warning", "fmt", "print_table", "print_leaderboard",
           "print_failed", "log", "os_error_line"]

#: An error line is cut here: a 1 MB cell quoted in a message must not flood the terminal.
MAX_MESSAGE = 1000


def printable(message: str, limit: int = MAX_MESSAGE) -> str:
    """One safe terminal line: control characters (a header's ESC or newline) escaped, length capped.

    Example:
        >>> printable("column 'a\\x1b[2Jb': bad")
        "column 'a\\\\x1b[2Jb': bad"
        >>> printable("x" * 5000)[-20:]
        'xxxx ... (4025 more)'
    """
    safe = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in message)
    return safe if len(safe) <= limit else safe[: limit - 25] + f" ... ({len(safe) - (limit - 25)} more)"


def say(msg: str) -> None:
    """One line on stderr, made :func:`printable` (a series id or a path from the user may hold anything)."""
    print(printable(msg), file=sys.stderr, flush=True)


def warn(message: str) -> None:
    """A warning: ``forecast: warning: <message>``, one escaped, capped line like an error."""
    say(f"forecast: warning: {message}")


def show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None,
                  line: str | None = None) -> None:
    """``warnings.showwarning`` while :func:`main` runs: every Python warning (ours, numpy's, Ray's, Keras') is one
    :func:`warn` line, its first line only, instead of Python's two (message, then the source line that warned)."""
    text = str(message).strip()
    first = text.splitlines()[0] if text else category.__name__
    parts = Path(filename).parts
    lib = parts[parts.index("site-packages") + 1] if "site-packages" in parts[:-1] else None
    ours = lib is None and "forecaster" in parts
    warn(first if ours or lib == "forecaster" else f"{(lib or Path(filename).stem).removesuffix('.py')}: {first} "
         f"({category.__name__})")


def fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> None:
    body = [[printable(c, 200) for c in row] for row in body]  # a status may quote a path or a series id
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    for row in [header, *body]:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))


def print_leaderboard(rows: Sequence[dict[str, Any]]) -> None:
    """The leaderboard as ``forecast compare`` prints it (columns without any value left out)."""
    from forecaster.evaluation.report import table_rows

    print_table(*table_rows(rows))
    print_failed(rows)


def print_failed(rows: Sequence[dict[str, Any]]) -> None:
    """One line per leaderboard row that has no scores, with its reason."""
    for r in rows:
        if r.get("error"):
            print(printable(f"  {r['name']}: no scores ({r['error']})"))


def log(msg: str) -> None:
    from datetime import datetime, timezone

    say(f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} {msg}")


_OS_HINTS = {
    "ENOSPC": "the disk is full: free space or write elsewhere (--models-dir, --output)",
    "EDQUOT": "the disk quota is used up: free space or write elsewhere (--models-dir, --output)",
    "EROFS": "the file system is read-only: write elsewhere (--models-dir, --output) or mount it read-write",
    "EACCES": "permission denied for uid {uid}: give that user write access or write elsewhere",
    "EPERM": "not permitted for uid {uid}: give that user access or write elsewhere",
    "ENOTDIR": "a part of the path is a file, not a folder: give another path",
    "EEXIST": "a file is in the way of a folder: give another path",
    "EISDIR": "that path is a folder, not a file: give another path",
    "EMFILE": "too many open files: raise the limit (ulimit -n)",
}


def os_error_line(exc: OSError) -> str:
    """One line for an operating-system error: the path, what the OS said, its code and what to do.

    Example:
        >>> import errno
        >>> os_error_line(OSError(errno.ENOSPC, "No space left on device", "models/x"))
        'models/x: No space left on device (ENOSPC); the disk is full: free space or write elsewhere (--models-dir, --output)'
    """
    import errno

    name = errno.errorcode.get(exc.errno or -1, "")
    where = f"{exc.filename}: " if exc.filename else ""
    said = exc.strerror or str(exc) or exc.__class__.__name__
    hint = _OS_HINTS.get(name, "").format(uid=os.getuid() if hasattr(os, "getuid") else "?")
    return f"{where}{said}" + (f" ({name})" if name else "") + (f"; {hint}" if hint else "")
