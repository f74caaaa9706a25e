"""Audio with no speech in it, made with numpy: what the defaults must leave without words.

Whisper models write text over silence and noise ("You", "Thank you.", loops; faster-whisper
issue 826), and archives of calls hold hours of hold music, room tone and line noise. Each kind
here is generated, not committed, at any length (the tests use 30 s, the accuracy benchmark up to
10 minutes), from a fixed seed so every run hears the same audio.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from real_speech import write_wav

RATE = 16000


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _coloured(n: int, exponent: float, seed: int) -> np.ndarray:
    """Noise with power falling as 1/f**exponent (1: pink, 2: brown), unit peak."""
    spectrum = np.fft.rfft(_rng(seed).standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    freqs[0] = freqs[1]
    noise = np.fft.irfft(spectrum / freqs ** (exponent / 2), n)
    return noise / np.max(np.abs(noise))


def _seconds(n: int) -> np.ndarray:
    return np.arange(n) / RATE


def silence(n: int) -> np.ndarray:
    return np.zeros(n)


def room_tone(n: int) -> np.ndarray:
    """An empty room through a phone: faint pink noise (about -55 dBFS) with a low rumble."""
    return 0.004 * _coloured(n, 1.0, 1) + 0.002 * _coloured(n, 2.0, 2)


def pink_noise(n: int) -> np.ndarray:
    return 0.3 * _coloured(n, 1.0, 3)


def brown_noise(n: int) -> np.ndarray:
    return 0.5 * _coloured(n, 2.0, 4)


def mains_hum(n: int) -> np.ndarray:
    """50 Hz hum with its odd harmonics, as a bad ground puts on a line."""
    t = _seconds(n)
    return sum(0.2 / k * np.sin(2 * np.pi * 50 * k * t) for k in (1, 3, 5, 7))


def tones(n: int) -> np.ndarray:
    """A test tone, a busy signal and a slow sweep taking turns every 10 s."""
    t = _seconds(n)
    phase = (t // 10) % 3
    beep = 0.3 * np.sin(2 * np.pi * 1000 * t)
    busy = 0.3 * np.sin(2 * np.pi * 480 * t) * ((t % 1.0) < 0.5)
    sweep = 0.3 * np.sin(2 * np.pi * (200 * t + 40 * (t % 10) ** 2))
    return np.select([phase == 0, phase == 1], [beep, busy], sweep)


def music(n: int) -> np.ndarray:
    """Hold music: a four-chord loop of plucked harmonic notes over a soft beat."""
    t = _seconds(n)
    chords = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6),
              (196.0, 246.9, 293.7)]  # fmt: skip
    beat = t % 0.5
    chord = np.asarray(chords, dtype=float)[(t // 2).astype(int) % len(chords)]
    notes = sum(np.sin(2 * np.pi * chord[:, i] * h * t) / h for i in range(3) for h in (1, 2, 3))
    kick = np.sin(2 * np.pi * 60 * beat) * np.exp(-beat * 30)
    return 0.08 * notes * np.exp(-beat * 4) + 0.3 * kick


def dtmf(n: int) -> np.ndarray:
    """Keypad tones (ITU-T Q.23 pairs), 150 ms on, 150 ms off, one random key after another."""
    low, high = (697, 770, 852, 941), (1209, 1336, 1477)
    t = _seconds(n)
    slot = (t // 0.3).astype(int)
    keys = _rng(5).integers(0, 12, slot.max() + 1)[slot]
    on = (t % 0.3) < 0.15
    f1, f2 = np.take(low, keys // 3), np.take(high, keys % 3)
    return 0.25 * on * (np.sin(2 * np.pi * f1 * t) + np.sin(2 * np.pi * f2 * t))


def clicks(n: int) -> np.ndarray:
    """Clicks and pops at random times over near silence (a handset being moved)."""
    out = 0.001 * _rng(6).standard_normal(n)
    for at in _rng(7).integers(0, n - 200, max(1, n // RATE * 2)):
        out[at : at + 200] += 0.6 * np.exp(-np.arange(200) / 20) * _rng(int(at)).choice([-1, 1])
    return out


__all__ = ["KINDS", "make", "write_set", "write_wav"]

#: every kind of non-speech, by name
KINDS: dict[str, Callable[[int], np.ndarray]] = {
    "silence": silence,
    "room_tone": room_tone,
    "pink_noise": pink_noise,
    "brown_noise": brown_noise,
    "mains_hum": mains_hum,
    "tones": tones,
    "music": music,
    "dtmf": dtmf,
    "clicks": clicks,
}


def make(kind: str, seconds: float) -> np.ndarray:
    """``seconds`` of one kind of non-speech, float32 in [-1, 1] at 16 kHz."""
    samples = KINDS[kind](int(seconds * RATE))
    return np.clip(samples, -1.0, 1.0).astype(np.float32)


def write_set(folder: Path, seconds: float) -> dict[str, Path]:
    """Every kind as ``folder/{kind}.wav``, ``seconds`` long: {kind: path}."""
    return {kind: write_wav(folder / f"{kind}.wav", make(kind, seconds)) for kind in KINDS}
