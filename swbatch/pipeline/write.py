"""The write stage: a job's output document, rendered to every format it asked for.

Each file is written atomically (:func:`swbatch.writers.atomic_write`), the JSON last: its presence
is what marks the job done, so a kill at any moment leaves either a finished job or one a rerun
redoes.
"""

from __future__ import annotations

from pathlib import Path

from .. import __version__
from ..jobs import Job
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


def document(job: Job, duration: float, asr: dict, whisper: LoadedWhisper) -> dict:
    """The output JSON document (schema: swbatch/schemas/transcript.schema.json) from the infer
    stage's result, before enrichment; ``timings`` are added once every stage has run."""
    return {
        "schema_version": SCHEMA_VERSION,
        "swbatch_version": __version__,
        "id": job.id,
        "file": str(job.audio),
        "duration": round(duration, 3),
        "language": asr["language"],
        "language_probability": asr["language_probability"],
        "model": whisper.describe(),
        "options": {**asr["options"], "formats": list(job.settings.formats)},
        "segments": asr["segments"],
    }


def write_outputs(output_dir: Path, job: Job, doc: dict) -> list[str]:
    """Every format, JSON last; returns the paths written. The caller holds the job's claim,
    so the temporary files a killed run left beside them are nobody else's."""
    rels = output_paths(job)
    for rel in rels.values():
        remove_stale_temps(output_dir, rel)
    order = sorted(rels, key=lambda fmt: fmt == "json")
    return [str(atomic_write(output_dir, rels[fmt], render(fmt, doc))) for fmt in order]
