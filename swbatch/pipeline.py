"""Runs the stages over a batch of jobs: decode -> ASR -> (diarization, emotion) -> writers.

How the batch stays fast: each model is loaded once per process and shared by the worker threads
(ctranslate2 runs ``workers`` transcriptions at once on one loaded model and releases the GIL
while it does); a decoder thread decodes the next files while the current ones are transcribed.

How it stays safe: a job is claimed with a lock (so concurrent processes never repeat one), its
outputs are written atomically with the JSON last (the JSON's presence means "done"), every
failure is recorded with its reason and the batch goes on, and a rerun skips finished jobs.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .asr import AsrOptions, LoadedWhisper, load_whisper, resolve_device, transcribe
from .audio import DecodedAudio, decode
from .cache import CachePaths, configure_global_cache_env
from .errors import JobError
from .jobs import Batch, Job
from .progress import Progress
from .status import BatchState, JobRecord, Summary
from .writers import atomic_write, remove_stale_temps, render

SCHEMA_VERSION = "1.0"


@dataclass(frozen=True)
class RunOptions:
    """Batch-wide settings (per-job choices live in :class:`swbatch.jobs.JobSettings`)."""

    device: str = "auto"
    compute_type: str = "auto"
    beam_size: int = 5
    vad: bool = False
    word_timestamps: bool = False
    batch_size: int = 1
    workers: int | None = None
    cpu_threads: int | None = None
    overwrite: bool = False
    quiet: bool = False
    shard: str | None = None


def output_paths(job: Job) -> dict[str, str]:
    """Where each format of a job goes, relative to the output folder (slower-whisper layout)."""
    return {
        fmt: f"whisper_json/{job.output}.json"
        if fmt == "json"
        else f"transcripts/{job.output}.{fmt}"
        for fmt in job.settings.formats
    }


def is_done(output_dir: Path, job: Job) -> bool:
    """Every requested output exists; atomic writes mean an existing file is a complete one."""
    return all((output_dir / rel).is_file() for rel in output_paths(job).values())


def cpu_count() -> int:
    """Cores this process may use (respects taskset / container CPU sets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def default_parallelism(
    device: str, workers: int | None, cpu_threads: int | None
) -> tuple[int, int]:
    """(workers, threads per worker).

    On CPU, one thread per worker and one worker per core: measured on a 2-core machine with
    tiny.en int8, one thread ran ~31x real time and two threads only ~18x, so parallel files beat
    parallel matrix math. On CUDA, two workers keep the GPU busy while the CPU decodes and
    post-processes.
    """
    cores = cpu_count()
    if workers is None:
        workers = 2 if device == "cuda" else max(1, min(cores, 8))
    if cpu_threads is None:
        cpu_threads = max(1, cores // workers)
    return workers, cpu_threads


class BatchRunner:
    """One process's run over a batch; see the module docstring."""

    def __init__(self, batch: Batch, options: RunOptions, paths: CachePaths | None = None):
        self.batch = batch
        self.options = options
        self.paths = paths or configure_global_cache_env(for_writing=False)
        self.state = BatchState(batch.output_dir, shard=options.shard)
        self.summary = Summary(total=len(batch.jobs), shard=options.shard)
        self._loaded: dict[tuple, object] = {}
        self._load_lock = threading.Lock()
        self._summary_lock = threading.Lock()
        self._resolved = self._resolve_models()
        self.device = resolve_device(options.device)
        self.workers, self.cpu_threads = default_parallelism(
            self.device, options.workers, options.cpu_threads
        )

    # --- models -------------------------------------------------------------------------------

    def _resolve_models(self) -> dict[str | None, object]:
        """Resolve every model the batch needs before any audio is touched (fail fast)."""
        from .models import default_whisper_model, resolve_model

        resolved: dict[str | None, object] = {}
        for name in {job.settings.model for job in self.batch.jobs}:
            resolved[name] = (
                resolve_model(name, "whisper", self.paths)
                if name
                else default_whisper_model(self.paths)
            )
        return resolved

    def _load_once(self, key: tuple, loader):
        """A model loaded once per process and shared by the worker threads."""
        with self._load_lock:
            if key not in self._loaded:
                self._loaded[key] = loader()
            return self._loaded[key]

    def _whisper(self, name: str | None) -> LoadedWhisper:
        return self._load_once(
            ("whisper", name),
            lambda: load_whisper(
                self._resolved[name],  # type: ignore[arg-type]
                self.device,
                self.options.compute_type,
                self.cpu_threads,
                self.workers,
            ),
        )

    # --- running ------------------------------------------------------------------------------

    def run(self) -> Summary:
        """Run every job not yet done; returns the summary (also written to the state folder)."""
        self._preload_stages()
        progress = Progress(len(self.batch.jobs), self.options.quiet)
        decoder = ThreadPoolExecutor(1, thread_name_prefix="swbatch-decode")
        runner = ThreadPoolExecutor(self.workers, thread_name_prefix="swbatch-asr")
        inflight: set[Future] = set()
        try:
            for job in self.batch.jobs:
                while len(inflight) > self.workers:
                    _done, inflight = wait(inflight, return_when=FIRST_COMPLETED)
                    _raise_unexpected(_done)
                fut = self._submit(job, decoder, runner, progress)
                if fut is not None:
                    inflight.add(fut)
            _raise_unexpected(wait(inflight)[0])
        except KeyboardInterrupt:
            self.summary.interrupted = True
            for fut in inflight:
                fut.cancel()
            raise
        finally:
            runner.shutdown(wait=not self.summary.interrupted, cancel_futures=True)
            decoder.shutdown(wait=False, cancel_futures=True)
            progress.close()
            self.state.write_summary(self.summary)
        return self.summary

    def _submit(self, job: Job, decoder, runner, progress: Progress) -> Future | None:
        """Claim a job and queue it, or record why it is not run."""
        lock = self.state.try_lock(job.id)
        if lock is None:
            self.summary.busy_elsewhere += 1
            self._finish(JobRecord(job.id, str(job.audio), "skipped", "running in another process"),
                         progress)  # fmt: skip
            return None
        if not self.options.overwrite and is_done(self.batch.output_dir, job):
            self.state.unlock(lock)
            self._finish(JobRecord(job.id, str(job.audio), "skipped", "already done"), progress)
            return None
        decoded = decoder.submit(_timed_decode, job.audio)
        return runner.submit(self._run_job, job, decoded, lock, progress)

    def _run_job(self, job: Job, decoded: Future, lock: int, progress: Progress) -> None:
        started = time.perf_counter()
        record = JobRecord(job.id, str(job.audio), "failed")
        try:
            audio, decode_seconds = decoded.result()
            doc = self._document(job, audio, decode_seconds)
            record.outputs = self._write_outputs(job, doc)
            record.state, record.audio_seconds = "done", audio.duration
        except JobError as exc:
            record.reason = str(exc)
        except Exception as exc:  # one bad job must never end the batch: record it, go on
            record.reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        finally:
            self.state.unlock(lock)
        record.wall_seconds = round(time.perf_counter() - started, 3)
        self._finish(record, progress)

    def _finish(self, record: JobRecord, progress: Progress) -> None:
        with self._summary_lock:
            self.summary.add(record)
        self.state.record(record)
        progress.job_finished(record, self.summary)

    def _document(self, job: Job, audio: DecodedAudio, decode_seconds: float) -> dict:
        """The output JSON document of one job (schema: swbatch/schemas/transcript.schema.json)."""
        started = time.perf_counter()
        whisper = self._whisper(job.settings.model)
        asr = transcribe(whisper, audio.samples, self._asr_options(job))
        doc = {
            "schema_version": SCHEMA_VERSION,
            "swbatch_version": __version__,
            "id": job.id,
            "file": str(job.audio),
            "duration": round(audio.duration, 3),
            "language": asr["language"],
            "language_probability": asr["language_probability"],
            "model": whisper.describe(),
            "options": {**asr["options"], "formats": list(job.settings.formats)},
            "segments": asr["segments"],
        }
        self._enrich(job, audio, doc)
        doc["timings"] = {
            "decode_seconds": round(decode_seconds, 3),
            "transcribe_seconds": asr["transcribe_seconds"],
            "total_seconds": round(time.perf_counter() - started + decode_seconds, 3),
        }
        return doc

    def _asr_options(self, job: Job) -> AsrOptions:
        opts = self.options
        return AsrOptions(
            language=job.settings.language,
            task=job.settings.task,
            beam_size=opts.beam_size,
            vad=opts.vad,
            word_timestamps=opts.word_timestamps or job.settings.diarize,
            batch_size=opts.batch_size,
        )

    def _diarizer(self):
        from .diarization import load_diarizer

        return self._load_once(
            ("diarization",), lambda: load_diarizer(None, self.device, self.paths)
        )

    def _emotion_model(self, dimensional: bool):
        from .emotion import load_emotion

        return self._load_once(
            ("emotion", dimensional),
            lambda: load_emotion(None, self.device, self.paths, dimensional=dimensional),
        )

    def _preload_stages(self) -> None:
        """Load the diarization/emotion models that pending jobs need before any audio is touched,
        so a missing extra or model is one clear error, not a failure of every job."""
        pending = [
            job.settings
            for job in self.batch.jobs
            if self.options.overwrite or not is_done(self.batch.output_dir, job)
        ]
        for name in dict.fromkeys(s.model for s in pending):
            self._whisper(name)  # a model that cannot load is one error, not one per job
        if any(s.diarize for s in pending):
            self._diarizer()
        for dimensional in (False, True):
            flag = "emotion_dimensional" if dimensional else "emotion"
            if any(getattr(s, flag) for s in pending):
                self._emotion_model(dimensional)

    def _enrich(self, job: Job, audio: DecodedAudio, doc: dict) -> None:
        """Speakers first, then emotion, so segments split at a speaker change are judged apart."""
        from .audio import SAMPLE_RATE
        from .speakers import assign_speakers, speaker_table, turns_as_dicts

        settings = job.settings
        if settings.diarize:
            turns = self._diarizer()(
                audio.samples,
                SAMPLE_RATE,
                num_speakers=settings.num_speakers,
                min_speakers=settings.min_speakers,
                max_speakers=settings.max_speakers,
            )
            doc["segments"] = assign_speakers(doc["segments"], turns)
            doc["speakers"] = speaker_table(turns)
            doc["turns"] = turns_as_dicts(turns)
        for flag, dimensional in (("emotion", False), ("emotion_dimensional", True)):
            if getattr(settings, flag):
                results = self._emotion_model(dimensional)(
                    audio.samples, SAMPLE_RATE, doc["segments"]
                )
                for seg, result in zip(doc["segments"], results, strict=True):
                    seg[flag] = result

    def _write_outputs(self, job: Job, doc: dict) -> list[str]:
        """Every format, JSON last: its presence is what marks the job done."""
        rels = output_paths(job)
        for rel in rels.values():
            remove_stale_temps(self.batch.output_dir, rel)
        order = sorted(rels, key=lambda fmt: fmt == "json")
        return [
            str(atomic_write(self.batch.output_dir, rels[fmt], render(fmt, doc))) for fmt in order
        ]


def _timed_decode(path: Path) -> tuple[DecodedAudio, float]:
    started = time.perf_counter()
    audio = decode(path)
    return audio, time.perf_counter() - started


def _raise_unexpected(futures) -> None:
    """Surface a bug in the runner itself (job errors are recorded, never raised)."""
    for fut in futures:
        if not fut.cancelled() and fut.exception() is not None:
            raise fut.exception()


def run_batch(batch: Batch, options: RunOptions, paths: CachePaths | None = None) -> Summary:
    """Python API: run a batch (only shard ``options.shard`` of it, if set); returns its summary."""
    if options.shard:
        from .shard import select

        batch = select(batch, options.shard)
    return BatchRunner(batch, options, paths).run()
