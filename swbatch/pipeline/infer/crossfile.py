"""Cross-file backend: 30-s chunks of many files share batches (``--batch-size N``, the default
batched path).

faster-whisper batches the chunks of one file only, so a batch of short clips is mostly empty.
Here, as in WhisperS2T's data loader, every window a worker thread submits is cut into chunks
tagged with their window and offset; chunks wait in one queue per set of decoding arguments, and
``workers`` consumer threads take them ``batch_size`` at a time, whichever files they come from.
Each consumer hands its batch to faster-whisper's ``BatchedInferencePipeline`` as one array with
a 30-s slot per chunk (clip timestamps on the slots), so decoding is faster-whisper's own; each
segment goes back to its chunk by the slot it starts in, then to its file's time line.

On the CPU a consumer takes at most :data:`~.options.CPU_BATCH_SIZE` chunks a call, whatever the
batch size: the memory a call holds grows with its chunks, its speed there does not.

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
from .chunks import MAX_SECONDS, lane_bounds
from .lockstep import Decoder, Step
from .model import LoadedWhisper
from .options import model_batch_size

if TYPE_CHECKING:
    from .options import AsrOptions

#: how long a consumer waits for a batch to fill before it decodes a partial one
LINGER_SECONDS = 0.05
_SLOT = int(MAX_SECONDS * SAMPLE_RATE)
#: one feature frame (10 ms): less audio than this is left undecoded, as in faster-whisper's loop
_FRAME = SAMPLE_RATE // 100


def decode(
    loaded: LoadedWhisper, samples: np.ndarray, options: AsrOptions, kwargs: dict
) -> tuple[list, Any]:
    """faster-whisper's (segments, info) for one window, its lanes decoded in shared batches."""
    kwargs = dict(kwargs)
    vad, vad_parameters = kwargs.pop("vad_filter", False), kwargs.pop("vad_parameters", None)
    prompt = kwargs.pop("initial_prompt", None)
    probability = 1.0
    if kwargs.get("language") is None:
        kwargs["language"], probability = _language(loaded, samples, vad, vad_parameters)
    info = SimpleNamespace(language=kwargs["language"], language_probability=probability)
    speech = _speech(samples, vad_parameters) if vad else None
    if speech is not None:  # as faster-whisper's loop does: decode the speech, joined
        if not speech:
            return [], info
        from faster_whisper.vad import collect_chunks

        samples = collect_chunks(samples, speech)[0][0]
    batch = batcher(loaded, options.batch_size)
    segments = _decode_lanes(batch, kwargs, samples, prompt, options.batch_size)
    if speech:
        from faster_whisper.transcribe import restore_speech_timestamps

        segments = list(restore_speech_timestamps(segments, speech, SAMPLE_RATE))
    return segments, info


def _decode_lanes(batch: Batcher, kwargs: dict, samples, prompt, lanes: int) -> list:
    """Every lane of the window, a step at a time, each step's chunks in the shared batches."""
    decoder = batch.decoder(kwargs)
    bounds = lane_bounds(samples, lanes)
    prompts = [decoder.initial_prompt(prompt)] + [[] for _ in bounds[1:]]
    return [seg for lane in _run_lanes(batch, kwargs, samples, bounds, prompts) for seg in lane]


def _run_lanes(batch: Batcher, kwargs: dict, samples, bounds, prompts: list) -> list[list]:
    """Each lane's segments: steps of all lanes go to the shared batches together until every
    lane is transcribed to its end (as the loop, a lane ends when less than a frame is left)."""
    seeks = [start for start, _ in bounds]
    found: list[list] = [[] for _ in bounds]
    while True:
        active = [i for i, (_, end) in enumerate(bounds) if end - seeks[i] >= _FRAME]
        if not active:
            return found
        steps = [Step(samples[seeks[i] : min(seeks[i] + _SLOT, bounds[i][1])], prompts[i],
                      seeks[i] / SAMPLE_RATE, seeks[i] + _SLOT >= bounds[i][1])
                 for i in active]  # fmt: skip
        for i, step, done in zip(active, steps, _wait(batch.submit(kwargs, steps)), strict=True):
            found[i].extend(done.segments)
            seeks[i] += max(_FRAME, min(len(step.samples), round(done.consumed * SAMPLE_RATE)))
            prompts[i] = done.prompt


def decode_clip(loaded: LoadedWhisper, batch_size: int, kwargs: dict, samples) -> list:
    """The segments of audio of at most 30 s, its steps in the shared batches (packing's hook: a
    packed window is one lane); times count from its start."""
    batch = batcher(loaded, batch_size)
    kwargs = {k: v for k, v in kwargs.items() if k not in ("vad_filter", "vad_parameters")}
    batch.decoder(kwargs)
    return _run_lanes(batch, kwargs, samples, [(0, len(samples))], [[]])[0]


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
    """Speech stretches as faster-whisper's loop finds them."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    return get_speech_timestamps(samples, VadOptions(**(vad_parameters or {})))


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
    step: Step
    window: _Window
    index: int
    seq: int


class Batcher:
    """Chunks of many windows in, full batches through the model, segments back to each window."""

    def __init__(self, loaded: LoadedWhisper, batch_size: int, consumers: int) -> None:
        self.loaded = loaded
        self.batch_size = model_batch_size(loaded.device, batch_size)
        self._queues: dict[str, deque[_Chunk]] = {}
        self._decoders: dict[str, Decoder] = {}
        self._submitted: dict[str, float] = {}  # when each queue last grew
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._warned = False
        #: batches decoded, chunks in them (their ratio is how full batches ran), the largest
        self.batches_run = self.chunks_run = self.largest_run = 0
        for n in range(max(1, consumers)):
            threading.Thread(target=self._consume, name=f"swbatch-batch-{n}", daemon=True).start()

    def decoder(self, kwargs: dict) -> Decoder:
        """The decoder for a set of decoding arguments (made once: it runs faster-whisper's
        option checks, so bad options fail the window that brings them)."""
        key = _key(kwargs)
        with self._cond:
            known = self._decoders.get(key)
        if known is None:
            known = Decoder.for_kwargs(self.loaded, kwargs)
            with self._cond:
                known = self._decoders.setdefault(key, known)
        return known

    def submit(self, kwargs: dict, steps: list[Step]) -> Future:
        """Queue a window's steps (one per lane); the future gives each its :class:`Decoded`."""
        window = _Window(len(steps))
        key = _key(kwargs)
        with self._cond:
            self._submitted[key] = time.monotonic()
            queue = self._queues.setdefault(key, deque())
            for index, step in enumerate(steps):
                queue.append(_Chunk(step, window, index, next(self._seq)))
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
            self._decode(key, batch)

    def _decode(self, key: str, batch: list[_Chunk]) -> None:
        from .window import OutOfMemory, is_out_of_memory, oom_reason

        try:
            parts = self._run(key, batch)
        except Exception as exc:
            if is_out_of_memory(exc) and len(batch) > 1:
                self._shrink(key, batch, exc)
            elif len(batch) > 1:  # find the chunk that fails: the others' files go on
                for chunk in batch:
                    self._decode(key, [chunk])
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

    def _run(self, key: str, batch: list[_Chunk]) -> list:
        """One encoder and decoder call for the batch: each chunk's :class:`Decoded`."""
        parts = self._decoders[key].run([chunk.step for chunk in batch])
        with self._cond:
            self.batches_run += 1
            self.chunks_run += len(batch)
            self.largest_run = max(self.largest_run, len(batch))
        return parts


def _key(kwargs: dict) -> str:
    return json.dumps(kwargs, sort_keys=True, default=str)
