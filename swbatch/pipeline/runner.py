"""The runner: claims jobs and takes each through the stages, on worker threads.

How the batch stays fast: each model is loaded once per process and shared by the worker threads
(ctranslate2 runs ``workers`` transcriptions at once on one loaded model and releases the GIL
while it does); a decoder thread decodes the next files while the current ones are transcribed.

How it stays safe: a job is claimed (:meth:`BatchState.claim`, so concurrent processes never
repeat one), its outputs are written atomically with the JSON last, every failure is recorded
with its reason and the batch goes on, and a rerun skips finished jobs.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from ..audio import window_seconds
from ..cache import CachePaths, configure_global_cache_env
from ..checkpoints import Checkpoint, checkpoint_settings
from ..errors import JobError
from ..jobs import Batch, Job
from ..progress import Progress
from ..rerun import Plan, recorded_options
from ..review import Listener
from ..review import flags as review_flags
from ..silence import gate
from ..status import BatchState, JobRecord, Summary
from .cancel import GRACE_SECONDS, INTERRUPTED, STOP, Interrupted, ctrl_c_stops
from .decide import decide
from .decode import DecodedFile, decode_file
from .discover import jobs_to_run
from .enrich import enrich, preload
from .infer import transcribe_windows
from .loaded import LoadedModels
from .options import (
    RunOptions,
    asr_options,
    default_parallelism,
    files_in_flight,
    for_device,
)
from .write import document, stamp, write_outputs


class Runner:
    """One process's run over a batch; see the module docstring."""

    def __init__(self, batch: Batch, options: RunOptions, paths: CachePaths | None = None):
        self.batch = batch
        self.state = BatchState(batch.output_dir, shard=options.shard)
        self.summary = Summary(total=len(batch.jobs), shard=options.shard)
        self._summary_lock = threading.Lock()
        self._recorded: set[str] = set()  # jobs with a status line (guarded by _summary_lock)
        self._closed = False  # after Ctrl-C's grace: late workers' records are dropped
        device, options = for_device(options)
        self.options = options
        self.workers, threads = default_parallelism(device, options.workers, options.cpu_threads)
        self.in_flight = files_in_flight(options, self.workers, device)
        self.models = LoadedModels(
            paths or configure_global_cache_env(for_writing=False),
            device,
            options.compute_type,
            threads,
            self.workers,
        )
        self.models.resolve(job.settings.model for job in batch.jobs)  # fail before any audio
        self.window_seconds = window_seconds()  # a bad SWBATCH_WINDOW_SECONDS: one usage error

    def run(self) -> Summary:
        """Run every job not yet done; returns the summary (also written to the state folder)."""
        actions = [(job.settings, self.plan(job).action) for job in self.batch.jobs]
        preload(
            self.models,
            (s for s, action in actions if action in ("run", "redo")),
            (s for s, action in actions if action == "enrich"),
        )
        progress = Progress(len(self.batch.jobs), self.options.quiet)
        decoder = ThreadPoolExecutor(1, thread_name_prefix="swbatch-decode")
        runner = ThreadPoolExecutor(self.in_flight, thread_name_prefix="swbatch-infer")
        inflight: dict[Future, tuple[Job, str]] = {}  # each job's future, its job and action
        try:
            with ctrl_c_stops():
                for job in self.batch.jobs:
                    while len(inflight) > self.in_flight:
                        self._wait(inflight, progress, FIRST_COMPLETED)
                    if STOP.is_set():
                        break
                    self._submit(job, decoder, runner, progress, inflight)
                self._wait(inflight, progress, ALL_COMPLETED)
                if STOP.is_set():  # every job in flight is recorded: report, exit 130
                    raise KeyboardInterrupt
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

    def _wait(self, inflight: dict, progress: Progress, return_when: str) -> None:
        """Wait for the first or all of the jobs in flight; once Ctrl-C is pressed, give them
        :data:`GRACE_SECONDS` to reach a check, record the rest as interrupted, and stop.

        The rest are left running: a thread inside ctranslate2 (faster-whisper computes a whole
        window's features and decodes a 30-s chunk before it yields) cannot be stopped, and its
        partial work is never under a final name (outputs are atomic, checkpoints hold finished
        windows), so the CLI exits without waiting for it.
        """
        while not STOP.is_set():
            finished, pending = wait(inflight, timeout=0.2, return_when=return_when)
            self._forget(inflight, finished)
            if not pending or (finished and return_when == FIRST_COMPLETED):
                return
        finished, pending = wait(inflight, timeout=GRACE_SECONDS)
        self._forget(inflight, finished)
        with self._summary_lock:
            self._closed = True
            late = [
                JobRecord(job.id, str(job.audio), "interrupted", INTERRUPTED, action)
                for job, action in inflight.values()
                if job.id not in self._recorded
            ]
            for record in late:
                self.summary.add(record)
                self.state.record(record)
        for record in late:
            progress.job_finished(record, self.summary)
        raise KeyboardInterrupt

    @staticmethod
    def _forget(inflight: dict, finished: set[Future]) -> None:
        for fut in finished:
            del inflight[fut]
        _raise_unexpected(finished)

    def _submit(self, job: Job, decoder, runner, progress: Progress, inflight: dict) -> None:
        """Claim a job and queue it (into ``inflight``), or record why it is not run."""
        claim = self.state.claim(job.id)
        if claim is None:
            self.summary.busy_elsewhere += 1
            self._finish(JobRecord(job.id, str(job.audio), "skipped", "running in another process"),
                         progress)  # fmt: skip
            return
        plan = self.plan(job)
        if plan.action == "skip":
            self.state.release(claim)
            self._finish(JobRecord(job.id, str(job.audio), "skipped", plan.reason), progress)
            return
        decoded = (
            decoder.submit(decode_file, job.audio, self.window_seconds)
            if plan.action != "write"
            else None
        )
        fut = runner.submit(self._run_job, job, plan, decoded, claim, progress)
        inflight[fut] = (job, plan.action)

    def plan(self, job: Job) -> Plan:
        return decide(self.batch.output_dir, job, self.options,
                      self.models.resolved(job.settings.model))  # fmt: skip

    def _run_job(self, job: Job, plan: Plan, decoded: Future | None, claim: int,
                 progress: Progress) -> None:  # fmt: skip
        started = time.perf_counter()
        record = JobRecord(job.id, str(job.audio), "failed", action=plan.action)
        try:
            checkpoint = None
            if plan.action == "write":  # formats from the JSON: no audio, nothing transcribed
                doc, formats, duration = plan.doc, plan.formats, 0.0
            else:
                audio: DecodedFile = decoded.result()
                checkpoint = self._checkpoint(job, plan, audio)
                doc = self._document(job, plan, audio, checkpoint, progress)
                formats, duration = None, doc["duration"]  # a streamed file's, not its window's
            record.outputs = write_outputs(self.batch.output_dir, job, doc, formats)
            record.review = [flag["reason"] for flag in doc.get("review", [])]
            if checkpoint:
                checkpoint.remove()
            record.state, record.audio_seconds = "done", duration
            record.reason = None if plan.action == "run" else plan.reason
        except Interrupted as exc:
            record.state, record.reason = "interrupted", str(exc)
        except JobError as exc:
            record.reason = str(exc)
        except Exception as exc:  # one bad job must never end the batch: record it, go on
            record.reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        finally:
            self.state.release(claim)
        record.wall_seconds = round(time.perf_counter() - started, 3)
        self._finish(record, progress)

    def _checkpoint(self, job: Job, plan: Plan, audio: DecodedFile) -> Checkpoint | None:
        """The checkpoint of a streamed file being transcribed, for the first time or again (a file
        of one window has nothing to resume; an ``enrich`` plan transcribes nothing)."""
        if plan.action == "enrich" or not audio.streamed:
            return None
        whisper = self.models.whisper(job.settings.model)
        settings = checkpoint_settings(
            whisper.describe(), asr_options(job, self.options), audio.window_seconds, job.audio
        )
        return Checkpoint.for_job(self.state.dir, job.id, settings)

    def _document(self, job: Job, plan: Plan, audio: DecodedFile,
                  checkpoint: Checkpoint | None, progress: Progress) -> dict:  # fmt: skip
        """infer -> enrich: the output document of one decoded job, with its timings; for an
        ``enrich`` plan, the finished job's document with only its enrichment redone."""
        started = time.perf_counter()
        options = recorded_options(job.settings, self.options.batch_size)
        if plan.action == "enrich":
            doc = dict(plan.doc)
            kept = {k: doc["options"][k] for k in ("formats", "oom_retry_batch_size")
                    if k in doc["options"]}  # fmt: skip
            stamp(doc, {**options, **kept})
            transcribe_seconds = doc.get("timings", {}).get("transcribe_seconds", 0.0)
        else:
            whisper = self.models.whisper(job.settings.model)
            listener = Listener()
            asr = transcribe_windows(
                whisper,
                listener.windows(audio.windows()),
                asr_options(job, self.options),
                checkpoint,
                on_resume=lambda done, seconds: progress.resumed(job.id, done, seconds),
            )
            with self._summary_lock:
                self.summary.transcribed += 1
            if job.settings.silence_gate:  # no words where VAD hears no speech
                asr = gate(asr, listener.speech)
            doc = document(job, audio.duration, asr, whisper, options)
            doc["review"] = review_flags(doc["segments"], listener.speech)
            doc["windows"] = {"count": asr["windows"], "seconds": audio.window_seconds}
            transcribe_seconds = asr["transcribe_seconds"]
        enrich(self.models, job.settings, audio, doc)
        doc["timings"] = {
            "decode_seconds": round(audio.decode_seconds, 3),
            "transcribe_seconds": transcribe_seconds,
            "total_seconds": round(time.perf_counter() - started + audio.decode_seconds, 3),
        }
        return doc

    def _finish(self, record: JobRecord, progress: Progress) -> None:
        with self._summary_lock:
            if self._closed:  # Ctrl-C's grace is over: this job is already recorded interrupted
                return
            self._recorded.add(record.id)
            self.summary.add(record)
            self.state.record(record)
        progress.job_finished(record, self.summary)


def _raise_unexpected(futures) -> None:
    """Surface a bug in the runner itself (job errors are recorded, never raised)."""
    for fut in futures:
        if not fut.cancelled() and fut.exception() is not None:
            raise fut.exception()


def run_batch(
    batch: Batch, options: RunOptions, paths: CachePaths | None = None, command: str | None = None
) -> Summary:
    """Python API: run a batch (only shard ``options.shard`` of it, if set); returns its summary.

    ``command``, the shell command that started the run, goes into the summary (the report shows
    it as the way to rerun what failed). With ``options.report`` the batch's page
    (:mod:`swbatch.report`) is written at the end, on Ctrl-C too, from every shard's record.
    """
    runner = Runner(jobs_to_run(batch, options), options, paths)
    if command:
        runner.summary.command, runner.summary.cwd = command, os.getcwd()
    try:
        return runner.run()
    finally:
        if options.report:
            from ..report import write_after_run

            write_after_run(batch)
