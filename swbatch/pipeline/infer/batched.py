"""Batched backend: a window's 30-s chunks decoded ``batch_size`` at a time.

Faster than the sequential loop (one encoder pass per batch), at some cost in accuracy: chunks are
not conditioned on each other and there is no temperature fallback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .chunks import chunk_bounds
from .model import LoadedWhisper

if TYPE_CHECKING:
    import numpy as np

    from .options import AsrOptions


def decode(
    loaded: LoadedWhisper, samples: np.ndarray, options: AsrOptions, kwargs: dict
) -> tuple[Any, Any]:
    """faster-whisper's (segments, info) for one window. With ``--vad`` faster-whisper cuts the
    chunks at speech, else :func:`~.chunks.chunk_bounds` does (faster-whisper refuses audio over
    30 s without either); segment times count from the start of the window."""
    from faster_whisper import BatchedInferencePipeline

    clips = None
    if not options.vad:
        clips = [{"start": s, "end": e} for s, e in chunk_bounds(samples)]
    return BatchedInferencePipeline(loaded.model).transcribe(
        samples, batch_size=options.batch_size, clip_timestamps=clips, **kwargs
    )
