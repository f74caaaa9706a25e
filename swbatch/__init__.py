"""swbatch: container-first batch transcription with a baked, verifiable model cache.

Importing the package is cheap on purpose: heavy libraries (ctranslate2, torch, transformers,
pyannote) are imported only by the stage module that needs them.
"""

from .version import __version__

__all__ = ["__version__"]
