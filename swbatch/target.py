"""The batch a command's TARGET names, for the commands that look at a batch after (or ahead of)
its run: ``swbatch summary`` and ``swbatch plan``.
"""

from __future__ import annotations

from pathlib import Path

from .errors import UsageError
from .jobs import Batch, JobSettings, discover
from .manifest import load_manifest
from .status import STATE_DIR


def load_batch(target: Path, output_dir: Path | None = None) -> tuple[Path, Batch | None]:
    """(output folder, job list) of what ``target`` names: a ``--root`` folder (holding
    raw_audio/), a job manifest, or a bare output folder (job list unknown: no missing count).
    ``output_dir`` is the ``--output`` the batch ran with, when it had one."""
    if target.is_file():
        batch = load_manifest(target, JobSettings(), output_dir)
        return batch.output_dir, batch
    if (target / "raw_audio").is_dir():
        batch = discover(target, JobSettings(), output_dir)
        return batch.output_dir, batch
    if (target / STATE_DIR).is_dir():
        return target, None
    raise UsageError(
        f"{target} holds no batch: pass the folder given to `transcribe --root`, the job manifest "
        f"given to `run`, or an output folder with a {STATE_DIR}/ record"
    )
