"""Crash-safe file writing: a temporary file in the target's folder, synced, then renamed.

A crash or ``kill -9`` at any moment leaves either the old file or the new one, never a torn
one: ``os.replace`` is atomic on POSIX and Windows within one file system.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from typing import IO


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "wb", encoding: str | None = None
) -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success it atomically replaces ``path``.

    If the block raises, the temporary file is removed and ``path`` is left untouched.

    Example:
        >>> with atomic_write("log.csv", "w", encoding="utf-8") as f:
        ...     f.write("epoch,loss\\n")
    """
    if "w" not in mode:
        raise ValueError(f"atomic_write writes whole files; mode must contain 'w', got {mode!r}.")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        # mkstemp makes the file private (0600); give it what a plain open() would have given
        os.chmod(temp, _final_mode(path))
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _sync_folder(folder)


def _final_mode(path: str) -> int:
    """The existing target's permissions, else the default for a new file under the umask."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _sync_folder(folder: str) -> None:
    """Persist the rename itself (the directory entry), where the platform allows it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
