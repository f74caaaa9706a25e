"""The infer stage: a file's audio windows in, the ASR part of its output document out.

- :mod:`.windowed`: a file, window by window, into one transcript (language, prompt and times
  carried across cuts; checkpoints);
- :mod:`.window`: one window through a backend, with CUDA out-of-memory handling;
- backends, one module each, imported only when chosen: :mod:`.sequential` (faster-whisper's own
  loop, ``--batch-size 1``), :mod:`.crossfile` (30-s chunks of many files share batches,
  ``--batch-size N``) and :mod:`.batched` (each file's chunks batched alone, to measure against).
  Adding one is a new module and one line in :func:`.window.backend`;
- :mod:`.packing`: around the chosen backend, short files of many jobs share one 30-s window
  (``--pack``, the default);
- :mod:`.options`: decoding options, turned into faster-whisper arguments in one place;
- :mod:`.model`: the Whisper model, loaded once.
"""

from .model import LoadedWhisper, load_whisper, resolve_device
from .options import AsrOptions, whisper_kwargs
from .window import OutOfMemory, transcribe
from .windowed import transcribe_windows

__all__ = [
    "AsrOptions",
    "LoadedWhisper",
    "OutOfMemory",
    "load_whisper",
    "resolve_device",
    "transcribe",
    "transcribe_windows",
    "whisper_kwargs",
]
