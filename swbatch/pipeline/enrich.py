"""The enrich stage: speakers (pyannote) and speech emotion (wav2vec2) added to a transcript.

torch, pyannote and transformers are imported by the model loaders, only when a job asks for them.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..audio import SAMPLE_RATE, DecodedAudio
from ..jobs import JobSettings
from .loaded import LoadedModels

#: the emotion flags of a job and whether each is the dimensional model
EMOTION_FLAGS = (("emotion", False), ("emotion_dimensional", True))


def preload(models: LoadedModels, pending: Iterable[JobSettings]) -> None:
    """Load the models that pending jobs need before any audio is touched, so a missing extra
    or model is one clear error, not a failure of every job."""
    pending = list(pending)
    for name in dict.fromkeys(s.model for s in pending):
        models.whisper(name)
    if any(s.diarize for s in pending):
        models.diarizer()
    for flag, dimensional in EMOTION_FLAGS:
        if any(getattr(s, flag) for s in pending):
            models.emotion(dimensional)


def enrich(models: LoadedModels, settings: JobSettings, audio: DecodedAudio, doc: dict) -> None:
    """Speakers first, then emotion, so segments split at a speaker change are judged apart."""
    from ..speakers import assign_speakers, speaker_table, turns_as_dicts

    if settings.diarize:
        turns = models.diarizer()(
            audio.samples,
            SAMPLE_RATE,
            num_speakers=settings.num_speakers,
            min_speakers=settings.min_speakers,
            max_speakers=settings.max_speakers,
        )
        doc["segments"] = assign_speakers(doc["segments"], turns)
        doc["speakers"] = speaker_table(turns)
        doc["turns"] = turns_as_dicts(turns)
    for flag, dimensional in EMOTION_FLAGS:
        if getattr(settings, flag):
            results = models.emotion(dimensional)(audio.samples, SAMPLE_RATE, doc["segments"])
            for seg, result in zip(doc["segments"], results, strict=True):
                seg[flag] = result
