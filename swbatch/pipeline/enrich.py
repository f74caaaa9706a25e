"""The enrich stage: speakers (pyannote) and speech emotion (wav2vec2) added to a transcript.

It runs on a fresh transcript, or (a rerun that only adds enrichment) on a finished job's JSON:
a diarization the document already has is kept (a changed one means the job is redone, since
diarized segments were split by speaker), and emotion is judged anew on the current segments.
torch, pyannote and transformers are imported by the model loaders, only when a job asks for them.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..audio import SAMPLE_RATE, spans
from ..emotion import judged_spans
from ..jobs import JobSettings
from .decode import DecodedFile
from .loaded import LoadedModels

#: the emotion flags of a job and whether each is the dimensional model
EMOTION_FLAGS = (("emotion", False), ("emotion_dimensional", True))


def preload(models: LoadedModels, transcribe: Iterable[JobSettings],
            enrich_only: Iterable[JobSettings] = ()) -> None:  # fmt: skip
    """Load the models that pending jobs need before any audio is touched, so a missing extra
    or model is one clear error, not a failure of every job. Jobs in ``enrich_only`` need no
    Whisper model."""
    transcribe = list(transcribe)
    for name in dict.fromkeys(s.model for s in transcribe):
        models.whisper(name)
    for settings in (*transcribe, *enrich_only):
        if settings.diarize:
            models.diarizer(settings.diarization_model)
        for flag, dimensional in EMOTION_FLAGS:
            if getattr(settings, flag):
                models.emotion(dimensional, getattr(settings, f"{flag}_model"))


def enrich(models: LoadedModels, settings: JobSettings, audio: DecodedFile, doc: dict) -> None:
    """Speakers first, then emotion, so segments split at a speaker change are judged apart.

    A file held in memory is read from there; a streamed one is read again, in bounded pieces.
    """
    from ..speakers import assign_speakers, speaker_table, turns_as_dicts

    if settings.diarize and "turns" not in doc:
        diarizer = models.diarizer(settings.diarization_model)
        speakers = {"num_speakers": settings.num_speakers, "max_speakers": settings.max_speakers}
        if audio.streamed:
            turns = diarizer.windowed(audio.again(), SAMPLE_RATE, **speakers,
                                      link_similarity=settings.speaker_link_similarity)  # fmt: skip
        else:
            turns = diarizer(
                audio.samples, SAMPLE_RATE, min_speakers=settings.min_speakers, **speakers
            )
        doc["segments"] = assign_speakers(doc["segments"], turns)
        doc["speakers"] = speaker_table(turns)
        doc["turns"] = turns_as_dicts(turns)
    flags = [flag for flag, _ in EMOTION_FLAGS]
    doc["segments"] = [{k: v for k, v in s.items() if k not in flags} for s in doc["segments"]]
    for flag, dimensional in EMOTION_FLAGS:
        if getattr(settings, flag):
            model = models.emotion(dimensional, getattr(settings, f"{flag}_model"))
            if audio.streamed:
                slices = spans(audio.path, judged_spans(doc["segments"]))
                results = model.judge_slices(slices, SAMPLE_RATE)
            else:
                results = model(audio.samples, SAMPLE_RATE, doc["segments"])
            for seg, result in zip(doc["segments"], results, strict=True):
                seg[flag] = result
