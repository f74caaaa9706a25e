"""What to transcribe: jobs discovered under ``--root`` or read from a YAML job manifest.

A manifest is validated whole before any audio is touched, and every problem is reported (file,
job index, field) in one go, so a 10,000-job manifest is not fixed one error per run.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, make_dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .audio import AUDIO_EXTENSIONS
from .errors import UsageError
from .flags import BY_NAME, JOB_FLAGS, cross_check
from .writers import contained_path

#: Per-job choices, one field per per-job row of :data:`swbatch.flags.FLAGS` (defaults included);
#: a job's own fields override the manifest's defaults, which override the CLI flags.
JobSettings = make_dataclass(
    "JobSettings",
    [(f.name, Any, field(default=f.default)) for f in JOB_FLAGS],
    frozen=True,
)


@dataclass(frozen=True)
class Job:
    """One audio file and where its outputs go (``output`` is relative, without extension)."""

    id: str
    audio: Path
    output: str
    settings: JobSettings = field(default_factory=JobSettings)


@dataclass(frozen=True)
class Batch:
    """Jobs plus the folder every output of theirs must land in; ``notes`` are what discovery
    left out on purpose (a symlink loop, a second link to the same folder), one line each."""

    output_dir: Path
    jobs: list[Job]
    notes: tuple[str, ...] = ()


# --- --root discovery ---------------------------------------------------------------------------


def discover(root: Path, settings: JobSettings, output_dir: Path | None = None) -> Batch:
    """Every audio file under ``root/raw_audio`` (recursive), outputs kept in the same sub-folders.

    The output name keeps the file's extension (``a.wav`` -> ``a.wav.json``) so ``a.wav`` and
    ``a.mp3`` never overwrite each other, and adding a file never renames another's outputs.
    Symlinked folders are followed (archives are often assembled from links), each real folder
    and each real file once: a link back to a folder above it (a loop) or to a folder already
    walked is left out with a note, and a file reached twice keeps its path without links.
    Outputs go under ``root`` unless ``output_dir`` (``--output``) is given: then nothing is
    written under ``root``, so it can be a read-only mount.
    """
    audio_root = root / "raw_audio"
    if not audio_root.is_dir():
        raise UsageError(f"no raw_audio folder under {root} (put audio files in {audio_root})")
    walk = _Walk(audio_root)
    walk.visit(audio_root, ancestors=())
    jobs = [Job(id=rel, audio=audio_root / rel, output=rel, settings=settings)
            for rel in walk.files()]  # fmt: skip
    return Batch(
        output_dir=output_dir or root,
        jobs=sorted(jobs, key=lambda j: j.id),
        notes=tuple(walk.notes),
    )


class _Walk:
    """One walk of raw_audio/ that follows symlinked folders without looping or repeating."""

    def __init__(self, audio_root: Path):
        self.audio_root = audio_root
        # every folder of the tree itself (no links followed): a link into it is a repeat
        self.walked = {_identity(d) for d, _, _ in os.walk(audio_root)}
        self.found: dict[object, list[tuple[bool, str]]] = {}  # file identity -> (via link, rel)
        self.notes: list[str] = []

    def visit(self, folder: Path, ancestors: tuple, via_link: bool = False) -> None:
        ancestors = (*ancestors, _identity(folder))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            rel = folder.relative_to(self.audio_root).as_posix()
            self.notes.append(f"raw_audio/{rel}: cannot read this folder ({exc.strerror}); skipped")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            rel = path.relative_to(self.audio_root).as_posix()
            if entry.is_dir() and not _is_audio_name(entry.name):
                if not entry.is_symlink():
                    self.visit(path, ancestors, via_link)
                    continue
                target = _identity(path)
                if target in ancestors:
                    self.notes.append(
                        f"raw_audio/{rel}: symlink loop (links to a folder above it); not followed"
                    )
                elif target in self.walked:
                    real = os.path.realpath(path)
                    self.notes.append(f"raw_audio/{rel}: {real} is walked once; not followed again")
                else:
                    self.walked.add(target)
                    self.visit(path, ancestors, via_link=True)
            elif _is_audio_name(entry.name):
                # a folder named like audio (x.wav/) or a broken link becomes a job that fails
                # with a clear reason; neither has an identity worth sharing
                key = _identity(path) if entry.is_file() else rel
                self.found.setdefault(key, []).append((via_link or entry.is_symlink(), rel))

    def files(self) -> list[str]:
        """One path per real file: the one without links, else the first by name."""
        chosen = []
        for paths in self.found.values():
            paths.sort()
            chosen.append(paths[0][1])
            for _via, rel in paths[1:]:
                self.notes.append(
                    f"raw_audio/{rel}: same file as raw_audio/{paths[0][1]}; transcribed once"
                )
        return chosen


def _identity(path: Path | str) -> tuple[int, int]:
    """What makes a folder or file the same one whichever link leads to it."""
    st = os.stat(path)
    return (st.st_dev, st.st_ino)


def _is_audio_name(name: str) -> bool:
    return Path(name).suffix.lower() in AUDIO_EXTENSIONS


# --- manifests ----------------------------------------------------------------------------------


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
