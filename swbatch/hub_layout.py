"""The hub's cache layout, as every prefetched model is stored whatever its source.

``models--OWNER--NAME/`` with content-addressed ``blobs/``, ``snapshots/<revision>/`` links and
``refs/main``: the layout faster-whisper and huggingface_hub look models up in, offline too.
"""

from __future__ import annotations

from pathlib import Path

from .errors import UsageError
from .fsutil import write_atomic
from .model_set import REQUIRED_FILES, ModelSpec


def repo_folder(kind_folder: Path, repo_id: str) -> Path:
    """``models--OWNER--NAME`` under a kind folder (huggingface_hub's naming)."""
    from huggingface_hub.file_download import repo_folder_name

    return kind_folder / repo_folder_name(repo_id=repo_id, repo_type="model")


def set_main_ref(repo_dir: Path, revision: str) -> None:
    """Point ``refs/main`` at the baked revision, so faster-whisper finds it by short name."""
    write_atomic(repo_dir / "refs" / "main", revision)


def check_required(spec: ModelSpec, snapshot: Path, where: str) -> None:
    """``files`` are allow patterns (as faster-whisper's); the kind's essentials must be there."""
    for name in REQUIRED_FILES[spec.kind]:
        if not (snapshot / name).is_file():
            raise UsageError(
                f"{where}.files: a {spec.kind} model needs {name}, and "
                f"{spec.repo}@{snapshot.name} has none (or the patterns leave it out)"
            )
