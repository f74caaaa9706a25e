"""Model-set manifests: reading and validating the YAML files that say which models an image bakes.

A *model set* (``swbatch/model_sets/<set>.yaml``, package data: in the wheel and every image) is a
named list of models, each with its kind, hub repo, licence and the source prefetch takes it from
(a pinned hub revision, an installed package or a folder). Parsing is strict: every error names the
file and the field, so a typo in a manifest fails at build time, not on the first job.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import UsageError
from .hashing import COMMIT_RE

KINDS = ("whisper", "emotion", "diarization")
SOURCE_TYPES = ("hub", "package", "folder")
REF_RE = re.compile(r"[\w.\-/]+")
REPO_RE = re.compile(r"[A-Za-z0-9][\w.\-]*/[\w.\-]+")
#: files a snapshot of each kind must hold to be usable (a half-written snapshot is not a model)
REQUIRED_FILES = {
    "whisper": ("model.bin", "config.json"),
    "diarization": ("config.yaml",),
    "emotion": ("config.json",),
}


@dataclass(frozen=True)
class Source:
    """Where prefetch takes a model from: a pinned hub revision, an installed package, a folder."""

    type: str
    revision: str | None = None  # hub
    package: str | None = None  # package: import name
    path: str | None = None  # package: path inside it; folder: path (relative to the manifest)


@dataclass(frozen=True)
class ModelSpec:
    """One model of a set: its identity in the cache (kind + repo) and where it comes from."""

    name: str
    kind: str
    repo: str
    source: Source
    license: str
    files: tuple[str, ...] = ()  # file names or glob patterns; empty = the whole repo
    gated: bool = False
    description: str = ""

    @property
    def pinned(self) -> bool:
        """Whether the source names one immutable revision (hub: a commit hash)."""
        return self.source.type != "hub" or bool(COMMIT_RE.fullmatch(self.source.revision or ""))


@dataclass(frozen=True)
class ModelSet:
    """A manifest file: a named list of models an image carries."""

    name: str
    path: Path
    models: tuple[ModelSpec, ...]
    description: str = ""

    def entry(self, kind: str) -> ModelSpec | None:
        """The set's (first) model of ``kind``."""
        return next((m for m in self.models if m.kind == kind), None)


SET_KEYS = {"name": str, "description": str, "models": list}
MODEL_KEYS = {
    "name": str,
    "kind": str,
    "repo": str,
    "source": dict,
    "files": list,
    "gated": bool,
    "license": str,
    "description": str,
}
MODEL_REQUIRED = ("name", "kind", "repo", "source", "license")
SOURCE_KEYS = {
    "hub": {"type", "revision"},
    "package": {"type", "package", "path"},
    "folder": {"type", "path"},
}


def _check_keys(data: dict, allowed: dict | set, where: str, file: Path) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise UsageError(
            f"{file}: {where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )
    if isinstance(allowed, dict):
        for key, typ in allowed.items():
            if key in data and not isinstance(data[key], typ):
                raise UsageError(
                    f"{file}: {where}.{key}: expected {typ.__name__}, "
                    f"got {type(data[key]).__name__}"
                )


def _parse_source(raw: dict, where: str, file: Path) -> Source:
    stype = raw.get("type")
    if stype not in SOURCE_TYPES:
        raise UsageError(
            f"{file}: {where}.type: must be one of {', '.join(SOURCE_TYPES)}, got {stype!r}"
        )
    _check_keys(raw, SOURCE_KEYS[stype], where, file)
    for key in SOURCE_KEYS[stype] - {"type"}:
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise UsageError(f"{file}: {where}.{key}: required for a {stype} source (a string)")
    if stype == "hub" and not REF_RE.fullmatch(raw["revision"]):
        raise UsageError(
            f"{file}: {where}.revision: a 40-hex commit hash (or a branch/tag "
            f"name), got {raw['revision']!r}"
        )
    return Source(
        type=stype, revision=raw.get("revision"), package=raw.get("package"), path=raw.get("path")
    )


def _parse_model(raw: Any, where: str, file: Path) -> ModelSpec:
    if not isinstance(raw, dict):
        raise UsageError(f"{file}: {where}: expected a mapping, got {type(raw).__name__}")
    _check_keys(raw, MODEL_KEYS, where, file)
    for key in MODEL_REQUIRED:
        if key not in raw:
            raise UsageError(f"{file}: {where}.{key}: required")
    if raw["kind"] not in KINDS:
        raise UsageError(
            f"{file}: {where}.kind: must be one of {', '.join(KINDS)}, got {raw['kind']!r}"
        )
    if not REPO_RE.fullmatch(raw["repo"]):
        raise UsageError(f"{file}: {where}.repo: expected OWNER/NAME, got {raw['repo']!r}")
    files = raw.get("files", [])
    if not all(isinstance(f, str) and f and not f.startswith("/") and ".." not in f for f in files):
        raise UsageError(f"{file}: {where}.files: a list of relative file names or patterns")
    return ModelSpec(
        name=raw["name"],
        kind=raw["kind"],
        repo=raw["repo"],
        source=_parse_source(raw["source"], f"{where}.source", file),
        license=raw["license"],
        files=tuple(files),
        gated=raw.get("gated", False),
        description=raw.get("description", ""),
    )


def load_model_set(file: str | Path) -> ModelSet:
    """Parse and validate one manifest; every error names the file and the field."""
    import yaml

    path = Path(file).expanduser()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read model set {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping with a 'models' list at the top")
    _check_keys(data, SET_KEYS, "top level", path)
    if not data.get("models"):
        raise UsageError(f"{path}: models: required, a non-empty list")
    models = tuple(_parse_model(m, f"models[{i}]", path) for i, m in enumerate(data["models"]))
    seen: set[tuple[str, str]] = set()
    for i, m in enumerate(models):
        if (m.kind, m.name) in seen:
            raise UsageError(f"{path}: models[{i}].name: {m.kind} model {m.name!r} listed twice")
        seen.add((m.kind, m.name))
    name = data.get("name", path.stem)
    return ModelSet(
        name=name, path=path.resolve(), models=models, description=data.get("description", "")
    )


def model_sets_dir() -> Path:
    """The folder of the model sets that ship with swbatch (package data; override for tests)."""
    override = os.environ.get("SWBATCH_MODEL_SETS")
    if override:
        return Path(override)
    return Path(__file__).resolve().parent / "model_sets"


def available_sets() -> dict[str, Path]:
    """Set name -> manifest file, for every manifest shipped with swbatch."""
    folder = model_sets_dir()
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def find_model_set(name_or_path: str | Path) -> ModelSet:
    """A set by name (``demo``) or by manifest path (``my-set.yaml``)."""
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml") or path.exists():
        return load_model_set(path)
    sets = available_sets()
    if str(name_or_path) not in sets:
        raise UsageError(
            f"unknown model set {name_or_path!r}; choose one of: "
            f"{', '.join(sets) or '(none shipped)'} or give a manifest file"
        )
    return load_model_set(sets[str(name_or_path)])


def prefetch_hint(set_name: str | None) -> str:
    """The command that would bake a set: by name, so it works in any install (wheel, image)."""
    if set_name is None:
        return (
            "no shipped model set holds it: list it in a manifest and run "
            "`swbatch prefetch MANIFEST.yaml`"
        )
    return f"fetch it with `swbatch prefetch {set_name}`"


def all_sets() -> list[ModelSet]:
    """Every manifest shipped with swbatch, parsed."""
    return [load_model_set(p) for p in available_sets().values()]
