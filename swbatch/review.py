"""Review flags: which finished transcripts a person should check, and why.

A batch of 10,000 files cannot be read; the signs that Whisper went wrong on a file can be. Each
check reads what decoding already measured (Whisper's own thresholds, the ones faster-whisper
retries a chunk on) or one cheap pass of Silero VAD, and names the segments concerned:

- ``compression_ratio``: a segment whose text compresses more than 2.4 to 1 (gzip), i.e. repeats;
- ``low_logprob``: a segment decoded with average log-probability below -1 (the model unsure);
- ``no_speech``: text in a segment the model itself scored above 0.6 for "no speech";
- ``repetition``: the same words over and over (a phrase of 2-8 words three times in a row, one
  word five times, or the same segment text three times), the loop Whisper falls into;
- ``text_over_silence``: text where Silero VAD hears no speech (what Whisper invents over
  silence, hum or music).

The output JSON's ``review`` is a list of ``{"reason", "detail", "segments"}`` (empty when nothing
needs a look); ``summary.json`` lists every file with a non-empty one.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .audio import Window

#: Whisper's own thresholds (faster-whisper's defaults for a retry at a higher temperature)
COMPRESSION_RATIO = 2.4
LOG_PROB = -1.0
NO_SPEECH = 0.6
#: a segment with less than this share of its time on VAD speech is text over silence
SPEECH_SHARE = 0.2
#: repeats in a row that make a loop: a phrase of 2-8 words, a single word, a segment's text
PHRASE_REPEATS, WORD_REPEATS, SEGMENT_REPEATS = 3, 5, 3


class Listener:
    """Hears where the speech is in each window as the windows pass to the infer stage (one
    Silero VAD pass, the model faster-whisper ships), so no second decode is needed."""

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold  # Silero's own default (a benchmark tries others)
        self.speech: list[tuple[float, float]] = []

    def windows(self, windows: Iterable[Window]) -> Iterator[Window]:
        from faster_whisper.vad import VadOptions, get_speech_timestamps

        from .audio import SAMPLE_RATE

        for window in windows:
            for span in get_speech_timestamps(window.samples, VadOptions(threshold=self.threshold)):
                start, end = span["start"] / SAMPLE_RATE, span["end"] / SAMPLE_RATE
                self.speech.append((window.start + start, window.start + end))
            yield window


def flags(segments: list[dict], speech: list[tuple[float, float]] | None) -> list[dict]:
    """The review flags of a transcript's segments; ``speech`` is where VAD heard speech (None:
    not listened, so no ``text_over_silence`` check)."""
    found: list[dict] = []

    def flag(reason: str, detail: str, ids: list[int]) -> None:
        if ids:
            found.append({"reason": reason, "detail": detail, "segments": ids})

    spoken = [s for s in segments if _words(s["text"])]
    ratios = {s["id"]: _compression_ratio(s["text"]) for s in spoken}
    high = [i for i, r in ratios.items() if r > COMPRESSION_RATIO]
    worst = max((ratios[i] for i in high), default=0.0)
    flag("compression_ratio",
         f"text compresses up to {worst:.1f} to 1 (over {COMPRESSION_RATIO}): repeated text",
         high)  # fmt: skip
    low = [s for s in spoken if s.get("avg_logprob", 0.0) < LOG_PROB]
    flag("low_logprob", f"average log-probability down to "
         f"{min((s['avg_logprob'] for s in low), default=0):.2f} (under {LOG_PROB})",
         [s["id"] for s in low])  # fmt: skip
    quiet = [s for s in spoken if s.get("no_speech_prob", 0.0) > NO_SPEECH]
    flag("no_speech", f"text where the model scored no speech above {NO_SPEECH}",
         [s["id"] for s in quiet])  # fmt: skip
    loop = _repetition(spoken)
    if loop:
        flag("repetition", loop[0], loop[1])
    if speech is not None:
        silent = [s for s in spoken if _speech_share(s, speech) < SPEECH_SHARE]
        flag("text_over_silence", "text where voice activity detection hears no speech",
             [s["id"] for s in silent])  # fmt: skip
    return found


def _words(text: str) -> list[str]:
    return re.findall(r"[\w']+", text.lower())


def _compression_ratio(text: str) -> float:
    """As Whisper measures repetition: UTF-8 length over its zlib-compressed length."""
    data = text.strip().encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def _repetition(segments: list[dict]) -> tuple[str, list[int]] | None:
    """The first loop found: (what repeats, the segments it spans), or None."""
    texts = [" ".join(_words(s["text"])) for s in segments]
    for i in range(len(texts) - SEGMENT_REPEATS + 1):
        if len(set(texts[i : i + SEGMENT_REPEATS])) == 1:
            ids = [s["id"] for s in segments[i : i + SEGMENT_REPEATS]]
            return f'"{texts[i][:60]}" as {SEGMENT_REPEATS} segments in a row', ids
    words = [(w, s["id"]) for s in segments for w in _words(s["text"])]
    tokens = [w for w, _ in words]
    for size in range(1, 9):
        repeats = WORD_REPEATS if size == 1 else PHRASE_REPEATS
        for i in range(len(tokens) - size * repeats + 1):
            phrase = tokens[i : i + size]
            if all(tokens[i + k * size : i + (k + 1) * size] == phrase for k in range(repeats)):
                ids = sorted({sid for _, sid in words[i : i + size * repeats]})
                return f'"{" ".join(phrase)}" {repeats} times in a row', ids
    return None


def _speech_share(segment: dict, speech: list[tuple[float, float]]) -> float:
    """The share of a segment's time that VAD heard as speech."""
    start, end = segment["start"], segment["end"]
    heard = sum(max(0.0, min(end, b) - max(start, a)) for a, b in speech)
    return heard / (end - start) if end > start else 0.0
