"""The Python API: everything the ``swbatch`` command does, as functions that return results.

The command line is a thin layer over these (:mod:`swbatch.cli`): it parses, calls one of them,
prints the result and maps the typed errors they raise (:mod:`swbatch.errors`) to exit codes. So a
flag is validated once, by the one flags table (:mod:`swbatch.flags`), whichever way it comes in,
and a bad one raises :class:`~swbatch.errors.UsageError` with the message the CLI prints.

Nothing heavy is imported here: each function imports the stage it needs when it runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import UsageError

if TYPE_CHECKING:
    from .clear import ClearedFolder
    from .jobs import Batch, JobSettings
    from .pipeline import RunOptions
    from .status import Summary
    from .summary import BatchReport
    from .verify import VerifyReport


def transcribe(
    root: str | Path, *, output: str | Path | None = None, model: str | None = None, **flags: Any
) -> Summary:
    """Transcribe every audio file under ``root/raw_audio`` (as ``swbatch transcribe ROOT``).

    ``flags`` are the command's flags by name (``beam_size=5``, ``formats="json,srt"``,
    ``diarize=True``; see docs/cli.md); each is checked as the CLI checks it. Returns the run's
    :class:`~swbatch.status.Summary` (``summary.failed`` jobs are recorded, not raised). Raises
    ``UsageError`` (bad flags or folders), ``ModelMissingError`` (a model not in the cache),
    ``StateError`` (the status record cannot be written). As on the command line, progress and
    the closing line go to the terminal (``quiet=True``: none), and ``dry_run=True`` prints what
    a run would do and returns a summary with nothing done.
    """
    from .jobs import discover

    return _run(lambda s, out: discover(Path(root), s, out), ("transcribe", "--root", root),
                output, model, flags)  # fmt: skip


def run(
    manifest: str | Path,
    *,
    output: str | Path | None = None,
    model: str | None = None,
    **flags: Any,
) -> Summary:
    """Run the jobs of a YAML job manifest (as ``swbatch run MANIFEST``); see :func:`transcribe`.

    A job's own fields win over the manifest's ``defaults``, which win over ``flags``.
    """
    from .manifest import load_manifest

    return _run(lambda s, out: load_manifest(Path(manifest), s, out), ("run", manifest), output,
                model, flags)  # fmt: skip


def batch_options(
    flags: dict[str, Any], command: str
) -> tuple[JobSettings, RunOptions, Path | None]:
    """Check the batch flags (one error for the first bad one, before any audio is touched) and
    split them into per-job settings, batch-wide options and the ``--output`` folder.

    Names may be written ``beam_size`` or ``beam-size``; absent flags take their defaults; a
    path may be a ``Path`` where the CLI takes text.
    """
    from .flags import BATCH_FLAGS, BY_NAME, FLAGS, JOB_FLAGS, cross_check
    from .jobs import JobSettings
    from .pipeline import RunOptions
    from .shard import resolve_shard

    given = {
        name.replace("-", "_"): os.fspath(value) if isinstance(value, os.PathLike) else value
        for name, value in flags.items()
    }
    for name in given:
        if name not in BY_NAME:
            raise UsageError(unknown_flag(name, command))
    values = {}
    for flag in FLAGS:
        try:
            values[flag.name] = flag.check(given.get(flag.name, flag.default))
        except ValueError as exc:
            raise UsageError(f"{flag.option}: {exc}") from None
    for problem in cross_check(values):
        raise UsageError(problem)
    settings = JobSettings(**{f.name: values[f.name] for f in JOB_FLAGS})
    batch = {f.name: values[f.name] for f in BATCH_FLAGS}
    skip_existing = batch.pop("skip_existing")
    batch["overwrite"] = batch["overwrite"] or not skip_existing
    batch["shard"] = resolve_shard(batch["shard"])
    output = output_dir(batch.pop("output"))
    return settings, RunOptions(**batch), output


def unknown_flag(name: str, command: str) -> str:
    """The one message for a flag a command does not have (the CLI's and the API's)."""
    return (
        f"unknown flag --{name.replace('_', '-')} for `swbatch {command}`; "
        f"see `swbatch {command} --help`"
    )


def output_dir(flag: str | Path | None) -> Path | None:
    """The ``--output`` folder as an absolute path (None: the default place)."""
    if flag is None:
        return None
    if not str(flag):  # `--output=`; a bare `--output` is refused by the CLI's argv check
        raise UsageError("--output needs a folder: --output DIR")
    return Path(flag).expanduser().absolute()


def _run(
    load: Callable[[JobSettings, Path | None], Batch],
    call: tuple,
    output: str | Path | None,
    model: str | None,
    flags: dict[str, Any],
) -> Summary:
    """Check the flags, load the batch, run it (or, with ``dry_run``, say what a run would do).
    ``call`` is the command and its target as the shell takes them (``("run", manifest)``)."""
    from .pipeline import dry_run, run_batch
    from .report import REPORT_NAME
    from .rerun import ACTIONS
    from .status import STATE_DIR, Summary

    given = {"model": model, "output": output, **flags}
    settings, options, out = batch_options(given, call[0])
    batch = load(settings, out)
    for note in batch.notes:
        print(f"swbatch: note: {note}", file=sys.stderr)
    if options.dry_run:
        plans = dry_run(batch, options)
        for job, plan in plans:
            print(f"{plan.action:6} {job.id}: {plan.reason}")
        counts = {a: sum(p.action == a for _j, p in plans) for a in ACTIONS}
        print("swbatch: dry run: " + ", ".join(f"{n} to {a}" for a, n in counts.items()))
        return Summary(total=len(plans), shard=options.shard)
    if not batch.jobs:
        print("swbatch: no audio files to transcribe", file=sys.stderr)
    summary = run_batch(batch, options, command=command_line(call, given))
    if not options.quiet:
        data = summary.as_dict()
        report = batch.output_dir / REPORT_NAME
        print(
            f"swbatch: {f'shard {options.shard}: ' if options.shard else ''}"
            f"{summary.done} done, {summary.skipped} skipped, {summary.failed} failed; "
            f"{summary.audio_seconds / 60:.1f} min of audio in {data['wall_seconds']:.1f} s "
            f"({data['speed_x_realtime']:.1f}x real time); status: "
            f"{batch.output_dir / STATE_DIR / 'status.jsonl'}"
            + (f"; report: {report}" if options.report and report.is_file() else "")
        )
    return summary


def command_line(call: tuple, flags: dict[str, Any]) -> str:
    """The shell command that does what this call does (the run's summary records it, and the
    report offers it as the way to rerun what failed)."""
    import shlex

    words = ["swbatch", *map(os.fspath, call)]
    for name, value in flags.items():
        option = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            words.append(option if value else f"--no-{option[2:]}")
        elif isinstance(value, (list, tuple)):
            words += [option, ",".join(map(str, value))]
        elif value is not None:
            words += [option, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return shlex.join(words)


# --- models and the cache ---------------------------------------------------------------------


def prefetch(*sets: str, token_file: str | None = None) -> list[dict]:
    """Put model sets (names like ``demo`` or manifest files) into the cache and lock them;
    returns the lock entries written. Raises ``UsageError`` or ``PrefetchError``."""
    from .fetch import prefetch as prefetch_sets

    return prefetch_sets(list(sets), token_file=token_file)


def show_cache() -> dict:
    """What ``swbatch cache --show`` reports: each cache folder, its size and its models."""
    from .cache import ROOT_ENV, CachePaths, cache_report

    paths = CachePaths.from_env()
    if paths.root.exists() and not paths.root.is_dir():
        raise UsageError(f"cache root {paths.root} is a file, not a folder; set {ROOT_ENV}")
    return cache_report(paths)


def clear_cache(target: str, *, dry_run: bool = False) -> list[ClearedFolder]:
    """Empty a cache folder (whisper, emotion, diarization, hf, torch or all), dropping the lock
    entries of what went; ``dry_run`` only says what would go."""
    from .cache import CachePaths
    from .clear import clear_target

    return clear_target(CachePaths.from_env(), target, dry_run=dry_run)


def verify_cache(*, against_source: bool = False) -> VerifyReport:
    """Hash the cached models against the lock (``report.ok``; ``report.problems``)."""
    from .cache import CachePaths
    from .verify import verify_cache as verify

    return verify(CachePaths.from_env().root, against_source=against_source)


def list_models() -> dict:
    """The model sets, what each holds (licence, gated) and what the cache has of them."""
    from .models_report import models_report

    return models_report()


# --- batches after (or before) their run -------------------------------------------------------


def batch_summary(target: str | Path, *, output: str | Path | None = None) -> BatchReport:
    """One report for a batch run as shards (or not): done, failed, missing, which to rerun."""
    from .summary import merge

    return merge(Path(target), output_dir(output))


def batch_report(
    target: str | Path,
    *,
    output: str | Path | None = None,
    batch_output: str | Path | None = None,
    embed_mb: float = 16.0,
) -> Path:
    """Write the batch's page (as ``swbatch report TARGET``) and return where it went: to
    ``output`` (default OUTPUT/.swbatch/report.html), embedding up to ``embed_mb`` MB of
    transcripts; ``batch_output`` is the ``--output`` folder the batch ran with, if any."""
    from .report import write_report
    from .target import load_batch

    if isinstance(embed_mb, bool) or not isinstance(embed_mb, (int, float)) or embed_mb < 0:
        raise UsageError(f"--embed-mb must be a number of megabytes >= 0, not {embed_mb!r}")
    page = Path(output).expanduser().absolute() if output else None
    if page is not None and page.is_dir():
        raise UsageError(f"--output {output} is a folder; give the HTML file to write")
    folder, batch = load_batch(Path(target), output_dir(batch_output))
    return write_report(folder, batch, page, int(embed_mb * 1024 * 1024))


def shard_plan(target: str | Path, shards: int, *, output: str | Path | None = None) -> dict:
    """The batch's shard plan for ``shards`` shards, made now unless it exists."""
    from .plan import plan_report

    return plan_report(Path(target), shards, output_dir(output))
