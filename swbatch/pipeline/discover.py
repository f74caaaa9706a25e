"""The discover stage: which jobs this process runs.

Jobs come from ``--root`` discovery or a job manifest (:mod:`swbatch.jobs`, shared with the
``summary`` command, which must list the same jobs); this stage narrows them to one shard.
"""

from __future__ import annotations

from ..jobs import Batch
from .options import RunOptions


def jobs_to_run(batch: Batch, options: RunOptions) -> Batch:
    """The whole batch, or only shard ``options.shard`` of it."""
    if not options.shard:
        return batch
    from ..plan import select

    return select(batch, options.shard)
