"""The model cache: where every model lives, what it holds, and how to clear it safely.

One root (``SLOWER_WHISPER_CACHE_ROOT``, default ``~/.cache/slower-whisper``) holds a folder per
kind of model, so weights are shared across virtualenvs, runs and container builds. The layout and
the names (``CachePaths``, ``configure_global_cache_env``) are those slower-whisper users know.
Clearing a folder (which also prunes the lock) lives above this module, in :mod:`swbatch.clear`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError
from .hashing import short_revision

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
            rev = short_revision(model["revision"])
            lines.append(f"      {model['repo_id']}@{rev}  {human_size(model['size'])}")
    lines += ["", f"  {'Total:':<14}{human_size(report['total'])}"]
    return "\n".join(lines)
