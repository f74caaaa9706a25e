"""File-wide speaker labels for a recording diarized window by window.

Each window's diarization knows its own speakers only (``SPEAKER_00`` in one window need not be
``SPEAKER_00`` in the next). What a window leaves behind is small: its turns and one centroid
embedding per speaker (:class:`WindowSpeakers`); no audio and no per-frame data. After the last
window, all window speakers are clustered together (:func:`link_windows`), so a speaker's label
rests on every window, not on the order the windows came in. A 10-hour file has 120 windows of
a few speakers each: a few hundred to a thousand 192- or 256-number vectors.

Windows are diarized to over-split rather than to fold (:mod:`swbatch.diarization` keeps small
clusters as speakers of their own): two voices folded into one window speaker can never be told
apart again, while one voice split into two pieces is joined here. So linking may merge two
speakers of one window, unless they talk at the same time.

Pure numpy (no torch), like :mod:`swbatch.speakers`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .speakers import SpeakerTurn

if TYPE_CHECKING:
    import numpy as np

#: average cosine similarity between two groups of window speakers at or above which they are one
#: speaker; chosen on real recordings with real embeddings (CAM++), see docs/diarization-emotion.md
LINK_SIMILARITY = 0.5
#: two speakers of one window who talk over each other for this long (seconds, summed) are two
#: people, however alike they sound; pieces of one over-split voice do not overlap
OVERLAP_SECONDS = 0.5
#: a group with less speech than this (seconds) after the threshold joins its most similar
#: group: too little speech for a reliable embedding (pyannote's ``min_cluster_size`` rule)
SMALL_SECONDS = 5.0


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

    Agglomerative clustering of the window speakers with average linkage (the mean cosine
    similarity of the two groups' members; unlike a running centroid it does not drift as groups
    grow): the most similar pair of groups is merged while it reaches ``threshold``, or, with
    ``limit`` (``--num-speakers`` / ``--max-speakers``), while there are more groups than that.
    Then each group with under :data:`SMALL_SECONDS` of speech joins its most similar group.
    Two speakers of one window who talk at the same time are never merged. A speaker without a
    usable embedding (pyannote pads with zeros) stays alone unless the limit forces it into a group.
    """
    import numpy as np

    members = [(w, label) for w, piece in enumerate(windows) for label in piece.labels]
    if not members:
        return []
    units = [_unit(np.asarray(e, dtype=np.float64)) for piece in windows for e in piece.embeddings]
    dim = max((len(u) for u in units if u is not None), default=1)
    usable = np.array([u is not None for u in units])
    vectors = np.array([u if u is not None else np.zeros(dim) for u in units])
    scores = np.where(np.outer(usable, usable), vectors @ vectors.T, -2.0)
    scores[_talk_together(windows, members)] = -np.inf
    np.fill_diagonal(scores, -np.inf)
    clusters = _Clusters(scores, [float(d) for piece in windows for d in piece.durations])
    while clusters.count > 1:
        i, j, best = clusters.best()
        if best == -np.inf or (best < threshold and (limit is None or clusters.count <= limit)):
            break
        clusters.merge(i, j)
    clusters.absorb_small(usable)
    return _labelled(windows, members, clusters.group)


class _Clusters:
    """Groups of members under average linkage; ``scores`` holds the group-to-group similarity of
    live groups (-inf where they may not merge), updated by Lance-Williams at each merge."""

    def __init__(self, scores: np.ndarray, durations: list[float]) -> None:
        import numpy as np

        self.scores = scores
        self.size = np.ones(len(scores))
        self.seconds = np.array(durations)
        self.alive = np.ones(len(scores), dtype=bool)
        self.group = list(range(len(scores)))  # each member's group (a surviving row)

    @property
    def count(self) -> int:
        return int(self.alive.sum())

    def best(self) -> tuple[int, int, float]:
        import numpy as np

        i, j = np.unravel_index(np.argmax(self.scores), self.scores.shape)
        return int(i), int(j), float(self.scores[i, j])

    def merge(self, i: int, j: int) -> None:
        """Group ``j`` joins group ``i``; a pair that may not merge stays so (-inf wins)."""
        import numpy as np

        i, j = min(i, j), max(i, j)
        s = self.scores
        row = (self.size[i] * s[i] + self.size[j] * s[j]) / (self.size[i] + self.size[j])
        row[np.isneginf(s[i]) | np.isneginf(s[j])] = -np.inf
        s[i], s[:, i] = row, row
        s[j], s[:, j] = -np.inf, -np.inf
        s[i, i] = -np.inf
        self.size[i] += self.size[j]
        self.seconds[i] += self.seconds[j]
        self.alive[j] = False
        self.group = [i if g == j else g for g in self.group]

    def absorb_small(self, usable: np.ndarray) -> None:
        """Each group with under :data:`SMALL_SECONDS` of speech joins the most similar group
        that has more and may take it; a group without an embedding stays as it is."""
        import numpy as np

        for i in np.flatnonzero(self.alive & (self.seconds < SMALL_SECONDS)):
            if not self.alive[i] or not usable[i] or self.seconds[i] >= SMALL_SECONDS:
                continue
            big = self.alive & (self.seconds >= SMALL_SECONDS)
            options = np.where(big, self.scores[i], -np.inf)
            if big.any() and options.max() > -np.inf:
                self.merge(i, int(np.argmax(options)))


def _talk_together(windows: list[WindowSpeakers], members: list[tuple[int, str]]) -> np.ndarray:
    """Which pairs of members are two speakers of one window heard at the same time for
    :data:`OVERLAP_SECONDS` or more."""
    import numpy as np

    index = {member: k for k, member in enumerate(members)}
    apart = np.zeros((len(members), len(members)), dtype=bool)
    for w, piece in enumerate(windows):
        spoken: dict[str, list[SpeakerTurn]] = {}
        for turn in piece.turns:
            spoken.setdefault(turn.speaker, []).append(turn)
        for a, b in itertools.combinations(spoken, 2):
            together = sum(max(0.0, min(x.end, y.end) - max(x.start, y.start))
                           for x in spoken[a] for y in spoken[b])  # fmt: skip
            if together >= OVERLAP_SECONDS:
                apart[index[(w, a)], index[(w, b)]] = apart[index[(w, b)], index[(w, a)]] = True
    return apart


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
