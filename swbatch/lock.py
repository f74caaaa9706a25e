"""The lock file: what prefetch put into the cache, and the check that it is still there intact.

``$ROOT/swbatch.lock.json`` records, per model snapshot: the sets that asked for it, kind, name,
repo, resolved revision, where it came from, each file's size and sha256, the swbatch version and
the time. Paths are relative to the cache root so a baked cache can be copied elsewhere.
``swbatch cache --verify`` re-hashes everything against it, so a truncated or tampered model is
caught before a long batch starts, not hours into it (:mod:`swbatch.verify`).

Every function takes the cache root folder, not ``CachePaths``: the lock knows one file in one
folder, and the cache module (which clears folders and prunes the lock) builds on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from .errors import UsageError
from .fsutil import write_atomic
from .hashing import short_revision

LOCK_NAME = "swbatch.lock.json"
LOCK_VERSION = 1


def lock_path(root: Path) -> Path:
    """Where the lock lives: the cache root, next to the kind folders it describes."""
    return root / LOCK_NAME


def read_lock(root: Path) -> dict:
    """The lock as data; an absent lock is an empty one, a corrupt one a one-line error."""
    path = lock_path(root)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"lock_version": LOCK_VERSION, "models": []}
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the lock file {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise UsageError(f"the lock file {path} is not a swbatch lock (no 'models' list)")
    return data


def snapshot_files(snapshot: Path) -> list[str]:
    """Relative names of every file in a snapshot folder (hub-layout symlinks count as files)."""
    names = []
    for dirpath, _dirs, files in os.walk(snapshot):
        for name in files:
            names.append(os.path.relpath(os.path.join(dirpath, name), snapshot))
    return sorted(names)


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Serialise writers: two prefetches into one cache must not lose each other's entries."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / (LOCK_NAME + ".flock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def record(root: Path, entry: dict) -> None:
    """Add or replace one model's entry (same kind, repo and revision), merging its sets."""
    with _locked(root):
        data = read_lock(root)
        key = (entry["kind"], entry["repo"], entry["revision"])
        sets = list(entry.get("sets", []))
        kept = []
        for old in data["models"]:
            if (old.get("kind"), old.get("repo"), old.get("revision")) == key:
                sets += [s for s in old.get("sets", []) if s not in sets]
            else:
                kept.append(old)
        kept.append({**entry, "sets": sets})
        kept.sort(key=lambda e: (e["kind"], e["repo"], e["revision"]))
        _write_lock(root, {"lock_version": LOCK_VERSION, "models": kept})


def _write_lock(root: Path, data: dict) -> None:
    """Replace the lock atomically (the caller holds ``_locked``)."""
    path = lock_path(root)
    try:
        write_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise UsageError(f"cannot write the lock file {path}: {exc.strerror or exc}") from None


def prune(root: Path, removed: list[Path], dry_run: bool = False) -> list[str]:
    """Drop the entries whose snapshot lies under a removed path; returns them as repo@revision.

    Called by every ``cache --clear`` (``dry_run``: only say which), so the lock never names
    files that were deleted on purpose.
    """
    if not removed or not lock_path(root).exists():
        return []
    gone = [Path(os.path.abspath(p)) for p in removed]
    real_root = root.resolve()

    def cleared(entry: dict) -> bool:
        snapshot = Path(os.path.abspath(real_root / entry.get("path", "")))
        return any(snapshot == g or g in snapshot.parents for g in gone)

    if dry_run:  # a dry run writes nothing, not even the writers' flock file
        return [_label(e) for e in read_lock(root)["models"] if cleared(e)]
    with _locked(root):
        data = read_lock(root)
        dropped = [e for e in data["models"] if cleared(e)]
        if dropped:
            data["models"] = [e for e in data["models"] if not cleared(e)]
            _write_lock(root, data)
    return [_label(e) for e in dropped]


def _label(entry: dict) -> str:
    return f"{entry.get('repo')}@{short_revision(str(entry.get('revision')))}"


def size_mismatch(root: Path, snapshot: Path) -> str | None:
    """A cheap check before a model is loaded: every locked file of ``snapshot`` is there with
    its locked size. Hashing a multi-GB model on every run would be too slow; a stat is not, and
    it catches the common damage (a truncated or half-copied file) with one clear line instead of
    a loader's error on every job. Returns the first problem, or None (also when unlocked)."""
    try:
        rel = os.path.relpath(snapshot.resolve(), root.resolve())
        entries = read_lock(root)["models"]
    except (OSError, UsageError):
        return None
    for entry in entries:
        if entry.get("path") != rel:
            continue
        for spec in entry.get("files", []):
            path = snapshot / spec["name"]
            size = path.stat().st_size if path.exists() else None
            if size != spec["size"]:
                found = "missing" if size is None else f"{size} bytes"
                return f"{rel}/{spec['name']} is {found}, the lock says {spec['size']} bytes"
    return None
