"""Content hashes of files: what the lock records and what a source is checked against.

A leaf module (it imports nothing of swbatch's), so the lock and the model sources can both hash
without importing each other.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

#: bytes read at a time: model.bin may be several GB
CHUNK = 4 << 20
#: a git commit hash, as the hub names a snapshot
COMMIT_RE = re.compile(r"[0-9a-f]{40}")


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    _feed(digest, path)
    return digest.hexdigest()


def git_blob_id(path: Path) -> str:
    """The git blob id of a file: what the hub sends as the ETag of a file kept in git."""
    digest = hashlib.sha1(b"blob %d\0" % path.stat().st_size)
    _feed(digest, path)
    return digest.hexdigest()


def short_revision(revision: str) -> str:
    """A commit hash shortened like git's; a revision name (pkg-..., dir-...) kept whole."""
    return revision[:12] if COMMIT_RE.fullmatch(revision) else revision


def _feed(digest: hashlib._Hash, path: Path) -> None:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
