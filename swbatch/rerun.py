"""What a rerun does with a job that has outputs already: skip, redo, enrich, or write formats.

A finished JSON records everything that shaped it: the model (repo id or folder, and revision) in
``model``, and every flag whose ``shapes`` column in :mod:`swbatch.flags` is "asr", "diarize" or
"emotion" in ``options``, with their digest in ``fingerprint``. Settings that decide only how a
batch runs (device, compute type, batch size, workers) are left out on purpose: moving a batch to
a GPU must not redo it. On a rerun the recorded settings are compared with the job's settings now:

- same settings, every output there -> **skip**;
- a transcription setting differs -> **redo** the job, saying which (``beam_size 5 -> 1``);
- only emotion settings differ, or diarization is added to an undiarized transcript -> **enrich**:
  run only those stages on the existing transcript (no transcription);
- diarization changed on a diarized transcript -> **redo** (its segments were split by speaker,
  so the original transcript is gone);
- only formats were added, or the subtitle layout changed -> **write** those files from the JSON.

A JSON written before settings were recorded (no ``fingerprint``) counts as done. ``--overwrite``
redoes everything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .flags import JOB_FLAGS
from .status import ALREADY_DONE

#: flags that matter only when another one is on
_ONLY_WITH = {
    "vad_threshold": "vad", "vad_min_silence_ms": "vad", "vad_speech_pad_ms": "vad",
    "diarization_model": "diarize", "num_speakers": "diarize", "min_speakers": "diarize",
    "max_speakers": "diarize", "speaker_link_similarity": "diarize", "emotion_model": "emotion",
    "emotion_dimensional_model": "emotion_dimensional",
}  # fmt: skip
ACTIONS = ("run", "redo", "enrich", "write", "skip")
_SHAPES = {f.name: f.shapes for f in JOB_FLAGS if f.shapes and f.name != "model"}


@dataclass
class Plan:
    """What to do with one job, and why (the reason goes to the progress line and the record)."""

    action: str  # run | skip | redo | enrich | write
    reason: str
    doc: dict | None = None  # the existing JSON, for enrich and write
    formats: tuple[str, ...] = field(default_factory=tuple)  # for write: the formats to write


def _plain(value: Any) -> Any:
    """The value as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value))


def recorded_options(settings: Any, batch_size: int) -> dict:
    """The ``options`` block of a JSON: every per-job setting in force (word timestamps as
    actually used), the batch size, the formats and the subtitle layout."""
    from .flags import asr_kwargs

    options = {f.name: _plain(getattr(settings, f.name)) for f in JOB_FLAGS if f.name != "model"}
    options = {k: v for k, v in options.items() if k not in _ONLY_WITH or options[_ONLY_WITH[k]]}
    options["word_timestamps"] = asr_kwargs(settings)["word_timestamps"]
    options["batch_size"] = batch_size
    return options


def model_identity(model: dict) -> str:
    """``repo@revision`` (or the folder, for a model given as one)."""
    return f"{model.get('repo_id') or model.get('path')}@{model.get('revision')}"


def shaping(model: dict, options: dict) -> dict:
    """The settings that shaped a result: the model and the shaping options."""
    out = {"model": model_identity(model)}
    out.update({k: options[k] for k in _SHAPES if k in options})
    return out


def fingerprint(model: dict, options: dict) -> str:
    text = json.dumps(shaping(model, options), sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def changes(old: dict, new: dict, part: str | None = None) -> list[str]:
    """``name old -> new`` for each setting (of one ``shapes`` part, or the model) that differs;
    a setting that only matters with another one shows up through that one."""
    out = []
    for key in new:
        if (key == "model") != (part is None) or (part and _SHAPES.get(key) != part):
            continue
        if key in old and old[key] != new[key]:
            out.append(f"{key} {_show(old[key])} -> {_show(new[key])}")
    return out


def _show(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return ",".join(str(v) for v in value) if isinstance(value, list) else str(value)


def compare(output_dir: Path, outputs: dict[str, str], model: dict, options: dict,
            overwrite: bool) -> Plan:  # fmt: skip
    """The plan for one job whose outputs go to ``outputs`` ({format: relative path}), given
    the model block and options it would be run with now."""
    json_rel = outputs.get("json")
    missing = tuple(fmt for fmt, rel in outputs.items() if not (output_dir / rel).is_file())
    doc = _read(output_dir / json_rel) if json_rel else None
    if json_rel and not (output_dir / json_rel).exists():
        return Plan("run", "--overwrite" if overwrite else "new")
    if overwrite:
        return Plan("redo", "--overwrite")
    if json_rel and doc is None:
        return Plan("redo", "existing JSON does not parse")
    if doc is None or "fingerprint" not in doc:  # no JSON asked for, or one from before
        if not missing:
            return Plan("skip", ALREADY_DONE)
        if doc is None:
            return Plan("run", "outputs missing: " + ", ".join(missing))
        return Plan("write", "formats added: " + ", ".join(missing), doc, missing)
    old = shaping(doc["model"], doc["options"])
    new = shaping(model, options)
    asr = changes(old, new) + changes(old, new, "asr")
    diarize = changes(old, new, "diarize")
    if asr or (diarize and old.get("diarize")):
        return Plan("redo", "settings changed: " + ", ".join(asr + diarize))
    enrich = diarize + changes(old, new, "emotion")
    if enrich:
        return Plan("enrich", "settings changed: " + ", ".join(enrich), doc)
    layout = [k for k in ("max_line_width", "max_line_count")
              if doc["options"].get(k) != options.get(k)]  # fmt: skip
    subtitles = tuple(f for f in ("srt", "vtt") if f in outputs) if layout else ()
    if subtitles:
        reason = "subtitle layout changed: " + ", ".join(
            f"{k} {_show(doc['options'].get(k))} -> {_show(options.get(k))}" for k in layout
        )
        return Plan("write", reason, doc, (*dict.fromkeys((*subtitles, *missing)), "json"))
    if missing:
        return Plan("write", "formats added: " + ", ".join(missing), doc, missing)
    return Plan("skip", ALREADY_DONE)


def _read(path: Path) -> dict | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and "options" in doc and "model" in doc else None
