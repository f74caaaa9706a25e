"""The one way swbatch writes a file: completely or not at all.

A reader (or a rerun after a kill) either sees a whole file under its final name or no file at
all: data goes to a temporary file in the same folder, is flushed to disk, and is then renamed
(:func:`write_atomic`, :func:`copy_atomic`) or hard-linked (:func:`write_once`) into place.
These functions raise ``OSError``; each caller maps it to the error its own user needs (a failed
job, a usage error).
This module imports nothing of swbatch's: every writer can use it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import glob
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Replace ``path`` with ``data`` (text is UTF-8) so the name only ever holds whole data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path, lambda out: out.write(_bytes(data)))
    try:
        os.replace(tmp, path)
    except OSError:
        unlink_quietly(tmp)
        raise
    return path


def copy_atomic(src: Path, path: Path, accept: Callable[[Path], bool]) -> bool:
    """Copy ``src`` to ``path`` in chunks (a model file may be gigabytes); the copy takes the name
    only when ``accept(copy)`` says it is right. Returns whether it did."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as source:
        tmp = _write_temp(path, lambda out: shutil.copyfileobj(source, out))
    try:
        if not accept(Path(tmp)):
            return False
        os.replace(tmp, path)
        tmp = ""
        return True
    finally:
        if tmp:
            unlink_quietly(tmp)


def write_once(path: Path, data: str | bytes) -> bool:
    """Create ``path`` with ``data`` unless it exists: True when this call's data is the file.

    Several processes racing here publish exactly one version: the temporary file is hard-linked
    to the final name, which fails when the name exists. Where a filesystem has no hard links,
    the file is created exclusively and written in place (a reader may briefly see it partial).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path, lambda out: out.write(_bytes(data)))
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        return _create_exclusive(path, _bytes(data))
    finally:
        unlink_quietly(tmp)


def remove_stale_temps(path: Path) -> None:
    """Delete the temporary files a killed writer left beside ``path``.

    Only a caller that is the sole writer of ``path`` (a job's claim holder) may call this.
    """
    if path.parent.is_dir():
        for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
            unlink_quietly(str(tmp))


def unlink_quietly(path: str | Path) -> None:
    """Remove a file if it is there; a file already gone or not removable is not an error."""
    with contextlib.suppress(OSError):
        os.unlink(path)


def _write_temp(path: Path, fill: Callable[[BinaryIO], object]) -> str:
    """A temporary file beside ``path`` that ``fill`` wrote, flushed, with the usual file mode."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600: files get the usual mode
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError:
        unlink_quietly(tmp)
        raise
    return tmp


def _create_exclusive(path: Path, data: bytes) -> bool:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 & ~_umask())
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def _bytes(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


@functools.cache
def _umask() -> int:
    """The process umask (read once: setting it to read it is not thread-safe)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
