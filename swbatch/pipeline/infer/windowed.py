"""Long recordings: transcribe a file window by window into one continuous transcript.

Each window (see :func:`swbatch.audio.windows`) is transcribed on its own, so memory is bounded by
the window length, not the recording's. What carries across a cut:

- times: every segment and word is shifted by the window's start and kept inside the window, so
  times in the JSON are file times and never go backwards;
- the language: detected on the first window, then fixed for the rest;
- the text: with ``condition_on_previous_text`` the previous window's last tokens (timestamps
  included) are the next window's ``initial_prompt``, exactly what faster-whisper prompts a 30-s
  chunk with inside one file. (A plain-text prompt was tried first: on repetitive speech tiny.en
  then repeated the prompt's last sentence for a whole chunk and lost it, WER 0.32 against 0.09.)

Each finished window is appended to the job's :class:`~swbatch.checkpoints.Checkpoint`; a rerun
skips the windows it holds and continues with the next. The prompt is taken from the checkpointed
text in both cases, so a resumed run decodes exactly what an uninterrupted one would.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from ...errors import JobError
from .model import LoadedWhisper
from .options import AsrOptions, conditions_on_previous_text
from .window import transcribe

if TYPE_CHECKING:
    from ...audio import Window
    from ...checkpoints import Checkpoint


def transcribe_windows(
    loaded: LoadedWhisper,
    windows: Iterable[Window],
    options: AsrOptions,
    checkpoint: Checkpoint | None = None,
    on_resume: Callable[[int, float], None] | None = None,
) -> dict:
    """Transcribe consecutive windows of one file; returns the ASR part of the output document.

    ``on_resume(k, seconds)`` is called once when a checkpoint already holds the first ``k``
    windows (``seconds`` of audio), before any of the rest is decoded.
    """
    done = checkpoint.load() if checkpoint else []
    if done and on_resume:
        on_resume(len(done), _end(done[-1]))
    started = time.perf_counter()
    entries = list(done)
    for window in windows:
        if options.pack and not (window.index == 0 and window.last):
            options = replace(options, pack=False)  # a streamed file is never packed
        if window.index < len(done):
            _check_same_cut(done[window.index], window, checkpoint)
            continue
        context = {}
        if entries and options.language is None:
            context["language"] = entries[0]["language"]
        if entries:  # the user's --initial-prompt is the first window's; then, as faster-whisper
            # does between its 30-s chunks, the text before (or no prompt without conditioning)
            prompt = entries[-1]["prompt_tokens"] if conditions_on_previous_text(options) else None
            context["initial_prompt"] = prompt or None
        asr = transcribe(loaded, window.samples, options, **context)
        entry = {
            "index": window.index,
            "offset": window.offset,
            "samples": len(window.samples),
            "language": asr["language"],
            "language_probability": asr["language_probability"],
            "segments": [_shifted(seg, window.start, window.end) for seg in asr["segments"]],
            "prompt_tokens": asr["prompt_tokens"],
        }
        entry.update(asr["options"])  # oom_retry_batch_size, packed_clips
        if checkpoint:
            checkpoint.append(entry)
        entries.append(entry)
    if not entries:
        raise JobError("no audio decoded")
    segments = [dict(seg, id=i) for i, seg in enumerate(s for e in entries for s in e["segments"])]
    opts = {}
    retried = [e["oom_retry_batch_size"] for e in entries if "oom_retry_batch_size" in e]
    if retried:
        opts["oom_retry_batch_size"] = min(retried)
    if "packed_clips" in entries[0]:  # a file of one window, packed with others
        opts["packed_clips"] = entries[0]["packed_clips"]
    return {
        "language": entries[0]["language"],
        "language_probability": entries[0]["language_probability"],
        "options": opts,
        "segments": segments,
        "duration": _end(entries[-1]),
        "windows": len(entries),
        "resumed_windows": len(done),
        "transcribe_seconds": round(time.perf_counter() - started, 3),
    }


def _end(entry: dict) -> float:
    from ...audio import SAMPLE_RATE

    return (entry["offset"] + entry["samples"]) / SAMPLE_RATE


def _check_same_cut(entry: dict, window: Window, checkpoint: Checkpoint | None) -> None:
    """The audio must cut where it did when the checkpoint was written (same file, same code)."""
    if (entry["offset"], entry["samples"]) != (window.offset, len(window.samples)):
        if checkpoint:
            checkpoint.remove()
        raise JobError(
            f"window {window.index} of the audio no longer matches its checkpoint; "
            "the checkpoint was removed, rerun to transcribe the file from the start"
        )


def _shifted(segment: dict, start: float, end: float) -> dict:
    """A window's segment in file time, kept inside the window (whisper may run past its end)."""

    def shift(t: float) -> float:
        return round(min(max(t + start, start), end), 3)

    out = dict(segment, start=shift(segment["start"]), end=shift(segment["end"]))
    if "words" in segment:
        out["words"] = [
            dict(w, start=shift(w["start"]), end=shift(w["end"])) for w in segment["words"]
        ]
    return out
