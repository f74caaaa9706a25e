"""The ASR stage: faster-whisper over decoded audio, with device and precision chosen for the host.

ctranslate2 and faster_whisper are imported inside the functions, so commands that never
transcribe do not pay for them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from .errors import JobError, ModelMissingError

if TYPE_CHECKING:
    import numpy as np

    from .models import ResolvedModel


#: whisper keeps this many tokens of a prompt (half its 448-token context, less one)
PROMPT_TOKENS = 223
#: faster-whisper's default: no prompt after a chunk decoded hotter than this
PROMPT_RESET_ON_TEMPERATURE = 0.5


@dataclass(frozen=True)
class AsrOptions:
    """Decoding options; the defaults are faster-whisper's own except where noted."""

    language: str | None = None
    task: str = "transcribe"
    beam_size: int = 5
    vad: bool = False
    word_timestamps: bool = False
    #: >1 uses faster-whisper's BatchedInferencePipeline (VAD-chunked, batched decoding)
    batch_size: int = 1
    #: prompt each 30-s chunk (and each window of a long file) with the text before it
    condition_on_previous_text: bool = True


def cuda_available() -> bool:
    """True when ctranslate2 sees a CUDA device (False on CPU-only builds and hosts)."""
    import ctranslate2

    try:
        return ctranslate2.get_cuda_device_count() > 0
    except RuntimeError:
        return False


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is usable, else ``cpu``."""
    return ("cuda" if cuda_available() else "cpu") if device == "auto" else device


def resolve_compute_type(compute_type: str, device: str) -> str:
    """``auto`` -> int8 on CPU (fastest measured here), float16 on CUDA."""
    if compute_type != "auto":
        return compute_type
    return "float16" if device == "cuda" else "int8"


@dataclass
class LoadedWhisper:
    """A model loaded once per process and shared by its worker threads."""

    model: Any
    resolved: ResolvedModel
    device: str
    compute_type: str

    def describe(self) -> dict:
        """The model block of the output JSON."""
        return {
            "name": self.resolved.name,
            "repo_id": self.resolved.repo_id,
            "revision": self.resolved.revision,
            "path": str(self.resolved.path),
            "device": self.device,
            "compute_type": self.compute_type,
        }


def load_whisper(
    resolved: ResolvedModel, device: str, compute_type: str, cpu_threads: int, workers: int
) -> LoadedWhisper:
    """Load a model from its cache folder (never from the network).

    ``workers`` is ctranslate2's ``num_workers``: that many threads may transcribe at once with
    one copy of the model loaded.
    """
    from faster_whisper import WhisperModel

    device = resolve_device(device)
    compute_type = resolve_compute_type(compute_type, device)
    try:
        model = WhisperModel(
            str(resolved.path),
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=workers,
            local_files_only=True,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        # A damaged model is the batch's problem, not each file's: one line, before any job.
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelMissingError(
            f"whisper model {resolved.name} in {resolved.path} cannot be loaded ({detail}); "
            "`swbatch cache --verify` shows damaged files, prefetching the set again repairs them"
        ) from None
    return LoadedWhisper(model, resolved, device, compute_type)


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA OOM as ctranslate2 reports it (a RuntimeError with a CUDA message)."""
    text = str(exc).lower()
    return "out of memory" in text or "cudaerrormemoryallocation" in text


class OutOfMemory(JobError):
    """CUDA ran out of memory for this file even after the retry."""


def transcribe(
    loaded: LoadedWhisper, audio: np.ndarray, options: AsrOptions, **context: Any
) -> dict:
    """Run faster-whisper on decoded audio; returns the ASR part of the output document.

    ``context`` is passed on to faster-whisper as is: what a window of a longer file knows from
    the windows before it (``initial_prompt``, ``language``).

    On CUDA out-of-memory with batching the file is retried once at half the batch size; a
    second out-of-memory (or one at batch size 1) fails the job with a clear reason.
    """
    try:
        return _transcribe_once(loaded, audio, options, context)
    except RuntimeError as exc:
        if not is_out_of_memory(exc):
            raise
        if options.batch_size <= 1:
            raise OutOfMemory(_oom_reason(loaded, [1])) from None
    smaller = replace(options, batch_size=options.batch_size // 2)
    try:
        result = _transcribe_once(loaded, audio, smaller, context)
    except RuntimeError as exc:
        if not is_out_of_memory(exc):
            raise
        raise OutOfMemory(_oom_reason(loaded, [options.batch_size, smaller.batch_size])) from None
    result["options"]["oom_retry_batch_size"] = smaller.batch_size
    return result


def _oom_reason(loaded: LoadedWhisper, sizes: list[int]) -> str:
    tried = " then ".join(str(s) for s in sizes)
    return (
        f"{loaded.device} out of memory at batch size {tried} with {loaded.resolved.name} "
        f"({loaded.compute_type}); use a smaller --batch-size, model or compute type"
    )


def _transcribe_once(
    loaded: LoadedWhisper, audio: np.ndarray, options: AsrOptions, context: dict
) -> dict:
    kwargs = {
        "language": options.language,
        "task": options.task,
        "beam_size": options.beam_size,
        "vad_filter": options.vad,
        "word_timestamps": options.word_timestamps,
        **context,
    }
    if options.batch_size <= 1:  # the batched pipeline always decodes its chunks independently
        kwargs["condition_on_previous_text"] = options.condition_on_previous_text
    started = time.perf_counter()
    if options.batch_size > 1:
        from faster_whisper import BatchedInferencePipeline

        pipeline = BatchedInferencePipeline(loaded.model)
        segments, info = pipeline.transcribe(audio, batch_size=options.batch_size, **kwargs)
    else:
        segments, info = loaded.model.transcribe(audio, **kwargs)
    out: list[dict] = []
    prompt: list[int] = []
    for seg in segments:
        out.append(_segment_dict(len(out), seg))
        # What faster-whisper would prompt a following 30-s chunk with: the tokens (timestamps
        # included) since the last chunk it had to decode at a high temperature.
        reset = (seg.temperature or 0.0) > PROMPT_RESET_ON_TEMPERATURE
        prompt = [] if reset else [*prompt, *seg.tokens][-PROMPT_TOKENS:]
    return {
        "language": info.language,
        "language_probability": round(float(info.language_probability), 4),
        "options": asdict(options),
        "segments": out,
        "prompt_tokens": prompt,
        "transcribe_seconds": round(time.perf_counter() - started, 3),
    }


def _segment_dict(index: int, seg: Any) -> dict:
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
