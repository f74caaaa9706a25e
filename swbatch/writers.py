"""Output formats (json, txt, srt, vtt, tsv, rttm) and the one way files are written: atomically,
inside their output folder. Subtitle layout and escaping: :mod:`swbatch.subtitles`.

A reader (or a rerun after a kill) either sees a complete file under its final name or no file at
all: every write goes through :func:`swbatch.fsutil.write_atomic`. Paths are checked after
symlinks are resolved, so neither ``../`` in a manifest nor a symlinked sub-folder can send a
file outside its output folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from . import fsutil
from .errors import JobError, UsageError
from .fsutil import write_atomic
from .subtitles import NO_LAYOUT, Layout, to_srt, to_vtt

FORMATS = ("json", "txt", "srt", "vtt", "tsv", "rttm")
DEFAULT_FORMATS = ("json", "txt", "srt", "vtt")


class OutputError(JobError):
    """An output could not be written (disk full, permission); the job fails with this reason."""


def contained_path(root: Path, relative: str) -> Path:
    """``root / relative``, refusing anything that resolves outside ``root``."""
    if os.path.isabs(relative) or ".." in Path(relative).parts:
        raise UsageError(f"output name {relative!r} must be a relative path without '..'")
    real_root = root.resolve()
    target = (real_root / relative).resolve()
    if target != real_root and real_root not in target.parents:
        raise UsageError(f"output name {relative!r} resolves outside {root} (through a symlink?)")
    return target


def atomic_write(root: Path, relative: str, text: str) -> Path:
    """Write ``text`` to ``root/relative`` so that the final name only ever holds complete data."""
    target = contained_path(root, relative)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # The folder may have been swapped for a symlink since the check: check again.
        contained_path(root, relative)
        return write_atomic(target, text)
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror or exc}") from None


def remove_stale_temps(root: Path, relative: str) -> None:
    """Delete temporary files a killed run left beside ``root/relative``.

    Only the caller that holds the job's claim may call this: then nobody else is writing them.
    """
    fsutil.remove_stale_temps(contained_path(root, relative))


# --- formats ----------------------------------------------------------------------------------


def _line_text(segment: dict) -> str:
    speaker = segment.get("speaker")
    return f"[{speaker}] {segment['text']}" if speaker else segment["text"]


def to_json(doc: dict) -> str:
    """The full document, described by ``swbatch/schemas/transcript.schema.json``."""
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def to_txt(doc: dict) -> str:
    """One line per segment, speaker first when diarized."""
    return "".join(_line_text(seg) + "\n" for seg in doc["segments"])


def to_tsv(doc: dict) -> str:
    """WhisperX's tsv: a ``start\tend\ttext`` header, times in whole milliseconds."""
    rows = ["start\tend\ttext\n"]
    for seg in doc["segments"]:
        text = " ".join(_line_text(seg).split())  # no tab or newline can break a row
        rows.append(f"{round(seg['start'] * 1000)}\t{round(seg['end'] * 1000)}\t{text}\n")
    return "".join(rows)


def to_rttm(doc: dict) -> str:
    """NIST RTTM speaker turns (needs diarization; without it, no lines)."""
    uri = Path(doc["file"]).name.replace(" ", "_")
    return "".join(
        f"SPEAKER {uri} 1 {t['start']:.3f} {t['end'] - t['start']:.3f} <NA> <NA> {t['speaker']} "
        "<NA> <NA>\n"
        for t in doc.get("turns", [])
    )


RENDERERS: dict[str, Callable[[dict], str]] = {
    "json": to_json,
    "txt": to_txt,
    "tsv": to_tsv,
    "rttm": to_rttm,
}
SUBTITLES: dict[str, Callable[[dict, Layout], str]] = {"srt": to_srt, "vtt": to_vtt}


def render(fmt: str, doc: dict, layout: Layout = NO_LAYOUT) -> str:
    """The text of one output format; SRT and VTT are laid out by ``layout``."""
    if fmt in SUBTITLES:
        return SUBTITLES[fmt](doc, layout)
    return RENDERERS[fmt](doc)


def parse_formats(value: str | list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """``"json,srt"`` or ``["json", "srt"]`` -> validated tuple; ``None`` -> the defaults."""
    if value is None:
        return DEFAULT_FORMATS
    items = value.split(",") if isinstance(value, str) else list(value)
    formats = tuple(dict.fromkeys(str(i).strip().lower() for i in items if str(i).strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise UsageError(
            f"unknown format(s) {unknown or value!r}; choose from {', '.join(FORMATS)}"
        )
    return formats
