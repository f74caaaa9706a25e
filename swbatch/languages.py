"""The language codes faster-whisper accepts, checked before any model loads.

A copy of ``faster_whisper.tokenizer._LANGUAGE_CODES``: importing that module imports the whole
``faster_whisper`` package (ctranslate2, PyAV), which `swbatch --help` and manifest validation
must not pay for. ``tests/test_strict_parsing.py`` checks the copy equals faster-whisper's.
"""

from __future__ import annotations

import difflib

LANGUAGE_CODES = (
    "af", "am", "ar", "as", "az", "ba", "be", "bg", "bn", "bo", "br", "bs", "ca", "cs", "cy",
    "da", "de", "el", "en", "es", "et", "eu", "fa", "fi", "fo", "fr", "gl", "gu", "ha", "haw",
    "he", "hi", "hr", "ht", "hu", "hy", "id", "is", "it", "ja", "jw", "ka", "kk", "km", "kn",
    "ko", "la", "lb", "ln", "lo", "lt", "lv", "mg", "mi", "mk", "ml", "mn", "mr", "ms", "mt",
    "my", "ne", "nl", "nn", "no", "oc", "pa", "pl", "ps", "pt", "ro", "ru", "sa", "sd", "si",
    "sk", "sl", "sn", "so", "sq", "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tk", "tl",
    "tr", "tt", "uk", "ur", "uz", "vi", "yi", "yo", "zh", "yue",
)  # fmt: skip


def language_problem(value: object) -> str | None:
    """None when ``value`` is a language code faster-whisper knows, else one line saying why,
    with the closest codes (``eng`` and ``english`` suggest ``en``)."""
    if isinstance(value, str) and value in LANGUAGE_CODES:
        return None
    text = str(value).strip().lower()
    if text in LANGUAGE_CODES:
        return f"unknown language {value!r}; language codes are lower case: {text}"
    close = [c for c in LANGUAGE_CODES if len(text) > len(c) and text.startswith(c)]
    close += [c for c in difflib.get_close_matches(text, LANGUAGE_CODES, n=3) if c not in close]
    hint = f"did you mean {', '.join(close[:3])}?" if close else "no close match"
    return f"unknown language {value!r} ({hint}); use a code such as en, de, no, zh"
