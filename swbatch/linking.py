"""File-wide speaker labels for a recording diarized window by window.

Each window's diarization knows its own speakers only (``SPEAKER_00`` in one window need not be
``SPEAKER_00`` in the next). What a window leaves behind is small: its turns and one centroid
embedding per speaker (:class:`WindowSpeakers`); no audio and no per-frame data. After the last
window, all window speakers are clustered together (:func:`link_windows`), so a speaker's label
rests on every window, not on the order the windows came in. A 10-hour file has 120 windows of a
few speakers each: a few hundred 192- or 256-number vectors.

Pure numpy (no torch), like :mod:`swbatch.speakers`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .speakers import SpeakerTurn

if TYPE_CHECKING:
    import numpy as np

#: cosine similarity between the centroids of two groups of window speakers at or above which
#: they are one speaker; chosen on real recordings with real embeddings (CAM++), see
#: docs/diarization-emotion.md
LINK_SIMILARITY = 0.4


@dataclass
class WindowSpeakers:
    """One window's diarization: turns in file time under the window's own labels, and for each
    label its centroid embedding and speaking time."""

    turns: list[SpeakerTurn]
    labels: list[str]
    embeddings: list
    durations: list[float]


def link_windows(windows: list[WindowSpeakers], limit: int | None = None,
                 threshold: float = LINK_SIMILARITY) -> list[SpeakerTurn]:  # fmt: skip
    """All windows' turns under file-wide labels ``SPEAKER_00``, ... (numbered by first turn).

    Agglomerative clustering of the window speakers: each group's centroid is the duration-weighted
    sum of its members' unit embeddings; the most similar pair of groups is merged while their
    cosine similarity reaches ``threshold``, or, with ``limit`` (``--num-speakers`` /
    ``--max-speakers``), while there are more groups than that. Two speakers of one window are never
    merged: the window's diarization already told them apart. A speaker without a usable embedding
    (pyannote pads with zeros) stays alone unless the limit forces it into a group.
    """
    import numpy as np

    members = [(w, label) for w, piece in enumerate(windows) for label in piece.labels]
    if not members:
        return []
    units = [_unit(np.asarray(e, dtype=np.float64)) for piece in windows for e in piece.embeddings]
    weights = [float(d) for piece in windows for d in piece.durations]
    dim = max((len(u) for u in units if u is not None), default=1)
    sums = np.array([u * max(wt, 1e-3) if u is not None else np.zeros(dim)
                     for u, wt in zip(units, weights, strict=True)])  # fmt: skip
    usable = np.array([u is not None for u in units])
    in_window = np.zeros((len(members), len(windows)), dtype=bool)
    in_window[np.arange(len(members)), [w for w, _ in members]] = True
    group = list(range(len(members)))  # group of each member (the index of a surviving row)
    alive = np.ones(len(members), dtype=bool)
    scores = np.full((len(members), len(members)), -np.inf)
    for i in range(len(members)):
        scores[i] = _scores(i, sums, usable, in_window, alive)
    while alive.sum() > 1:
        i, j = np.unravel_index(np.argmax(scores), scores.shape)
        best = scores[i, j]
        if best == -np.inf or (best < threshold and (limit is None or alive.sum() <= limit)):
            break
        i, j = min(i, j), max(i, j)  # j joins i
        sums[i] += sums[j]
        usable[i] = usable[i] or usable[j]
        in_window[i] |= in_window[j]
        alive[j] = False
        group = [i if g == j else g for g in group]
        scores[j, :] = scores[:, j] = -np.inf
        scores[i] = _scores(i, sums, usable, in_window, alive)
        scores[:, i] = scores[i]
    return _labelled(windows, members, group)


def _scores(i: int, sums, usable, in_window, alive) -> np.ndarray:
    """Cosine similarity of group ``i``'s centroid with every other group; -inf where they may
    not merge (same window, merged away, itself). A group without an embedding scores -2 with
    every group it may join, so only a speaker limit ever merges it."""
    import numpy as np

    norms = np.linalg.norm(sums, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        row = (sums @ sums[i]) / (norms * norms[i])
    both = usable & usable[i]
    row = np.where(both, np.nan_to_num(row, nan=-2.0), -2.0)
    blocked = ~alive | (in_window.astype(np.int64) @ in_window[i].astype(np.int64) > 0)
    blocked[i] = True
    return np.where(blocked, -np.inf, row)


def _labelled(windows: list[WindowSpeakers], members: list[tuple[int, str]],
              group: list[int]) -> list[SpeakerTurn]:  # fmt: skip
    """Every turn renamed to its group's file-wide label; groups numbered by their first turn."""
    of_member = {member: g for member, g in zip(members, group, strict=True)}
    turns = [(turn, of_member[(w, turn.speaker)])
             for w, piece in enumerate(windows) for turn in piece.turns]  # fmt: skip
    turns.sort(key=lambda pair: (pair[0].start, pair[0].end, pair[1]))
    number: dict[int, int] = {}
    for _turn, g in turns:
        number.setdefault(g, len(number))
    named = [SpeakerTurn(t.start, t.end, f"SPEAKER_{number[g]:02d}") for t, g in turns]
    return sorted(named, key=lambda t: (t.start, t.end, t.speaker))


def _unit(vector: np.ndarray) -> np.ndarray | None:
    """``vector`` scaled to length 1; None for a zero or undefined embedding (pyannote pads
    with zeros when it finds more speakers than centroids)."""
    import numpy as np

    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 and np.isfinite(norm) else None
