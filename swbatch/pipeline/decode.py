"""The decode stage: a file becomes a sequence of bounded windows for the later stages.

Decoding starts in the decoder thread, which reads the file up to its first window (so a bad
file fails there, with its reason, before a worker waits on it) and goes on window by window, in
the worker, as inference asks for more. A file that fits in one window (most files of a batch)
is then wholly in memory and every stage reads it from there; a longer file is never in memory
at once: inference reads it once, and enrichment streams it again (diarization window by window,
emotion only each segment's slice). See :func:`swbatch.audio.windows` for where windows are cut.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE, Window, windows


@dataclass
class DecodedFile:
    """One file being decoded: its first window, and the rest still to be read."""

    path: Path
    window_seconds: float
    first: Window
    rest: Iterator[Window] | None
    decode_seconds: float
    #: samples decoded so far
    decoded: int

    @property
    def streamed(self) -> bool:
        """More than one window: the file is read as a stream, never held whole."""
        return not self.first.last

    @property
    def duration(self) -> float:
        """Decoded seconds so far (the whole file's once :meth:`windows` is exhausted)."""
        return self.decoded / SAMPLE_RATE

    @property
    def samples(self) -> np.ndarray:
        """The whole file's samples; only for a file of one window."""
        if self.streamed:
            raise ValueError(f"{self.path} is streamed in windows, never held whole")
        return self.first.samples

    def windows(self) -> Iterator[Window]:
        """The windows in time order; a streamed file can be read this way once."""
        yield self.first
        while self.rest is not None:
            started = time.perf_counter()
            window = next(self.rest, None)
            self.decode_seconds += time.perf_counter() - started
            if window is None:
                self.rest = None
                return
            self.decoded = window.offset + len(window.samples)
            yield window

    def again(self) -> Iterator[Window]:
        """The windows once more, decoded anew (a later stage's own pass over a long file)."""
        return iter([self.first]) if not self.streamed else windows(self.path, self.window_seconds)


def decode_file(path: Path, window_seconds: float) -> DecodedFile:
    """Start decoding ``path``: up to its first window (AudioError with the reason when it
    cannot be decoded), timed."""
    started = time.perf_counter()
    stream = windows(path, window_seconds)
    first = next(stream)
    rest = None if first.last else stream
    seconds = time.perf_counter() - started
    return DecodedFile(path, window_seconds, first, rest, seconds, len(first.samples))
