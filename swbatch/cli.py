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

from . import __version__
from .errors import EXIT_USAGE, SwbatchError, UsageError

#: boolean flags that also take a ``--no-NAME`` form (Fire itself only knows ``--noNAME``)
NEGATABLE = ("vad", "word_timestamps", "skip_existing", "overwrite", "quiet", "diarize", "emotion")


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
        json: bool = False,
    ) -> None:
        """Show, clear or verify the model cache (root: $SLOWER_WHISPER_CACHE_ROOT).

        Args:
          show: list the cache folders, their sizes and the models they hold (the default).
          clear: empty one folder: whisper, emotion, diarization, hf, torch, or all.
          dry_run: with --clear, only say what would be deleted and how much.
          verify: re-hash the cached model files against the lock written by prefetch.
          json: print machine-readable JSON instead of text.
        """
        from . import cache as cache_mod

        paths = cache_mod.CachePaths.from_env()
        if clear is not None:
            if clear is True or not isinstance(clear, str):
                raise UsageError("--clear needs a target: " + ", ".join(cache_mod.CLEAR_TARGETS))
            results = cache_mod.clear_target(paths, clear, dry_run=dry_run)
            _emit(
                [
                    {"target": r.target, "path": str(r.path), "entries": list(r.entries),
                     "size": r.size, "dry_run": dry_run}
                    for r in results
                ],
                json,
                lambda _data: cache_mod.format_cleared(results, dry_run),
            )
            return
        if verify:
            from . import lock

            report = lock.verify_cache(paths)
            _emit(report.as_dict(), json, lambda _data: report.format())
            if not report.ok:
                raise SystemExit(report.exit_code)
            return
        if paths.root.exists() and not paths.root.is_dir():
            raise UsageError(f"cache root {paths.root} is a file, not a folder; set "
                             f"{cache_mod.ROOT_ENV}")
        report = cache_mod.cache_report(paths)
        _emit(report, json, cache_mod.format_report)


def _emit(data, as_json: bool, formatter) -> None:
    """Print a result once, as JSON or as the command's text layout."""
    if as_json:
        print(jsonlib.dumps(data, indent=2, default=str))
    else:
        print(formatter(data))


def _normalise_argv(argv: list[str]) -> tuple[list[str], bool]:
    """Strip ``--debug`` and turn ``--no-vad`` into Fire's ``--vad=False``."""
    debug = os.environ.get("SWBATCH_DEBUG", "") not in ("", "0", "false")
    out = []
    for arg in argv:
        if arg == "--debug":
            debug = True
            continue
        if arg.startswith("--no-") and arg[5:].replace("-", "_") in NEGATABLE:
            arg = f"--{arg[5:]}=False"
        out.append(arg)
    return out, debug


def _print_help(fire, args: list[str]) -> None:
    """Fire writes help to stderr with an INFO preamble; users expect it on stdout, plain."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer), contextlib.suppress(fire.core.FireExit):
        fire.Fire(Cli(), command=args, name="swbatch")
    text = buffer.getvalue()
    print("\n".join(ln for ln in text.splitlines() if not ln.startswith("INFO: ")).strip())


def main(argv: list[str] | None = None) -> int:
    """Console entry point: run one command and exit with its code."""
    import fire

    args, debug = _normalise_argv(sys.argv[1:] if argv is None else argv)
    # Fire pipes long help through a pager on a terminal; a batch tool's help must just print.
    os.environ["PAGER"] = "cat"
    try:
        if any(a in ("--help", "-h") for a in args):
            _print_help(fire, args)
        else:
            fire.Fire(Cli(), command=args, name="swbatch")
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
        return 130
    except fire.core.FireExit as exc:
        return int(exc.code or 0) if exc.code != 2 else EXIT_USAGE
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
