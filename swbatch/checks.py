"""How a flag's value is checked: each check returns the stored value or raises ValueError with
the reason, which the caller prefixes with the flag (``--beam-size: must be ...``). A check's
``type`` attribute is the type ``--help`` shows and the CLI parses text into.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .errors import UsageError
from .writers import FORMATS, parse_formats


def nullable(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``check``, letting None (the flag's "not given") through."""

    def or_none(value: Any) -> Any:
        return None if value is None else check(value)

    or_none.type = getattr(check, "type", None)  # type: ignore[attr-defined]
    return or_none


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, not {value!r}")
    return value


boolean.type = bool  # type: ignore[attr-defined]


def whole(minimum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"must be a whole number >= {minimum}, not {value!r}")
        return value

    check.type = int  # type: ignore[attr-defined]
    return check


def number(low: float = -math.inf, high: float = math.inf) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise ValueError(f"must be a number, not {value!r}")
        if not low <= value <= high:
            bounds = f"between {low} and {high}" if high != math.inf else f">= {low}"
            raise ValueError(f"must be {bounds}, not {value!r}")
        return float(value)

    check.type = float  # type: ignore[attr-defined]
    return check


def text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"must be a non-empty text, not {value!r}")
    return value


text.type = str  # type: ignore[attr-defined]


def folder(value: Any) -> str:
    """A folder name; an empty one is refused where it is used (``--output=``)."""
    if not isinstance(value, str):
        raise ValueError(f"must be a folder, not {value!r}")
    return value


folder.type = str  # type: ignore[attr-defined]


def language(value: Any) -> str:
    """A language code faster-whisper knows (the closest codes suggested otherwise)."""
    from .languages import language_problem

    problem = language_problem(text(value))
    if problem:
        raise ValueError(problem)
    return value


language.type = str  # type: ignore[attr-defined]


def choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}, not {value!r}")
        return value

    check.type = str  # type: ignore[attr-defined]
    return check


def temperatures(value: Any) -> tuple[float, ...]:
    """One temperature or a fallback list (``0.2``, ``0,0.4,0.8``, ``[0, 0.5]``), each 0..1."""
    items = value.split(",") if isinstance(value, str) else value
    items = list(items) if isinstance(items, list | tuple) else [items]
    out = []
    for item in items:
        try:
            item = float(item) if isinstance(item, str) else item
        except ValueError:
            raise ValueError(f"must be numbers between 0 and 1, not {value!r}") from None
        out.append(number(0.0, 1.0)(item))
    if not out:
        raise ValueError("needs at least one value")
    return tuple(out)


def formats(value: Any) -> tuple[str, ...]:
    problem = ValueError(f"must be a list of {', '.join(FORMATS)}, not {value!r}")
    if not isinstance(value, str | list | tuple):
        raise problem
    try:
        return parse_formats(value)
    except UsageError:
        raise problem from None


formats.type = str  # type: ignore[attr-defined]
