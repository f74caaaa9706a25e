"""The pairwise speaker assignment swbatch used before the sweep: every span against every turn.

Kept as the oracle for ``swbatch.speakers``: the sweep must give exactly its results (same sums,
same ties), and ``benchmarks/speakers.py`` times both on the same transcript.

Also the online window linker swbatch used before the final re-clustering of
``swbatch.linking``: ``benchmarks/diarization.py`` measures both on real recordings.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from swbatch.linking import LINK_SIMILARITY, _unit
from swbatch.speakers import SpeakerTurn, _runs, _split, _word_speakers


def speaker_at_pairwise(start: float, end: float, turns: list[SpeakerTurn]) -> str | None:
    """The speaker who talks longest within [start, end], comparing with every turn."""
    totals: dict[str, float] = defaultdict(float)
    for turn in turns:
        share = max(0.0, min(end, turn.end) - max(start, turn.start))
        if share > 0:
            totals[turn.speaker] += share
    return max(totals, key=totals.__getitem__) if totals else None


def assign_speakers_pairwise(segments: list[dict], turns: list[SpeakerTurn]) -> list[dict]:
    """``assign_speakers`` as it was: O(words x turns)."""
    out: list[dict] = []
    for segment in segments:
        seg = dict(segment)
        seg["speaker"] = speaker_at_pairwise(seg["start"], seg["end"], turns)
        words = seg.get("words") or []
        if not words:
            out.append(seg)
            continue
        found = [speaker_at_pairwise(w["start"], w["end"], turns) for w in words]
        speakers = _word_speakers(words, found, seg["speaker"])
        seg["words"] = [{**w, "speaker": s} for w, s in zip(words, speakers, strict=True)]
        runs = _runs(seg["words"])
        out.extend(_split(seg, runs) if len(runs) > 1 else [seg])
    for number, seg in enumerate(out):
        seg["id"] = number
    return out


def synthetic_transcript(
    seconds: float, words: int, turns: int, speakers: int, seed: int
) -> tuple[list[dict], list[SpeakerTurn]]:
    """A transcript shaped like a real diarized one: words in time order grouped into segments
    of a few seconds, turns of varying length that sometimes overlap the next one, and word
    times that reach into the pauses between turns."""
    import random

    rng = random.Random(seed)
    cuts = sorted(rng.uniform(0, seconds) for _ in range(turns - 1))
    edges = [0.0, *cuts, seconds]
    speaker_turns = []
    for i in range(turns):
        start = edges[i] + rng.uniform(0, 0.4)
        end = edges[i + 1] + (rng.uniform(0, 0.8) if rng.random() < 0.15 else -0.2)
        speaker_turns.append(
            SpeakerTurn(start, max(end, start + 0.05), f"SPEAKER_{rng.randrange(speakers):02d}")
        )
    step = seconds / words
    word_list = []
    for i in range(words):
        start = i * step + rng.uniform(0, step * 0.3)
        word_list.append(
            {
                "start": start,
                "end": start + step * rng.uniform(0.4, 1.2),
                "word": f" w{i}",
                "probability": 0.9,
            }
        )
    segments: list[dict] = []
    i = 0
    while i < words:
        n = rng.randint(1, 30)
        chunk = word_list[i : i + n]
        segments.append(
            {
                "id": len(segments),
                "start": chunk[0]["start"],
                "end": chunk[-1]["end"],
                "text": "".join(w["word"] for w in chunk),
                "words": chunk,
            }
        )
        i += n
    return segments, speaker_turns


@dataclass
class SpeakerLinker:
    """File-wide speaker labels for a recording diarized window by window.

    Each window's diarization knows its own speakers only (``SPEAKER_00`` in one window need not
    be ``SPEAKER_00`` in the next). Every known speaker keeps a centroid: the duration-weighted
    mean of the unit embeddings of the window speakers linked to it. A window's speakers are
    matched one to one with known speakers, most similar pair first, when the cosine similarity
    reaches ``threshold``; the others become new speakers, or, once ``limit`` speakers are known
    (``--num-speakers``/``--max-speakers``), join the most similar one.
    """

    limit: int | None = None
    threshold: float = LINK_SIMILARITY
    centroids: list = field(default_factory=list)

    def link(self, embeddings: list, durations: list[float]) -> list[str]:
        """A file-wide label for each row of ``embeddings`` (one window speaker each)."""
        import numpy as np

        units = [_unit(np.asarray(e, dtype=np.float64)) for e in embeddings]
        known = [_unit(c) for c in self.centroids]
        pairs = sorted(
            ((float(u @ k), i, j) for i, u in enumerate(units) for j, k in enumerate(known)
             if u is not None and k is not None),
            reverse=True,
        )  # fmt: skip
        chosen: dict[int, int] = {}
        for similarity, i, j in pairs:
            if similarity >= self.threshold and i not in chosen and j not in chosen.values():
                chosen[i] = j
        for i, unit in enumerate(units):
            if i in chosen:
                continue
            if self.limit is None or len(self.centroids) < self.limit or not self.centroids:
                chosen[i] = len(self.centroids)
                self.centroids.append(np.zeros(len(embeddings[i]), dtype=np.float64))
            else:
                scores = [float(unit @ k) if unit is not None and k is not None else -2.0
                          for k in known]  # fmt: skip
                chosen[i] = int(np.argmax(scores))
        for i, unit in enumerate(units):
            if unit is not None:
                self.centroids[chosen[i]] = self.centroids[chosen[i]] + durations[i] * unit
        return [f"SPEAKER_{chosen[i]:02d}" for i in range(len(units))]
