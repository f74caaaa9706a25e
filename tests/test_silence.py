"""Silence stays silent with ``--vad``: non-speech gets no words, and speech with long non-speech
between it reads as well as the speech alone (real tiny.en, real recordings).

VAD is not the default yet: it costs 2.2 WER points on a long real recording and turns packing
off, and dropping text over silence after decoding instead lost real speech next to music
(docs/performance.md, "Silence and non-speech")."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli
from faster_whisper import decode_audio
from nonspeech import KINDS, make, write_set, write_wav
from real_speech import corpus_wer, join, normalize, utterances

#: how much worse the mixed recording's speech may read than the same speech alone (corpus WER).
#: Loose for 12 utterances (about 240 words: 0.05 is 12 words), where VAD cutting the speech
#: differently alone changes a few words (0.063 alone, 0.093 mixed, mostly substitutions, measured
#: here); a word invented in each gap would add 0.05-0.1. benchmarks/accuracy.py measures the
#: difference on 24 utterances (docs/performance.md).
MIXED_BOUND = 0.05
#: the non-speech kinds put between utterances, in turn
GAPS = ("music", "room_tone", "silence", "pink_noise", "mains_hum", "dtmf")


def transcripts(root: Path, *flags: str, env: dict) -> dict[str, str]:
    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--formats", "json",
                   *flags], env)  # fmt: skip
    assert res.returncode == 0, res.stderr
    docs = (json.loads(p.read_text()) for p in (root / "whisper_json").glob("*.json"))
    return {Path(d["file"]).name: " ".join(s["text"] for s in d["segments"]) for d in docs}


@pytest.mark.parametrize("flags", [(), ("--batch-size", "4")], ids=["sequential", "batched"])
def test_non_speech_gets_no_words_with_vad(tmp_path, demo_env, flags):
    """Digital silence, room tone, pink/brown noise, hum, tones, hold music, DTMF and clicks,
    30 s each: no words at all, on the sequential path and the batched one. (Without ``--vad``
    tiny.en writes "You" over the silence and "." over the room tone.)"""
    write_set(tmp_path / "raw_audio", 30)
    found = transcripts(tmp_path, "--vad", *flags, env=demo_env)
    assert set(found) == {f"{kind}.wav" for kind in KINDS}
    assert {name: text for name, text in found.items() if normalize(text).split()} == {}


def test_speech_between_long_non_speech_reads_as_well_as_the_speech_alone(tmp_path, demo_env):
    utts = utterances(max_duration=15)[:12]  # about a minute and a half of speech
    assert len(utts) == 12, "the real-speech set has utterances"
    joined = join(utts, tmp_path / "alone" / "raw_audio" / "speech.wav")
    pieces = []
    for i, u in enumerate(utts):
        pieces += [make(GAPS[i % len(GAPS)], 15), decode_audio(str(u.path))]
    write_wav(tmp_path / "mixed" / "raw_audio" / "speech.wav",
              np.concatenate([*pieces, make("music", 15)]))  # fmt: skip
    alone = transcripts(tmp_path / "alone", "--vad", env=demo_env)["speech.wav"]
    mixed = transcripts(tmp_path / "mixed", "--vad", env=demo_env)["speech.wav"]
    baseline = corpus_wer([joined.text], [alone])
    assert baseline < 0.15
    assert corpus_wer([joined.text], [mixed]) <= baseline + MIXED_BOUND
