"""The ``swbatch`` command: a thin Fire layer over the Python API.

It parses flags, calls one function, prints its result once and maps errors to exit codes
(see :mod:`swbatch.errors`). Nothing heavy is imported here: each command imports the module it
needs when it runs, so ``swbatch --help`` and ``swbatch cache --show`` start fast.
"""

from __future__ import annotations

import json as jsonlib
import os
import sys
import traceback

from .argv import batch_command, check_flags, keep_text, normalise_argv, print_help
from .errors import SwbatchError, UsageError
from .version import __version__


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
        from . import api

        given = {"--show": show, "--clear": clear is not None, "--verify": verify}
        actions = [flag for flag, on in given.items() if on]
        if len(actions) > 1:
            raise UsageError(f"{' and '.join(actions)} are different actions; give one of them")
        if dry_run and clear is None:
            raise UsageError("--dry-run only goes with --clear TARGET")
        if against_source and not verify:
            raise UsageError(
                "--against-source goes with --verify: swbatch cache --verify --against-source"
            )
        if clear is not None:
            from .clear import format_cleared

            results = api.clear_cache(clear, dry_run=dry_run)
            data = [{**r.as_dict(), "dry_run": dry_run} for r in results]
            _emit(data, json, lambda _data: format_cleared(results, dry_run))
        elif verify:
            report = api.verify_cache(against_source=against_source)
            _emit(report.as_dict(), json, lambda _data: report.format())
            if not report.ok:
                raise SystemExit(report.exit_code)
        else:
            from .cache import format_report

            _emit(api.show_cache(), json, format_report)

    def run(self, manifest: str, **flags) -> None:
        from . import api

        _exit_with(api.run(manifest, **flags))

    def transcribe(self, root: str, **flags) -> None:
        from . import api

        _exit_with(api.transcribe(root, **flags))

    # Both commands take every flag of swbatch.flags.FLAGS: their signatures (which Fire parses
    # and `--help` shows) and docstrings are made from that one table.
    run.__signature__, run.__doc__ = batch_command(  # type: ignore[attr-defined]
        "manifest",
        "the job manifest (YAML).",
        'Run the jobs of a YAML job manifest (see docs/batches.md: "Job manifests").\n\n'
        "A job's own fields win over the manifest's `defaults`, which win over these flags.\n"
        "Paths in the manifest resolve against its folder; outputs land under its output_dir\n"
        "(or --output).",
    )
    transcribe.__signature__, transcribe.__doc__ = batch_command(  # type: ignore[attr-defined]
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
        from . import api
        from .fetch import format_prefetched

        entries = api.prefetch(*manifests, token_file=token_file)
        _emit(entries, json, format_prefetched)

    def models(self, json: bool = False) -> None:
        """List the model sets, what each holds (licence, gated) and what the cache has.

        Args:
          json: print machine-readable JSON instead of text.
        """
        from . import api
        from .models_report import format_models_report

        _emit(api.list_models(), json, format_models_report)

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
        from . import api
        from .summary import format_report

        report = api.batch_summary(target, output=output)
        _emit(report.as_dict(), json, format_report)
        if report.exit_code:
            raise SystemExit(report.exit_code)

    def report(
        self,
        target: str,
        output: str | None = None,
        batch_output: str | None = None,
        embed_mb: float = 16.0,
    ) -> None:
        """Write the batch as one self-contained HTML page that opens offline in a browser.

        Totals, failures by reason with the command that reruns them, files flagged for review,
        throughput per shard, a sortable table of every file, and each transcript beside its
        audio. Runs write it on their own (OUTPUT/.swbatch/report.html) unless --no-report.

        Args:
          target: the folder given to `transcribe --root`, the job manifest given to `run`, or
            the output folder of a batch.
          output: the HTML file to write (default: OUTPUT/.swbatch/report.html).
          batch_output: the --output folder the batch ran with, if any.
          embed_mb: transcripts embedded in the page, in MB of JSON (flagged files first); the
            others are read from their JSON when opened (over http://, or picked by hand).
        """
        from . import api

        page = api.batch_report(target, output=output, batch_output=batch_output, embed_mb=embed_mb)
        print(f"swbatch: report: {page}")

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
        from . import api
        from .plan import format_plan

        _emit(api.shard_plan(target, shards, output=output), json, format_plan)


def _exit_with(summary) -> None:
    """Exit 0 when every job is done (or skipped), 1 when any failed."""
    if summary.exit_code:
        raise SystemExit(summary.exit_code)


def _emit(data, as_json: bool, formatter) -> None:
    """Print a result once, as JSON or as the command's text layout."""
    if as_json:
        print(jsonlib.dumps(data, indent=2, default=str))
    else:
        print(formatter(data))


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
            print_help(fire, Cli(), args)
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
