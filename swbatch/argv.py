"""The command line as Fire must see it: swbatch's flag conventions, checked and quoted first.

Fire reads every value as a Python literal and complains about unusable arguments only after the
command ran. These functions run before Fire does, on the argument list alone and the command
class's signatures: ``--no-FLAG`` and ``--debug`` are normalised, unknown flags and text flags
without a value are refused (one line, exit 2), and text values are quoted so that ``--root 2024``
stays the text "2024". :mod:`swbatch.cli` only wires them in front of Fire.
"""

from __future__ import annotations

import inspect
import os
import re
from typing import Any

from .errors import UsageError

#: annotations of the flags whose values are text (paths, names, codes), never numbers
TEXT_ANNOTATIONS = ("str", "str | None")


def is_text(param: inspect.Parameter) -> bool:
    """Whether a parameter takes text (then its value is never read as a number or a tuple)."""
    annotation = param.annotation
    if not isinstance(annotation, str):
        annotation = inspect.formatannotation(annotation)
    return annotation in TEXT_ANNOTATIONS


def normalise_argv(argv: list[str]) -> tuple[list[str], bool]:
    """Strip ``--debug`` and turn ``--no-vad`` into Fire's ``--vad=False`` (for every boolean
    flag of the flags table; Fire itself only knows ``--novad``)."""
    from .flags import NEGATABLE

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


def check_flags(commands: type, args: list[str]) -> None:
    """Refuse unknown ``--flags`` before anything runs.

    Fire calls the command first and complains about arguments it could not use only afterwards,
    so a typo (``cache --clear whisper --dryrun``) would act with the default instead.
    ``commands`` is the class whose methods are the commands (their signatures name the flags).
    """
    command = next((a for a in args if not a.startswith("-")), None)
    method = getattr(commands, command or "", None)
    if command is None or command.startswith("_") or not callable(method):
        return  # Fire reports unknown commands itself
    params = inspect.signature(method).parameters
    for i, arg in enumerate(args):
        if not arg.startswith("--") or arg == "--":
            continue
        name = arg[2:].split("=", 1)[0].replace("-", "_")
        if name.startswith("no") and name[2:] in params:  # Fire's --noFLAG form
            name = name[2:]
        flag = f"--{name.replace('_', '-')}"
        if name not in params or params[name].kind is inspect.Parameter.VAR_POSITIONAL:
            raise UsageError(f"unknown flag {flag} for `swbatch {command}`; "
                             f"see `swbatch {command} --help`")  # fmt: skip
        following = args[i + 1] if i + 1 < len(args) else "--"
        if is_text(params[name]) and "=" not in arg and is_flag(following):
            # Fire would pass the text flag the value True
            raise UsageError(f"{flag} needs a value; see `swbatch {command} --help`")


def keep_text(commands: type, args: list[str]) -> list[str]:
    """Hand Fire every value of a text parameter as a quoted Python string.

    Fire reads each value as a Python literal, so `--root 2024` would arrive as the int 2024,
    `--formats json,txt` as a tuple and `prefetch 1e3` as a float. Each parameter annotated
    ``str`` (and each ``*names: str`` positional) gets the exact text instead, whatever the
    command; the others keep Fire's parsing (numbers, booleans).
    """
    command = next((i for i, a in enumerate(args) if not is_flag(a)), None)
    method = getattr(commands, args[command], None) if command is not None else None
    if method is None or args[command].startswith("_") or not callable(method):
        return args
    params = list(inspect.signature(method).parameters.values())[1:]  # without self
    by_name = {p.name: p for p in params}
    out, rest = args[: command + 1], args[command + 1 :]
    named, positional = set(), []
    i = 0
    while i < len(rest):
        arg = rest[i]
        i += 1
        if arg == "--":  # what follows is for Fire itself
            out += rest[i - 1 :]
            break
        if not is_flag(arg):
            positional.append(len(out))
            out.append(arg)
            continue
        key, eq, value = arg.lstrip("-").partition("=")
        named.add(key.replace("-", "_"))
        if not eq and i < len(rest) and not is_flag(rest[i]):
            value, i = rest[i], i + 1  # Fire reads `--flag value` as `--flag=value`
        elif not eq:
            out.append(arg)  # a switch: `--vad`
            continue
        param = by_name.get(key.replace("-", "_"))
        out.append(f"--{key}={value!r}" if param and is_text(param) else f"--{key}={value}")
    # positionals fill the parameters not given as flags, in order; `*names` takes the rest
    kinds = inspect.Parameter
    slots = [p for p in params if p.name not in named and p.kind is kinds.POSITIONAL_OR_KEYWORD]
    varargs = [p for p in params if p.kind is kinds.VAR_POSITIONAL]
    for index, at in enumerate(positional):
        slot = slots[index] if index < len(slots) else (varargs or [None])[0]
        if slot is not None and is_text(slot):
            out[at] = repr(out[at])
    return out


def is_flag(arg: str) -> bool:
    """Fire's idea of a flag: ``--name`` or ``-n``, not a negative number."""
    return bool(re.match("-[-a-zA-Z]", arg))


def _annotation(flag) -> object:
    """The flag's type: ``--help`` shows it, and :func:`swbatch.argv.keep_text` keeps text
    values as typed."""
    return flag.type or inspect.Parameter.empty


def batch_command(first: str, first_help: str, summary: str) -> tuple[inspect.Signature, str]:
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


def print_help(fire: Any, commands: object, args: list[str]) -> None:
    """Fire's help, as users expect it: on stdout, plain, and with every flag spelled as the
    docs spell it (``--beam-size``; Fire itself shows the Python name, ``--beam_size``)."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer), contextlib.suppress(fire.core.FireExit):
        fire.Fire(commands, command=args, name="swbatch")
    text = "\n".join(ln for ln in buffer.getvalue().splitlines() if not ln.startswith("INFO: "))
    print(dashed(text).strip())


def dashed(text: str) -> str:
    """Every ``--flag_name`` in ``text`` as ``--flag-name``."""
    return re.sub(r"--[a-z0-9_]+", lambda m: m.group(0).replace("_", "-"), text)
