"""Sequential backend: faster-whisper's own loop (30-s chunks, each conditioned on the last).

The most accurate backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .model import LoadedWhisper

if TYPE_CHECKING:
    import numpy as np

    from .options import AsrOptions


def decode(
    loaded: LoadedWhisper, samples: np.ndarray, options: AsrOptions, kwargs: dict
) -> tuple[Any, Any]:
    """faster-whisper's (segments, info) for one window."""
    return loaded.model.transcribe(samples, **kwargs)
