"""Batch-wide run options, and how they turn into per-job decoding options and parallelism."""

from __future__ import annotations

import os
from dataclasses import field, make_dataclass, replace
from typing import TYPE_CHECKING, Any

from ..flags import BATCH_FLAGS
from .infer.options import AsrOptions, model_batch_size

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

    return AsrOptions(asr_kwargs(job.settings), options.batch_size, options.cross_file,
                      options.pack)  # fmt: skip


#: with packing, files in flight per window being decoded: a window holds up to 10 clips of
#: 1.5 s, and the next window fills while one is decoded
PACKED_FILES = 16


def files_in_flight(options: RunOptions, workers: int, device: str) -> int:
    """Files worked on at once: two per worker, so that the model never waits while one file's
    outputs are written and the next is decoded; with cross-file batching enough to fill every
    worker's next model call while the current one runs (short files are one chunk each; on the
    CPU a call holds at most :data:`~.infer.options.CPU_BATCH_SIZE` chunks); with packing,
    enough to fill each of those windows with short clips. Each file in flight holds at most one
    decoded window (5 min of audio: 19 MB) until it is done."""
    batch = model_batch_size(device, options.batch_size)
    windows = batch + 1 if options.batch_size > 1 and options.cross_file else 2
    return workers * windows * (PACKED_FILES if options.pack else 1)


def default_batch_size(device: str, batch_size: int | None) -> int:
    """``batch_size``, or the device's default when None: 8 on CUDA, 1 on CPU.

    Not measured by us (no GPU here): faster-whisper's README (large-v2, fp16, beam 5, 13 min of
    audio, RTX 3070 Ti 8 GB) gives 63 s sequential and 17 s at batch size 8, in 6.1 GB of GPU
    memory, so 8 fits an 8-GB card; a card that runs out halves it (see infer/crossfile.py). On
    the 2-core CPU here batching was measured slower than one file per core (docs/performance.md).
    """
    if batch_size is not None:
        return batch_size
    return 8 if device == "cuda" else 1


def for_device(options: RunOptions) -> tuple[str, RunOptions]:
    """The device ``options`` run on (``auto`` resolved) and the options with its defaults."""
    from .infer import resolve_device

    device = resolve_device(options.device)
    return device, replace(options, batch_size=default_batch_size(device, options.batch_size))


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
