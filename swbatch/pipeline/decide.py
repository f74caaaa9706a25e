"""What to do with a job before any audio is touched: run, skip, redo, enrich or write, and why.

The job's settings now are compared with those its JSON records (:mod:`swbatch.rerun`): a job
done with the same settings is skipped, one whose transcription settings changed is redone, one
that only needs emotion or diarization added gets only that stage, and one that only lacks
formats gets them written from its JSON.
"""

from __future__ import annotations

from pathlib import Path

from ..cache import CachePaths, configure_global_cache_env
from ..jobs import Batch, Job
from ..rerun import Plan, compare, recorded_options
from .discover import jobs_to_run
from .options import RunOptions, for_device
from .write import output_paths


def decide(output_dir: Path, job: Job, options: RunOptions, model) -> Plan:
    """The plan for ``job`` (``model``: its resolved Whisper model, never loaded here)."""
    now = {"repo_id": model.repo_id, "revision": model.revision, "path": str(model.path)}
    wanted = recorded_options(job.settings, options.batch_size)
    return compare(output_dir, output_paths(job), now, wanted, options.overwrite)


def dry_run(
    batch: Batch, options: RunOptions, paths: CachePaths | None = None
) -> list[tuple[Job, Plan]]:
    """What a run would do with each job, and why; loads no model and writes nothing."""
    from ..models import default_whisper_model, resolve_model

    batch = jobs_to_run(batch, options)
    _device, options = for_device(options)
    paths = paths or configure_global_cache_env(for_writing=False)
    resolved = {
        name: resolve_model(name, "whisper", paths) if name else default_whisper_model(paths)
        for name in {job.settings.model for job in batch.jobs}
    }
    return [
        (job, decide(batch.output_dir, job, options, resolved[job.settings.model]))
        for job in batch.jobs
    ]
