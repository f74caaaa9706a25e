"""Where batched decoding cuts audio: chunks of at most 30 s that cover every sample.

faster-whisper's batched pipeline needs chunk boundaries (without VAD it refuses audio longer than
30 s). Fixed 30-s windows are used rather than VAD speech chunks, so ``--vad`` keeps its one
meaning (drop non-speech) and no audio is skipped behind the user's back; each cut is moved to the
quietest 200 ms of the chunk's last 5 s (as long recordings are cut into windows), so that a cut
seldom falls inside a word.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from ...audio import SAMPLE_RATE, quietest_point

if TYPE_CHECKING:
    import numpy as np

#: Whisper's input length: a chunk never exceeds it
MAX_SECONDS = 30.0
#: how far back from the 30-s mark a quieter cut is looked for
SEARCH_SECONDS = 5.0
#: the shortest lane: each lane starts without the text before it, so fewer, longer lanes are
#: more accurate and more lanes fill batches from one file
LANE_SECONDS = 120.0


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


def lane_bounds(samples: np.ndarray, most: int) -> list[tuple[int, int]]:
    """(start, end) samples of the lanes a window is decoded in: at most ``most``, each at least
    :data:`LANE_SECONDS` long, cut at the quietest 200 ms within 5 s before each even share."""
    total = len(samples)
    count = max(1, min(most, int(total / SAMPLE_RATE // LANE_SECONDS)))
    search = int(SEARCH_SECONDS * SAMPLE_RATE)
    cuts = [0]
    for k in range(1, count):
        nominal = k * total // count
        low = max(cuts[-1] + 1, nominal - search)
        cuts.append(low + quietest_point(samples[low:nominal]))
    return list(itertools.pairwise([*cuts, total]))
