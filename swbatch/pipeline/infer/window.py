"""One window of a file through the chosen backend, with CUDA out-of-memory handling.

The result is the ASR part of an output document for that window (times from the window's start)
plus what the next window needs to carry on: the language and the prompt tokens.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from ...errors import JobError
from ..cancel import check
from .model import LoadedWhisper
from .options import AsrOptions, whisper_kwargs

if TYPE_CHECKING:
    import numpy as np

#: whisper keeps this many tokens of a prompt (half its 448-token context, less one)
PROMPT_TOKENS = 223
#: faster-whisper's default: no prompt after a chunk decoded hotter than this
PROMPT_RESET_ON_TEMPERATURE = 0.5


def backend(options: AsrOptions):
    """The backend module's ``decode`` for ``options``, imported on first use. A backend is a
    module with ``decode(loaded, samples, options, kwargs) -> (segments, info)``."""
    if options.batch_size <= 1:
        name = "sequential"
    else:
        name = "crossfile" if options.cross_file else "batched"
    decode = importlib.import_module(f"{__package__}.{name}").decode
    if options.pack:  # short files share windows; the rest, and what packing gives back, alone
        return importlib.import_module(f"{__package__}.packing").packed(decode)
    return decode


class OutOfMemory(JobError):
    """CUDA ran out of memory for this file even after the retry."""


#: how ctranslate2 reports running out of GPU memory: its src/cuda/utils.h throws
#: ``"CUDA failed with error " + cudaGetErrorString(code)`` from CUDA_CHECK (the string of
#: cudaErrorMemoryAllocation is "out of memory"; its caching allocator, src/cuda/allocator.cc,
#: checks with the same macro) and ``"cuBLAS failed with status " + status`` from CUBLAS_CHECK
OUT_OF_MEMORY_TEXTS = ("CUDA failed with error out of memory", "CUBLAS_STATUS_ALLOC_FAILED")


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA out-of-memory as ctranslate2 raises it (a RuntimeError, see OUT_OF_MEMORY_TEXTS)."""
    return isinstance(exc, RuntimeError) and any(t in str(exc) for t in OUT_OF_MEMORY_TEXTS)


def transcribe(
    loaded: LoadedWhisper, audio: np.ndarray, options: AsrOptions, **context: Any
) -> dict:
    """Run faster-whisper on decoded audio; returns the ASR part of the output document.

    ``context`` is passed on to faster-whisper as is: what a window of a longer file knows from
    the windows before it (``initial_prompt``, ``language``).

    On CUDA out-of-memory with batching the window is retried once at half the batch size; a
    second out-of-memory (or one at batch size 1) fails the job with a clear reason.
    """
    try:
        return _transcribe_once(loaded, audio, options, context)
    except RuntimeError as exc:
        if not is_out_of_memory(exc):
            raise
        if options.batch_size <= 1:
            raise OutOfMemory(oom_reason(loaded, [1])) from None
    smaller = replace(options, batch_size=options.batch_size // 2)
    try:
        result = _transcribe_once(loaded, audio, smaller, context)
    except RuntimeError as exc:
        if not is_out_of_memory(exc):
            raise
        raise OutOfMemory(oom_reason(loaded, [options.batch_size, smaller.batch_size])) from None
    result["options"]["oom_retry_batch_size"] = smaller.batch_size
    return result


def oom_reason(loaded: LoadedWhisper, sizes: list[int]) -> str:
    tried = " then ".join(str(s) for s in sizes)
    return (
        f"{loaded.device} out of memory at batch size {tried} with {loaded.resolved.name} "
        f"({loaded.compute_type}); use a smaller --batch-size, model or compute type"
    )


def _transcribe_once(
    loaded: LoadedWhisper, audio: np.ndarray, options: AsrOptions, context: dict
) -> dict:
    check()
    started = time.perf_counter()
    segments, info = backend(options)(
        loaded, audio, options, {**whisper_kwargs(options), **context}
    )
    out: list[dict] = []
    prompt: list[int] = []
    for seg in segments:  # faster-whisper decodes a 30-s chunk per step of this loop
        check()
        out.append(segment_dict(len(out), seg))
        # What faster-whisper would prompt a following 30-s chunk with: the tokens (timestamps
        # included) since the last chunk it had to decode at a high temperature.
        reset = (seg.temperature or 0.0) > PROMPT_RESET_ON_TEMPERATURE
        prompt = [] if reset else [*prompt, *seg.tokens][-PROMPT_TOKENS:]
    changed = {"packed_clips": info.packed_clips} if getattr(info, "packed_clips", 0) else {}
    return {
        "language": info.language,
        "language_probability": round(float(info.language_probability), 4),
        # what the run chose on its own: an OOM retry's batch size, the clips sharing its window
        "options": changed,
        "segments": out,
        "prompt_tokens": prompt,
        "transcribe_seconds": round(time.perf_counter() - started, 3),
    }


def segment_dict(index: int, seg: Any) -> dict:
    """A faster-whisper ``Segment`` as the output JSON's segment."""
    segment = {
        "id": index,
        "start": round(seg.start, 3),
        "end": round(seg.end, 3),
        "text": seg.text.strip(),
        "avg_logprob": round(seg.avg_logprob, 4),
        "no_speech_prob": round(seg.no_speech_prob, 4),
    }
    if seg.words:
        segment["words"] = [
            {
                "start": round(w.start, 3),
                "end": round(w.end, 3),
                "word": w.word,
                "probability": round(w.probability, 4),
            }
            for w in seg.words
        ]
    return segment
