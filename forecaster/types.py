"""Aliases shared by every layer (defined once).

Example:
    >>> say = speaker(None); say("nothing is printed")
    >>> lines = []; speaker(lines.append)("kept"); lines
    ['kept']
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Progress", "speaker"]

#: Receives one human-readable progress line (``None`` where a function takes one: silent).
Progress = Callable[[str], None]


def _silent(_line: str) -> None:
    return None


def speaker(progress: Progress | None) -> Progress:
    """``progress``, or a function that drops every line when it is ``None``."""
    return progress if progress is not None else _silent
