"""Long recordings: streaming decode into windows, windowed transcription, checkpoints (issue 14).

Real espeak-ng speech strung into minutes-long recordings, the real tiny.en model; windows are
made short (40 s) so that a few minutes of audio crosses several cuts.
"""

from __future__ import annotations

import itertools
import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import REPO, SWBATCH, run_cli
from faster_whisper.audio import decode_audio
from speech import have_espeak, long_speech, word_error_rate

from swbatch import audio
from swbatch.checkpoints import Checkpoint

WINDOW = 40.0
SCHEMA = json.loads((REPO / "swbatch" / "schemas" / "transcript.schema.json").read_text())

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
    samples = decode_audio(str(path))
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
    whole = decode_audio(str(path))
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
    in_memory = model(decode_audio(str(path)), audio.SAMPLE_RATE, segments)
    assert streamed == in_memory
    assert streamed[2] == {"status": "too_short"} and "label" in streamed[3]


def checkpoint_windows(root: Path) -> int:
    """Finished windows in the root's checkpoints (whole lines after the header)."""
    files = list((root / ".swbatch" / "checkpoints").glob("*.jsonl"))
    lines = files[0].read_bytes().split(b"\n")[1:-1] if files else []
    return len(lines)


def test_killed_long_job_resumes_from_its_checkpoint(tmp_path, recording, demo_env):
    """SIGKILL mid-file; the rerun continues at the next window and writes the same transcript
    as a run that was never interrupted."""
    env = {**demo_env, "SWBATCH_WINDOW_SECONDS": "30"}
    roots = {}
    for name in ("killed", "straight"):
        roots[name] = tmp_path / name
        (roots[name] / "raw_audio").mkdir(parents=True)
        shutil.copy(recording[0], roots[name] / "raw_audio" / "long.flac")
    args = ["transcribe", "--root", str(roots["killed"]), "--model", "demo", "--workers", "1",
            "--formats", "json"]  # fmt: skip
    finished = kill_after_two_windows(args, env, roots["killed"])
    output = roots["killed"] / "whisper_json" / "long.flac.json"
    assert finished >= 2 and not output.exists(), "the kill should land mid-file"

    resumed = run_cli(args, env)
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming long.flac at window {finished} " in resumed.stderr
    straight = run_cli([*args[:2], str(roots["straight"]), *args[3:]], env)
    assert straight.returncode == 0, straight.stderr
    assert "resuming" not in straight.stderr

    docs = {
        k: json.loads((r / "whisper_json" / "long.flac.json").read_text()) for k, r in roots.items()
    }
    jsonschema.validate(docs["killed"], SCHEMA)
    assert docs["killed"]["windows"] == {"count": docs["killed"]["windows"]["count"], "seconds": 30}
    assert docs["killed"]["windows"]["count"] > finished
    strip = [{k: s[k] for k in ("start", "end", "text")} for s in docs["killed"]["segments"]]
    assert strip == [
        {k: s[k] for k in ("start", "end", "text")} for s in docs["straight"]["segments"]
    ]
    assert docs["killed"]["duration"] == docs["straight"]["duration"]
    # the silence gate hears every window again on resume: it drops exactly what it did straight
    assert docs["killed"]["dropped_over_silence"] == docs["straight"]["dropped_over_silence"]
    assert list((roots["killed"] / ".swbatch" / "checkpoints").iterdir()) == []

    # a finished job done again (--overwrite) is checkpointed and resumed the same way
    redo = [*args, "--overwrite"]
    finished = kill_after_two_windows(redo, env, roots["killed"])
    assert finished >= 2, "the kill should land mid-file"
    again = run_cli(redo, env)
    assert again.returncode == 0, again.stderr
    assert f"resuming long.flac at window {finished} " in again.stderr


def kill_after_two_windows(args: list[str], env: dict[str, str], root: Path) -> int:
    """Run ``swbatch ARGS``, SIGKILL it once two windows are checkpointed; the windows kept."""
    proc = subprocess.Popen([*SWBATCH, *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and checkpoint_windows(root) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return checkpoint_windows(root)


def test_window_speakers_are_linked_into_file_wide_labels():
    from swbatch.linking import WindowSpeakers, link_windows
    from swbatch.speakers import SpeakerTurn

    rng = np.random.default_rng(0)
    alice, bob, carol = (rng.normal(size=16) for _ in range(3))

    def near(v: np.ndarray) -> np.ndarray:
        return v + rng.normal(scale=0.2, size=16)

    def window(start: float, *speakers: tuple[str, np.ndarray], seconds: float = 30.0,
               together: bool = False) -> WindowSpeakers:  # fmt: skip
        """One window, each speaker in a turn of its own (all at once with ``together``)."""
        labels = [f"SPEAKER_{i:02d}" for i in range(len(speakers))]
        turns = [SpeakerTurn(start + (0 if together else i), start + (0 if together else i) + 1,
                             label) for i, label in enumerate(labels)]  # fmt: skip
        return WindowSpeakers(turns, labels, [e for _, e in speakers], [seconds] * len(speakers))

    windows = [
        window(0, ("alice", near(alice)), ("bob", near(bob))),
        window(10, ("bob", near(bob)), ("carol", near(carol)), ("alice", near(alice))),
        window(20, ("alice", near(alice)), ("padding", np.zeros(16))),
    ]
    names = ["alice", "bob", "bob", "carol", "alice", "alice", "padding"]
    turns = link_windows(windows)
    by_voice: dict[str, set[str]] = {}
    for voice, turn in zip(names, sorted(turns, key=lambda t: t.start), strict=True):
        by_voice.setdefault(voice, set()).add(turn.speaker)
    # one label per voice across windows, numbered by first turn; a zero embedding (pyannote's
    # padding) gets a label of its own, never a wrong match
    assert by_voice == {"alice": {"SPEAKER_00"}, "bob": {"SPEAKER_01"}, "carol": {"SPEAKER_02"},
                        "padding": {"SPEAKER_03"}}  # fmt: skip
    # one voice split in two pieces by its window is joined; two alike voices that talk at the
    # same time stay two people
    split = [window(0, ("a", near(alice)), ("b", near(alice)))]
    assert {t.speaker for t in link_windows(split)} == {"SPEAKER_00"}
    overlapping = [window(0, ("a", alice), ("b", alice + 1e-3), together=True)]
    assert {t.speaker for t in link_windows(overlapping)} == {"SPEAKER_00", "SPEAKER_01"}
    # a piece with too little speech for a reliable embedding joins its nearest speaker, even
    # below the threshold
    voices = np.stack([alice, bob, carol])
    noise = rng.normal(size=16)
    noise -= voices.T @ np.linalg.lstsq(voices.T, noise, rcond=None)[0]  # apart from all three
    blurred = alice / np.linalg.norm(alice) + 2.3 * noise / np.linalg.norm(noise)  # cosine 0.4
    linked = link_windows([*windows, window(30, ("scrap", blurred), seconds=2.0)])
    assert len({t.speaker for t in linked}) == 4 and linked[-1].speaker == "SPEAKER_00"
    alone = link_windows([*windows, window(30, ("scrap", blurred))])  # 30 s: a speaker
    assert len({t.speaker for t in alone}) == 5
    # a speaker limit merges past the threshold, never two people who talk at the same time
    capped = link_windows(windows, limit=3)
    assert len({t.speaker for t in capped}) == 3
    assert len({t.speaker for t in link_windows(overlapping, limit=1)}) == 2
    assert link_windows([]) == []


@pytest.mark.torch
def test_windowed_diarization_gives_file_time_turns(tmp_path, pipeline_folder):
    """The real pyannote pipeline on each window, turns shifted into file time, at most the
    asked number of speakers. Which voice is which cannot be checked here: the test pipeline's
    embedding model has random weights (no PyPI package ships real ones), so linking by
    embeddings is tested with constructed embeddings above."""
    import wave

    import torch_models
    from speech import DIALOGUE, speak

    from swbatch.cache import CachePaths
    from swbatch.diarization import DEFAULT_MODEL, load_diarizer

    parts, lines, offset = [], [], 0.0
    for i, (voice, text) in enumerate(DIALOGUE * 2):  # about 30 s: three windows
        samples = decode_audio(str(speak(tmp_path / f"{i}.wav", text, voice=voice, rate=175)))
        lines.append((offset, offset + len(samples) / 16000))
        parts += [samples, np.zeros(8000, dtype=np.float32)]
        offset += len(samples) / 16000 + 0.5
    path = tmp_path / "dialogue.wav"
    with wave.open(str(path), "wb") as fh:
        fh.setnchannels(1), fh.setsampwidth(2), fh.setframerate(16000)
        fh.writeframes((np.concatenate(parts) * 32767).astype(np.int16).tobytes())

    paths = CachePaths.from_env({"SLOWER_WHISPER_CACHE_ROOT": str(tmp_path / "c")}).ensure()
    torch_models.place_in_hub_layout(paths.diarization_root, DEFAULT_MODEL, pipeline_folder)
    diarizer = load_diarizer(None, "cpu", paths)
    windows = list(audio.windows(path, 12.0))
    assert len(windows) >= 3
    turns = diarizer.windowed(iter(windows), 16000, num_speakers=2)
    assert turns == sorted(turns, key=lambda t: (t.start, t.end, t.speaker))
    assert turns[0].start >= 0 and turns[-1].end <= windows[-1].end + 0.1
    assert len({t.speaker for t in turns}) <= 2
    for start, end in lines:  # every line, in every window, is found as speech in file time
        covered = sum(max(0.0, min(end, t.end) - max(start, t.start)) for t in turns)
        assert covered > 0.6 * (end - start), (start, end, turns)
