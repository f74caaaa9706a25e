"""The Whisper model of the infer stage: device and precision chosen for the host, loaded once.

ctranslate2 and faster_whisper are imported inside the functions, so commands that never
transcribe do not pay for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...errors import ModelMissingError

if TYPE_CHECKING:
    from ...models import ResolvedModel


def cuda_available() -> bool:
    """True when ctranslate2 sees a CUDA device (False on CPU-only builds and hosts)."""
    import ctranslate2

    try:
        return ctranslate2.get_cuda_device_count() > 0
    except RuntimeError:
        return False


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is usable, else ``cpu``."""
    return ("cuda" if cuda_available() else "cpu") if device == "auto" else device


def resolve_compute_type(compute_type: str, device: str) -> str:
    """``auto`` -> int8 on CPU (fastest measured here), float16 on CUDA."""
    if compute_type != "auto":
        return compute_type
    return "float16" if device == "cuda" else "int8"


@dataclass
class LoadedWhisper:
    """A model loaded once per process and shared by its worker threads."""

    model: Any
    resolved: ResolvedModel
    device: str
    compute_type: str
    #: threads that may run the model at once (ctranslate2's ``num_workers``)
    workers: int = 1

    def describe(self) -> dict:
        """The model block of the output JSON."""
        return {
            "name": self.resolved.name,
            "repo_id": self.resolved.repo_id,
            "revision": self.resolved.revision,
            "path": str(self.resolved.path),
            "device": self.device,
            "compute_type": self.compute_type,
        }


def load_whisper(
    resolved: ResolvedModel, device: str, compute_type: str, cpu_threads: int, workers: int
) -> LoadedWhisper:
    """Load a model from its cache folder (never from the network).

    ``workers`` is ctranslate2's ``num_workers``: that many threads may transcribe at once with
    one copy of the model loaded.
    """
    from faster_whisper import WhisperModel

    device = resolve_device(device)
    compute_type = resolve_compute_type(compute_type, device)
    try:
        model = WhisperModel(
            str(resolved.path),
            device=device,
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            num_workers=workers,
            local_files_only=True,
        )
    except (RuntimeError, ValueError, OSError) as exc:
        # A damaged model is the batch's problem, not each file's: one line, before any job.
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelMissingError(
            f"whisper model {resolved.name} in {resolved.path} cannot be loaded ({detail}); "
            "`swbatch cache --verify` shows damaged files, prefetching the set again repairs them"
        ) from None
    return LoadedWhisper(model, resolved, device, compute_type, workers)
