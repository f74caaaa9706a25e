"""Prefetch from the Hugging Face hub: huggingface_hub's own download path (retries, resumable
``.incomplete`` files, its cache layout), then every file checked against the hub's hash.

A gated-model token is handed to huggingface_hub for the request headers only; every error
message has it masked.
"""

from __future__ import annotations

from pathlib import Path

from . import sources
from .errors import PrefetchError
from .hashing import sha256_file
from .hub_layout import check_required, repo_folder, set_main_ref
from .lock import snapshot_files
from .model_set import ModelSet, ModelSpec


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


def fetch_hub(
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
    check_required(spec, snapshot, where)
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
