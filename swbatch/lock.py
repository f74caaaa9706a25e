"""The lock file: what prefetch put into the cache, and the check that it is still there intact.

``$ROOT/swbatch.lock.json`` records, per model snapshot: the sets that asked for it, kind, name,
repo, resolved revision, where it came from, each file's size and sha256, the swbatch version and
the time. Paths are relative to the cache root so a baked cache can be copied elsewhere.
``swbatch cache --verify`` re-hashes everything against it, so a truncated or tampered model is
caught before a long batch starts, not hours into it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .cache import CachePaths
from .errors import EXIT_OK, EXIT_VERIFY_FAILED, UsageError

LOCK_NAME = "swbatch.lock.json"
LOCK_VERSION = 1
KIND_FOLDERS = ("whisper", "emotion", "diarization")
CHUNK = 4 << 20


def lock_path(paths: CachePaths) -> Path:
    """Where the lock lives: the cache root, next to the kind folders it describes."""
    return paths.root / LOCK_NAME


def read_lock(paths: CachePaths) -> dict:
    """The lock as data; an absent lock is an empty one, a corrupt one a one-line error."""
    path = lock_path(paths)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"lock_version": LOCK_VERSION, "models": []}
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the lock file {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise UsageError(f"the lock file {path} is not a swbatch lock (no 'models' list)")
    return data


def sha256_file(path: Path) -> str:
    """sha256 of a file, read in chunks (model.bin may be several GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def snapshot_files(snapshot: Path) -> list[str]:
    """Relative names of every file in a snapshot folder (hub-layout symlinks count as files)."""
    names = []
    for dirpath, _dirs, files in os.walk(snapshot):
        for name in files:
            names.append(os.path.relpath(os.path.join(dirpath, name), snapshot))
    return sorted(names)


@contextlib.contextmanager
def _locked(paths: CachePaths) -> Iterator[None]:
    """Serialise writers: two prefetches into one cache must not lose each other's entries."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with open(paths.root / (LOCK_NAME + ".flock"), "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def record(paths: CachePaths, entry: dict) -> None:
    """Add or replace one model's entry (same kind, repo and revision), merging its sets."""
    with _locked(paths):
        data = read_lock(paths)
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
        _write_lock(paths, {"lock_version": LOCK_VERSION, "models": kept})


def _write_lock(paths: CachePaths, data: dict) -> None:
    """Replace the lock atomically (the caller holds ``_locked``)."""
    tmp = lock_path(paths).with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, lock_path(paths))


def prune(paths: CachePaths, removed: list[Path], dry_run: bool = False) -> list[str]:
    """Drop the entries whose snapshot lies under a removed path; returns them as repo@revision.

    Called by every ``cache --clear`` (``dry_run``: only say which), so the lock never names
    files that were deleted on purpose.
    """
    if not removed or not lock_path(paths).exists():
        return []
    gone = [Path(os.path.abspath(p)) for p in removed]
    root = paths.root.resolve()

    def cleared(entry: dict) -> bool:
        snapshot = Path(os.path.abspath(root / entry.get("path", "")))
        return any(snapshot == g or g in snapshot.parents for g in gone)

    if dry_run:  # a dry run writes nothing, not even the writers' flock file
        return [_label(e) for e in read_lock(paths)["models"] if cleared(e)]
    with _locked(paths):
        data = read_lock(paths)
        dropped = [e for e in data["models"] if cleared(e)]
        if dropped:
            data["models"] = [e for e in data["models"] if not cleared(e)]
            _write_lock(paths, data)
    return [_label(e) for e in dropped]


def _label(entry: dict) -> str:
    return f"{entry.get('repo')}@{_short(str(entry.get('revision')))}"


def size_mismatch(paths: CachePaths, snapshot: Path) -> str | None:
    """A cheap check before a model is loaded: every locked file of ``snapshot`` is there with
    its locked size. Hashing a multi-GB model on every run would be too slow; a stat is not, and
    it catches the common damage (a truncated or half-copied file) with one clear line instead of
    a loader's error on every job. Returns the first problem, or None (also when unlocked)."""
    try:
        rel = os.path.relpath(snapshot.resolve(), paths.root.resolve())
        entries = read_lock(paths)["models"]
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


# --- verify -----------------------------------------------------------------------------------


@dataclass
class Problem:
    """One mismatch between the cache and the lock."""

    status: str  # missing | changed | extra | source
    path: str  # relative to the cache root
    detail: str


@dataclass
class VerifyReport:
    """The result of ``cache --verify``: every checked model and every problem found."""

    root: Path
    lock_file: Path
    models: list[dict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    note: str = ""
    against_source: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.ok else EXIT_VERIFY_FAILED

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "root": str(self.root),
            "lock_file": str(self.lock_file),
            "note": self.note,
            "against_source": self.against_source,
            "models": self.models,
            "problems": [vars(p) for p in self.problems],
        }

    def format(self) -> str:
        sources = " and the models' sources" if self.against_source else ""
        lines = [f"verifying {self.root} against {self.lock_file.name}{sources}:"]
        if self.note:
            lines.append(f"  {self.note}")
        for model in self.models:
            lines.append(
                f"  {model['status']:<8}{model['kind']} {model['name']} "
                f"({model['repo']}@{_short(model['revision'])}, {model['files']} files)"
            )
        for p in self.problems:
            lines.append(f"  {p.status.upper():<8}{p.path}: {p.detail}")
        n = len(self.problems)
        lines.append(
            f"all files match the lock{sources}"
            if self.ok
            else f"{n} problem{'s' if n != 1 else ''}: the cache does not match its lock{sources}; "
            "prefetch the model set again"
        )
        return "\n".join(lines)


def _short(revision: str) -> str:
    """A commit hash shortened like git's; a revision name (pkg-..., dir-...) kept whole."""
    return revision[:12] if len(revision) == 40 and revision.isalnum() else revision


def _check_file(root: Path, snapshot: Path, spec: dict) -> Problem | None:
    path = snapshot / spec["name"]
    rel = os.path.relpath(path, root)
    if not path.exists():
        return Problem("missing", rel, "in the lock but not in the cache")
    size = path.stat().st_size
    if size != spec["size"]:
        return Problem("changed", rel, f"size {size} bytes, locked {spec['size']}")
    digest = sha256_file(path)
    if digest != spec["sha256"]:
        return Problem("changed", rel, f"sha256 {digest[:12]}..., locked {spec['sha256'][:12]}...")
    return None


def _source_problems(root: Path, snapshot: Path, entry: dict) -> list[Problem]:
    """What differs from the entry's source (the hub's hashes, the package or folder files)."""
    from .sources import source_problems

    return [
        Problem("source", os.path.relpath(snapshot / name, root) if name else entry["path"], why)
        for name, why in source_problems(entry, snapshot)
    ]


def _verify_entry(root: Path, entry: dict, against_source: bool) -> tuple[dict, list[Problem]]:
    snapshot = root / entry["path"]
    problems = []
    if not snapshot.is_dir():
        problems.append(Problem("missing", entry["path"], "the whole snapshot folder is gone"))
    else:
        if against_source:
            problems += _source_problems(root, snapshot, entry)
        locked = {f["name"] for f in entry["files"]}
        for spec in entry["files"]:
            problem = _check_file(root, snapshot, spec)
            if problem:
                problems.append(problem)
        for name in snapshot_files(snapshot):
            if name not in locked:
                problems.append(
                    Problem("extra", os.path.relpath(snapshot / name, root), "not in the lock")
                )
    summary = {key: entry.get(key) for key in ("kind", "name", "repo", "revision", "sets")}
    summary["files"] = len(entry["files"])
    summary["status"] = "FAILED" if problems else "ok"
    return summary, problems


def _unlocked_snapshots(root: Path, locked: set[str]) -> list[Problem]:
    """Snapshots in the kind folders that no lock entry describes: unverifiable, so extra."""
    problems = []
    for kind in KIND_FOLDERS:
        for snap in sorted((root / kind).glob("models--*/snapshots/*")):
            rel = os.path.relpath(snap, root)
            if rel not in locked:
                problems.append(Problem("extra", rel, "a model snapshot the lock does not list"))
    return problems


def verify_cache(paths: CachePaths, against_source: bool = False) -> VerifyReport:
    """Re-hash every locked file; report missing, changed and extra files.

    ``against_source`` also compares each file with its source (hub: the ETag huggingface_hub
    recorded; package/folder: the source file), which catches a lock that no longer tells the
    truth about where a model came from, not only damage done after the lock was written.
    """
    report = VerifyReport(paths.root, lock_path(paths), against_source=against_source)
    data = read_lock(paths)
    if not lock_path(paths).exists():
        report.note = "no lock file: nothing was prefetched into this cache"
    for entry in data["models"]:
        summary, problems = _verify_entry(paths.root, entry, against_source)
        report.models.append(summary)
        report.problems += problems
    report.problems += _unlocked_snapshots(paths.root, {e["path"] for e in data["models"]})
    return report
