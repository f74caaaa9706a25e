"""What to do with a job before any audio is touched: run, skip, redo, enrich or write, and why.

The job's settings now are compared with those its JSON records (:mod:`swbatch.rerun`): a job
done with the same settings is skipped, one whose transcription settings changed is redone, one
that only needs emotion or diarization added gets only that stage, and one that only lacks
formats gets them written from its JSON.
"""

from __future__ import annotations

from pathlib import Path

from ..jobs import Job
from ..rerun import Plan, compare, recorded_options
from .options import RunOptions
from .write import output_paths


def decide(output_dir: Path, job: Job, options: RunOptions, model) -> Plan:
    """The plan for ``job`` (``model``: its resolved Whisper model, never loaded here)."""
    now = {"repo_id": model.repo_id, "revision": model.revision, "path": str(model.path)}
    wanted = recorded_options(job.settings, options.batch_size)
    return compare(output_dir, output_paths(job), now, wanted, options.overwrite)
