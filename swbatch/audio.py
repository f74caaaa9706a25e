"""Audio input: probing, streaming decode into bounded windows, and the checks that turn bad
files into clear reasons.

Decoding goes through PyAV (bundled with faster-whisper), so no system ffmpeg is needed. Audio is
resampled to 16 kHz mono float32 piece by piece, as faster-whisper's ``decode_audio`` does, but
never gathered into one array: :func:`windows` hands out bounded windows (``WINDOW_SECONDS`` by
default), each cut at the quietest point of its last ``CUT_SEARCH_SECONDS``, so memory does not
grow with the length of a recording. A decoder happily returns a few samples for a truncated WAV
without any error, so the length a WAV header declares is checked before decoding starts.
"""

from __future__ import annotations

import gc
import itertools
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import JobError, UsageError

SAMPLE_RATE = 16_000
#: shortest decoded audio worth transcribing; anything shorter is reported, not guessed at
MIN_SECONDS = 0.1
#: default window length; ``SWBATCH_WINDOW_SECONDS`` overrides it (see :func:`window_seconds`)
WINDOW_SECONDS = 300.0
#: a window is cut at the quietest point within this many seconds before its nominal end
CUT_SEARCH_SECONDS = 15.0
#: frame and smoothing length of the energy curve a cut is chosen on
_ENERGY_FRAME = 320  # 20 ms
_ENERGY_SMOOTH = 10  # frames: 200 ms
#: samples PyAV gathers before each resampling step (about 10 s at 48 kHz), as faster-whisper does
_GROUP_SAMPLES = 500_000
#: a file is truncated when it holds less than this share of what its header declares
TRUNCATED_RATIO = 0.98
#: audio files, and containers whose audio track is used
AUDIO_EXTENSIONS = frozenset(
    [".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aif", ".aiff",
     ".mp4", ".m4v", ".mov", ".webm", ".mkv", ".mka"]
)  # fmt: skip


class AudioError(JobError):
    """This file cannot be transcribed; the message is the one-line reason for the status record."""


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


def window_seconds() -> float:
    """The window length: ``SWBATCH_WINDOW_SECONDS`` if set, else :data:`WINDOW_SECONDS`.

    Longer windows mean fewer cuts but more memory (about 60 MB per minute of window with
    faster-whisper's feature extractor); a window shorter than a minute is allowed for tests.
    """
    raw = os.environ.get("SWBATCH_WINDOW_SECONDS", "").strip()
    if not raw:
        return WINDOW_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value >= 10:  # also refuses nan
        raise UsageError(f"SWBATCH_WINDOW_SECONDS={raw!r}: give a number of seconds, at least 10")
    return value


@dataclass(frozen=True)
class Window:
    """A piece of a file: its samples and where it starts (in samples of the whole file)."""

    index: int
    offset: int
    samples: np.ndarray
    #: the file ends with this window
    last: bool = False

    @property
    def start(self) -> float:
        """Start in seconds from the beginning of the file."""
        return self.offset / SAMPLE_RATE

    @property
    def end(self) -> float:
        return (self.offset + len(self.samples)) / SAMPLE_RATE


def check_header(path: Path) -> None:
    """The checks that need no decoding: readable, not empty, not a truncated WAV."""
    check_readable(path)
    declared = wav_declared_seconds(path)
    if declared and declared[1] < declared[0] * TRUNCATED_RATIO:
        raise AudioError(
            f"truncated WAV: header declares {declared[0]:.2f} s, file holds {declared[1]:.2f} s"
        )


def windows(path: Path, seconds: float | None = None) -> Iterator[Window]:
    """The file as consecutive windows of about ``seconds`` each, cut near silence.

    A window is cut once ``seconds + search`` seconds are buffered, at the quietest 200 ms within
    the last ``search`` seconds before its nominal end, so the last window is never shorter than
    ``search`` (15 s, or a quarter of short windows) and no cut falls inside a word when there is
    a pause nearby. Cuts depend only on the samples, so a rerun cuts exactly where the first run
    did: resuming skips windows by index. Raises AudioError (possibly after some windows, for a
    file that breaks mid-stream) with the one-line reason.
    """
    check_header(path)
    length = round((seconds or window_seconds()) * SAMPLE_RATE)
    search = min(round(CUT_SEARCH_SECONDS * SAMPLE_RATE), length // 4)
    pending: list[np.ndarray] = []
    buffered = offset = index = 0
    for piece in stream(path):
        pending.append(piece)
        buffered += len(piece)
        if buffered < length + search:
            continue
        buffer = np.concatenate(pending)
        while len(buffer) >= length + search:
            cut = quietest_point(buffer[length - search : length]) + length - search
            yield Window(index, offset, buffer[:cut].copy(), last=False)
            buffer, offset, index = buffer[cut:], offset + cut, index + 1
        pending, buffered = [buffer], len(buffer)
    rest = np.concatenate(pending) if pending else np.zeros(0, np.float32)
    if offset + len(rest) < MIN_SECONDS * SAMPLE_RATE:
        raise AudioError(f"no audio decoded ({(offset + len(rest)) / SAMPLE_RATE:.3f} s)")
    yield Window(index, offset, rest, last=True)  # never empty: a cut leaves ``search`` behind


def quietest_point(samples: np.ndarray) -> int:
    """Index of the middle of the quietest 200 ms of ``samples`` (the first, on ties)."""
    frames = len(samples) // _ENERGY_FRAME
    if frames <= _ENERGY_SMOOTH:
        return len(samples) // 2
    energy = np.square(samples[: frames * _ENERGY_FRAME], dtype=np.float64)
    energy = energy.reshape(frames, _ENERGY_FRAME).mean(axis=1)
    smooth = np.convolve(energy, np.ones(_ENERGY_SMOOTH) / _ENERGY_SMOOTH, mode="valid")
    return (int(np.argmin(smooth)) + _ENERGY_SMOOTH // 2) * _ENERGY_FRAME


def spans(path: Path, bounds: list[tuple[float, float]]) -> Iterator[np.ndarray]:
    """The samples of each ``(start, end)`` span in seconds, in one streaming pass over the file.

    For stages that need only parts of a long file (emotion judges each segment's slice): memory
    holds the longest span plus one decoded piece, never the file. ``bounds`` must be sorted by
    start; they may overlap. A span past the end of the audio gets what there is of it.
    """
    wanted = [(round(a * SAMPLE_RATE), round(b * SAMPLE_RATE)) for a, b in bounds]
    wanted = [(max(0, a), max(0, a, b)) for a, b in wanted]
    buffer, start, i = np.zeros(0, np.float32), 0, 0
    for piece in stream(path):
        buffer = np.concatenate([buffer, piece])
        while i < len(wanted) and wanted[i][1] <= start + len(buffer):
            yield buffer[wanted[i][0] - start : wanted[i][1] - start].copy()
            i += 1
        drop = min(len(buffer), wanted[i][0] - start) if i < len(wanted) else len(buffer)
        buffer, start = buffer[drop:], start + drop
    for a, b in wanted[i:]:
        yield buffer[max(0, a - start) : max(0, b - start)].copy()


def stream(path: Path) -> Iterator[np.ndarray]:
    """16 kHz mono float32 pieces of a file (about 10 s each), decoded as they are needed.

    The same chain as faster-whisper's ``decode_audio`` (invalid frames skipped, frames grouped,
    resampled to s16 then scaled to float), so samples are identical to what it would return.
    """
    import av

    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            resampler = av.audio.resampler.AudioResampler(
                format="s16", layout="mono", rate=SAMPLE_RATE
            )
            frames = _grouped(_valid_frames(container.decode(audio=0)))
            for frame in itertools.chain(frames, [None]):
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1).astype(np.float32) / 32768.0
            del resampler
    except (av.error.FFmpegError, IndexError, ValueError) as exc:
        # IndexError: the container has no audio stream (e.g. a text file PyAV half-parses).
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise AudioError(f"not decodable audio: {reason}") from None
    except OSError as exc:
        raise AudioError(f"read error: {exc.strerror or exc}") from None
    finally:
        # PyAV's resampler graph was freed only by the collector (faster-whisper #390); it is
        # young, so the young generations suffice: a full collection per file cost 23 ms here
        # (a tenth of the CPU of a packed run of 300 short files), for no memory saved
        gc.collect(1)


def _valid_frames(frames: Iterator) -> Iterator:
    """Frames, skipping the ones the codec rejects (as faster-whisper does)."""
    import av

    while True:
        try:
            yield next(frames)
        except StopIteration:
            return
        except av.error.InvalidDataError:
            continue


def _grouped(frames: Iterator) -> Iterator:
    """Frames gathered into pieces of about ``_GROUP_SAMPLES`` samples (fewer resampler calls)."""
    import av

    fifo = av.audio.fifo.AudioFifo()
    for frame in frames:
        frame.pts = None  # a gap or overlap in the timestamps must not stop the FIFO
        fifo.write(frame)
        if fifo.samples >= _GROUP_SAMPLES:
            yield fifo.read()
    if fifo.samples:
        yield fifo.read()
