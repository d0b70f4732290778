"""Files Piazza creates for itself and needs in order to start (the secret key), written so that a power
cut or a second process never leaves one empty or half-written.

The content goes to a temporary file in the same folder, which is fsynced, then linked under its final
name: a link is atomic and fails when the name exists, so a reader sees either no file or the whole file,
and of several processes creating the same file at once exactly one wins, the others keep theirs. Last,
the folder is fsynced so the new name itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path

# What os.link raises where the file system has no hard links (FAT, some network and FUSE mounts).
NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK})


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_directory(path: Path) -> None:
    """`mkdir -p` whose new folders survive a power cut: each created one is recorded in its parent."""
    missing = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    path.mkdir(parents=True, exist_ok=True)
    for created in reversed(missing):
        fsync_directory(created.parent)


def replace_file(path: Path, data: bytes, *, prefix: str = ".tmp-") -> None:
    """Put `data` at `path` whole or not at all: a temporary file beside it, fsynced, renamed over it,
    and the folder fsynced, so neither a reader nor a power cut ever finds half a file."""
    make_directory(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def create_file_once(path: Path, data: bytes, mode: int = 0o600) -> bool:
    """Write `data` to `path` durably unless `path` exists; True when this call created it.

    Never overwrites: when another process creates the file meanwhile, theirs is kept (and False returned).
    """
    make_directory(path.parent)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in NO_HARD_LINKS:
                raise
            return _create_exclusively(path, data, mode)
        os.unlink(temporary)
        fsync_directory(path.parent)  # the new name, and the temporary one gone
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _create_exclusively(path: Path, data: bytes, mode: int) -> bool:
    """For file systems without hard links: O_EXCL still lets exactly one creator win and never
    overwrites, and the fsyncs still make it durable; only a reader racing the winner could see the
    file before its content (a restart then reads it whole)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    fsync_directory(path.parent)
    return True
