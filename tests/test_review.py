"""Review flags (swbatch/review.py): a transcript that loops and text over silence are named, with
their reasons, in each JSON and in summary.json; a clean transcript is not."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from conftest import REPO, run_cli
from nonspeech import make, write_wav
from speech import SENTENCES, have_espeak, speak

SCHEMA = json.loads((REPO / "swbatch" / "schemas" / "transcript.schema.json").read_text())
#: espeak-ng saying one phrase over and over: tiny.en writes it as a loop
LOOP = " ".join(["Go home."] * 8)


@pytest.fixture(scope="module")
def review_root(tmp_path_factory, demo_cache) -> Path:
    """A run with --no-vad and --no-silence-gate (the word tiny.en writes over silence kept) over
    a looping phrase, 30 s of digital silence and a clean sentence."""
    from conftest import cli_env

    if not have_espeak():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    root = tmp_path_factory.mktemp("review")
    raw = root / "raw_audio"
    speak(raw / "loop.wav", LOOP)
    speak(raw / "clean.wav", SENTENCES[0])
    write_wav(raw / "silence.wav", make("silence", 30))
    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--no-vad",
                   "--no-silence-gate", "--formats", "json"], cli_env(demo_cache))  # fmt: skip
    assert res.returncode == 0, res.stderr
    return root


def doc(root: Path, name: str) -> dict:
    return json.loads((root / "whisper_json" / f"{name}.json").read_text())


def test_a_loop_and_text_over_silence_are_flagged_in_the_json_and_the_summary(
    review_root, demo_env
):
    loop, silence, clean = (doc(review_root, n) for n in ("loop.wav", "silence.wav", "clean.wav"))
    for d in (loop, silence, clean):
        jsonschema.validate(d, SCHEMA)
    # the plants: Whisper loops on the phrase and writes a word over silence (no VAD, no gate)
    assert any(s["text"].strip() for s in silence["segments"]), "tiny.en wrote nothing over silence"
    assert "repetition" in {f["reason"] for f in loop["review"]}
    assert "text_over_silence" in {f["reason"] for f in silence["review"]}
    assert all(f["detail"] and f["segments"] for f in loop["review"] + silence["review"])
    assert clean["review"] == []

    summary = json.loads((review_root / ".swbatch" / "summary.json").read_text())
    listed = {entry["id"]: entry["reasons"] for entry in summary["review"]}
    assert set(listed) == {"loop.wav", "silence.wav"}
    assert "text_over_silence" in listed["silence.wav"] and "repetition" in listed["loop.wav"]
    # `swbatch summary` merges the same list from the status record (all shards of a batch)
    merged = run_cli(["summary", str(review_root), "--json"], demo_env)
    assert {e["id"]: e["reasons"] for e in json.loads(merged.stdout)["review"]} == listed
    text = run_cli(["summary", str(review_root)], demo_env).stdout
    assert "check:" in text and "loop.wav: " in text


def test_planted_segments_in_a_real_transcript_are_flagged(review_root, tmp_path):
    """A real transcript, edited: its segment repeated as Whisper loops, and a copy moved onto
    silence added after the speech, are flagged by their segment ids; the real one alone is not."""
    from swbatch.audio import SAMPLE_RATE, windows
    from swbatch.review import Listener, flags

    (first,) = doc(review_root, "clean.wav")["segments"]
    looped = [dict(first, id=i) for i in (1, 2, 3)]
    speech = next(windows(review_root / "raw_audio" / "clean.wav")).samples
    padded = write_wav(tmp_path / "padded.wav", np.concatenate([speech, make("silence", 10)]))
    listener = Listener()
    assert len(list(listener.windows(windows(padded)))) == 1
    end = len(speech) / SAMPLE_RATE
    over_silence = dict(first, id=4, start=end + 4, end=end + 6)
    found = {f["reason"]: f["segments"] for f in flags([first, *looped, over_silence],
                                                        listener.speech)}  # fmt: skip
    assert found["repetition"] == [0, 1, 2]
    assert found["text_over_silence"] == [4]
    assert flags([first], listener.speech) == []
