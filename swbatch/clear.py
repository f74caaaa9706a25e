"""``swbatch cache --clear TARGET``: empty cache folders safely, and drop their lock entries.

It sits above both the cache's folders (:mod:`swbatch.cache`) and the lock (:mod:`swbatch.lock`),
so neither of those has to import the other.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from .cache import (
    CLEAR_TARGETS,
    HF_CACHE_FOLDERS,
    PERMISSION_HINT,
    ROOT_ENV,
    CachePaths,
    folder_size,
    human_size,
)
from .errors import UsageError
from .lock import prune


@dataclass(frozen=True)
class ClearedFolder:
    """What one ``cache --clear`` target removed (or would remove, on a dry run)."""

    target: str
    path: Path
    entries: tuple[str, ...]
    size: int
    unlocked: tuple[str, ...] = ()  # lock entries (repo@revision) dropped with the files

    def as_dict(self) -> dict:
        """What ``cache --clear --json`` prints for this folder (``unlocked`` as lock_entries)."""
        data = {**asdict(self), "path": str(self.path)}
        data["lock_entries"] = data.pop("unlocked")
        return data


def _guard_clear(paths: CachePaths, target: str, folder: Path) -> None:
    """Refuse folders whose contents are clearly not ours to delete."""
    home = Path.home().resolve()
    real = folder.resolve()
    root = paths.root.resolve()
    for danger, what in ((Path("/"), "the filesystem root"), (home, "your home folder")):
        if root == danger:
            raise UsageError(
                f"refusing to clear: the cache root {paths.root} is {what}; set {ROOT_ENV}"
            )
        if real == danger:
            raise UsageError(f"refusing to clear {target}: {folder} is {what}")
    if real == root or real in root.parents:
        raise UsageError(
            f"refusing to clear {target}: {folder} holds the cache root {paths.root}; "
            "check HF_HOME / TORCH_HOME"
        )


def clear_target(paths: CachePaths, target: str, dry_run: bool = False) -> list[ClearedFolder]:
    """Empty one cache folder (or all of them), never reaching outside it.

    The folder itself stays. Symbolic links inside it are removed as links, never followed, so
    a link to a folder elsewhere leaves that folder untouched. From HF_HOME only the caches in
    HF_CACHE_FOLDERS go. The lock entries of the models removed are dropped with them, so
    ``cache --verify`` afterwards checks what is left instead of failing on what was cleared.
    """
    targets = CLEAR_TARGETS if target == "all" else (target,)
    plan = [(name, paths.folder(name)) for name in targets]
    for name, folder in plan:
        _guard_clear(paths, name, folder)
    results = []
    for name, folder in plan:
        cleared = _clear_folder(name, folder, dry_run)
        removed = [folder.resolve() / entry for entry in cleared.entries]
        unlocked = tuple(prune(paths.root, removed, dry_run))
        results.append(ClearedFolder(name, folder, cleared.entries, cleared.size, unlocked))
    return results


def _clear_folder(target: str, folder: Path, dry_run: bool) -> ClearedFolder:
    real = folder.resolve()
    if not real.is_dir():
        return ClearedFolder(target, folder, (), 0)
    try:
        entries = sorted(real.iterdir())
        if target == "hf":
            entries = [e for e in entries if e.name in HF_CACHE_FOLDERS]
        size = sum(folder_size(entry) for entry in entries)
        if not dry_run:
            for entry in entries:
                _remove(entry)
    except PermissionError as exc:
        raise UsageError(
            f"cannot clear {exc.filename or folder}: permission denied; "
            + PERMISSION_HINT.format(path=folder)
        ) from None
    except OSError as exc:  # a read-only mount (a baked image), a failing disk
        raise UsageError(f"cannot clear {folder}: {exc.strerror or exc}") from None
    return ClearedFolder(target, folder, tuple(e.name for e in entries), size)


def _remove(entry: Path) -> None:
    """Delete one entry of a cache folder; a symlink goes as a link, its target stays."""
    try:
        if entry.is_symlink() or not entry.is_dir():
            entry.unlink()
        else:
            # rmtree unlinks symlinks it meets inside the tree instead of following them.
            shutil.rmtree(entry)
    except FileNotFoundError:
        pass


def format_cleared(results: list[ClearedFolder], dry_run: bool) -> str:
    """One line per folder: what went (or would go), and how much."""
    verb = "would free" if dry_run else "freed"
    lines = []
    for res in results:
        lines.append(
            f"{res.target}: {verb} {human_size(res.size)} in {len(res.entries)} "
            f"entr{'y' if len(res.entries) == 1 else 'ies'} ({res.path})"
        )
        if dry_run:
            lines += [f"    {res.path / name}" for name in res.entries]
        if res.unlocked:
            verb_lock = "would drop" if dry_run else "dropped"
            lines.append(f"    lock: {verb_lock} {', '.join(res.unlocked)}")
    if len(results) > 1:
        lines.append(f"total: {verb} {human_size(sum(r.size for r in results))}")
    return "\n".join(lines)
