"""The ``swbatch models`` report: every shipped model set, what it holds and what the cache has."""

from __future__ import annotations

from .cache import CachePaths
from .errors import UsageError
from .hashing import short_revision
from .model_set import REQUIRED_FILES, ModelSpec, all_sets, model_sets_dir
from .models import lookup_snapshot


def _present(spec: ModelSpec, paths: CachePaths) -> str | None:
    """The cached revision of a set entry (exactly the one it pins), or None."""
    try:
        snapshot = lookup_snapshot(
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
    for mset in all_sets():
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
            where = f"cached @{short_revision(m['cached_revision'])}" if m["present"] else "missing"
            lines.append(
                f"      {m['kind']:<12}{m['name']:<16}{m['repo']}  ({', '.join(flags)})  {where}"
            )
    lines.append("bake a set: swbatch prefetch SET")
    return "\n".join(lines)
