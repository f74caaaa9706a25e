"""``swbatch cache --verify``: every file the lock names, hashed again and compared.

The lock (:mod:`swbatch.lock`) says what prefetch put into the cache; this module checks that it
is all still there, intact, and (``--against-source``) still what its source holds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import EXIT_OK, EXIT_VERIFY_FAILED
from .hashing import sha256_file, short_revision
from .lock import lock_path, read_lock, snapshot_files
from .sources import source_problems

#: the cache folders that hold model snapshots (an unlocked snapshot there is reported)
KIND_FOLDERS = ("whisper", "emotion", "diarization")


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
                f"({model['repo']}@{short_revision(model['revision'])}, {model['files']} files)"
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


def verify_cache(root: Path, against_source: bool = False) -> VerifyReport:
    """Re-hash every locked file; report missing, changed and extra files.

    ``against_source`` also compares each file with its source (hub: the ETag huggingface_hub
    recorded; package/folder: the source file), which catches a lock that no longer tells the
    truth about where a model came from, not only damage done after the lock was written.
    """
    report = VerifyReport(root, lock_path(root), against_source=against_source)
    data = read_lock(root)
    if not lock_path(root).exists():
        report.note = "no lock file: nothing was prefetched into this cache"
    for entry in data["models"]:
        summary, problems = _verify_entry(root, entry, against_source)
        report.models.append(summary)
        report.problems += problems
    report.problems += _unlocked_snapshots(root, {e["path"] for e in data["models"]})
    return report
