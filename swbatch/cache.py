"""The model cache: where every model lives, what it holds, and how to clear it safely.

One root (``SLOWER_WHISPER_CACHE_ROOT``, default ``~/.cache/slower-whisper``) holds a folder per
kind of model, so weights are shared across virtualenvs, runs and container builds. The layout and
the names (``CachePaths``, ``configure_global_cache_env``) are those slower-whisper users know.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

ROOT_ENV = "SLOWER_WHISPER_CACHE_ROOT"
DEFAULT_ROOT = Path("~/.cache/slower-whisper")
CLEAR_TARGETS = ("whisper", "emotion", "diarization", "hf", "torch")
#: cache --show rows: (label, CachePaths attribute, clear target)
FOLDERS = (
    ("HF_HOME", "hf_home", "hf"),
    ("TORCH_HOME", "torch_home", "torch"),
    ("Whisper", "whisper_root", "whisper"),
    ("Emotion", "emotion_root", "emotion"),
    ("Diarization", "diarization_root", "diarization"),
)
PERMISSION_HINT = "make it writable, e.g. chmod -R u+w {path}"
#: what `cache --clear hf` removes from HF_HOME: huggingface_hub's caches (models, Xet chunks,
#: assets). HF_HOME also holds the user's login (`token`, `stored_tokens`) and settings, which
#: are not caches, and HF_HOME is often the user's own folder: those are never touched.
HF_CACHE_FOLDERS = ("hub", "xet", "assets")


@dataclass(frozen=True)
class CachePaths:
    """Every folder of the cache, resolved from an environment."""

    root: Path
    hf_home: Path
    torch_home: Path
    whisper_root: Path
    emotion_root: Path
    diarization_root: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CachePaths:
        """Resolve the folders; ``HF_HOME`` / ``TORCH_HOME`` set by the user win over the root."""
        env = os.environ if env is None else env
        root = _expand(env.get(ROOT_ENV) or str(DEFAULT_ROOT))
        return cls(
            root=root,
            hf_home=_expand(env["HF_HOME"]) if env.get("HF_HOME") else root / "hf",
            torch_home=_expand(env["TORCH_HOME"]) if env.get("TORCH_HOME") else root / "torch",
            whisper_root=root / "whisper",
            emotion_root=root / "emotion",
            diarization_root=root / "diarization",
        )

    @property
    def hf_hub_cache(self) -> Path:
        """Where huggingface_hub keeps repos under ``HF_HOME`` (its own default layout)."""
        return self.hf_home / "hub"

    def folder(self, target: str) -> Path:
        """The folder behind a ``cache --clear`` target name."""
        for _label, attr, name in FOLDERS:
            if name == target:
                return getattr(self, attr)
        raise UsageError(
            f"unknown cache target {target!r}; choose one of: {', '.join(CLEAR_TARGETS)}, all"
        )

    def folder_of_kind(self, kind: str) -> Path:
        """The folder a model kind (whisper, emotion, diarization) is stored in."""
        return self.folder(kind)

    def ensure(self, for_writing: bool = True) -> CachePaths:
        """Create every folder, with one clear line when the root is unusable.

        ``for_writing=False`` is for readers (transcription): a baked cache on a read-only mount,
        or owned by another user, is fine to read, and a folder that cannot be created is simply
        an absent model, which model resolution reports with its own clear line.
        """
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"cache root {self.root} is a file, not a folder; set {ROOT_ENV}")
        for path in (self.root, *(getattr(self, attr) for _l, attr, _t in FOLDERS)):
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                if not for_writing:
                    continue
                raise UsageError(
                    f"cannot create cache folder {path}: {exc.strerror}; "
                    + PERMISSION_HINT.format(path=self.root)
                ) from None
        if for_writing and not os.access(self.root, os.W_OK):
            raise UsageError(
                f"cache root {self.root} is not writable; " + PERMISSION_HINT.format(path=self.root)
            )
        return self


def _expand(value: str) -> Path:
    return Path(os.path.abspath(os.path.expanduser(value)))


def configure_global_cache_env(
    env: MutableMapping[str, str] | None = None, for_writing: bool = True
) -> CachePaths:
    """Create the cache folders and point HF/torch libraries at them.

    Only variables the user has not set are filled in, so calling it twice, or after the user
    exported ``HF_HOME``, changes nothing. Call it before importing transformers/pyannote: they
    read these variables at import time.
    """
    env = os.environ if env is None else env
    paths = CachePaths.from_env(env).ensure(for_writing)
    env.setdefault("HF_HOME", str(paths.hf_home))
    env.setdefault("TORCH_HOME", str(paths.torch_home))
    env.setdefault("HF_HUB_CACHE", str(paths.hf_hub_cache))
    return paths


# --- sizes -----------------------------------------------------------------------------------


def _walk_files(path: Path) -> Iterator[os.stat_result]:
    """lstat of every file below ``path`` without following symbolic links."""
    try:
        st = path.lstat()
    except OSError:
        return
    if not path.is_dir() or path.is_symlink():
        yield st
        return
    for dirpath, _dirs, files in os.walk(path, followlinks=False):
        for name in files:
            try:
                yield os.lstat(os.path.join(dirpath, name))
            except OSError:
                continue


def folder_size(path: Path) -> int:
    """Bytes used below ``path``; hub-layout symlinks count once (as the blob they point to)."""
    return sum(st.st_size for st in _walk_files(path) if not stat.S_ISLNK(st.st_mode))


def human_size(num: float) -> str:
    """``1536`` -> ``'1.5 KB'``, in the spec's style (``0.0 B``, ``2.5 GB``)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(num) < 1024 or unit == "TB":
            return f"{num:.1f} {unit}"
        num /= 1024
    raise AssertionError("unreachable")


# --- what is cached ---------------------------------------------------------------------------


def list_models(folder: Path) -> list[dict]:
    """Models held in a hub-layout folder, read with huggingface_hub's own cache scanner."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    models = []
    for scan_dir in (folder, folder / "hub"):
        if not scan_dir.is_dir():
            continue
        try:
            info = scan_cache_dir(scan_dir)
        except CacheNotFound:
            continue
        for repo in sorted(info.repos, key=lambda r: r.repo_id):
            for rev in sorted(repo.revisions, key=lambda r: r.commit_hash):
                models.append(
                    {
                        "repo_id": repo.repo_id,
                        "repo_type": repo.repo_type,
                        "revision": rev.commit_hash,
                        "refs": sorted(rev.refs),
                        "size": rev.size_on_disk,
                        "path": str(rev.snapshot_path),
                    }
                )
    return models


def cache_report(paths: CachePaths) -> dict:
    """Everything ``cache --show`` prints, as data (also its ``--json`` output)."""
    folders = []
    seen: set[Path] = set()
    total = 0
    for label, attr, target in FOLDERS:
        path: Path = getattr(paths, attr)
        size = folder_size(path)
        # HF_HOME or TORCH_HOME may be set to a folder inside another one: count bytes once.
        if not any(path == s or s in path.parents for s in seen):
            total += size
        seen.add(path)
        folders.append(
            {
                "label": label,
                "target": target,
                "path": str(path),
                "exists": path.is_dir(),
                "size": size,
                "models": list_models(path) if path.is_dir() else [],
            }
        )
    return {"root": str(paths.root), "folders": folders, "total": total}


def format_report(report: dict) -> str:
    """The spec's text layout, with the models of each folder listed beneath it."""
    lines = ["swbatch cache locations:", f"  {'Root:':<14}{report['root']}"]
    for folder in report["folders"]:
        missing = "" if folder["exists"] else ", not created"
        lines.append(
            f"  {folder['label'] + ':':<14}{folder['path']} ({human_size(folder['size'])}{missing})"
        )
        for model in folder["models"]:
            rev = model["revision"][:12]
            lines.append(f"      {model['repo_id']}@{rev}  {human_size(model['size'])}")
    lines += ["", f"  {'Total:':<14}{human_size(report['total'])}"]
    return "\n".join(lines)


# --- clearing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClearedFolder:
    """What one ``cache --clear`` target removed (or would remove, on a dry run)."""

    target: str
    path: Path
    entries: tuple[str, ...]
    size: int
    unlocked: tuple[str, ...] = ()  # lock entries (repo@revision) dropped with the files


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
    from .lock import prune

    targets = CLEAR_TARGETS if target == "all" else (target,)
    plan = [(name, paths.folder(name)) for name in targets]
    for name, folder in plan:
        _guard_clear(paths, name, folder)
    results = []
    for name, folder in plan:
        cleared = _clear_folder(name, folder, dry_run)
        removed = [folder.resolve() / entry for entry in cleared.entries]
        unlocked = tuple(prune(paths, removed, dry_run))
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
