"""Subtitle layout for SRT and VTT: cues of at most N lines of at most W characters.

Cues are cut at word boundaries, never inside a word (a single word longer than the width stays
whole on a line of its own). A cue is timed from the word timestamps of the words it holds when
the transcript has them (``--word-timestamps``, or diarization); otherwise each word's time is
estimated by sharing the segment's time out in proportion to the words' lengths.

Escaping: WebVTT has an escape mechanism, so ``&``, ``<`` and ``>`` are written as ``&amp;``,
``&lt;`` and ``&gt;`` (a transcript can never open a tag or end a timing line with ``-->``).
SubRip has none: its text is written as said, on lines of single-spaced words, so a cue never
holds a blank line that would end it early.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Layout:
    """How subtitle text is laid out; ``None`` means no limit (one cue per segment, one line)."""

    max_line_width: int | None = None
    max_line_count: int | None = None


NO_LAYOUT = Layout()


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str | None = None


def _timed_words(segment: dict) -> list[tuple[str, float, float]]:
    """(word, start, end) for each word of a segment: measured when present, else estimated."""
    words = [
        (w["word"].strip(), float(w["start"]), float(w["end"]))
        for w in segment.get("words") or []
        if w["word"].strip()
    ]
    if words:
        return words
    tokens = segment["text"].split()
    total = sum(len(t) + 1 for t in tokens) or 1
    start, span = float(segment["start"]), float(segment["end"]) - float(segment["start"])
    out, used = [], 0
    for token in tokens:
        begin = start + span * used / total
        used += len(token) + 1
        out.append((token, begin, start + span * used / total))
    return out


def _wrap(words: list[tuple[str, float, float]], width: int, first_width: int, count: int) -> list:
    """Greedy wrap: each line as the list of its timed words; the first line of every cue
    (every ``count`` lines) has room for the label only up to ``first_width``."""
    lines: list[list] = []
    current: list = []
    length = 0
    for word in words:
        limit = first_width if len(lines) % count == 0 else width
        if current and length + 1 + len(word[0]) > limit:
            lines.append(current)
            current, length = [], 0
        length += len(word[0]) + (1 if current else 0)
        current.append(word)
    if current:
        lines.append(current)
    return lines


def cues(
    segments: list[dict], layout: Layout, label: Callable[[str], str] | None = None
) -> list[Cue]:
    """The cues of a transcript; ``label(speaker)`` is visible text put before each cue's first
    line and counted in its width (SRT's ``[SPEAKER_00]``), None when the format marks speakers
    some other way (VTT's voice tag)."""
    out = []
    for seg in segments:
        speaker = seg.get("speaker")
        prefix = f"{label(speaker)} " if label and speaker else ""
        if layout.max_line_width is None:
            text = " ".join(seg["text"].split())
            out.append(Cue(seg["start"], seg["end"], (prefix + text,), speaker))
            continue
        words = _timed_words(seg)
        width = layout.max_line_width
        count = layout.max_line_count or len(words) + 1  # no count limit: one cue
        lines = _wrap(words, width, max(1, width - len(prefix)), count)
        for first in range(0, len(lines), count):
            group = lines[first : first + count]
            texts = [" ".join(w[0] for w in line) for line in group]
            texts[0] = prefix + texts[0]
            start = seg["start"] if first == 0 else group[0][0][1]
            end = seg["end"] if first + count >= len(lines) else group[-1][-1][2]
            out.append(Cue(start, max(start, end), tuple(texts), speaker))
    return out


def timestamp(seconds: float, sep: str) -> str:
    """``HH:MM:SS<sep>mmm`` (SRT uses a comma, VTT a dot)."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{millis:03d}"


def vtt_escape(text: str) -> str:
    """WebVTT cue text: ``&``, ``<``, ``>`` as character references."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_srt(doc: dict, layout: Layout = NO_LAYOUT) -> str:
    """SubRip: numbered cues, comma before milliseconds, ``[SPEAKER_00]`` before diarized text."""
    blocks = [
        f"{n}\n{timestamp(c.start, ',')} --> {timestamp(c.end, ',')}\n" + "\n".join(c.lines) + "\n"
        for n, c in enumerate(cues(doc["segments"], layout, label=lambda s: f"[{s}]"), start=1)
    ]
    return "\n".join(blocks)


def to_vtt(doc: dict, layout: Layout = NO_LAYOUT) -> str:
    """WebVTT; speakers use the standard voice tag ``<v NAME>``."""
    blocks = ["WEBVTT\n"]
    for c in cues(doc["segments"], layout):
        lines = [vtt_escape(line) for line in c.lines]
        if c.speaker:
            lines[0] = f"<v {vtt_escape(c.speaker)}>{lines[0]}"
        timing = f"{timestamp(c.start, '.')} --> {timestamp(c.end, '.')}"
        blocks.append(timing + "\n" + "\n".join(lines) + "\n")
    return "\n".join(blocks)
