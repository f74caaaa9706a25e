"""YAML job manifests: read safely, typed by the flags table, validated whole.

A manifest is validated whole before any audio is touched, and every problem is reported (file,
job index, field) in one go, so a 10,000-job manifest is not fixed one error per run.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .errors import UsageError
from .flags import BY_NAME, cross_check
from .jobs import Batch, Job, JobSettings
from .writers import contained_path


class _Plain(str):
    """A plain (unquoted) YAML scalar, kept as the text the user typed until the schema says
    what the field is (see :func:`_typed`)."""


#: libyaml's parser where PyYAML has it: a 10,000-job manifest parses about 3x faster
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _ManifestLoader(_Loader):  # type: ignore[misc, valid-type]
    """Safe YAML for job manifests: no guessing of scalar types (and no aliases, see
    :func:`_refuse_aliases`).

    YAML 1.1 turns ``id: 012`` into the int 10, ``language: no`` (Norwegian) into False and
    ``output: 2024`` into an int; here every plain scalar but null stays text and the flags
    table (:mod:`swbatch.flags`) decides.
    """

    yaml_implicit_resolvers: ClassVar[dict] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag == "tag:yaml.org,2002:null"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_yaml_str(self, node):  # type: ignore[override]
        text = super().construct_scalar(node)
        return _Plain(text) if not node.style else text  # plain: None (PyYAML), "" (libyaml)


_ManifestLoader.add_constructor("tag:yaml.org,2002:str", _ManifestLoader.construct_yaml_str)

#: what plain scalars mean in the fields that are not text (YAML 1.1's words for booleans)
_BOOLS = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def _typed(value: Any, is_text: bool) -> Any:
    """A plain scalar (or a list of them) as what it looks like: text for a text field (``012``
    stays "012", ``no`` is Norwegian), else a bool, a whole number or a number; a quoted value
    stays text (``"2"``), and the field's check names it."""
    if isinstance(value, list):
        return [_typed(item, is_text) for item in value]
    if not isinstance(value, _Plain):
        return value
    text = str(value)
    if is_text:
        return text
    if text.lower() in _BOOLS:
        return _BOOLS[text.lower()]
    if re.fullmatch(r"[-+]?[0-9]+", text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


MANIFEST_KEYS = {"output_dir", "defaults", "jobs"}
MODEL_FIELDS = ("model", "diarization_model", "emotion_model", "emotion_dimensional_model")
#: the fields of a job entry that are not settings
_TYPES: dict[str, tuple[type, ...]] = {"audio": (str,), "id": (str,), "output": (str,)}


class _Problems:
    """Collects every validation problem of one manifest, each prefixed with where it is."""

    def __init__(self, path: Path):
        self.path = path
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{self.path}: {where}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            shown = self.items[:50]
            more = len(self.items) - len(shown)
            tail = [f"... and {more} more"] if more else []
            count = f"{len(self.items)} problem{'s' if len(self.items) != 1 else ''}"
            raise UsageError(f"invalid job manifest ({count}):\n  " + "\n  ".join(shown + tail))


def load_manifest(path: Path, cli_settings: JobSettings, output_dir: Path | None = None) -> Batch:
    """Read and validate a job manifest; relative paths resolve against its folder.

    ``output_dir`` (``--output``) replaces the manifest's own ``output_dir``, so the manifest and
    its audio can sit on a read-only mount.
    """
    data = _read_yaml(path)
    problems = _Problems(path)
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a job manifest is a mapping with 'jobs' (and 'output_dir')")
    for key in sorted(set(data) - MANIFEST_KEYS):
        problems.add(key, f"unknown key (allowed: {', '.join(sorted(MANIFEST_KEYS))})")
    base = path.parent.resolve()
    output_dir = output_dir or base / str(data.get("output_dir") or "out")
    defaults = _settings(data.get("defaults") or {}, cli_settings, "defaults", problems, base)
    raw_jobs = data.get("jobs")
    if not isinstance(raw_jobs, list) or not raw_jobs:
        problems.add("jobs", "must be a non-empty list")
        raw_jobs = []
    jobs = [_job(i, raw, base, output_dir, defaults, problems) for i, raw in enumerate(raw_jobs)]
    _check_unique(jobs, problems)
    problems.raise_if_any()
    return Batch(output_dir=output_dir, jobs=[j for j in jobs if j is not None])


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"cannot read job manifest {path}: {getattr(exc, 'strerror', exc)}"
        ) from None
    try:
        _refuse_aliases(text)
        return yaml.load(text, Loader=_ManifestLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UsageError(f"{path}: invalid YAML{where}: {problem}") from None


def _refuse_aliases(text: str) -> None:
    """Anchors/aliases are refused before anything is built: a job list never needs them, and
    an alias bomb must be rejected before it can expand."""
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in job manifests", event.start_mark
            )


def _settings(
    raw: Any, base: JobSettings, where: str, problems: _Problems, folder: Path
) -> JobSettings:
    """Check the settings of a mapping (the flags table's per-job rows) and apply them over
    ``base``; null means "not set here". A model given as ``./x`` or ``../x`` is a folder
    beside the manifest."""
    if not isinstance(raw, dict):
        problems.add(where, "must be a mapping")
        return base
    changes = {}
    for key, value in raw.items():
        flag = BY_NAME.get(key)
        if flag is None or not flag.per_job:
            problems.add(f"{where}.{key}", "unknown key")
        elif value is not None:
            try:
                changes[key] = flag.check(value := _typed(value, flag.is_text))
                if key in MODEL_FIELDS and value.startswith(("./", "../")):
                    changes[key] = str(folder / value)
            except ValueError as exc:
                problems.add(f"{where}.{key}", str(exc)[:200])
    settings = replace(base, **changes)
    for problem in cross_check(vars(settings)):
        problems.add(where, problem)
    return settings


def _type_ok(key: str, value: Any, where: str, problems: _Problems) -> bool:
    expected = _TYPES[key]
    ok = False if isinstance(value, bool) and bool not in expected else isinstance(value, expected)
    if not ok:
        names = " or ".join(t.__name__ for t in expected)
        problems.add(where, f"must be {names}, got {type(value).__name__} {value!r}"[:200])
    return ok


def _job(
    index: int, raw: Any, base: Path, output_dir: Path, defaults: JobSettings, problems: _Problems
) -> Job | None:
    where = f"jobs[{index}]"
    if isinstance(raw, str):
        raw = {"audio": raw}
    if not isinstance(raw, dict):
        problems.add(where, "must be a mapping with 'audio' (or a path string)")
        return None
    raw = {k: _typed(v, True) if k in _TYPES else v for k, v in raw.items()}
    for key in ("audio", "id", "output"):
        if key in raw:
            _type_ok(key, raw[key], f"{where}.{key}", problems)
    audio = raw.get("audio")
    if not isinstance(audio, str) or not audio.strip():
        if "audio" not in raw:
            problems.add(f"{where}.audio", "missing (the audio file to transcribe)")
        return None
    fields = {k: v for k, v in raw.items() if k not in ("audio", "id", "output")}
    settings = _settings(fields, defaults, where, problems, base)
    audio_path = (base / audio).absolute()
    output = str(raw.get("output") or _default_output(audio_path, base))
    try:
        contained_path(output_dir, output + ".json")
    except UsageError:
        problems.add(f"{where}.output", f"{output!r} would be written outside output_dir")
    return Job(id=str(raw.get("id", output)), audio=audio_path, output=output, settings=settings)


def _default_output(audio: Path, base: Path) -> str:
    try:
        return audio.relative_to(base).as_posix()
    except ValueError:
        return audio.name


def _check_unique(jobs: list[Job | None], problems: _Problems) -> None:
    seen_ids: dict[str, int] = {}
    seen_outputs: dict[str, int] = {}
    for i, job in enumerate(jobs):
        if job is None:
            continue
        if job.id in seen_ids:
            problems.add(
                f"jobs[{i}].id", f"duplicate id {job.id!r} (also jobs[{seen_ids[job.id]}])"
            )
        if job.output in seen_outputs:
            problems.add(
                f"jobs[{i}].output",
                f"same output as jobs[{seen_outputs[job.output]}]: {job.output!r}",
            )
        seen_ids.setdefault(job.id, i)
        seen_outputs.setdefault(job.output, i)
