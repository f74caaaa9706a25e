"""The write stage: a job's output document, rendered to every format it asked for.

Each file is written atomically (:func:`swbatch.writers.atomic_write`), the JSON last: its presence
is what marks the job done, so a kill at any moment leaves either a finished job or one a rerun
redoes.
"""

from __future__ import annotations

from pathlib import Path

from ..jobs import Job
from ..subtitles import Layout
from ..version import __version__
from ..writers import atomic_write, remove_stale_temps, render
from .infer import LoadedWhisper

SCHEMA_VERSION = "1.0"


def output_paths(job: Job) -> dict[str, str]:
    """Where each format of a job goes, relative to the output folder (slower-whisper layout)."""
    return {
        fmt: f"whisper_json/{job.output}.json"
        if fmt == "json"
        else f"transcripts/{job.output}.{fmt}"
        for fmt in job.settings.formats
    }


def document(job: Job, duration: float, asr: dict, whisper: LoadedWhisper, options: dict) -> dict:
    """The output JSON document (schema: swbatch/schemas/transcript.schema.json) from the infer
    stage's result, before enrichment; ``options`` are the settings in force
    (:func:`swbatch.rerun.recorded_options`); ``timings`` are added once every stage has run."""
    doc = {
        "schema_version": SCHEMA_VERSION,
        "swbatch_version": __version__,
        "id": job.id,
        "file": str(job.audio),
        "duration": round(duration, 3),
        "language": asr["language"],
        "language_probability": asr["language_probability"],
        "model": whisper.describe(),
        "segments": asr["segments"],
    }
    if "dropped_over_silence" in asr:  # the silence gate's (swbatch.silence)
        doc["dropped_over_silence"] = asr["dropped_over_silence"]
    stamp(doc, {**options, **asr["options"], "formats": list(job.settings.formats)})
    return doc


def stamp(doc: dict, options: dict) -> None:
    """Record the settings in force and their fingerprint (what a rerun compares against)."""
    from ..rerun import fingerprint

    doc["options"] = options
    doc["fingerprint"] = fingerprint(doc["model"], options)


def write_outputs(
    output_dir: Path, job: Job, doc: dict, formats: tuple[str, ...] | None = None
) -> list[str]:
    """Every format of the job (or only ``formats``), JSON last; returns the paths written.
    SRT and VTT are laid out by the job's ``max_line_width``/``max_line_count``, which the
    JSON's options record. The caller holds the job's claim, so the temporary files a killed
    run left beside them are nobody else's."""
    rels = {f: rel for f, rel in output_paths(job).items() if formats is None or f in formats}
    for rel in rels.values():
        remove_stale_temps(output_dir, rel)
    layout = Layout(job.settings.max_line_width, job.settings.max_line_count)
    if "json" in rels:
        doc["options"].update(max_line_width=layout.max_line_width,
                              max_line_count=layout.max_line_count)  # fmt: skip
    order = sorted(rels, key=lambda fmt: fmt == "json")
    return [str(atomic_write(output_dir, rels[fmt], render(fmt, doc, layout))) for fmt in order]
