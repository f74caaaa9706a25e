"""The decode stage: a file becomes audio for every later stage.

The infer stage reads a file as a sequence of :class:`~swbatch.audio.Window` (an offset and its
samples), so that decoding in bounded windows (:func:`swbatch.audio.windows`) can replace this
stage without touching inference. Today a file is decoded whole and is one window; enrichment
(diarization, emotion) reads the whole waveform.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..audio import DecodedAudio, Window, decode


@dataclass(frozen=True)
class DecodedFile:
    """One decoded file and how long decoding took (reported in the output's timings)."""

    audio: DecodedAudio
    decode_seconds: float

    @property
    def duration(self) -> float:
        return self.audio.duration

    def windows(self) -> Iterator[Window]:
        """The file as windows in time order (today one window: the whole file)."""
        yield Window(0, 0, self.audio.samples)


def decode_file(path: Path) -> DecodedFile:
    """Decode ``path`` (AudioError with the reason when it cannot be), timed."""
    started = time.perf_counter()
    audio = decode(path)
    return DecodedFile(audio, time.perf_counter() - started)
