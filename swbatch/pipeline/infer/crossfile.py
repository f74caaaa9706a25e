"""Cross-file backend: 30-s chunks of many files share batches (``--batch-size N``, the default
batched path).

faster-whisper batches the chunks of one file only, so a batch of short clips is mostly empty.
Here, as in WhisperS2T's data loader, every window a worker thread submits is cut into chunks
tagged with their window and offset; chunks wait in one queue per set of decoding arguments, and
``workers`` consumer threads take them ``batch_size`` at a time, whichever files they come from.
Each consumer hands its batch to faster-whisper's ``BatchedInferencePipeline`` as one array with
a 30-s slot per chunk (clip timestamps on the slots), so decoding is faster-whisper's own; each
segment goes back to its chunk by the slot it starts in, then to its file's time line.

A failing batch is retried chunk by chunk, so one bad file fails alone. CUDA out-of-memory halves
the batch size for the rest of the run (said once on stderr) and the same chunks are decoded again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future, InvalidStateError, TimeoutError
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from ...audio import SAMPLE_RATE
from ..cancel import STOP, check
from .chunks import MAX_SECONDS, chunk_bounds
from .model import LoadedWhisper

if TYPE_CHECKING:
    from .options import AsrOptions

#: how long a consumer waits for a batch to fill before it decodes a partial one
LINGER_SECONDS = 0.05
_SLOT = int(MAX_SECONDS * SAMPLE_RATE)


def decode(
    loaded: LoadedWhisper, samples: np.ndarray, options: AsrOptions, kwargs: dict
) -> tuple[list, Any]:
    """faster-whisper's (segments, info) for one window, decoded in shared batches."""
    kwargs = dict(kwargs)
    vad, vad_parameters = kwargs.pop("vad_filter", False), kwargs.pop("vad_parameters", None)
    probability = 1.0
    if kwargs.get("language") is None:
        kwargs["language"], probability = _language(loaded, samples, vad, vad_parameters)
    speech = _speech(samples, vad_parameters) if vad else None
    if speech is None:
        chunks = [(samples[round(s * SAMPLE_RATE) : round(e * SAMPLE_RATE)], s)
                  for s, e in chunk_bounds(samples)]  # fmt: skip
    else:
        from faster_whisper.vad import collect_chunks

        pieces, meta = collect_chunks(samples, speech, max_duration=MAX_SECONDS)
        chunks = [(p, m["offset"]) for p, m in zip(pieces, meta, strict=True) if len(p)]
    parts = decode_chunks(loaded, options.batch_size, kwargs, chunks) if chunks else []
    segments = [seg for part in parts for seg in part]
    if speech:
        from faster_whisper.transcribe import restore_speech_timestamps

        segments = list(restore_speech_timestamps(segments, speech, SAMPLE_RATE))
    return segments, SimpleNamespace(language=kwargs["language"], language_probability=probability)


def decode_chunks(
    loaded: LoadedWhisper, batch_size: int, kwargs: dict, chunks: list[tuple[np.ndarray, float]]
) -> list[list]:
    """Each chunk's segments, the chunks decoded in shared batches (packing's hook, too: a packed
    window is one chunk)."""
    return _wait(batcher(loaded, batch_size).submit(kwargs, chunks))


def _wait(future: Future) -> list:
    """The window's chunks' segments; on Ctrl-C the window fails, so its chunks are dropped."""
    while True:
        try:
            return future.result(timeout=0.2)
        except TimeoutError:
            if STOP.is_set():
                future.cancel()  # done: consumers drop its chunks
                check()


def _language(loaded: LoadedWhisper, samples, vad: bool, vad_parameters) -> tuple[str, float]:
    """A window's language as the batched pipeline finds it (its first 30 s of speech)."""
    if not loaded.model.model.is_multilingual:
        return "en", 1.0
    language, probability, _ = loaded.model.detect_language(
        audio=samples, vad_filter=vad, vad_parameters=vad_parameters
    )
    return language, probability


def _speech(samples: np.ndarray, vad_parameters) -> list[dict]:
    """Speech stretches as the batched pipeline finds them (at most 30 s each)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    params = dict(vad_parameters or {}, max_speech_duration_s=MAX_SECONDS)
    params.setdefault("min_silence_duration_ms", 160)
    return get_speech_timestamps(samples, VadOptions(**params))


_BATCHERS: dict[tuple[int, int], Batcher] = {}
_BATCHERS_LOCK = threading.Lock()


def batcher(loaded: LoadedWhisper, batch_size: int) -> Batcher:
    """The process's batcher for a loaded model (its consumers start on first use)."""
    with _BATCHERS_LOCK:
        key = (id(loaded), batch_size)
        if key not in _BATCHERS:
            _BATCHERS[key] = Batcher(loaded, batch_size, loaded.workers)
        return _BATCHERS[key]


class _Window:
    """One submitted window: its chunks' segments, gathered until the last chunk is back."""

    def __init__(self, count: int) -> None:
        self.parts: list[list | None] = [None] * count
        self.remaining = count
        self.future: Future = Future()
        self._lock = threading.Lock()

    def deliver(self, index: int, segments: list) -> None:
        with self._lock:
            self.parts[index] = segments
            self.remaining -= 1
            if self.remaining == 0:
                with contextlib.suppress(InvalidStateError):  # cancelled by Ctrl-C meanwhile
                    self.future.set_result(self.parts)

    def fail(self, exc: BaseException) -> None:
        with self._lock, contextlib.suppress(InvalidStateError):
            self.future.set_exception(exc)


@dataclasses.dataclass
class _Chunk:
    samples: np.ndarray
    offset: float  # seconds on the window's time line (its speech time line under VAD)
    window: _Window
    index: int
    seq: int


class Batcher:
    """Chunks of many windows in, full batches through the model, segments back to each window."""

    def __init__(self, loaded: LoadedWhisper, batch_size: int, consumers: int) -> None:
        self.loaded = loaded
        self.batch_size = batch_size
        self._queues: dict[str, deque[_Chunk]] = {}
        self._kwargs: dict[str, dict] = {}
        self._submitted: dict[str, float] = {}  # when each queue last grew
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._warned = False
        #: batches decoded and chunks in them (their ratio is how full batches ran)
        self.batches_run = self.chunks_run = 0
        for n in range(max(1, consumers)):
            threading.Thread(target=self._consume, name=f"swbatch-batch-{n}", daemon=True).start()

    def submit(self, kwargs: dict, chunks: list[tuple[np.ndarray, float]]) -> Future:
        """Queue a window's chunks; the future gives each chunk's segments, in chunk order."""
        window = _Window(len(chunks))
        key = json.dumps(kwargs, sort_keys=True, default=str)
        with self._cond:
            self._kwargs[key] = kwargs
            self._submitted[key] = time.monotonic()
            queue = self._queues.setdefault(key, deque())
            for index, (samples, offset) in enumerate(chunks):
                queue.append(_Chunk(samples, offset, window, index, next(self._seq)))
            self._cond.notify_all()
        return window.future

    def _take(self) -> tuple[str, list[_Chunk]]:
        """The oldest queue's next batch; waits briefly for a partial batch to fill."""
        with self._cond:
            while True:
                for queue in self._queues.values():
                    while queue and queue[0].window.future.done():  # its file already failed
                        queue.popleft()
                ready = [(q[0].seq, k) for k, q in self._queues.items() if q]
                if not ready:
                    self._cond.wait()
                    continue
                key = min(ready)[1]
                queue = self._queues[key]
                waited = time.monotonic() - self._submitted[key]
                if len(queue) < self.batch_size and waited < LINGER_SECONDS:
                    self._cond.wait(LINGER_SECONDS - waited)
                    continue
                return key, [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]

    def _consume(self) -> None:
        while True:
            key, batch = self._take()
            self._decode(self._kwargs[key], key, batch)

    def _decode(self, kwargs: dict, key: str, batch: list[_Chunk]) -> None:
        from .window import OutOfMemory, is_out_of_memory, oom_reason

        try:
            parts = self._run(kwargs, batch)
        except Exception as exc:
            if is_out_of_memory(exc) and len(batch) > 1:
                self._shrink(key, batch, exc)
            elif len(batch) > 1:  # find the chunk that fails: the others' files go on
                for chunk in batch:
                    self._decode(kwargs, key, [chunk])
            elif is_out_of_memory(exc):  # even one chunk does not fit: a reason, not a retry
                batch[0].window.fail(OutOfMemory(oom_reason(self.loaded, [1])))
            else:
                batch[0].window.fail(exc)
            return
        for chunk, segments in zip(batch, parts, strict=True):
            chunk.window.deliver(chunk.index, segments)

    def _shrink(self, key: str, batch: list[_Chunk], exc: BaseException) -> None:
        """Halve the batch size for the rest of the run and queue these chunks first again."""
        with self._cond:
            self.batch_size = max(1, min(self.batch_size, len(batch)) // 2)
            self._queues[key].extendleft(reversed(batch))
            self._cond.notify_all()
            warned, self._warned = self._warned, True
        if not warned:
            first = str(exc).splitlines()[0]
            print(f"swbatch: warning: {first}; batch size lowered to {self.batch_size} for the "
                  "rest of the run", file=sys.stderr, flush=True)  # fmt: skip

    def _run(self, kwargs: dict, batch: list[_Chunk]) -> list[list]:
        """One call of faster-whisper's batched pipeline on the batch, each chunk in its slot."""
        from faster_whisper import BatchedInferencePipeline

        audio = np.zeros(_SLOT * len(batch), np.float32)
        clips = []
        for slot, chunk in enumerate(batch):
            audio[slot * _SLOT : slot * _SLOT + len(chunk.samples)] = chunk.samples
            clips.append({"start": slot * MAX_SECONDS,
                          "end": (slot * _SLOT + len(chunk.samples)) / SAMPLE_RATE})  # fmt: skip
        model = self.loaded.model
        segments, _info = BatchedInferencePipeline(model).transcribe(
            audio, batch_size=len(batch), clip_timestamps=clips, **kwargs
        )
        with self._cond:
            self.batches_run += 1
            self.chunks_run += len(batch)
        parts: list[list] = [[] for _ in batch]
        for seg in segments:
            # faster-whisper sets seek = slot start in frames; slots start on 30-s multiples
            slot = round(seg.seek / (MAX_SECONDS * model.frames_per_second))
            parts[slot].append(_shifted(seg, batch[slot].offset - slot * MAX_SECONDS))
        return parts


def _shifted(segment: Any, delta: float) -> Any:
    """A segment (and its words) ``delta`` seconds later."""
    words = segment.words and [
        dataclasses.replace(w, start=w.start + delta, end=w.end + delta) for w in segment.words
    ]
    return dataclasses.replace(
        segment, start=segment.start + delta, end=segment.end + delta, words=words or segment.words
    )
