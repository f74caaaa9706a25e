"""Checkpoints inside a file: the finished windows of a long job, so a killed run resumes there.

Layout: ``OUTPUT_DIR/.swbatch/checkpoints/<job>.<settings>.jsonl``, where ``<job>`` is a hash of
the job id and ``<settings>`` a hash of everything that shapes the transcript (model, decoding
options, window length) and of the audio file's size and modification time. A rerun with other
settings, or after the audio changed, finds no checkpoint of its own and starts from zero (and
removes the stale one). The first line describes the job; each further line is one finished
window: its index, where it starts and how long it is (in samples), and its segments with times
already in file time. Lines are appended with one ``write`` each and flushed to disk, so a kill
loses at most the window being transcribed; a line torn by the kill is cut off on the next run.
The file is removed once the job's JSON is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .errors import SwbatchError
from .version import __version__

CHECKPOINT_DIR = "checkpoints"


class CheckpointError(SwbatchError):
    """The checkpoint folder cannot be written (disk full, permissions): the batch stops."""


def settings_key(settings: dict) -> str:
    """A short stable hash of a JSON-able settings dict."""
    text = json.dumps(settings, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]


def checkpoint_settings(model: dict, options: Any, window_seconds: float, audio: Path) -> dict:
    """Everything a checkpoint's windows depend on: the model, the decoding options (a
    dataclass), the window length, this version of swbatch, and the audio file as it is now
    (size and modification time), so a changed file is never resumed from old windows."""
    stat = audio.stat()
    return {
        "model": model,
        "options": asdict(options),
        "window_seconds": window_seconds,
        "swbatch_version": __version__,
        "audio": {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns},
    }


@dataclass
class Checkpoint:
    """The checkpoint of one job under one set of settings."""

    path: Path
    header: dict

    @classmethod
    def for_job(cls, state_dir: Path, job_id: str, settings: dict) -> Checkpoint:
        """The checkpoint of ``job_id`` run with ``settings`` (nothing is created yet)."""
        job = hashlib.sha256(job_id.encode("utf-8")).hexdigest()[:32]
        path = state_dir / CHECKPOINT_DIR / f"{job}.{settings_key(settings)}.jsonl"
        # as it reads back from the file (tuples become lists), so a rerun's header compares equal
        header = json.loads(json.dumps({"job": job_id, "settings": settings}, default=str))
        return cls(path, header)

    def load(self) -> list[dict]:
        """The finished windows, in order; removes checkpoints of this job with other settings.

        A torn last line (the run was killed while writing it) is cut off, so the next append
        starts on a line of its own. A file whose header names another job or other settings
        (a hash collision) is ignored and replaced.
        """
        self._remove_others()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CheckpointError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        windows: list[dict] = []
        kept = 0
        for number, line in enumerate(raw.split(b"\n")[:-1]):  # the part after the last \n is torn
            try:
                entry = json.loads(line)
            except ValueError:
                break
            if number == 0:
                if entry != self.header:
                    self.remove()
                    return []
            elif entry.get("index") != len(windows):
                break
            else:
                windows.append(entry)
            kept += len(line) + 1
        if kept < len(raw):
            with open(self.path, "r+b") as fh:
                fh.truncate(kept)
        return windows

    def append(self, window: dict) -> None:
        """Record one finished window (creating the file, header first, on the first window)."""
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        lines = [self.header] if fresh else []
        data = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in [*lines, window])
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, data.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise CheckpointError(
                f"cannot append to {self.path}: {exc.strerror or exc}; "
                "free space or fix permissions, then rerun to resume"
            ) from None

    def remove(self) -> None:
        """Forget the checkpoint (the job's outputs are written, or it does not fit the audio)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _remove_others(self) -> None:
        job = self.path.name.split(".", 1)[0]
        with contextlib.suppress(FileNotFoundError):
            for other in self.path.parent.glob(f"{job}.*.jsonl"):
                if other != self.path:
                    with contextlib.suppress(FileNotFoundError):
                        other.unlink()
