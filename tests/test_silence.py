"""Silence stays silent with the defaults: non-speech gets no words, speech with long non-speech
between it reads as well as the speech alone, and the silence gate drops no real speech (real
tiny.en, real recordings, through the CLI).

The defaults decode everything and then drop the segments in which Silero VAD hears no speech at
all (:mod:`swbatch.silence`); ``--vad`` (VAD before decoding) stays a choice and gets the same
non-speech check. Why this gate and not VAD by default: docs/performance.md ("Silence and
non-speech: the defaults")."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import REPO, run_cli
from faster_whisper import decode_audio
from nonspeech import KINDS, make, write_set, write_wav
from real_speech import corpus_wer, join, normalize, utterances

#: how much worse the mixed recording's speech may read than the same speech alone (corpus WER):
#: issue 20's bound. Measured on this set with the defaults: 0.080 mixed against 0.089 alone
#: (233 words, one word is 0.004), nothing dropped by the gate; a word invented in each of the
#: 13 gaps would add 0.056. On benchmarks/accuracy.py's 24 utterances: 0.096 against 0.087.
MIXED_BOUND = 0.01
SCHEMA = json.loads((REPO / "swbatch" / "schemas" / "transcript.schema.json").read_text())
#: the non-speech kinds put between utterances, in turn
GAPS = ("music", "room_tone", "silence", "pink_noise", "mains_hum", "dtmf")


def documents(root: Path, *flags: str, env: dict) -> dict[str, dict]:
    """{file name: output JSON} of one CLI run over ``root``."""
    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--formats", "json",
                   *flags], env)  # fmt: skip
    assert res.returncode == 0, res.stderr
    docs = (json.loads(p.read_text()) for p in (root / "whisper_json").glob("*.json"))
    return {Path(d["file"]).name: d for d in docs}


def text(doc: dict) -> str:
    return " ".join(s["text"] for s in doc["segments"])


@pytest.mark.parametrize(
    "flags",
    [(), ("--batch-size", "4"), ("--vad",)],
    ids=["defaults", "batched", "vad"],
)
def test_non_speech_gets_no_words(tmp_path, demo_env, flags):
    """Digital silence, room tone, pink/brown noise, hum, tones, hold music, DTMF and clicks,
    30 s each: no words at all, with the defaults on the sequential and the batched path, and
    with ``--vad``. (Without the gate tiny.en writes "You" over the silence and "." over the
    room tone: the defaults keep them in ``dropped_over_silence``, out of the transcript.)"""
    write_set(tmp_path / "raw_audio", 30)
    found = documents(tmp_path, *flags, env=demo_env)
    assert set(found) == {f"{kind}.wav" for kind in KINDS}
    assert {name: text(d) for name, d in found.items() if normalize(text(d)).split()} == {}
    if "--vad" not in flags:  # decoded in full: the gate is what silenced the silence
        assert found["silence.wav"]["dropped_over_silence"], "tiny.en wrote nothing to drop"


def test_no_silence_gate_keeps_what_whisper_wrote_and_redoes_the_file(tmp_path, demo_env):
    """``--no-silence-gate`` shapes the result: a rerun with it redoes the file and keeps the
    segment Whisper wrote over 30 s of digital silence, the one the defaults dropped."""
    write_wav(tmp_path / "raw_audio" / "silence.wav", make("silence", 30))
    gated = documents(tmp_path, env=demo_env)["silence.wav"]
    jsonschema.validate(gated, SCHEMA)
    dropped = [d["text"] for d in gated["dropped_over_silence"]]
    assert gated["segments"] == [] and dropped
    kept = documents(tmp_path, "--no-silence-gate", env=demo_env)["silence.wav"]
    assert "dropped_over_silence" not in kept and kept["options"]["silence_gate"] is False
    assert [s["text"] for s in kept["segments"]] == dropped


def test_speech_between_long_non_speech_reads_as_well_as_the_speech_alone(tmp_path, demo_env):
    """The defaults on 12 utterances with 15 s of non-speech before each (music, room tone,
    silence, noise, hum, DTMF in turn), against the same speech alone."""
    utts = utterances(max_duration=15)[:12]  # about a minute and a half of speech
    assert len(utts) == 12, "the real-speech set has utterances"
    joined = join(utts, tmp_path / "alone" / "raw_audio" / "speech.wav")
    pieces = []
    for i, u in enumerate(utts):
        pieces += [make(GAPS[i % len(GAPS)], 15), decode_audio(str(u.path))]
    write_wav(tmp_path / "mixed" / "raw_audio" / "speech.wav",
              np.concatenate([*pieces, make("music", 15)]))  # fmt: skip
    alone = text(documents(tmp_path / "alone", env=demo_env)["speech.wav"])
    mixed = text(documents(tmp_path / "mixed", env=demo_env)["speech.wav"])
    baseline = corpus_wer([joined.text], [alone])
    assert baseline < 0.15
    assert corpus_wer([joined.text], [mixed]) <= baseline + MIXED_BOUND


def test_the_gate_drops_no_real_speech(tmp_path, demo_env):
    """Real speech, quiet test-other voices included, as one joined recording cut into 60-s
    windows (the VAD of each window in file time) and as single utterances packed into shared
    windows (the defaults): the gate drops no segment."""
    utts = utterances(subset="test-other")[:30]
    assert len(utts) == 30, "the real-speech set has test-other utterances"
    raw = tmp_path / "raw_audio"
    joined = join(utts, raw / "joined.wav")
    for u in utts[:12]:
        (raw / u.path.name).symlink_to(u.path)
    found = documents(tmp_path, env={**demo_env, "SWBATCH_WINDOW_SECONDS": "60"})
    assert len(found) == 13 and found["joined.wav"]["windows"]["count"] > 2
    assert {name: d["dropped_over_silence"] for name, d in found.items()
            if d["dropped_over_silence"]} == {}  # fmt: skip
    assert any(d["options"].get("packed_clips") for d in found.values()), "packing was on"
    assert corpus_wer([joined.text], [text(found["joined.wav"])]) < 0.2
