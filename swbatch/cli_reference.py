"""docs/cli.md, generated from the commands' signatures and docstrings and the flags table, so the
reference cannot drift from the code (a test compares the committed file with :func:`render`).

    python -m swbatch.cli_reference docs/cli.md
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any

from .argv import dashed
from .cli import Cli
from .errors import EXIT_JOBS_FAILED, EXIT_MODEL_MISSING, EXIT_OK, EXIT_USAGE, EXIT_VERIFY_FAILED
from .flags import FLAGS

#: the order commands are listed in; a command not named here follows, by name
ORDER = ("transcribe", "run", "prefetch", "models", "cache", "plan", "summary", "version")
BATCH_COMMANDS = ("transcribe", "run")
EXIT_CODES = (
    (EXIT_OK, "every job done (or skipped as done); a command's work finished"),
    (
        EXIT_JOBS_FAILED,
        "some jobs failed (recorded, the batch went on); `summary`: a job failed or missing",
    ),
    (EXIT_USAGE, "bad usage, manifest or environment: one line, before any audio is touched"),
    (EXIT_MODEL_MISSING, "a model is not in the cache (offline: never downloaded at run time)"),
    (
        EXIT_VERIFY_FAILED,
        "the cache does not match its lock (`cache --verify`, or a model's sizes)",
    ),
    (130, "interrupted (Ctrl-C): finished work kept, the rest recorded interrupted"),
)


def commands() -> list[str]:
    names = [n for n in dir(Cli) if not n.startswith("_") and callable(getattr(Cli, n))]
    return sorted(names, key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))


def render() -> str:
    """The whole reference, as Markdown."""
    out = [
        "# Command-line reference",
        "",
        "Generated from the commands and the flags table (`swbatch/flags.py`) by",
        "`python -m swbatch.cli_reference docs/cli.md`; edit those, not this file.",
        "Every flag is spelled with dashes (`--beam-size`); its Python name, with underscores,",
        "works too. Global: `--debug` (or `SWBATCH_DEBUG=1`) shows tracebacks.",
        'Each command is also a Python function (README: "Python API").',
        "",
    ]
    for name in commands():
        out += _command(name)
    out += ["## Exit codes", "", "| code | meaning |", "|---|---|"]
    out += [f"| {code} | {meaning} |" for code, meaning in EXIT_CODES]
    return "\n".join(out) + "\n"


def _command(name: str) -> list[str]:
    method = getattr(Cli, name)
    summary, body, args = _parse_doc(inspect.getdoc(method) or "")
    params = list(inspect.signature(method).parameters.values())[1:]
    usage = ["swbatch", name]
    usage += [_upper(p) for p in params if p.default is p.empty and p.kind is not p.KEYWORD_ONLY]
    if any(p.default is not p.empty for p in params):
        usage.append("[FLAGS]")
    lines = [f"## `{name}`", "", summary, "", "```", " ".join(usage), "```", ""]
    if body:
        lines += [body, ""]
    positional = [p for p in params if p.default is p.empty and p.kind is not p.KEYWORD_ONLY]
    lines += [f"- `{_upper(p)}`: {args.get(p.name, '')}" for p in positional]
    if positional:
        lines.append("")
    if name == BATCH_COMMANDS[0]:
        return lines + _flags_table()
    if name in BATCH_COMMANDS:
        return [*lines, f"Flags: those of `{BATCH_COMMANDS[0]}` above.", ""]
    rows = [p for p in params if p not in positional]
    if rows:
        lines += ["| flag | default | meaning |", "|---|---|---|"]
        for p in rows:
            lines.append(f"| {_option(p.name)} | {_default(p.default)} | {_cell(args[p.name])} |")
        lines.append("")
    return lines


def _upper(param: inspect.Parameter) -> str:
    return param.name.upper() + ("..." if param.kind is param.VAR_POSITIONAL else "")


def _flags_table() -> list[str]:
    lines = [
        "Flags (the per-job ones may also be set in a job manifest, per job or in `defaults:`):",
        "",
        "| flag | default | per job | meaning |",
        "|---|---|---|---|",
    ]
    for f in FLAGS:
        flag = _option(f.name)
        if f.default is True:
            flag += f" / `--no-{f.option[2:]}`"
        per_job = "yes" if f.per_job else ""
        lines.append(f"| {flag} | {_default(f.default)} | {per_job} | {_cell(f.help)} |")
    return [*lines, ""]


def _parse_doc(doc: str) -> tuple[str, str, dict[str, str]]:
    """(first line, the paragraphs before ``Args:``, {arg: help}) of a Google-style docstring."""
    head, _, arg_text = doc.partition("\nArgs:\n")
    summary, _, body = head.partition("\n")
    args: dict[str, str] = {}
    name = None
    for line in arg_text.splitlines():
        match = re.match(r"^  (\*{0,2}\w+): ?(.*)$", line)
        if match:
            name = match.group(1).lstrip("*")
            args[name] = match.group(2).strip()
        elif name and line.strip():
            args[name] += " " + line.strip()
    return summary.strip(), dashed(" ".join(body.split())), {k: dashed(v) for k, v in args.items()}


def _option(name: str) -> str:
    return f"`--{name.replace('_', '-')}`"


def _default(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return "`" + ",".join(str(v) for v in value) + "`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def main(argv: list[str]) -> int:
    """Write the reference to the file named, or print it."""
    if argv:
        Path(argv[0]).write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
