"""Atomic writes, checked JSON reads and file hashes: every file of a saved run goes through here.

Files are written to a temporary name beside the target and renamed into place (``os.replace``),
so a reader never sees half a file; a run directory is staged under a hidden name and renamed
only when complete. Permissions follow the process umask (0644 files, 0755 folders under the
usual 022), as a plain ``open`` would: ``mkstemp``/``mkdtemp`` alone would make them 0600/0700
and unreadable to a serving container running as another user.

Example:
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write_text(d / "a.json", '{"x": 1}')
    >>> read_json(d / "a.json", "example")
    {'x': 1}
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from forecaster.errors import ArtifactError

__all__ = ["json_ready", "output_file", "contained", "linked_part", "check_no_links", "write_output", "atomic_write_text",
           "atomic_path", "read_json", "staged_run",
           "new_run_id", "umask_mode",
           "remove_stale", "STALE_SECONDS", "SAVED", "file_sha256"]


def json_ready(value: Any) -> Any:
    """Replace NaN/inf floats by ``None`` (JSON has no NaN) recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value


def umask_mode(base: int) -> int:
    """``base`` (0o666 for files, 0o777 for folders) less the process umask."""
    current = os.umask(0)
    os.umask(current)
    return base & ~current


@contextlib.contextmanager
def atomic_path(path: str | Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; it replaces ``path`` only if the block succeeds.

    For writers that take a file name (Keras' ``save``, which wants a ``.keras`` ``suffix``;
    the ONNX export). An ``OSError`` of the block that names no file, or the hidden temporary
    one (Keras' save reports a full disk as a bare ``[Errno 28]``), is raised naming ``path``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, umask_mode(0o666))
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None and exc.filename in (None, tmp):
            raise _renamed(exc, str(target)) from exc
        raise


def _renamed(exc: OSError, filename: str) -> OSError:
    """``exc`` naming ``filename`` instead (its type kept: ``OSError`` picks the subclass from the errno)."""
    return OSError(exc.errno, exc.strerror or str(exc), filename)


def output_file(path: str | Path, flag: str = "--output") -> Path:
    """Where a file the user named should really be written: checked before anything is computed.

    A symlink is written through (its target replaced atomically, the link kept); a character
    device or a pipe (``/dev/stdout``, ``/dev/null``, a FIFO) is written into, never replaced
    (see :func:`write_output`); a directory, socket or block device is refused; a parent that is
    a file is named. Missing parent folders are created by the write.

    Raises:
        ConfigError: naming ``flag``, the path and what was expected.
    """
    from forecaster.errors import ConfigError

    given = Path(path)
    try:
        if given.exists() and _stream(given):  # /dev/stdout, /dev/null, a FIFO (through links): written in place
            return given
        target = given.resolve(strict=False) if given.is_symlink() else given
    except (OSError, RuntimeError) as exc:  # a symlink loop, an unreadable link
        raise ConfigError(f"{flag} {given}: cannot follow the path ({exc.__class__.__name__}); give another") from None
    if str(given).startswith(("/dev/", "/proc/")) and given.exists() and target.is_file():
        return given  # /dev/stdout redirected to a file (`>> log.csv`): appended to, never replaced
    if target.exists() and not (target.is_file() or _stream(target)):
        what = "a directory" if target.is_dir() else "not a regular file (a socket or block device)"
        raise ConfigError(f"{flag} {given}: is {what}; give the path of a file to write (it is never replaced)")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{flag} {given}: {parent} is a file, not a folder; give another path")
            break
    return target


def _stream(path: Path) -> bool:
    import stat

    mode = path.stat().st_mode
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


def write_output(target: Path, text: str) -> None:
    """Write a checked :func:`output_file` target: into a device or pipe, else atomically."""
    if target.exists() and (_stream(target) or str(target).startswith(("/dev/", "/proc/"))):
        try:
            with open(target, "a", encoding="utf-8") as fh:  # append: a redirected stdout keeps its lines
                fh.write(text)
        except OSError as exc:  # a write error names no file: name it
            raise OSError(exc.errno, exc.strerror, str(target)) from None
        return
    atomic_write_text(target, text)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temp file in the same folder, fsync, and ``os.replace``."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def read_json(path: Path, what: str) -> Any:
    """Read a JSON artifact; a missing or malformed file is an :class:`ArtifactError`."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path}: {what} not found") from None
    except PermissionError:
        raise ArtifactError(f"{path}: {what} is not readable by uid {os.getuid()} (permission denied); "
                            "fix the file's permissions or run as its owner") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: {what} is corrupt ({exc.__class__.__name__}: {exc})") from None


def new_run_id(label: str) -> str:
    """A sortable, unique run id: ``YYYYmmdd-HHMMSS-<label>-<4 hex>`` (UTC)."""
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{label}-{secrets.token_hex(2)}"


#: A staging folder or temporary file older than this was left by a killed process (a run is
#: staged only while it is written, seconds to minutes): the next save removes it.
STALE_SECONDS = 3600.0


def remove_stale(folder: Path, *, older_than: float = STALE_SECONDS) -> list[str]:
    """Remove the hidden staging folders (``.tmp-*``) and temporary files (``.*.tmp``) a killed
    process left in ``folder``; returns their names. Recent ones (a save in progress) are kept."""
    import time

    removed = []
    cutoff = time.time() - older_than
    with contextlib.suppress(OSError):
        for p in folder.iterdir():
            if p.is_symlink():
                continue
            folder_left = p.name.startswith(".tmp-") and p.is_dir()
            file_left = p.name.startswith(".") and p.name.endswith(".tmp") and p.is_file()
            with contextlib.suppress(OSError):
                if (folder_left or file_left) and p.lstat().st_mtime < cutoff:
                    if folder_left:
                        shutil.rmtree(p)
                    else:
                        p.unlink()
                    removed.append(p.name)
    return removed


def linked_part(root: Path, relative: str | Path) -> Path | None:
    """The first symbolic link on the way from ``root`` down to ``root / relative`` (``None``: there is none;
    ``root`` itself is the user's and may be one)."""
    path = root
    for part in Path(relative).parts:
        path = path / part
        if path.is_symlink():
            return path
    return None


def contained(root: Path, relative: str, where: str) -> Path:
    """``root / relative`` for a path an artifact names (a manifest's file, a leaderboard's cell), checked.

    The path must be relative, without ``..``, and reach its file with no symbolic link on the way
    (a ``series/<k>`` folder linked to a network elsewhere would otherwise be served under this
    folder's checksums).

    Raises:
        ArtifactError: naming ``where``, the path and why.

    Example:
        >>> contained(Path("run/gru"), "series/0/model.keras", "manifest.json")
        PosixPath('run/gru/series/0/model.keras')
        >>> contained(Path("run/gru"), "../lstm/model.keras", "manifest.json")
        Traceback (most recent call last):
        ...
        forecaster.errors.ArtifactError: manifest.json: names '../lstm/model.keras', which leaves run/gru (an \
absolute path or '..'); a saved model names only files inside its folder: retrain or pick another run
    """
    parts = Path(relative).parts
    if not relative or "\x00" in relative or Path(relative).is_absolute() or ".." in parts:
        raise ArtifactError(f"{where}: names {relative!r}, which leaves {root} (an absolute path or '..'); a saved "
                            "model names only files inside its folder: retrain or pick another run")
    link = linked_part(root, relative)
    if link is not None:
        raise ArtifactError(f"{where}: {link} is a symbolic link; a saved model's files must be inside its own "
                            "folder, not links to others: retrain or pick another run")
    return root / relative


def check_no_links(root: Path) -> None:
    """Refuse a saved folder holding a symbolic link anywhere below it (listed in its manifest or not).

    Raises:
        ArtifactError: naming the first link found.
    """
    for top, dirs, files in os.walk(root):  # links are not followed
        for name in sorted(dirs) + sorted(files):
            if os.path.islink(os.path.join(top, name)):
                raise ArtifactError(f"{os.path.join(top, name)}: a symbolic link inside a saved model's folder; its "
                                    "files must be its own, not links to others: retrain or pick another run")


#: Run folders this process has saved, in order: an interrupted command says what it completed.
SAVED: list[Path] = []


@contextlib.contextmanager
def staged_run(final: Path) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``final`` only if the block succeeds.

    On any exception (Ctrl-C included) the temporary directory is removed and ``final`` is
    never created.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        raise ArtifactError(f"{final}: already exists; refusing to overwrite a saved run")
    remove_stale(final.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    try:
        yield tmp
        os.chmod(tmp, umask_mode(0o777))
        os.rename(tmp, final)
        SAVED.append(final)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        name = exc.filename if isinstance(exc, OSError) else None
        if isinstance(name, str) and name.startswith(f"{tmp}{os.sep}") and isinstance(exc, OSError):
            # the file as the run would have named it, not its staging folder (removed by now)
            raise _renamed(exc, str(final / Path(name).relative_to(tmp))) from exc
        raise


def file_sha256(path: str | Path) -> str:
    """The SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
