"""The silence gate: a transcript keeps no words where voice activity detection hears no speech.

Whisper writes text over silence and noise ("You" over digital silence and "." over room tone
from tiny.en here; users report "Thank you." over hold music and loops, faster-whisper issue
826). VAD before decoding (``--vad``) stops that but costs words on real recordings (Silero
misses quiet speech: 2.2 WER points on the long LibriSpeech recording) and keeps short files
from sharing windows. So by default everything is decoded as before, and afterwards a segment
is dropped only when Silero VAD hears no speech at all within its span widened by :data:`PAD`
seconds each side. A real segment whose times Whisper
stretched into a silence next to it still touches speech and is kept (a gate on the share of a
segment's time on speech dropped such sentences). Measured in docs/performance.md ("Silence and
non-speech: the defaults"; ``benchmarks/silence.py``).

VAD is the pass the runner already makes over every file as it is decoded
(:class:`swbatch.review.Listener`), on each file's own audio: a packed clip is gated on its own
samples, and a resumed file's windows are heard again as they pass. What is dropped is kept in
the JSON's ``dropped_over_silence`` (times and text), out of every transcript format.
"""

from __future__ import annotations

#: seconds added to each side of a segment before asking whether VAD heard speech in it
PAD = 0.5


def gate(asr: dict, speech: list[tuple[float, float]]) -> dict:
    """The infer stage's result with only the segments VAD hears speech in (renumbered), and
    what was dropped (start, end, text) under ``dropped_over_silence``."""
    kept, dropped = [], []
    for seg in asr["segments"]:
        if heard(seg, speech):
            kept.append(dict(seg, id=len(kept)))
        else:
            dropped.append({"start": seg["start"], "end": seg["end"], "text": seg["text"]})
    return dict(asr, segments=kept, dropped_over_silence=dropped)


def heard(segment: dict, speech: list[tuple[float, float]], pad: float = PAD) -> bool:
    """Whether VAD heard any speech within the segment, widened by ``pad`` seconds each side."""
    start, end = segment["start"] - pad, segment["end"] + pad
    return any(a < end and b > start for a, b in speech)
