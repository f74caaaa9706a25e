"""Where batched decoding cuts audio: chunks of at most 30 s that cover every sample.

faster-whisper's batched pipeline needs chunk boundaries (without VAD it refuses audio longer than
30 s). Fixed 30-s windows are used rather than VAD speech chunks, so ``--vad`` keeps its one
meaning (drop non-speech) and no audio is skipped behind the user's back; each cut is moved to the
quietest 200 ms of the chunk's last 5 s (as long recordings are cut into windows), so that a cut
seldom falls inside a word.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ...audio import SAMPLE_RATE, quietest_point

if TYPE_CHECKING:
    import numpy as np

#: Whisper's input length: a chunk never exceeds it
MAX_SECONDS = 30.0
#: how far back from the 30-s mark a quieter cut is looked for
SEARCH_SECONDS = 5.0


def chunk_bounds(samples: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) seconds of consecutive chunks covering ``samples``, each <= 30 s."""
    total, limit = len(samples), int(MAX_SECONDS * SAMPLE_RATE)
    search = int(SEARCH_SECONDS * SAMPLE_RATE)
    bounds, start = [], 0
    while total - start > limit:
        low = start + limit - search
        cut = low + quietest_point(samples[low : start + limit])
        bounds.append((start, cut))
        start = cut
    bounds.append((start, total))
    return [(s / SAMPLE_RATE, e / SAMPLE_RATE) for s, e in bounds]
