"""Batch-wide run options, and how they turn into per-job decoding options and parallelism."""

from __future__ import annotations

import os
from dataclasses import field, make_dataclass
from typing import TYPE_CHECKING, Any

from ..flags import BATCH_FLAGS
from .infer.options import AsrOptions

if TYPE_CHECKING:
    from ..jobs import Job


#: Batch-wide settings, one field per batch-wide row of :data:`swbatch.flags.FLAGS` that the
#: pipeline reads (``--skip-existing`` is folded into ``overwrite``, ``--output`` into the batch's
#: folder), plus for the Python API ``cpu_threads`` and ``cross_file`` (with ``batch_size`` > 1,
#: fill batches with chunks of several files; False batches each file alone, kept to measure
#: against in benchmarks/batching.py); per-job choices live in :class:`swbatch.jobs.JobSettings`.
RunOptions = make_dataclass(
    "RunOptions",
    [(f.name, Any, field(default=f.default)) for f in BATCH_FLAGS
     if f.name not in ("skip_existing", "output")]
    + [("cpu_threads", Any, field(default=None)), ("cross_file", Any, field(default=True))],
    frozen=True,
)  # fmt: skip


def asr_options(job: Job, options: RunOptions) -> AsrOptions:
    """The decoding options of one job: its settings as faster-whisper arguments (the flags
    table's ``asr`` column), and the batch's batch size."""
    from ..flags import asr_kwargs

    return AsrOptions(asr_kwargs(job.settings), options.batch_size, options.cross_file)


def files_in_flight(options: RunOptions, workers: int) -> int:
    """Files worked on at once: one per worker; with cross-file batching enough to fill every
    worker's next batch while the current one runs (short files are one chunk each)."""
    if options.batch_size > 1 and options.cross_file:
        return workers * (options.batch_size + 1)
    return workers


def cpu_count() -> int:
    """Cores this process may use (respects taskset / container CPU sets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def default_parallelism(
    device: str, workers: int | None, cpu_threads: int | None
) -> tuple[int, int]:
    """(workers, threads per worker).

    On CPU, one thread per worker and one worker per core: measured on a 2-core machine with
    tiny.en int8, one thread ran ~31x real time and two threads only ~18x, so parallel files beat
    parallel matrix math. On CUDA, two workers keep the GPU busy while the CPU decodes and
    post-processes.
    """
    cores = cpu_count()
    if workers is None:
        workers = 2 if device == "cuda" else max(1, min(cores, 8))
    if cpu_threads is None:
        cpu_threads = max(1, cores // workers)
    return workers, cpu_threads
