"""The record a batch keeps beside its outputs: per-job status, job claims and the summary.

Everything lives in ``OUTPUT_DIR/.swbatch/``:

- ``status.jsonl``: one line per finished job attempt (done / failed with reason / skipped),
  appended, so a crash loses at most the line being written and never earlier ones; the disk
  past its end is kept allocated (:data:`STATUS_RESERVE_BYTES`), so when a run fills the disk the
  jobs that fail for it are still recorded as failed rather than stopping the batch;
- ``claims/``: one file per job, held with ``flock`` while the job runs (the job's *claim*), so
  two processes on the same folder never do the same job, and a killed process's claim goes with
  it (the kernel releases it), so nothing has to be cleaned up before a rerun. ("Lock" is kept
  for the model cache's hash lock; the ``locks/`` folder of earlier versions is unused.)
- ``summary.json`` (``summary-<I>-of-<N>.json`` for shard I/N): counts, audio hours, wall time,
  real-time factor and failures, written at the end and on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import json
import os
import re
import socket
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import SwbatchError, UsageError
from .version import __version__
from .writers import OutputError, atomic_write

STATE_DIR = ".swbatch"
CLAIMS_DIR = "claims"
_SUMMARY_NAME = re.compile(r"^summary(?:-(\d+)-of-(\d+))?\.json$")
#: the reason recorded for a job skipped because its outputs exist
ALREADY_DONE = "already done"
#: disk kept allocated past the end of status.jsonl (room for about 30 failure lines): which
#: write meets a full disk first is otherwise chance, and when it is the status line the whole
#: batch stops (exit 2) instead of each job failing with its reason (exit 1)
STATUS_RESERVE_BYTES = 16 * 1024


@dataclass
class JobRecord:
    """One line of ``status.jsonl``."""

    id: str
    audio: str
    state: str  # done | failed | skipped | interrupted (by Ctrl-C: a rerun does it)
    reason: str | None = None  # why it failed, was skipped, or was redone / enriched / written
    #: what was done: run (new), redo (settings changed, --overwrite), enrich (only the
    #: diarization/emotion stages on the existing transcript), write (formats from the JSON)
    action: str | None = None
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    #: why a person should check the transcript (the reasons of its JSON's review flags)
    review: list[str] = field(default_factory=list)
    shard: str | None = None
    time: str = ""


@dataclass
class Summary:
    """Totals of one run (one process), kept up to date as jobs finish."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    busy_elsewhere: int = 0
    #: files that went through ASR in this run (a rerun that only enriches or writes has none)
    transcribed: int = 0
    audio_seconds: float = 0.0
    started: float = field(default_factory=time.time)
    wall_seconds: float = 0.0
    failures: list[dict] = field(default_factory=list)
    #: the files a person should check: {"id", "audio", "reasons"} (swbatch.review)
    review: list[dict] = field(default_factory=list)
    interrupted: bool = False
    shard: str | None = None
    #: the shell command that started the run and its folder, for the report's rerun hint
    command: str | None = None
    cwd: str | None = None

    def add(self, record: JobRecord) -> None:
        if record.state == "done":
            self.done += 1
            self.audio_seconds += record.audio_seconds
            if record.review:
                self.review.append({"id": record.id, "audio": record.audio,
                                    "reasons": record.review})  # fmt: skip
        elif record.state == "failed":
            self.failed += 1
            self.failures.append({"id": record.id, "audio": record.audio, "reason": record.reason})
        elif record.state == "skipped":
            self.skipped += 1

    def as_dict(self) -> dict:
        self.wall_seconds = round(time.time() - self.started, 3)
        rtf = self.audio_seconds / self.wall_seconds if self.wall_seconds else 0.0
        return {
            **asdict(self),
            "audio_hours": round(self.audio_seconds / 3600, 4),
            "speed_x_realtime": round(rtf, 2),
            "host": socket.gethostname(),
            "swbatch_version": __version__,
        }

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


class BatchState:
    """The ``.swbatch`` folder of one output folder."""

    def __init__(self, output_dir: Path, shard: str | None = None):
        self.output_dir = output_dir
        self.dir = output_dir / STATE_DIR
        self.shard = shard
        try:
            (self.dir / CLAIMS_DIR).mkdir(parents=True, exist_ok=True)
            _end_with_newline(self.status_path)
        except OSError as exc:
            # Nothing could be recorded or resumed: stop before any job, with one line.
            raise UsageError(
                f"cannot write the status record in {self.dir}: {exc.strerror or exc}; "
                "the output folder must be writable"
            ) from None

    @property
    def status_path(self) -> Path:
        return self.dir / "status.jsonl"

    @property
    def summary_name(self) -> str:
        suffix = f"-{self.shard.replace('/', '-of-')}" if self.shard else ""
        return f"{STATE_DIR}/summary{suffix}.json"

    def record(self, record: JobRecord) -> None:
        """Append one status line; O_APPEND keeps concurrent writers' lines whole."""
        record.time = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        record.shard = self.shard
        line = json.dumps(asdict(record), ensure_ascii=False) + "\n"
        try:
            fd = os.open(self.status_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
                _reserve(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            # Without a record the batch cannot report or resume reliably (disk full): stop
            # with one line; finished outputs stay, and a rerun redoes what is not finished.
            raise StateError(
                f"cannot append to {self.status_path}: {exc.strerror or exc}; "
                "free space or fix permissions, then rerun to resume"
            ) from None

    def write_summary(self, summary: Summary) -> Path | None:
        """Write the summary; on a full disk say so and go on (the status record has it all)."""
        try:
            return atomic_write(
                self.output_dir, self.summary_name, json.dumps(summary.as_dict(), indent=2) + "\n"
            )
        except OutputError as exc:
            print(f"swbatch: warning: no summary written: {exc}", file=sys.stderr)
            return None

    def claim(self, job_id: str) -> int | None:
        """Claim a job: the held claim's descriptor, or None when another process holds it.

        ``flock`` claims die with their process, so a killed run never blocks the next one.
        """
        folder = self.dir / CLAIMS_DIR
        name = hashlib.sha256(job_id.encode("utf-8")).hexdigest()[:32] + ".claim"
        try:
            fd = os.open(folder / name, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StateError(
                f"cannot create a job claim in {folder}: {exc.strerror or exc}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        with contextlib.suppress(OSError):  # who holds it: a courtesy, not worth failing over
            os.ftruncate(fd, 0)
            os.write(fd, f"{socket.gethostname()} {os.getpid()} {job_id}\n".encode())
        return fd

    @staticmethod
    def release(fd: int) -> None:
        """Release a job claimed with :meth:`claim`."""
        os.close(fd)


class StateError(SwbatchError):
    """The state folder cannot be written (disk full, permissions): the batch stops (exit 2)."""


def _end_with_newline(path: Path) -> None:
    """Create the record if absent; end a line torn by a full disk, so the next one is whole;
    reserve room past its end."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.write(fd, b"\n")
        _reserve(fd)
    finally:
        os.close(fd)


def _reserve(fd: int) -> None:
    """Keep :data:`STATUS_RESERVE_BYTES` allocated past the end of ``fd`` without changing its
    size or content: Linux's ``fallocate`` with ``FALLOC_FL_KEEP_SIZE`` (ext4, xfs, btrfs, tmpfs;
    appends then land in blocks already allocated). Where there is no such call or filesystem
    support, or the disk is already full, nothing is reserved and appends go on as before."""
    if _FALLOCATE is not None:
        _FALLOCATE(fd, _FALLOC_FL_KEEP_SIZE, os.fstat(fd).st_size, STATUS_RESERVE_BYTES)


#: the C library's fallocate(2), or None where it has none
_FALLOCATE = getattr(ctypes.CDLL(None, use_errno=True), "fallocate", None)
_FALLOC_FL_KEEP_SIZE = 1
if _FALLOCATE is not None:
    _FALLOCATE.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]


def read_status(output_dir: Path) -> list[dict]:
    """Every line of a folder's status record (skipping a torn last line after a kill)."""
    path = output_dir / STATE_DIR / "status.jsonl"
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def read_summaries(output_dir: Path) -> dict[str, tuple[str, dict]]:
    """Every shard's summary file: {shard: (file name, content)}; unreadable ones are skipped."""
    found: dict[str, tuple[str, dict]] = {}
    state = output_dir / STATE_DIR
    for path in sorted(state.glob("summary*.json")) if state.is_dir() else []:
        match = _SUMMARY_NAME.match(path.name)
        if not match:
            continue
        shard = f"{match.group(1)}/{match.group(2)}" if match.group(1) else "all"
        try:
            found[shard] = (path.name, json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return found
