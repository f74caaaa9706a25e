"""Model specs, model-set manifests and offline resolution of a model name to a cache folder.

A *model set* (``swbatch/model_sets/<set>.yaml``, package data: in the wheel and every image)
says which models an image bakes. ``swbatch prefetch`` puts them into the
cache; at run time :func:`resolve_model` turns a name into a folder of that cache *without ever
touching the network*: a model that is not there is a :class:`ModelMissingError` naming the model,
the folder searched and the prefetch command that would bake it ("no surprise download").

Every source (hub repo, installed package, local folder) lands in huggingface_hub's cache layout
under the kind's folder (``whisper/``, ``emotion/``, ``diarization/``), so run-time lookup is one
code path: huggingface_hub's own offline lookup.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cache import CachePaths
from .errors import ModelMissingError, UsageError, VerifyError

KINDS = ("whisper", "emotion", "diarization")
SOURCE_TYPES = ("hub", "package", "folder")
COMMIT_RE = re.compile(r"[0-9a-f]{40}")
REF_RE = re.compile(r"[\w.\-/]+")
REPO_RE = re.compile(r"[A-Za-z0-9][\w.\-]*/[\w.\-]+")
#: files a snapshot of each kind must hold to be usable (a half-written snapshot is not a model)
REQUIRED_FILES = {
    "whisper": ("model.bin", "config.json"),
    "diarization": ("config.yaml",),
    "emotion": ("config.json",),
}

#: faster-whisper's short names (a copy of faster_whisper.utils._MODELS: importing faster_whisper
#: pulls in ctranslate2, which `swbatch --help` must not pay for; a test keeps the two equal)
WHISPER_REPOS = {
    "tiny.en": "Systran/faster-whisper-tiny.en",
    "tiny": "Systran/faster-whisper-tiny",
    "base.en": "Systran/faster-whisper-base.en",
    "base": "Systran/faster-whisper-base",
    "small.en": "Systran/faster-whisper-small.en",
    "small": "Systran/faster-whisper-small",
    "medium.en": "Systran/faster-whisper-medium.en",
    "medium": "Systran/faster-whisper-medium",
    "large-v1": "Systran/faster-whisper-large-v1",
    "large-v2": "Systran/faster-whisper-large-v2",
    "large-v3": "Systran/faster-whisper-large-v3",
    "large": "Systran/faster-whisper-large-v3",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "distil-large-v3.5": "distil-whisper/distil-large-v3.5-ct2",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}


# --- manifests --------------------------------------------------------------------------------


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


# --- resolution -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedModel:
    """A model found on disk: what was asked for and the folder that holds its files."""

    name: str
    kind: str
    repo_id: str | None
    revision: str | None
    path: Path
    model_set: str | None


@dataclass
class _Wanted:
    """What a name means before the cache is looked at."""

    repo_id: str
    revision: str | None = None
    model_set: str | None = None  # the set to suggest when it is missing
    sets: list[str] = field(default_factory=list)
    #: named by its model set: the set's revision is a pin, and no other revision will do
    pinned: bool = False


def _all_sets() -> list[ModelSet]:
    return [load_model_set(p) for p in available_sets().values()]


def _smallest_set_with(sets: list[ModelSet], kind: str, repo_id: str) -> ModelSpec | None:
    """The entry of the smallest shipped set that holds ``repo_id`` (the cheapest to bake)."""
    best: tuple[int, str, ModelSpec] | None = None
    for s in sets:
        for m in s.models:
            if m.kind == kind and m.repo == repo_id and (best is None or len(s.models) < best[0]):
                best = (len(s.models), s.name, m)
    return best[2] if best else None


def _set_of(sets: list[ModelSet], spec: ModelSpec) -> str:
    return next(s.name for s in sets if spec in s.models)


def _wanted(name: str, kind: str) -> _Wanted:
    """Turn a set name, short whisper name or repo id into a repo (and pinned revision)."""
    sets = _all_sets()
    by_name = {s.name: s for s in sets}
    if name in by_name:
        spec = by_name[name].entry(kind)
        if spec is None:
            held = ", ".join(f"{m.kind} {m.name}" for m in by_name[name].models)
            raise UsageError(f"model set {name!r} has no {kind} model (it holds: {held})")
        return _Wanted(spec.repo, spec.source.revision, name, pinned=True)
    if kind == "whisper" and name in WHISPER_REPOS:
        repo_id = WHISPER_REPOS[name]
    elif REPO_RE.fullmatch(name):
        repo_id = name
    else:
        names = ", ".join(sorted(WHISPER_REPOS)) if kind == "whisper" else ""
        raise UsageError(
            f"unknown {kind} model {name!r}: give a model set ({', '.join(by_name)}), "
            + (f"a whisper name ({names}), " if names else "")
            + "a hub repo id (OWNER/NAME) or an existing folder"
        )
    spec = _smallest_set_with(sets, kind, repo_id)
    if spec is None:
        return _Wanted(repo_id)
    return _Wanted(repo_id, spec.source.revision, _set_of(sets, spec))


def _lookup(
    repo_id: str, revision: str | None, folder: Path, kind: str, pinned: bool = False
) -> Path | None:
    """huggingface_hub's offline lookup of ``revision``; unless it is ``pinned``, what ``main``
    is when that revision is not cached (a repo named without a set: any baked one will do).

    Only the kind's required files are asked for: a prefetch takes a subset of a repo's files,
    and huggingface_hub's completeness check would otherwise count the README as missing.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    if not folder.is_dir():
        return None
    for rev in (revision,) if pinned else dict.fromkeys((revision, None)):
        try:
            return Path(
                snapshot_download(
                    repo_id,
                    revision=rev,
                    cache_dir=folder,
                    allow_patterns=list(REQUIRED_FILES[kind]),
                    local_files_only=True,
                )
            )
        except (LocalEntryNotFoundError, FileNotFoundError, OSError):
            continue
    return None


def _missing(name: str, kind: str, repo_id: str, folder: Path, set_name: str | None) -> str:
    shown = name if name == repo_id else f"{name} ({repo_id})"
    return f"{kind} model {shown} is not in the cache folder {folder}; {prefetch_hint(set_name)}"


def _pin_missing(name: str, kind: str, want: _Wanted, folder: Path) -> str:
    """The pinned revision is not cached: say so, and which revisions the cache does hold."""
    from huggingface_hub.file_download import repo_folder_name

    snapshots = folder / repo_folder_name(repo_id=want.repo_id, repo_type="model") / "snapshots"
    held = sorted(p.name for p in snapshots.glob("*")) if snapshots.is_dir() else []
    holds = f" (it holds {', '.join(_short_rev(r) for r in held)})" if held else ""
    return (
        f"{kind} model {name} ({want.repo_id}) at the revision the set pins, "
        f"{_short_rev(want.revision or '')}, is not in the cache folder {folder}{holds}; "
        + prefetch_hint(want.model_set)
    )


def resolve_model(
    name: str, kind: str = "whisper", paths: CachePaths | None = None
) -> ResolvedModel:
    """The folder of a model in the cache (or a local folder), never downloading anything.

    ``name`` is a model-set name (that set's model of ``kind``), a faster-whisper short name, a
    hub repo id, or an existing folder. Raises ModelMissingError (exit 3) with one line when the
    model is not cached, and UsageError for a name that means nothing.
    """
    if kind not in KINDS:
        raise UsageError(f"unknown model kind {kind!r}; choose one of: {', '.join(KINDS)}")
    if not name or not isinstance(name, str):
        raise UsageError(f"no {kind} model named")
    local = Path(name).expanduser()
    if local.is_dir() and (os.sep in name or name.startswith((".", "~"))):
        return ResolvedModel(name, kind, None, None, local.resolve(), None)
    paths = paths or CachePaths.from_env()
    folder = paths.folder_of_kind(kind)
    want = _wanted(name, kind)
    snapshot = _lookup(want.repo_id, want.revision, folder, kind, want.pinned)
    if snapshot is None and want.pinned and COMMIT_RE.fullmatch(want.revision or ""):
        raise ModelMissingError(_pin_missing(name, kind, want, folder))
    if snapshot is None:
        raise ModelMissingError(_missing(name, kind, want.repo_id, folder, want.model_set))
    absent = [f for f in REQUIRED_FILES[kind] if not (snapshot / f).exists()]
    if absent:
        raise ModelMissingError(
            f"{kind} model {name} in {snapshot} is incomplete (no {absent[0]}); "
            + prefetch_hint(want.model_set)
        )
    _check_lock_sizes(paths, snapshot, name, kind)
    return ResolvedModel(
        name,
        kind,
        want.repo_id,
        snapshot.name,
        snapshot,
        _locked_set(paths, kind, want.repo_id, snapshot.name) or want.model_set,
    )


def _check_lock_sizes(paths: CachePaths, snapshot: Path, name: str, kind: str) -> None:
    """Refuse a snapshot whose files no longer match the lock's sizes (exit 4, one line)."""
    from .lock import size_mismatch

    problem = size_mismatch(paths, snapshot)
    if problem:
        raise VerifyError(
            f"{kind} model {name} does not match the cache lock: {problem}; "
            "`swbatch cache --verify` lists every problem, prefetching the set again repairs it"
        )


def _locked_set(paths: CachePaths, kind: str, repo_id: str, revision: str) -> str | None:
    """The set that prefetched this snapshot, from the lock (None when there is no lock)."""
    from .lock import read_lock

    for entry in read_lock(paths).get("models", []):
        if (entry.get("kind"), entry.get("repo"), entry.get("revision")) == (
            kind,
            repo_id,
            revision,
        ):
            sets = entry.get("sets") or [None]
            return sets[0]
    return None


def _short_name(kind: str, repo_id: str) -> str:
    if kind == "whisper":
        names = [n for n, r in WHISPER_REPOS.items() if r == repo_id]
        if names:
            return min(names, key=lambda n: (n in ("large", "turbo"), len(n)))
    return repo_id


def cached_models(kind: str = "whisper", paths: CachePaths | None = None) -> list[ResolvedModel]:
    """Every usable snapshot the cache holds for ``kind``, named by short name where one exists.

    Read with huggingface_hub's cache scanner; snapshots missing a required file are left out.
    Sorted by name, then revision.
    """
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    if kind not in KINDS:
        raise UsageError(f"unknown model kind {kind!r}; choose one of: {', '.join(KINDS)}")
    paths = paths or CachePaths.from_env()
    folder = paths.folder_of_kind(kind)
    if not folder.is_dir():
        return []
    try:
        info = scan_cache_dir(folder)
    except CacheNotFound:
        return []
    found = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        for rev in repo.revisions:
            snap = Path(rev.snapshot_path)
            if all((snap / f).exists() for f in REQUIRED_FILES[kind]):
                found.append(
                    ResolvedModel(
                        _short_name(kind, repo.repo_id),
                        kind,
                        repo.repo_id,
                        rev.commit_hash,
                        snap,
                        _locked_set(paths, kind, repo.repo_id, rev.commit_hash),
                    )
                )
    return sorted(found, key=lambda m: (m.name, m.revision or ""))


def default_whisper_model(paths: CachePaths | None = None) -> ResolvedModel:
    """The whisper model to use when none is named: the one the cache holds.

    An image bakes the model it is meant to run, so with exactly one cached model there is no
    choice to make. With several, guessing would silently pick a model the user did not mean:
    the error lists them instead. With none, it says how to bake the small demo set.
    """
    paths = paths or CachePaths.from_env()
    models = cached_models("whisper", paths)
    if not models:
        raise ModelMissingError(
            f"no whisper model is in the cache folder {paths.whisper_root}; name one with "
            f"--model, or {prefetch_hint('demo')}"
        )
    if len(models) > 1:
        listed = ", ".join(f"{m.name} ({m.repo_id}@{(m.revision or '')[:12]})" for m in models)
        raise UsageError(
            f"the cache holds {len(models)} whisper models, choose one with --model: {listed}"
        )
    _check_lock_sizes(paths, models[0].path, models[0].name, "whisper")
    return models[0]


# --- listing (swbatch models) -----------------------------------------------------------------


def _present(spec: ModelSpec, paths: CachePaths) -> str | None:
    """The cached revision of a set entry (exactly the one it pins), or None."""
    try:
        snapshot = _lookup(
            spec.repo, spec.source.revision, paths.folder_of_kind(spec.kind), spec.kind, True
        )
    except UsageError:
        return None
    if snapshot is None or not all((snapshot / f).exists() for f in REQUIRED_FILES[spec.kind]):
        return None
    return snapshot.name


def models_report(paths: CachePaths | None = None) -> dict:
    """Every shipped model set, what each holds, and which entries the cache already has."""
    paths = paths or CachePaths.from_env()
    sets = []
    for mset in _all_sets():
        models = []
        for spec in mset.models:
            revision = _present(spec, paths)
            models.append(
                {
                    "name": spec.name,
                    "kind": spec.kind,
                    "repo": spec.repo,
                    "source": spec.source.type,
                    "revision": spec.source.revision,
                    "pinned": spec.pinned,
                    "gated": spec.gated,
                    "license": spec.license,
                    "present": revision is not None,
                    "cached_revision": revision,
                }
            )
        sets.append(
            {
                "name": mset.name,
                "description": mset.description,
                "manifest": str(mset.path),
                "present": all(m["present"] for m in models),
                "models": models,
            }
        )
    return {"cache_root": str(paths.root), "sets_dir": str(model_sets_dir()), "sets": sets}


def _short_rev(revision: str) -> str:
    """Commit hashes shortened like git's; revision names (pkg-..., dir-...) kept whole."""
    return revision[:12] if COMMIT_RE.fullmatch(revision) else revision


def format_models_report(report: dict) -> str:
    """A block per set: its status, then one line per model with licence and gating."""
    lines = [f"model sets (cache root {report['cache_root']}):"]
    for s in report["sets"]:
        mark = "present" if s["present"] else f"not in cache: swbatch prefetch {s['name']}"
        lines.append(f"  {s['name']:<16}[{mark}]  {s['description']}")
        for m in s["models"]:
            flags = [m["license"]]
            if m["gated"]:
                flags.append("gated")
            if not m["pinned"]:
                flags.append("unpinned")
            where = f"cached @{_short_rev(m['cached_revision'])}" if m["present"] else "missing"
            lines.append(
                f"      {m['kind']:<12}{m['name']:<16}{m['repo']}  ({', '.join(flags)})  {where}"
            )
    lines.append("bake a set: swbatch prefetch SET")
    return "\n".join(lines)
