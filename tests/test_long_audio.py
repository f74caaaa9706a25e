"""Long recordings: streaming decode into windows, windowed transcription, checkpoints (issue 14).

Real espeak-ng speech strung into minutes-long recordings, the real tiny.en model; windows are
made short (40 s) so that a few minutes of audio crosses several cuts.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from speech import have_espeak, long_speech, word_error_rate

from swbatch import audio
from swbatch.checkpoints import Checkpoint

WINDOW = 40.0

pytestmark = pytest.mark.skipif(not have_espeak(), reason="espeak-ng is not installed")


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> tuple[Path, list[str]]:
    """About three minutes of varied speech with pauses, as FLAC, and its sentences."""
    path = tmp_path_factory.mktemp("long") / "long.flac"
    return path, long_speech(path, 180)


@pytest.fixture(scope="module")
def whisper(demo_cache):
    from swbatch.cache import CachePaths
    from swbatch.models import default_whisper_model
    from swbatch.pipeline.infer import load_whisper

    paths = CachePaths.from_env({"SLOWER_WHISPER_CACHE_ROOT": str(demo_cache)})
    return load_whisper(default_whisper_model(paths), "cpu", "int8", 2, 1)


def test_windows_are_the_whole_file_cut_in_pauses(recording):
    from faster_whisper.audio import decode_audio

    path, _ = recording
    windows = list(audio.windows(path, WINDOW))
    whole = decode_audio(str(path))
    assert np.array_equal(np.concatenate([w.samples for w in windows]), whole)
    assert [w.index for w in windows] == list(range(len(windows)))
    assert len(windows) >= 4
    search = WINDOW / 4
    for before, after in itertools.pairwise(windows):
        assert before.offset + len(before.samples) == after.offset
        assert WINDOW - search <= before.end - before.start <= WINDOW
        # the cut is in a pause: the 100 ms around it are near silence
        edge = whole[after.offset - 800 : after.offset + 800]
        assert np.sqrt(np.mean(np.square(edge))) < 0.01
    assert windows[-1].end - windows[-1].start >= search


OPTIONS = {"word_timestamps": True}


def decoding():
    """The decoding options of a job with ``OPTIONS``, as the pipeline makes them."""
    from swbatch.flags import asr_kwargs
    from swbatch.jobs import JobSettings
    from swbatch.pipeline.infer import AsrOptions

    return AsrOptions(asr_kwargs(JobSettings(**OPTIONS)))


@pytest.fixture(scope="module")
def windowed(recording, whisper) -> dict:
    """The recording transcribed window by window, in one go."""
    from swbatch.pipeline.infer import transcribe_windows

    return transcribe_windows(whisper, audio.windows(recording[0], WINDOW), decoding())


def test_windowed_transcript_matches_unchunked(recording, whisper, windowed):
    from swbatch.pipeline.infer import transcribe

    path, spoken = recording
    samples = audio.decode(path).samples
    whole = transcribe(whisper, samples, decoding())
    reference = " ".join(spoken)
    wer_whole = word_error_rate([reference], [" ".join(s["text"] for s in whole["segments"])])
    wer_windowed = word_error_rate([reference], [" ".join(s["text"] for s in windowed["segments"])])
    assert wer_windowed <= wer_whole + 0.02, (wer_windowed, wer_whole)
    assert windowed["windows"] >= 4
    segments = windowed["segments"]
    assert [s["id"] for s in segments] == list(range(len(segments)))
    times = [t for s in segments for t in (s["start"], s["end"])]
    assert times == sorted(times), "segment times never go backwards"
    words = [t for s in segments for w in s["words"] for t in (w["start"], w["end"])]
    assert words == sorted(words), "word times never go backwards"
    # the last sentence is followed by at most 2.3 s of pause (speech.PAUSES)
    assert segments[-1]["end"] >= windowed["duration"] - 3.5
    assert windowed["duration"] == len(samples) / audio.SAMPLE_RATE


def test_checkpoint_keeps_whole_windows_and_drops_a_torn_line(tmp_path):
    settings = {"model": "tiny.en", "window_seconds": WINDOW}
    checkpoint = Checkpoint.for_job(tmp_path, "calls/a.wav", settings)
    assert checkpoint.load() == []
    for index in range(3):
        checkpoint.append({"index": index, "offset": index * 10, "segments": []})
    with open(checkpoint.path, "ab") as fh:  # a kill in the middle of the fourth line
        fh.write(b'{"index": 3, "off')
    assert [w["index"] for w in checkpoint.load()] == [0, 1, 2]
    checkpoint.append({"index": 3, "offset": 30, "segments": []})
    lines = checkpoint.path.read_text().splitlines()
    assert json.loads(lines[0]) == {"job": "calls/a.wav", "settings": settings}
    assert [json.loads(x)["index"] for x in lines[1:]] == [0, 1, 2, 3]

    other = Checkpoint.for_job(tmp_path, "calls/a.wav", {**settings, "beam_size": 1})
    assert other.path != checkpoint.path
    assert other.load() == [], "other settings never reuse a checkpoint"
    assert not checkpoint.path.exists(), "and the stale one is removed"
    other.append({"index": 0, "offset": 0, "segments": []})
    other.remove()
    assert list(checkpoint.path.parent.iterdir()) == []


def test_resume_from_a_checkpoint_gives_the_same_transcript(tmp_path, recording, whisper, windowed):
    from swbatch.pipeline.infer import transcribe_windows

    path, _ = recording
    options = decoding()
    checkpoint = Checkpoint.for_job(tmp_path, "long.flac", {"window_seconds": WINDOW})
    first = transcribe_windows(whisper, itertools.islice(audio.windows(path, WINDOW), 2),
                               options, checkpoint)  # fmt: skip
    assert first["windows"] == 2  # the run "stops" after two windows
    resumed = []

    def on_resume(k: int, seconds: float) -> None:
        resumed.append((k, seconds))

    again = transcribe_windows(whisper, audio.windows(path, WINDOW), options, checkpoint, on_resume)
    assert resumed == [(2, first["duration"])]
    assert again["resumed_windows"] == 2
    assert again["segments"] == windowed["segments"]


def test_spans_stream_the_same_samples_as_a_whole_decode(recording):
    path, _ = recording
    whole = audio.decode(path).samples
    end = len(whole) / audio.SAMPLE_RATE
    bounds = [(0.0, 0.5), (3.0, 40.0), (20.0, 21.0), (22.5, 24.0), (90.0, 90.0),
              (end - 2, end + 5), (end + 1, end + 2)]  # fmt: skip
    got = list(audio.spans(path, bounds))
    assert len(got) == len(bounds)
    for (a, b), samples in zip(bounds, got, strict=True):
        first = round(a * audio.SAMPLE_RATE)
        assert np.array_equal(samples, whole[first : max(first, round(b * audio.SAMPLE_RATE))])


@pytest.mark.torch
def test_emotion_on_streamed_slices_equals_in_memory(tmp_path, recording):
    pytest.importorskip("transformers")
    import torch_models

    from swbatch.cache import CachePaths
    from swbatch.emotion import judged_spans, load_emotion

    paths = CachePaths.from_env({"SLOWER_WHISPER_CACHE_ROOT": str(tmp_path)}).ensure()
    repo = "superb/wav2vec2-base-superb-er"
    source = torch_models.save_categorical_model(tmp_path / "build")
    torch_models.place_in_hub_layout(paths.emotion_root, repo, source)
    model = load_emotion(None, "cpu", paths)
    path, _ = recording
    segments = [{"start": 0.0, "end": 4.2}, {"start": 39.5, "end": 44.0},
                {"start": 60.0, "end": 60.5}, {"start": 100.0, "end": 140.0}]  # fmt: skip
    streamed = model.judge_slices(audio.spans(path, judged_spans(segments)), audio.SAMPLE_RATE)
    in_memory = model(audio.decode(path).samples, audio.SAMPLE_RATE, segments)
    assert streamed == in_memory
    assert streamed[2] == {"status": "too_short"} and "label" in streamed[3]
