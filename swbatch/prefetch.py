"""Prefetch: put the models of a model set into the cache, in hub layout, and lock them.

Hub sources go through huggingface_hub's own download path (retries, resumable ``.incomplete``
files, the hub's cache layout). Package and folder sources are copied into the same layout
(``blobs/<sha256>``, ``snapshots/<revision>/<file>`` symlinks, ``refs/main``), so run-time lookup
is one code path whatever the source. A file already in the cache is reused only when its
content equals its source's (swbatch.sources); anything else is fetched again, and only
checked content is hashed into the lock, so a prefetch repairs a damaged cache, never hides it.

A gated-model token comes from ``--token-file`` or ``HF_TOKEN``; it is handed to huggingface_hub
for the request headers only and is never printed, logged or written anywhere.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from . import sources
from .cache import CachePaths, configure_global_cache_env, human_size
from .errors import SwbatchError, UsageError
from .fsutil import write_atomic
from .hashing import sha256_file
from .lock import lock_path, record, snapshot_files
from .model_set import REQUIRED_FILES, ModelSet, ModelSpec, find_model_set
from .version import __version__


class PrefetchError(SwbatchError):
    """A download failed (unknown repo, gated, network): exit 2 with one line."""


# --- token --------------------------------------------------------------------------------------


def read_token(token_file: str | None = None) -> str | None:
    """The hub token: the file's first line if a file is given, else ``HF_TOKEN``, else None."""
    if token_file:
        path = Path(token_file).expanduser()
        try:
            token = path.read_text(encoding="utf-8").strip().splitlines()
        except OSError as exc:
            raise UsageError(f"cannot read the token file {path}: {exc.strerror}") from None
        if not token or not token[0].strip():
            raise UsageError(f"the token file {path} is empty")
        return token[0].strip()
    return os.environ.get("HF_TOKEN") or None


# --- hub layout -----------------------------------------------------------------------------------


def repo_folder(kind_folder: Path, repo_id: str) -> Path:
    """``models--OWNER--NAME`` under a kind folder (huggingface_hub's naming)."""
    from huggingface_hub.file_download import repo_folder_name

    return kind_folder / repo_folder_name(repo_id=repo_id, repo_type="model")


def set_main_ref(repo_dir: Path, revision: str) -> None:
    """Point ``refs/main`` at the baked revision, so faster-whisper finds it by short name."""
    write_atomic(repo_dir / "refs" / "main", revision)


def place_local(src: Path, files: list[str], repo_dir: Path, revision: str) -> tuple[Path, list]:
    """Copy files into hub layout (content-addressed blobs, a snapshot of relative symlinks).

    A blob already in the cache is reused only when its content hashes to the source file's
    sha256; anything else is copied again. Returns the snapshot and its verified
    ``[{name, size, sha256}]`` for the lock: hashes of the source, checked on the copy.
    """
    snapshot = repo_dir / "snapshots" / revision
    blobs = repo_dir / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    verified = []
    for name in files:
        digest = sha256_file(src / name)
        blob = blobs / digest
        if not (blob.is_file() and not blob.is_symlink() and sha256_file(blob) == digest):
            tmp = blobs / (digest + ".incomplete")
            shutil.copyfile(src / name, tmp)
            if sha256_file(tmp) != digest:
                tmp.unlink()
                raise PrefetchError(f"{src / name} changed while it was being copied; rerun")
            os.replace(tmp, blob)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
        verified.append({"name": name, "size": blob.stat().st_size, "sha256": digest})
    for stale in set(snapshot_files(snapshot)) - set(files):
        (snapshot / stale).unlink()  # left by an earlier prefetch: not part of this source now
    set_main_ref(repo_dir, revision)
    return snapshot, sorted(verified, key=lambda f: f["name"])


# --- sources --------------------------------------------------------------------------------------


def _fetch_local(
    spec: ModelSpec, mset: ModelSet, index: int, kind_folder: Path
) -> tuple[Path, list, dict]:
    """Place a package or folder source; returns the snapshot, its verified files, its origin."""
    where = f"{mset.path}: models[{index}]"
    origin: dict = {}
    if spec.source.type == "package":
        src, revision = sources.package_source(spec.source.package or "", spec.source.path, where)
    else:
        src = (mset.path.parent / (spec.source.path or "")).resolve()
        revision = sources.folder_revision(src, spec.files)
        origin["folder"] = str(src)
    if not src.is_dir():
        raise UsageError(f"{where}.source.path: {src} is not a folder")
    files = sources.matching(sources.local_files(src), spec.files)
    snapshot, verified = place_local(src, files, repo_folder(kind_folder, spec.repo), revision)
    _check_required(spec, snapshot, where)
    return snapshot, verified, origin


def _offline_note() -> str:
    from huggingface_hub import constants

    return " (HF_HUB_OFFLINE is set: unset it to download)" * constants.HF_HUB_OFFLINE


def _hub_error(exc: Exception, spec: ModelSpec, where: str, token: str | None) -> PrefetchError:
    """One line for each way a hub download fails; never the token."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = constants.ENDPOINT
    status = getattr(getattr(exc, "response", None), "status_code", None)
    code = f" (HTTP {status})" if status else ""
    if isinstance(exc, GatedRepoError):
        how = (
            "the token given has no access: accept the model's conditions on its hub page"
            if token
            else "no token given: set HF_TOKEN or pass --token-file"
        )
        msg = f"{spec.repo} is a gated model{code}; {how}"
    elif isinstance(exc, RepositoryNotFoundError):
        msg = (
            f"repo {spec.repo} not found on {endpoint}{code}; check {where}.repo "
            "(a private or gated repo also needs a token: HF_TOKEN or --token-file)"
        )
    elif isinstance(exc, RevisionNotFoundError):
        msg = f"revision {spec.source.revision} of {spec.repo} not found{code}; check {where}"
    elif isinstance(exc, LocalEntryNotFoundError):
        msg = f"cannot download {spec.repo} from {endpoint}{_offline_note()}; rerun to resume"
    elif isinstance(exc, EntryNotFoundError):  # the local one is a subclass: it comes first
        msg = f"a file of {spec.repo} is not on the hub{code}; check {where}.files"
    elif isinstance(exc, HfHubHTTPError):
        msg = f"downloading {spec.repo} from {endpoint} failed{code}; rerun to resume"
    else:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = f"downloading {spec.repo} failed: {detail}; rerun to resume"
    if token:
        msg = msg.replace(token, "***")
    return PrefetchError(msg)


def _download(spec: ModelSpec, kind_folder: Path, where: str, token: str | None) -> Path:
    """huggingface_hub's snapshot_download into the kind folder; errors as one line."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError

    # The HTTP client's own errors (a refused connection escapes the retries): HfHubHTTPError's
    # base class is that client's HTTPError, whichever client this huggingface_hub uses.
    http_error = HfHubHTTPError.__mro__[1]
    try:
        return Path(
            snapshot_download(
                spec.repo,
                revision=spec.source.revision,
                cache_dir=kind_folder,
                allow_patterns=list(spec.files) or None,
                token=token or False,
            )
        )
    except (http_error, OSError) as exc:
        raise _hub_error(exc, spec, where, token) from None


def _damaged(snapshot: Path) -> dict[str, str]:
    """Snapshot files whose content does not hash to the hub's ETag: name -> why."""
    found = {}
    for name in snapshot_files(snapshot):
        problem = sources.hub_blob_problem(snapshot / name)
        if problem:
            found[name] = problem
    return found


def _fetch_hub(
    spec: ModelSpec, mset: ModelSet, index: int, kind_folder: Path, token: str | None
) -> tuple[Path, list, dict]:
    """Download (or reuse) a hub snapshot, re-fetch any file that differs from the hub, then
    point refs/main at it. Returns the snapshot, its verified files and no extra origin."""
    where = f"{mset.path}: models[{index}]"
    snapshot = _download(spec, kind_folder, where, token)
    damaged = _damaged(snapshot)
    if damaged:
        for name in damaged:  # drop the bad blob and its link: the next download replaces both
            blob = (snapshot / name).resolve()
            if blob.is_file() and blob.parent.name == "blobs":
                blob.unlink()
            (snapshot / name).unlink()
        snapshot = _download(spec, kind_folder, where, token)
        gone = [n for n in damaged if not (snapshot / n).exists()]
        if gone:  # an older huggingface_hub, offline, hands back the snapshot without them
            raise PrefetchError(
                f"{spec.repo}@{snapshot.name}: {gone[0]} was damaged and could not be downloaded "
                f"again{_offline_note()}; rerun to repair it"
            )
        still = _damaged(snapshot)
        if still:
            name, why = next(iter(still.items()))
            raise PrefetchError(f"{spec.repo}@{snapshot.name}: {name} downloaded again, but {why}")
    _check_required(spec, snapshot, where)
    set_main_ref(repo_folder(kind_folder, spec.repo), snapshot.name)
    return snapshot, _checked_files(snapshot), {}


def _checked_files(snapshot: Path) -> list[dict]:
    """``[{name, size, sha256}]`` of a snapshot that ``_damaged`` just passed.

    Each blob has been hashed against its ETag once already; where that ETag is a sha256 (LFS and
    Xet files: the weights, gigabytes for large models) it is the file's sha256, so only the small
    git-blob files are hashed again.
    """
    files = []
    for name in snapshot_files(snapshot):
        blob = (snapshot / name).resolve()
        etag = blob.name
        digest = etag if sources.SHA256_RE.fullmatch(etag) else sha256_file(blob)
        files.append({"name": name, "size": blob.stat().st_size, "sha256": digest})
    return files


def _check_required(spec: ModelSpec, snapshot: Path, where: str) -> None:
    """``files`` are allow patterns (as faster-whisper's); the kind's essentials must be there."""
    for name in REQUIRED_FILES[spec.kind]:
        if not (snapshot / name).is_file():
            raise UsageError(
                f"{where}.files: a {spec.kind} model needs {name}, and "
                f"{spec.repo}@{snapshot.name} has none (or the patterns leave it out)"
            )


# --- prefetch -------------------------------------------------------------------------------------


def prefetch_model(
    spec: ModelSpec, mset: ModelSet, index: int, paths: CachePaths, token: str | None
) -> dict:
    """Fetch one model into its kind's folder and record it in the lock; returns the entry.

    Only content checked against its source reaches the lock: a reused file that differs from
    its source is fetched again, never re-signed.
    """
    kind_folder = paths.folder_of_kind(spec.kind)
    kind_folder.mkdir(parents=True, exist_ok=True)
    if spec.source.type == "hub":
        snapshot, files, origin = _fetch_hub(spec, mset, index, kind_folder, token)
    else:
        snapshot, files, origin = _fetch_local(spec, mset, index, kind_folder)
    source = {"type": spec.source.type}
    source.update({k: v for k in ("revision", "package", "path") if (v := getattr(spec.source, k))})
    source.update(origin)
    entry = {
        "sets": [mset.name],
        "kind": spec.kind,
        "name": spec.name,
        "repo": spec.repo,
        "revision": snapshot.name,
        "source": source,
        "gated": spec.gated,
        "license": spec.license,
        "path": os.path.relpath(snapshot, paths.root.resolve()),
        "files": files,
        "swbatch_version": __version__,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    record(paths.root, entry)
    return entry


def prefetch(
    manifests: list[str], token_file: str | None = None, paths: CachePaths | None = None
) -> list[dict]:
    """Prefetch every model of every set given (by file or by name); returns the lock entries.

    All manifests are validated before anything is downloaded, so a typo in the third file does
    not surface after the first one spent an hour downloading.
    """
    if not manifests:
        raise UsageError("name at least one model set: swbatch prefetch demo")
    sets = [find_model_set(m) for m in manifests]
    token = read_token(token_file)
    if paths is None:
        paths = configure_global_cache_env()
    else:
        paths.ensure()
    return [
        prefetch_model(spec, mset, i, paths, token)
        for mset in sets
        for i, spec in enumerate(mset.models)
    ]


def format_prefetched(entries: list[dict], paths: CachePaths) -> str:
    """One line per model fetched, then where the lock is."""
    lines = []
    for e in entries:
        size = sum(f["size"] for f in e["files"])
        lines.append(
            f"{e['kind']} {e['name']}: {e['repo']}@{e['revision'][:40]} "
            f"({len(e['files'])} files, {human_size(size)}) -> {paths.root / e['path']}"
        )
    lines.append(f"lock: {lock_path(paths.root)}")
    return "\n".join(lines)
