"""What to transcribe: the job types, and the jobs discovered under ``--root``.

A YAML job manifest is the other way to name jobs: :mod:`swbatch.manifest`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any

from .audio import AUDIO_EXTENSIONS
from .errors import UsageError
from .flags import JOB_FLAGS

#: Per-job choices, one field per per-job row of :data:`swbatch.flags.FLAGS` (defaults included);
#: a job's own fields override the manifest's defaults, which override the CLI flags.
JobSettings = make_dataclass(
    "JobSettings",
    [(f.name, Any, field(default=f.default)) for f in JOB_FLAGS],
    frozen=True,
)


@dataclass(frozen=True)
class Job:
    """One audio file and where its outputs go (``output`` is relative, without extension)."""

    id: str
    audio: Path
    output: str
    settings: JobSettings = field(default_factory=JobSettings)


@dataclass(frozen=True)
class Batch:
    """Jobs plus the folder every output of theirs must land in; ``notes`` are what discovery
    left out on purpose (a symlink loop, a second link to the same folder), one line each."""

    output_dir: Path
    jobs: list[Job]
    notes: tuple[str, ...] = ()


# --- --root discovery ---------------------------------------------------------------------------


def discover(root: Path, settings: JobSettings, output_dir: Path | None = None) -> Batch:
    """Every audio file under ``root/raw_audio`` (recursive), outputs kept in the same sub-folders.

    The output name keeps the file's extension (``a.wav`` -> ``a.wav.json``) so ``a.wav`` and
    ``a.mp3`` never overwrite each other, and adding a file never renames another's outputs.
    Symlinked folders are followed (archives are often assembled from links), each real folder
    and each real file once: a link back to a folder above it (a loop) or to a folder already
    walked is left out with a note, and a file reached twice keeps its path without links.
    Outputs go under ``root`` unless ``output_dir`` (``--output``) is given: then nothing is
    written under ``root``, so it can be a read-only mount.
    """
    audio_root = root / "raw_audio"
    if not audio_root.is_dir():
        raise UsageError(f"no raw_audio folder under {root} (put audio files in {audio_root})")
    walk = _Walk(audio_root)
    walk.visit(audio_root, ancestors=())
    jobs = [Job(id=rel, audio=audio_root / rel, output=rel, settings=settings)
            for rel in walk.files()]  # fmt: skip
    return Batch(
        output_dir=output_dir or root,
        jobs=sorted(jobs, key=lambda j: j.id),
        notes=tuple(walk.notes),
    )


class _Walk:
    """One walk of raw_audio/ that follows symlinked folders without looping or repeating."""

    def __init__(self, audio_root: Path):
        self.audio_root = audio_root
        # every folder of the tree itself (no links followed): a link into it is a repeat
        self.walked = {_identity(d) for d, _, _ in os.walk(audio_root)}
        self.found: dict[object, list[tuple[bool, str]]] = {}  # file identity -> (via link, rel)
        self.notes: list[str] = []

    def visit(self, folder: Path, ancestors: tuple, via_link: bool = False) -> None:
        ancestors = (*ancestors, _identity(folder))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            rel = folder.relative_to(self.audio_root).as_posix()
            self.notes.append(f"raw_audio/{rel}: cannot read this folder ({exc.strerror}); skipped")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            rel = path.relative_to(self.audio_root).as_posix()
            if entry.is_dir() and not _is_audio_name(entry.name):
                if not entry.is_symlink():
                    self.visit(path, ancestors, via_link)
                    continue
                target = _identity(path)
                if target in ancestors:
                    self.notes.append(
                        f"raw_audio/{rel}: symlink loop (links to a folder above it); not followed"
                    )
                elif target in self.walked:
                    real = os.path.realpath(path)
                    self.notes.append(f"raw_audio/{rel}: {real} is walked once; not followed again")
                else:
                    self.walked.add(target)
                    self.visit(path, ancestors, via_link=True)
            elif _is_audio_name(entry.name):
                # a folder named like audio (x.wav/) or a broken link becomes a job that fails
                # with a clear reason; neither has an identity worth sharing
                key = _identity(path) if entry.is_file() else rel
                self.found.setdefault(key, []).append((via_link or entry.is_symlink(), rel))

    def files(self) -> list[str]:
        """One path per real file: the one without links, else the first by name."""
        chosen = []
        for paths in self.found.values():
            paths.sort()
            chosen.append(paths[0][1])
            for _via, rel in paths[1:]:
                self.notes.append(
                    f"raw_audio/{rel}: same file as raw_audio/{paths[0][1]}; transcribed once"
                )
        return chosen


def _identity(path: Path | str) -> tuple[int, int]:
    """What makes a folder or file the same one whichever link leads to it."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


def _is_audio_name(name: str) -> bool:
    return Path(name).suffix.lower() in AUDIO_EXTENSIONS
