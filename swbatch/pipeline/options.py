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
#: folder), plus ``cpu_threads`` for the Python API; per-job choices live in
#: :class:`swbatch.jobs.JobSettings`.
RunOptions = make_dataclass(
    "RunOptions",
    [(f.name, Any, field(default=f.default)) for f in BATCH_FLAGS
     if f.name not in ("skip_existing", "output")]
    + [("cpu_threads", Any, field(default=None))],
    frozen=True,
)  # fmt: skip


def asr_options(job: Job, options: RunOptions) -> AsrOptions:
    """The decoding options of one job: its settings as faster-whisper arguments (the flags
    table's ``asr`` column), and the batch's batch size."""
    from ..flags import asr_kwargs

    return AsrOptions(asr_kwargs(job.settings), options.batch_size)


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
