"""faster-whisper's short model names (``tiny.en``, ``large-v3``) and the hub repos they mean.

A leaf module: model resolution, model-set manifests and listings all name whisper models
by these, and none of them may import faster_whisper just to read a table.
"""

from __future__ import annotations

#: faster-whisper's short names (a copy of faster_whisper.utils._MODELS: importing faster_whisper
#: pulls in ctranslate2, which `swbatch --help` must not pay for; a test keeps the two equal)
WHISPER_REPOS = {
    "tiny.en": "Systran/faster-whisper-tiny.en",
    "tiny": "Systran/faster-whisper-tiny",
    "base.en": "Systran/faster-whisper-base.en",
    "base": "Systran/faster-whisper-base",
    "small.en": "Systran/faster-whisper-small.en",
    "small": "Systran/faster-whisper-small",
    "medium.en": "Systran/faster-whisper-medium.en",
    "medium": "Systran/faster-whisper-medium",
    "large-v1": "Systran/faster-whisper-large-v1",
    "large-v2": "Systran/faster-whisper-large-v2",
    "large-v3": "Systran/faster-whisper-large-v3",
    "large": "Systran/faster-whisper-large-v3",
    "distil-large-v2": "Systran/faster-distil-whisper-large-v2",
    "distil-medium.en": "Systran/faster-distil-whisper-medium.en",
    "distil-small.en": "Systran/faster-distil-whisper-small.en",
    "distil-large-v3": "Systran/faster-distil-whisper-large-v3",
    "distil-large-v3.5": "distil-whisper/distil-large-v3.5-ct2",
    "large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
}


def short_name(kind: str, repo_id: str) -> str:
    """A model's shortest faster-whisper name (``tiny.en``), else its repo id."""
    if kind == "whisper":
        names = [n for n, r in WHISPER_REPOS.items() if r == repo_id]
        if names:
            return min(names, key=lambda n: (n in ("large", "turbo"), len(n)))
    return repo_id
