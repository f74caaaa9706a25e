"""Corpora for benchmarks/batching.py, each {WAV path: reference text}, built in a folder.

- ``short``: espeak-ng clips of one or two sentences (3.5 to 10 s);
- ``real``: whole utterances of 1.5 to 8 s: every one of the real-speech set (tests/data/real:
  LibriSpeech test-clean and LJ Speech, public, see its SOURCES.md) repeated to make a third of
  the files, and espeak-ng sentences (3.5 to 5.5 s) for the rest, in a shuffled order (fixed seed)
  so that no window holds a run of consecutive LJ Speech sentences;
- ``tiny``: espeak-ng phrases of the first five words of a sentence, each cut or padded with
  silence to exactly 2.5 s (the per-file overhead case);
- ``long``: one espeak-ng recording of about ``long_seconds``.
"""

from __future__ import annotations

import random
import wave
from pathlib import Path

import numpy as np
from speech import SENTENCES, speak

RATE = 16_000


def synthetic(folder: Path, clips: int) -> dict[str, str]:
    corpus = {}
    for i in range(clips):
        text = SENTENCES[i % len(SENTENCES)]
        if i % 3 == 1:
            text += " " + SENTENCES[(i * 5 + 1) % len(SENTENCES)]
        corpus[str(speak(folder / "raw_audio" / f"c{i:04d}.wav", text))] = text
    return corpus


def real(folder: Path, files: int) -> dict[str, str]:
    import real_speech
    from faster_whisper import decode_audio

    utts = real_speech.utterances(min_duration=1.5, max_duration=8.0)
    if not utts:
        raise SystemExit("no real utterances of 1.5 to 8 s in tests/data/real")
    items = [(u.id, u.path, u.text) for u in utts] * max(1, files // 3 // len(utts))
    items += [(f"espeak{i}", None, SENTENCES[i % len(SENTENCES)]) for i in range(files)]
    items = items[:files]
    random.Random(22).shuffle(items)
    corpus = {}
    for n, (name, source, text) in enumerate(items):
        path = folder / "raw_audio" / f"r{n:04d}-{name}.wav"
        if source is None:
            speak(path, text)
        else:
            _write(path, decode_audio(str(source), sampling_rate=RATE))
        corpus[str(path)] = text
    return corpus


def tiny(folder: Path, files: int, seconds: float = 2.5) -> dict[str, str]:
    from faster_whisper import decode_audio

    corpus = {}
    for i in range(files):
        text = " ".join(SENTENCES[i % len(SENTENCES)].split()[:5])
        path = speak(folder / "raw_audio" / f"t{i:04d}.wav", text)
        samples = decode_audio(str(path), sampling_rate=RATE)[: round(seconds * RATE)]
        _write(path, np.pad(samples, (0, round(seconds * RATE) - len(samples))))
        corpus[str(path)] = text
    return corpus


def long(folder: Path, seconds: float) -> dict[str, str]:
    sentences = int(seconds / 3.6)
    text = " ".join(SENTENCES[i % len(SENTENCES)] for i in range(0, sentences * 3, 3))
    return {str(speak(folder / "raw_audio" / "long.wav", text)): text}


def _write(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
