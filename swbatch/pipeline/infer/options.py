"""Decoding options of the infer stage, and the one place they become faster-whisper arguments."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AsrOptions:
    """Decoding options; the defaults are faster-whisper's own except where noted."""

    language: str | None = None
    task: str = "transcribe"
    beam_size: int = 5
    vad: bool = False
    word_timestamps: bool = False
    #: >1 decodes 30-s chunks in batches (faster-whisper's batched decoding)
    batch_size: int = 1
    #: prompt each 30-s chunk (and each window of a long file) with the text before it
    condition_on_previous_text: bool = True


def conditions_on_previous_text(options: AsrOptions) -> bool:
    """Whether decoding carries text across chunks: batched decoding never does (its chunks are
    decoded side by side), so neither does it across windows."""
    return options.condition_on_previous_text and options.batch_size <= 1


def whisper_kwargs(options: AsrOptions) -> dict:
    """The keyword arguments every backend passes to faster-whisper for ``options``.

    Every decoding option is translated here and nowhere else, so a new option is one field
    above and one line below, and all backends decode alike.
    """
    kwargs = {
        "language": options.language,
        "task": options.task,
        "beam_size": options.beam_size,
        "vad_filter": options.vad,
        "word_timestamps": options.word_timestamps,
    }
    if options.batch_size <= 1:  # the batched pipeline takes no such argument
        kwargs["condition_on_previous_text"] = options.condition_on_previous_text
    return kwargs
