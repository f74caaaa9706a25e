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
import time
from pathlib import Path

from .cache import CachePaths, configure_global_cache_env, human_size
from .errors import UsageError
from .fetch_hub import fetch_hub
from .fetch_local import fetch_local
from .lock import lock_path, record
from .model_set import ModelSet, ModelSpec, find_model_set
from .version import __version__


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
        snapshot, files, origin = fetch_hub(spec, mset, index, kind_folder, token)
    else:
        snapshot, files, origin = fetch_local(spec, mset, index, kind_folder)
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


def format_prefetched(entries: list[dict]) -> str:
    """One line per model fetched, then where the lock is."""
    paths = CachePaths.from_env()
    lines = []
    for e in entries:
        size = sum(f["size"] for f in e["files"])
        lines.append(
            f"{e['kind']} {e['name']}: {e['repo']}@{e['revision']} "
            f"({len(e['files'])} files, {human_size(size)}) -> {paths.root / e['path']}"
        )
    lines.append(f"lock: {lock_path(paths.root)}")
    return "\n".join(lines)
