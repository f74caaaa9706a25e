"""swbatch: container-first batch transcription with a baked, verifiable model cache.

The Python API (each function does what the ``swbatch`` command of the same name does, validated
by the same flags table, and raises a typed error instead of exiting)::

    import swbatch

    swbatch.prefetch("demo")                      # models into the cache, locked
    summary = swbatch.transcribe("meetings", model="demo", beam_size=5, formats="json,srt")
    print(summary.done, summary.failed)           # failed jobs are recorded, not raised

Errors: :class:`UsageError` (bad flags, folders, manifests), :class:`ModelMissingError` (alias
``ModelMissing``), :class:`PrefetchError`, :class:`StateError`, :class:`VerifyError`; all are
:class:`SwbatchError`, whose ``exit_code`` is what the CLI exits with.

Importing the package is cheap on purpose: heavy libraries (ctranslate2, torch, transformers,
pyannote) are imported only by the stage module that needs them, when a function runs.
"""

from .api import (
    batch_report,
    batch_summary,
    clear_cache,
    list_models,
    prefetch,
    run,
    shard_plan,
    show_cache,
    transcribe,
    verify_cache,
)
from .cache import CachePaths, configure_global_cache_env
from .errors import (
    ModelMissingError,
    PrefetchError,
    SwbatchError,
    UsageError,
    VerifyError,
)
from .status import StateError, Summary
from .version import __version__

#: the short name the issue tracker and users write
ModelMissing = ModelMissingError

__all__ = [
    "CachePaths",
    "ModelMissing",
    "ModelMissingError",
    "PrefetchError",
    "StateError",
    "Summary",
    "SwbatchError",
    "UsageError",
    "VerifyError",
    "__version__",
    "batch_report",
    "batch_summary",
    "clear_cache",
    "configure_global_cache_env",
    "list_models",
    "prefetch",
    "run",
    "shard_plan",
    "show_cache",
    "transcribe",
    "verify_cache",
]
