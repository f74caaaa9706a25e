"""Who said what: give transcript segments and words the speaker of the diarization turns.

Pure Python on purpose (no torch): the pipeline, the writers and the tests use it without the
diarization extra. Diarization and ASR disagree a little about where speech starts and stops, so
everything here goes by time overlap, never by exact boundaries.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

#: Keys of a segment that describe its tokens; they cannot be divided between split pieces.
_UNSPLITTABLE_KEYS = ("tokens",)


@dataclass(frozen=True)
class SpeakerTurn:
    """One stretch of one speaker talking, in seconds from the start of the file."""

    start: float
    end: float
    speaker: str


def speaker_at(start: float, end: float, turns: Iterable[SpeakerTurn]) -> str | None:
    """The speaker who talks longest within [start, end]; None when no turn overlaps it.

    Overlap is summed per speaker, so one speaker with two short turns beats another with one
    slightly longer turn. Ties go to the speaker that comes first in ``turns``.
    """
    return speakers_at([(start, end)], list(turns))[0]


def speakers_at(spans: list[tuple[float, float]], turns: list[SpeakerTurn]) -> list[str | None]:
    """:func:`speaker_at` for many spans in one sweep over spans and turns sorted by start.

    Comparing every word of a 2-hour transcript with every turn took seconds while holding the
    GIL (stalling the other workers); a sweep over spans sorted by start keeps only the turns
    that can still overlap. A turn joins the active set once a span ends after it starts, and
    leaves for good once a span starts after it ends (later spans start later still). Each
    span's overlaps are summed in the order of ``turns``, so sums and ties are exactly those of
    the pairwise comparison.
    """
    by_start = sorted(range(len(turns)), key=lambda i: turns[i].start)
    ending: list[tuple[float, int]] = []  # heap of (end, turn index) of the active turns
    active: set[int] = set()
    added = 0
    found: list[str | None] = [None] * len(spans)
    for k in sorted(range(len(spans)), key=lambda k: spans[k][0]):
        start, end = spans[k]
        while added < len(by_start) and turns[by_start[added]].start < end:
            active.add(by_start[added])
            heapq.heappush(ending, (turns[by_start[added]].end, by_start[added]))
            added += 1
        while ending and ending[0][0] <= start:
            active.discard(heapq.heappop(ending)[1])
        totals: dict[str, float] = defaultdict(float)
        for i in sorted(active):
            turn = turns[i]
            share = max(0.0, min(end, turn.end) - max(start, turn.start))
            if share > 0:
                totals[turn.speaker] += share
        if totals:
            found[k] = max(totals, key=totals.__getitem__)
    return found


def _word_speakers(words: list[dict], found: list[str | None], fallback: str | None) -> list:
    """A speaker for every word; a word in a pause between turns takes its neighbour's speaker.

    ``found`` is each word's own speaker (None when no turn overlaps it). Whisper's word times
    often reach into the gaps between diarization turns; giving such a word no speaker (or the
    segment's) would split a sentence for nothing.
    """
    filled = list(found)
    last = None
    for i, speaker in enumerate(found):
        if speaker is None:
            filled[i] = last
        else:
            last = speaker
    nxt = None
    for i in range(len(filled) - 1, -1, -1):
        if found[i] is not None:
            nxt = found[i]
        elif filled[i] is None:
            filled[i] = nxt
    return [s if s is not None else fallback for s in filled]


def _runs(words: list[dict]) -> list[list[dict]]:
    """Consecutive words of the same speaker, in order."""
    runs: list[list[dict]] = []
    for word in words:
        if runs and runs[-1][-1]["speaker"] == word["speaker"]:
            runs[-1].append(word)
        else:
            runs.append([word])
    return runs


def _split(segment: dict, runs: list[list[dict]]) -> list[dict]:
    """One new segment per run of words; the outer edges keep the segment's own times."""
    base = {k: v for k, v in segment.items() if k not in _UNSPLITTABLE_KEYS}
    pieces = []
    for i, run in enumerate(runs):
        piece = dict(base)
        piece["start"] = segment["start"] if i == 0 else run[0]["start"]
        piece["end"] = segment["end"] if i == len(runs) - 1 else run[-1]["end"]
        piece["text"] = "".join(w["word"] for w in run).strip()
        piece["words"] = run
        piece["speaker"] = run[0]["speaker"]
        pieces.append(piece)
    return pieces


def assign_speakers(segments: list[dict], turns: list[SpeakerTurn]) -> list[dict]:
    """New segments, each (and each of its words) with a ``speaker``.

    A segment's speaker is the one it overlaps longest (None when no turn overlaps it). When a
    segment's words belong to more than one speaker it is split at the word boundaries where the
    speaker changes; the pieces get the text of their words and all segments are renumbered
    (``id`` 0, 1, ...). Without word timestamps a segment cannot be split and keeps the majority
    speaker. The input is not modified.
    """
    segment_speakers = speakers_at([(s["start"], s["end"]) for s in segments], turns)
    all_words = [w for s in segments for w in s.get("words") or []]
    word_speakers = iter(speakers_at([(w["start"], w["end"]) for w in all_words], turns))
    out: list[dict] = []
    for segment, speaker in zip(segments, segment_speakers, strict=True):
        seg = dict(segment)
        seg["speaker"] = speaker
        words = seg.get("words") or []
        if not words:
            out.append(seg)
            continue
        found = [next(word_speakers) for _ in words]
        speakers = _word_speakers(words, found, speaker)
        seg["words"] = [{**w, "speaker": s} for w, s in zip(words, speakers, strict=True)]
        runs = _runs(seg["words"])
        out.extend(_split(seg, runs) if len(runs) > 1 else [seg])
    for number, seg in enumerate(out):
        seg["id"] = number
    return out


def speaker_table(turns: list[SpeakerTurn]) -> list[dict]:
    """One row per speaker, sorted by label: total speaking time (seconds) and number of turns."""
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for turn in turns:
        seconds[turn.speaker] += turn.end - turn.start
        counts[turn.speaker] += 1
    return [
        {"id": spk, "total_seconds": round(seconds[spk], 3), "turns": counts[spk]}
        for spk in sorted(seconds)
    ]


def turns_as_dicts(turns: list[SpeakerTurn]) -> list[dict]:
    """The JSON ``turns`` list: ``[{"start", "end", "speaker"}, ...]`` in time order."""
    return [
        {"start": round(t.start, 3), "end": round(t.end, 3), "speaker": t.speaker}
        for t in sorted(turns, key=lambda t: (t.start, t.end, t.speaker))
    ]
