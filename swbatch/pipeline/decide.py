"""What to do with a job before any audio is touched: run it, or skip it and say why.

"Done" has one definition, here: every requested output exists (writes are atomic and the JSON
comes last, so an existing file is a complete one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..jobs import Job
from ..status import ALREADY_DONE
from .options import RunOptions
from .write import output_paths


@dataclass(frozen=True)
class Decision:
    """``run`` the job, or skip it with ``reason`` (the status record's reason)."""

    run: bool
    reason: str | None = None


def is_done(output_dir: Path, job: Job) -> bool:
    """Every requested output exists."""
    return all((output_dir / rel).is_file() for rel in output_paths(job).values())


def decide(output_dir: Path, job: Job, options: RunOptions) -> Decision:
    """Run a job unless it is done and ``--overwrite`` was not given."""
    if not options.overwrite and is_done(output_dir, job):
        return Decision(run=False, reason=ALREADY_DONE)
    return Decision(run=True)
