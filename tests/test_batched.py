"""Batched inference (``--batch-size``) through the real CLI with the real tiny.en model.

Without ``--vad`` faster-whisper's batched pipeline refuses audio longer than 30 s unless given clip
boundaries; swbatch gives it 30-s chunks cut at quiet points. The batched path must keep the
sequential path's accuracy (WER within 0.03 on the same files) and continuous timestamps.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli
from speech import SENTENCES, have_espeak, speak, word_error_rate

pytestmark = pytest.mark.skipif(not have_espeak(), reason="espeak-ng makes the speech")

#: about 5 minutes of speech at espeak-ng's 120 words/minute
LONG_TEXT = " ".join(SENTENCES[i % len(SENTENCES)] for i in range(0, 80 * 3, 3))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, str]:
    """raw_audio holding one 5-minute file and three short ones: {relative name: text}."""
    raw = tmp_path_factory.mktemp("batched-corpus") / "raw_audio"
    texts = {"long.wav": LONG_TEXT, **{f"short{i}.wav": SENTENCES[i] for i in range(3)}}
    for name, text in texts.items():
        speak(raw / name, text)
    return {str(raw / name): text for name, text in texts.items()}


def transcribe(tmp_path: Path, corpus: dict[str, str], env: dict, *flags: str) -> dict[str, dict]:
    """Run the CLI over a copy of the corpus with ``flags``; {name: output document}."""
    root = tmp_path / "_".join(f.strip("-") for f in flags) if flags else tmp_path / "sequential"
    (root / "raw_audio").mkdir(parents=True)
    for src in corpus:
        (root / "raw_audio" / Path(src).name).symlink_to(src)
    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--formats", "json",
                   *flags], env)  # fmt: skip
    assert res.returncode == 0, res.stderr
    return {
        Path(src).name: json.loads((root / "whisper_json" / f"{Path(src).name}.json").read_text())
        for src in corpus
    }


def wer(corpus: dict[str, str], docs: dict[str, dict]) -> float:
    names = [Path(src).name for src in corpus]
    hyps = [" ".join(s["text"] for s in docs[n]["segments"]) for n in names]
    return word_error_rate(list(corpus.values()), hyps)


def assert_continuous(doc: dict) -> None:
    """Segments in time order, inside the file, reaching its end (no chunk lost or shifted)."""
    segments = doc["segments"]
    starts = [s["start"] for s in segments]
    assert starts == sorted(starts)
    assert all(0 <= s["start"] <= s["end"] <= doc["duration"] + 0.5 for s in segments)
    assert segments[-1]["end"] > doc["duration"] - 10


def test_batched_matches_sequential_accuracy_with_and_without_vad(tmp_path, corpus, demo_env):
    sequential = transcribe(tmp_path, corpus, demo_env)
    batched = transcribe(tmp_path, corpus, demo_env, "--batch-size", "8", "--word-timestamps")
    with_vad = transcribe(tmp_path, corpus, demo_env, "--batch-size", "8", "--vad")
    baseline = wer(corpus, sequential)
    assert baseline < 0.1
    for docs in (batched, with_vad):
        assert wer(corpus, docs) <= baseline + 0.03
        assert docs["long.wav"]["options"]["batch_size"] == 8
        assert_continuous(docs["long.wav"])
    # word times are continuous too, and each word lies inside its segment
    for seg in batched["long.wav"]["segments"]:
        assert seg["words"]
        assert all(seg["start"] - 0.5 <= w["start"] <= w["end"] <= seg["end"] + 0.5
                   for w in seg["words"])  # fmt: skip
    assert batched["long.wav"]["segments"][-1]["words"][-1]["end"] > 250
