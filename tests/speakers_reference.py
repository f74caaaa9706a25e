"""The pairwise speaker assignment swbatch used before the sweep: every span against every turn.

Kept as the oracle for ``swbatch.speakers``: the sweep must give exactly its results (same sums,
same ties), and ``benchmarks/speakers.py`` times both on the same transcript.
"""

from __future__ import annotations

from collections import defaultdict

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
