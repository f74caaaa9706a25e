"""Audio input: probing, decoding and the checks that turn bad files into clear reasons.

Decoding goes through PyAV (bundled with faster-whisper), so no system ffmpeg is needed. Each file
is decoded once, to 16 kHz mono float32, and that array feeds every stage (ASR, diarization,
emotion). A decoder happily returns a few samples for a truncated WAV without any error, so the
decoded length is checked against what the header declares.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import JobError

SAMPLE_RATE = 16_000
#: shortest decoded audio worth transcribing; anything shorter is reported, not guessed at
MIN_SECONDS = 0.1
#: a file is truncated when it holds less than this share of what its header declares
TRUNCATED_RATIO = 0.98
#: audio files, and containers whose audio track is used
AUDIO_EXTENSIONS = frozenset(
    [".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aif", ".aiff",
     ".mp4", ".m4v", ".mov", ".webm", ".mkv", ".mka"]
)  # fmt: skip


class AudioError(JobError):
    """This file cannot be transcribed; the message is the one-line reason for the status record."""


@dataclass(frozen=True)
class DecodedAudio:
    """A decoded file: 16 kHz mono float32 samples and their duration in seconds."""

    samples: np.ndarray
    duration: float


def check_readable(path: Path) -> int:
    """Fail early, with a reason a user can act on, for paths that are not audio files at all."""
    if os.path.islink(path) and not path.exists():
        raise AudioError(f"broken symbolic link -> {os.readlink(path)}")
    if not path.exists():
        raise AudioError("file not found")
    if path.is_dir():
        raise AudioError("is a folder, not an audio file")
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except PermissionError:
        raise AudioError("permission denied") from None
    if size == 0:
        raise AudioError("empty file (0 bytes)")
    return size


def probe_duration(path: Path) -> float | None:
    """The duration the container declares, read from headers only (cheap: no decoding)."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if container.duration:
                return container.duration / 1_000_000
            stream = container.streams.audio[0]
            if stream.duration and stream.time_base:
                return float(stream.duration * stream.time_base)
    except (av.error.FFmpegError, IndexError, OSError, UnicodeDecodeError):
        return None
    return None


def wav_declared_seconds(path: Path) -> tuple[float, float] | None:
    """(declared, present) seconds of a PCM WAV from its RIFF header, or None if not a WAV.

    PyAV estimates a WAV's duration from the file size, so a truncated file looks complete to
    it; the ``data`` chunk size in the header still says how long it was meant to be.
    """
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        byte_rate = None
        while True:
            chunk = fh.read(8)
            if len(chunk) < 8:
                return None
            name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            if name == b"fmt ":
                fmt = fh.read(size + (size & 1))
                byte_rate = struct.unpack("<I", fmt[8:12])[0] if len(fmt) >= 12 else None
            elif name == b"data":
                present = path.stat().st_size - fh.tell()
                # Streamed WAVs write 0 or 0xFFFFFFFF as the size: nothing was declared.
                if not byte_rate or size in (0, 0xFFFFFFFF):
                    return None
                return size / byte_rate, min(present, size) / byte_rate
            else:
                fh.seek(size + (size & 1), os.SEEK_CUR)


def decode(path: Path) -> DecodedAudio:
    """Decode one file for every stage, or raise AudioError with the reason it cannot be."""
    check_readable(path)
    declared = wav_declared_seconds(path)
    if declared and declared[1] < declared[0] * TRUNCATED_RATIO:
        raise AudioError(
            f"truncated WAV: header declares {declared[0]:.2f} s, file holds {declared[1]:.2f} s"
        )
    samples = _decode_samples(path)
    duration = len(samples) / SAMPLE_RATE
    if duration < MIN_SECONDS:
        raise AudioError(f"no audio decoded ({duration:.3f} s)")
    return DecodedAudio(samples=samples, duration=duration)


def _decode_samples(path: Path) -> np.ndarray:
    import av
    from faster_whisper.audio import decode_audio

    try:
        return decode_audio(str(path), sampling_rate=SAMPLE_RATE)
    except (av.error.FFmpegError, IndexError, ValueError) as exc:
        # IndexError: the container has no audio stream (e.g. a text file PyAV half-parses).
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise AudioError(f"not decodable audio: {reason}") from None
    except OSError as exc:
        raise AudioError(f"read error: {exc.strerror or exc}") from None
