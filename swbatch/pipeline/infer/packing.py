"""Packing: short files share one 30-s window (``--pack``, the default).

Whisper's encoder always reads 30 s, so a 2.5-s clip decoded alone pays for 27.5 s of padding.
Here the worker threads of several short files hand their clips to one :class:`Packer`, which lays
them end to end with :data:`GAP_SECONDS` of silence between them, decodes the window once (with the
chosen backend: faster-whisper's own loop, or a slot in a cross-file batch) and gives each file
back what lies on its own audio, with times counted from the start of that file. What is split:
Whisper's segments, cut by its timestamp tokens, or with word timestamps (asked for, or batched
decoding, which has no timestamp tokens) its words; see :func:`split`.

A clip whose split is not clean (a segment or word over the audio of two clips or in a gap, no
words, a window that failed to decode, text that needed Whisper's temperature fallback or is still
repetitive or improbable) gets one more window, with other neighbours; then, or when
it found no partner, it is decoded alone, never dropped. Only clips decoded with the same
arguments share a window, and only when their language is known beforehand (given, or an
English-only model): detecting it per clip would cost the encoder pass that packing saves, so
files of unknown language on a multilingual model are decoded alone. With ``--vad`` a file is
decoded alone too (the gaps are the silence VAD drops).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, TimeoutError
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from ...audio import SAMPLE_RATE
from ..cancel import STOP, check
from .chunks import MAX_SECONDS
from .model import LoadedWhisper
from .options import model_batch_size

if TYPE_CHECKING:
    from .options import AsrOptions

#: silence between two clips of a window: long enough that the model ends a sentence there
GAP_SECONDS = 1.5
#: longer files are decoded alone (two of them would seldom share a window)
MAX_CLIP_SECONDS = 12.0
#: how long a part-filled window waits for another clip before it is decoded as it is (files
#: reach the packer one by one from the decoder thread, slowly on a busy machine)
LINGER_SECONDS = 1.0
#: how far a word may stray from its clip's audio (word times are good to about this)
TOLERANCE_SECONDS = 0.3
_GAP = int(GAP_SECONDS * SAMPLE_RATE)
_CAPACITY = int(MAX_SECONDS * SAMPLE_RATE)

Decode = Callable[[LoadedWhisper, np.ndarray, "AsrOptions", dict], tuple[Any, Any]]


def packed(alone: Decode) -> Decode:
    """A backend's ``decode`` that packs a packable file with others, and decodes the rest (and
    any clip packing gave back) with ``alone``."""

    def decode(
        loaded: LoadedWhisper, samples: np.ndarray, options: AsrOptions, kwargs: dict
    ) -> tuple[Any, Any]:
        if packable(loaded, samples, kwargs):
            result = packer(loaded, options.batch_size).transcribe(samples, kwargs)
            if result is not None:
                segments, clips = result
                language = kwargs.get("language") or "en"
                info = SimpleNamespace(language=language, language_probability=1.0,
                                       packed_clips=clips)  # fmt: skip
                return segments, info
        return alone(loaded, samples, options, kwargs)

    return decode


def packable(loaded: LoadedWhisper, samples: np.ndarray, kwargs: dict) -> bool:
    """Short, its language known before decoding, and no VAD (see the module docstring)."""
    known = kwargs.get("language") is not None or not loaded.model.model.is_multilingual
    return known and not kwargs.get("vad_filter") and len(samples) <= MAX_CLIP_SECONDS * SAMPLE_RATE


_PACKERS: dict[tuple[int, int], Packer] = {}
_PACKERS_LOCK = threading.Lock()


#: what a clip of a window that did not split cleanly for it gets: one more window, then alone
_AGAIN = object()


def packer(loaded: LoadedWhisper, batch_size: int) -> Packer:
    """The process's packer for a loaded model and batch size (a packer is cheap: no thread)."""
    with _PACKERS_LOCK:
        return _PACKERS.setdefault((id(loaded), batch_size), Packer(loaded, batch_size))


@dataclasses.dataclass(eq=False)
class _Clip:
    samples: np.ndarray
    future: Future = dataclasses.field(default_factory=Future)


class Packer:
    """Clips of many files in, packed windows through the model, each clip's segments back.

    No thread of its own: the worker thread whose clip overflows a window decodes that window for
    all the clips in it. At most :attr:`room` windows are decoded at once (as many as the model
    runs at once: each window being decoded holds the model's working memory for it; the other
    full windows wait for a slot, their clips' threads waiting with them). A part-filled window is
    decoded only when there is room for it and no clip has come for :data:`LINGER_SECONDS`: while
    the model is busy, waiting costs nothing and fills the window.
    """

    def __init__(self, loaded: LoadedWhisper, batch_size: int) -> None:
        self.loaded, self.batch_size = loaded, batch_size
        self._pending: dict[str, list[_Clip]] = {}
        self._arrived: dict[str, float] = {}
        self._lock = threading.Lock()
        #: windows decoded, clips split from them, and clips given back to be decoded alone
        self.windows_run = self.clips_packed = self.clips_alone = 0
        self._decoding = 0  # windows being decoded now
        #: windows decoded at once, at most; and the most there were (a run's counter)
        self.room = loaded.workers * model_batch_size(loaded.device, batch_size)
        self.most_decoding = 0
        self._slots = threading.BoundedSemaphore(self.room)

    def transcribe(self, samples: np.ndarray, kwargs: dict) -> tuple[list, int] | None:
        """The clip's segments (in its own time) and how many clips shared its window, or None:
        decode it alone. A clip its window did not split cleanly for is packed once more, with
        other neighbours (on 300 real utterances 17 were given back after one window: each a full
        decode alone, a tenth of the run's compute)."""
        result = self._packed_once(samples, kwargs)
        if result is _AGAIN:
            result = self._packed_once(samples, kwargs)
        if result is _AGAIN:
            with self._lock:
                self.clips_alone += 1
            return None
        return result

    def _packed_once(self, samples: np.ndarray, kwargs: dict) -> Any:
        """The clip's result from one window: its segments and the window's clip count, None
        when no other clip came, or :data:`_AGAIN` when the window did not split cleanly."""
        key = json.dumps(kwargs, sort_keys=True, default=str)
        clip = _Clip(samples)
        with self._lock:
            queue = self._pending.setdefault(key, [])
            queue.append(clip)
            self._arrived[key] = time.monotonic()
            fits = _fitting(queue)
            window = [queue.pop(0) for _ in range(fits)] if fits < len(queue) else None
        while True:
            if window:
                self._run(kwargs, window)
            try:
                return clip.future.result(timeout=LINGER_SECONDS)
            except TimeoutError:
                pass
            with self._lock:
                waiting = clip in queue
                if STOP.is_set() and waiting:
                    queue.remove(clip)
                stale = time.monotonic() - self._arrived[key] >= LINGER_SECONDS
                stale = stale and self._decoding < self.room
                take = _fitting(queue) if waiting and stale else 0
                window = [queue.pop(0) for _ in range(take)]
            check()

    def _run(self, kwargs: dict, clips: list[_Clip]) -> None:
        """Decode one window and settle every clip's future (None: no partner; _AGAIN: the
        split was not clean for it)."""
        if len(clips) == 1:
            with self._lock:
                self.clips_alone += 1
            clips[0].future.set_result(None)
            return
        audio, spans, start = np.zeros(_CAPACITY, np.float32), [], 0
        for clip in clips:
            audio[start : start + len(clip.samples)] = clip.samples
            spans.append((start / SAMPLE_RATE, (start + len(clip.samples)) / SAMPLE_RATE))
            start += len(clip.samples) + _GAP
        while not self._slots.acquire(timeout=0.2):
            check()
        with self._lock:
            self._decoding += 1
            self.most_decoding = max(self.most_decoding, self._decoding)
        try:
            segments = self._decode(audio[: start - _GAP], dict(kwargs))
            parts = split(segments, spans, keep_words=kwargs.get("word_timestamps", False),
                          doubtful=lambda seg: _doubtful(seg, kwargs))  # fmt: skip
        except Exception:  # e.g. a batch that failed: every clip is decoded alone instead
            parts = [None] * len(clips)
        finally:
            with self._lock:
                self._decoding -= 1
            self._slots.release()
        with self._lock:
            self.windows_run += 1
            self.clips_packed += sum(p is not None for p in parts)
        for clip, part in zip(clips, parts, strict=True):
            clip.future.set_result(_AGAIN if part is None else (part, len(clips)))

    def _decode(self, audio: np.ndarray, kwargs: dict) -> list:
        if self.batch_size > 1:  # a slot of a cross-file batch
            from .crossfile import decode_clip

            # batched decoding has no timestamp tokens (one segment per window): split by words
            kwargs.update(word_timestamps=True)
            kwargs.pop("vad_filter", None)
            return decode_clip(self.loaded, self.batch_size, kwargs, audio)
        segments, _info = self.loaded.model.transcribe(audio, **kwargs)
        return list(segments)


def _fitting(queue: list[_Clip]) -> int:
    """How many clips from the head of ``queue`` fit in one window, gaps included."""
    used = -_GAP
    for n, clip in enumerate(queue):
        used += _GAP + len(clip.samples)
        if used > _CAPACITY:
            return n
    return len(queue)


def split(segments: list, spans: list[tuple[float, float]], keep_words: bool,
          doubtful: Callable[[Any], bool] = lambda seg: False) -> list[list | None]:  # fmt: skip
    """Each clip's segments, in its own time, from a window's segments; None for a clip whose
    split is not clean, for a clip that got no words (silence is then confirmed alone, speech
    never lost), and for every clip a ``doubtful`` segment touches.

    Segments with word times are split word by word; without (sequential decoding and no
    ``--word-timestamps``) each segment, cut by Whisper's timestamp tokens, is one piece. A piece
    belongs to the clip whose audio it overlaps most. It is not clean when it also overlaps
    another clip's audio by more than :data:`TOLERANCE_SECONDS` (it holds speech of both), or
    lies more than that away from any clip's audio (text in a gap). Whisper's segments run on
    from one to the next through the silence, so a boundary is not a fixed point in the gap:
    on 40 real utterances, 25 clips had a segment over the gap's midpoint, none over the
    neighbour's audio.
    """
    parts: list[list | None] = [[] for _ in spans]
    for seg in segments:
        units = [seg] if seg.words is None else seg.words
        if seg.text.strip() and not units:  # text with no word times: cannot be placed
            parts[_owner(seg, spans)[0]] = None
        groups: dict[int, list] = {}
        unsure = doubtful(seg)
        for unit in units:
            i, clean = _owner(unit, spans)
            if not clean or unsure:
                parts[i] = None
            groups.setdefault(i, []).append(unit)
        for i, group in groups.items():
            if parts[i] is not None:
                parts[i].append(_piece(seg, group, spans[i][0], spans[i][1], keep_words))
    return [part or None for part in parts]


def _doubtful(seg: Any, kwargs: dict) -> bool:
    """Whether a window's segment was decoded past the first temperature, or is still over the
    thresholds: its text came out repetitive or improbable. Whisper's fallback then samples the
    whole window again at a higher temperature, so one clip that loops spoils the text of every
    clip beside it (a clean sentence packed with a looping phrase read "The quick groundcars
    jump so That they ZAd", alone "The quick brown fox jump over the lazy dog.")."""
    temperatures = kwargs.get("temperature", 0.0)
    first = temperatures[0] if isinstance(temperatures, (list, tuple)) else temperatures
    low, high = kwargs.get("log_prob_threshold"), kwargs.get("compression_ratio_threshold")
    return (
        (seg.temperature or 0.0) > first
        or (low is not None and seg.avg_logprob < low)
        or (high is not None and seg.compression_ratio > high)
    )


def _owner(unit: Any, spans: list[tuple[float, float]]) -> tuple[int, bool]:
    """The clip a segment or word belongs to, and whether it lies cleanly on that clip alone."""
    overlaps = [min(unit.end, high) - max(unit.start, low) for low, high in spans]
    i = max(range(len(spans)), key=overlaps.__getitem__)
    crosses = any(o > TOLERANCE_SECONDS for j, o in enumerate(overlaps) if j != i)
    return i, not crosses and overlaps[i] >= -TOLERANCE_SECONDS


def _piece(seg: Any, units: list, low: float, high: float, keep_words: bool) -> Any:
    """The part of ``seg`` made of ``units`` (its words, or itself), in the time of the clip
    that spans ``low`` to ``high`` in the window."""

    def local(t: float) -> float:
        return min(max(t - low, 0.0), high - low)

    if units == [seg]:
        return dataclasses.replace(seg, start=local(seg.start), end=local(seg.end), tokens=[])
    words = [dataclasses.replace(w, start=local(w.start), end=local(w.end)) for w in units]
    return dataclasses.replace(
        seg,
        start=words[0].start,
        end=words[-1].end,
        text="".join(w.word for w in units),
        tokens=[],
        words=words if keep_words else None,
    )
