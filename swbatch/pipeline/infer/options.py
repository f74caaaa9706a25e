"""Decoding options of the infer stage, and the one place they become faster-whisper arguments."""

from __future__ import annotations

from dataclasses import dataclass, field

#: on the CPU, chunks one worker puts through the model in one call, whatever ``--batch-size``
#: asks: each chunk holds 65 to 90 MB while its call runs (tiny.en, beam 5, one thread: peak RSS
#: 260 MiB at 1 chunk a call, 530 MiB at 4, 782 MiB at 8), and on one thread per worker a bigger
#: call is no faster (docs/performance.md)
CPU_BATCH_SIZE = 2


def model_batch_size(device: str, batch_size: int) -> int:
    """Chunks decoded in one model call: ``batch_size``, at most :data:`CPU_BATCH_SIZE` on the
    CPU (a GPU runs a batch in parallel; its memory is bounded by halving on out-of-memory)."""
    return batch_size if device == "cuda" else max(1, min(batch_size, CPU_BATCH_SIZE))


@dataclass(frozen=True)
class AsrOptions:
    """How a job is decoded: faster-whisper's keyword arguments, made from the job's settings
    by :func:`swbatch.flags.asr_kwargs` (each decoding flag's ``asr`` name in the flags table),
    and the batch size."""

    kwargs: dict = field(default_factory=dict)
    #: >1 decodes 30-s chunks in batches (faster-whisper's batched decoding)
    batch_size: int = 1
    #: with batching, chunks of different files share batches (else each file is batched alone)
    cross_file: bool = True
    #: a short file shares a 30-s window with others (see :mod:`.packing`); only for a file of
    #: one window (a longer file's windows carry language and prompt from one to the next)
    pack: bool = False

    @property
    def language(self) -> str | None:
        return self.kwargs.get("language")

    @property
    def vad(self) -> bool:
        return bool(self.kwargs.get("vad_filter"))


def conditions_on_previous_text(options: AsrOptions) -> bool:
    """Whether decoding carries text across chunks and windows: the sequential loop and the
    cross-file lanes do; faster-whisper's own batching (``cross_file=False``) decodes its chunks
    side by side, so neither does it across windows."""
    carries = options.batch_size <= 1 or options.cross_file
    return options.kwargs.get("condition_on_previous_text", True) and carries


def whisper_kwargs(options: AsrOptions) -> dict:
    """The keyword arguments every backend passes to faster-whisper for ``options``.

    The flags table names each decoding option's faster-whisper argument, so a new option is one
    row there; here only what a backend cannot take is dropped.
    """
    kwargs = dict(options.kwargs)
    if options.batch_size > 1 and not options.cross_file:  # faster-whisper's batched pipeline
        kwargs.pop("condition_on_previous_text", None)  # decodes its chunks independently
    return kwargs
