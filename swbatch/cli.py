"""The ``swbatch`` command: a thin Fire layer over the Python API.

It parses flags, calls one function, prints its result once and maps errors to exit codes
(see :mod:`swbatch.errors`). Nothing heavy is imported here: each command imports the module it
needs when it runs, so ``swbatch --help`` and ``swbatch cache --show`` start fast.
"""

from __future__ import annotations

import inspect
import json as jsonlib
import os
import sys
import traceback
from pathlib import Path

from .argv import check_flags, keep_text, normalise_argv
from .errors import SwbatchError, UsageError
from .version import __version__


def _annotation(flag) -> object:
    """The flag's type: ``--help`` shows it, and :func:`swbatch.argv.keep_text` keeps text
    values as typed."""
    return flag.type or inspect.Parameter.empty


def _batch_command(first: str, first_help: str, summary: str) -> tuple[inspect.Signature, str]:
    """The signature and docstring of a batch command, from the flags table."""
    from .flags import FLAGS

    kind = inspect.Parameter
    params = [
        kind("self", kind.POSITIONAL_OR_KEYWORD),
        kind(first, kind.POSITIONAL_OR_KEYWORD, annotation=str),
        *(
            kind(f.name, kind.KEYWORD_ONLY, default=f.default, annotation=_annotation(f))
            for f in FLAGS
        ),
    ]
    args = "".join(f"  {f.name}: {f.help}.\n" for f in FLAGS)
    return inspect.Signature(params), f"{summary}\n\nArgs:\n  {first}: {first_help}\n{args}"


class Cli:
    """swbatch: batch transcription with faster-whisper and a baked, verifiable model cache.

    Run `swbatch COMMAND --help` for the flags of one command. Global flag: --debug (or
    SWBATCH_DEBUG=1) shows tracebacks.
    """

    def version(self) -> None:
        """Print the swbatch version."""
        print(__version__)

    def cache(
        self,
        show: bool = False,
        clear: str | None = None,
        dry_run: bool = False,
        verify: bool = False,
        against_source: bool = False,
        json: bool = False,
    ) -> None:
        """Show, clear or verify the model cache (root: $SLOWER_WHISPER_CACHE_ROOT).

        Args:
          show: list the cache folders, their sizes and the models they hold (the default).
          clear: empty one folder: whisper, emotion, diarization, hf, torch, or all.
          dry_run: with --clear, only say what would be deleted and how much.
          verify: re-hash the cached model files against the lock written by prefetch.
          against_source: with --verify, also check each file against its source (the hub's
            hash as huggingface_hub recorded it, or the package/folder file it was copied from).
          json: print machine-readable JSON instead of text.
        """
        from . import cache as cache_mod

        given = {"--show": show, "--clear": clear is not None, "--verify": verify}
        actions = [flag for flag, on in given.items() if on]
        if len(actions) > 1:
            raise UsageError(f"{' and '.join(actions)} are different actions; give one of them")
        if dry_run and clear is None:
            raise UsageError("--dry-run only goes with --clear TARGET")
        paths = cache_mod.CachePaths.from_env()
        if against_source and not verify:
            raise UsageError(
                "--against-source goes with --verify: swbatch cache --verify --against-source"
            )
        if clear is not None:
            from .clear import clear_target, format_cleared

            results = clear_target(paths, clear, dry_run=dry_run)
            _emit(
                [
                    {
                        "target": r.target,
                        "path": str(r.path),
                        "entries": list(r.entries),
                        "size": r.size,
                        "lock_entries": list(r.unlocked),
                        "dry_run": dry_run,
                    }
                    for r in results
                ],
                json,
                lambda _data: format_cleared(results, dry_run),
            )
            return
        if verify:
            from .verify import verify_cache

            report = verify_cache(paths.root, against_source=against_source)
            _emit(report.as_dict(), json, lambda _data: report.format())
            if not report.ok:
                raise SystemExit(report.exit_code)
            return
        if paths.root.exists() and not paths.root.is_dir():
            raise UsageError(
                f"cache root {paths.root} is a file, not a folder; set {cache_mod.ROOT_ENV}"
            )
        report = cache_mod.cache_report(paths)
        _emit(report, json, cache_mod.format_report)

    def run(self, manifest: str, **flags) -> None:
        from pathlib import Path

        from .jobs import load_manifest

        settings, options, output = _batch_flags(flags)
        _run_and_exit(load_manifest(Path(manifest), settings, output), options)

    def transcribe(self, root: str, **flags) -> None:
        from pathlib import Path

        from .jobs import discover

        settings, options, output = _batch_flags(flags)
        _run_and_exit(discover(Path(root), settings, output), options)

    # Both commands take every flag of swbatch.flags.FLAGS: their signatures (which Fire parses
    # and `--help` shows) and docstrings are made from that one table.
    run.__signature__, run.__doc__ = _batch_command(  # type: ignore[attr-defined]
        "manifest",
        "the job manifest (YAML).",
        'Run the jobs of a YAML job manifest (see README: "Job manifests").\n\n'
        "A job's own fields win over the manifest's `defaults`, which win over these flags.\n"
        "Paths in the manifest resolve against its folder; outputs land under its output_dir\n"
        "(or --output).",
    )
    transcribe.__signature__, transcribe.__doc__ = _batch_command(  # type: ignore[attr-defined]
        "root",
        "the folder holding raw_audio/.",
        "Transcribe every audio file under ROOT/raw_audio (recursive).\n\n"
        "Outputs: ROOT/whisper_json/<path>.json, ROOT/transcripts/<path>.{txt,srt,vtt};\n"
        "the status record and summary go to ROOT/.swbatch/ (with --output DIR: all of it under\n"
        "DIR instead, ROOT stays untouched). A rerun skips files done with the same settings\n"
        "and redoes (or completes) the others, saying why.",
    )

    def prefetch(self, *manifests: str, token_file: str | None = None, json: bool = False) -> None:
        """Download model sets into the cache (hub layout) and record them in the lock.

        Args:
          manifests: model-set names (demo) or manifest files (my-set.yaml).
          token_file: a file holding the hub token for gated models (else $HF_TOKEN).
          json: print the lock entries written as JSON.
        """
        from . import prefetch as prefetch_mod

        entries = prefetch_mod.prefetch(list(manifests), token_file=token_file)
        paths = prefetch_mod.CachePaths.from_env()
        _emit(entries, json, lambda _data: prefetch_mod.format_prefetched(entries, paths))

    def models(self, json: bool = False) -> None:
        """List the model sets, what each holds (licence, gated) and what the cache has.

        Args:
          json: print machine-readable JSON instead of text.
        """
        from . import models_report

        _emit(models_report.models_report(), json, models_report.format_models_report)

    def summary(self, target: str, output: str | None = None, json: bool = False) -> None:
        """One report for a batch run as shards (or not): merges every shard's record.

        Jobs done / failed (with reasons) / missing against the batch's job list, audio hours,
        each shard's wall time, and which shards to rerun. Exits 1 while any job is failed or
        missing, 0 when the batch is complete.

        Args:
          target: the folder given to `transcribe --root`, or the job manifest given to `run`.
          output: the --output folder the batch ran with, if any.
          json: print machine-readable JSON instead of text.
        """
        from pathlib import Path

        from . import summary as summary_mod

        report = summary_mod.merge(Path(target), _output_dir(output))
        _emit(report.as_dict(), json, summary_mod.format_report)
        if report.exit_code:
            raise SystemExit(report.exit_code)

    def plan(self, target: str, shards: int, output: str | None = None, json: bool = False) -> None:
        """Make the shard plan of a batch before its shards start, or show the one it has.

        The plan (OUTPUT/.swbatch/plan-<SHARDS>.json) fixes which shard runs which job; without
        it the first shard to start makes it. To plan afresh, delete it while no shard runs.

        Args:
          target: the folder given to `transcribe --root`, or the job manifest given to `run`.
          shards: the number of shards (the array size).
          output: the --output folder the shards will share, if any.
          json: print machine-readable JSON instead of text.
        """
        from pathlib import Path

        from . import plan as plan_mod

        report = plan_mod.plan_report(Path(target), shards, _output_dir(output))
        _emit(report, json, plan_mod.format_plan)


def _output_dir(flag: str | None) -> Path | None:
    """The ``--output`` folder as an absolute path (None: the default place)."""
    if flag is None:
        return None
    if not flag:  # `--output=`; a bare `--output` is refused by check_flags
        raise UsageError("--output needs a folder: --output DIR")
    return Path(flag).expanduser().absolute()


def _batch_flags(given: dict):
    """Check the flags shared by `transcribe` and `run` (one line for the first bad one, before
    any audio is touched); split them into per-job settings and batch-wide options."""
    from .flags import BATCH_FLAGS, BY_NAME, FLAGS, JOB_FLAGS, cross_check
    from .jobs import JobSettings
    from .pipeline import RunOptions
    from .shard import resolve_shard

    unknown = sorted(set(given) - set(BY_NAME))
    if unknown:
        raise UsageError(f"unknown flag(s): {', '.join('--' + u for u in unknown)}")
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
    output = _output_dir(batch.pop("output"))
    return settings, RunOptions(**batch), output


def _run_and_exit(batch, options) -> None:
    """Run a batch, print its one-line summary and exit 0 (all done) or 1 (some failed)."""
    from .pipeline import dry_run, run_batch
    from .rerun import ACTIONS
    from .status import STATE_DIR

    for note in batch.notes:
        print(f"swbatch: note: {note}", file=sys.stderr)
    if options.dry_run:
        plans = dry_run(batch, options)
        for job, plan in plans:
            print(f"{plan.action:6} {job.id}: {plan.reason}")
        counts = {a: sum(p.action == a for _j, p in plans) for a in ACTIONS}
        print("swbatch: dry run: " + ", ".join(f"{n} to {a}" for a, n in counts.items()))
        return

    if not batch.jobs:
        print("swbatch: no audio files to transcribe", file=sys.stderr)
    summary = run_batch(batch, options)
    if not options.quiet:
        data = summary.as_dict()
        print(
            f"swbatch: {f'shard {options.shard}: ' if options.shard else ''}"
            f"{summary.done} done, {summary.skipped} skipped, {summary.failed} failed; "
            f"{summary.audio_seconds / 60:.1f} min of audio in {data['wall_seconds']:.1f} s "
            f"({data['speed_x_realtime']:.1f}x real time); status: "
            f"{batch.output_dir / STATE_DIR / 'status.jsonl'}"
        )
    if summary.exit_code:
        raise SystemExit(summary.exit_code)


def _emit(data, as_json: bool, formatter) -> None:
    """Print a result once, as JSON or as the command's text layout."""
    if as_json:
        print(jsonlib.dumps(data, indent=2, default=str))
    else:
        print(formatter(data))


def _print_help(fire, args: list[str]) -> None:
    """Fire writes help to stderr with an INFO preamble; users expect it on stdout, plain."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer), contextlib.suppress(fire.core.FireExit):
        fire.Fire(Cli(), command=args, name="swbatch")
    text = buffer.getvalue()
    print("\n".join(ln for ln in text.splitlines() if not ln.startswith("INFO: ")).strip())


def _exit_now_if_threads_run(code: int) -> None:
    """Exit with ``code`` at once when worker threads are still running (Ctrl-C left them inside
    ctranslate2, their jobs already recorded as interrupted): the interpreter would otherwise wait
    for them at exit, for as long as their chunk takes."""
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.main_thread()):  # fmt: skip
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run one command and exit with its code."""
    import fire

    args, debug = normalise_argv(sys.argv[1:] if argv is None else argv)
    # Fire pipes long help through a pager on a terminal; a batch tool's help must just print.
    os.environ["PAGER"] = "cat"
    try:
        if any(a in ("--help", "-h") for a in args):
            _print_help(fire, args)
        else:
            check_flags(Cli, args)
            fire.Fire(Cli(), command=keep_text(Cli, args), name="swbatch")
    except SwbatchError as exc:
        if debug:
            traceback.print_exc()
        print(f"swbatch: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        # `swbatch ... | head` closed the pipe: not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("swbatch: interrupted", file=sys.stderr)
        _exit_now_if_threads_run(130)
        return 130
    except fire.core.FireExit as exc:  # Fire's own usage errors (exit 2) and --help paths
        return int(exc.code or 0)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
