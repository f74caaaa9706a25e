"""Resolution of a model name (a ``--model`` value, or none) to a folder of the cache, offline.

At run time :func:`resolve_model` turns a model-set name, a faster-whisper short name, a hub repo id
or a local folder into a folder of the cache *without ever touching the network*: a model that is
not there is a :class:`ModelMissingError` naming the model, the folder searched and the prefetch
command that would bake it ("no surprise download").

Every source (hub repo, installed package, local folder) lands in huggingface_hub's cache layout
under the kind's folder (``whisper/``, ``emotion/``, ``diarization/``), so run-time lookup is one
code path: huggingface_hub's own offline lookup. The manifests themselves are read by
:mod:`swbatch.model_set`; the ``swbatch models`` listing is :mod:`swbatch.models_report`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .cache import CachePaths
from .errors import ModelMissingError, UsageError, VerifyError
from .hashing import short_revision
from .model_set import (
    COMMIT_RE,
    KINDS,
    REPO_RE,
    REQUIRED_FILES,
    ModelSet,
    ModelSpec,
    all_sets,
    prefetch_hint,
)
from .whisper_names import WHISPER_REPOS, short_name


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
    sets = all_sets()
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


def lookup_snapshot(
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
    holds = f" (it holds {', '.join(short_revision(r) for r in held)})" if held else ""
    return (
        f"{kind} model {name} ({want.repo_id}) at the revision the set pins, "
        f"{short_revision(want.revision or '')}, is not in the cache folder {folder}{holds}; "
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
    snapshot = lookup_snapshot(want.repo_id, want.revision, folder, kind, want.pinned)
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

    problem = size_mismatch(paths.root, snapshot)
    if problem:
        raise VerifyError(
            f"{kind} model {name} does not match the cache lock: {problem}; "
            "`swbatch cache --verify` lists every problem, prefetching the set again repairs it"
        )


def _locked_set(paths: CachePaths, kind: str, repo_id: str, revision: str) -> str | None:
    """The set that prefetched this snapshot, from the lock (None when there is no lock)."""
    from .lock import read_lock

    for entry in read_lock(paths.root).get("models", []):
        if (entry.get("kind"), entry.get("repo"), entry.get("revision")) == (
            kind,
            repo_id,
            revision,
        ):
            sets = entry.get("sets") or [None]
            return sets[0]
    return None


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
                        short_name(kind, repo.repo_id),
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
        listed = ", ".join(
            f"{m.name} ({m.repo_id}@{short_revision(m.revision or '')})" for m in models
        )
        raise UsageError(
            f"the cache holds {len(models)} whisper models, choose one with --model: {listed}"
        )
    _check_lock_sizes(paths, models[0].path, models[0].name, "whisper")
    return models[0]
