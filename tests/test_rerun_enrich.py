"""Adding emotion to a finished job runs only the emotion stage, on the existing transcript.

The emotion model is the tiny randomly initialised wav2vec2 of tests/torch_models.py, loaded
through the same offline ``from_pretrained`` path a real one takes; Whisper is the real tiny.en.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import cli_env, run_cli
from speech import SENTENCES, have_espeak, speak

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def emotion_cache(tmp_path_factory, demo_cache: Path) -> Path:
    """The demo Whisper model plus the default categorical emotion model (tiny, random)."""
    pytest.importorskip("transformers")
    import torch_models

    from swbatch.emotion import DEFAULT_CATEGORICAL

    root = tmp_path_factory.mktemp("emotion-cache")
    shutil.copytree(demo_cache / "whisper", root / "whisper", symlinks=True)
    built = torch_models.save_categorical_model(tmp_path_factory.mktemp("emotion") / "er")
    torch_models.place_in_hub_layout(root / "emotion", DEFAULT_CATEGORICAL, built)
    return root


def test_adding_emotion_runs_no_asr(tmp_path, emotion_cache):
    if not have_espeak():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    env = cli_env(emotion_cache)
    root = tmp_path / "root"
    speak(root / "raw_audio" / "a.wav", " ".join(SENTENCES[:2]))
    base = ["transcribe", "--root", str(root), "--model", "demo", "--formats", "json,txt"]

    def run(*flags: str) -> tuple[dict, dict, dict]:
        res = run_cli([*base, *flags], env)
        assert res.returncode == 0, res.stderr
        doc = json.loads((root / "whisper_json" / "a.wav.json").read_text())
        summary = json.loads((root / ".swbatch" / "summary.json").read_text())
        record = json.loads((root / ".swbatch" / "status.jsonl").read_text().splitlines()[-1])
        return doc, summary, record

    plain, summary, _ = run()
    assert summary["transcribed"] == 1 and "emotion" not in plain["segments"][0]

    doc, summary, record = run("--emotion")
    assert summary["transcribed"] == 0  # no file went through Whisper
    assert record["action"] == "enrich"
    assert record["reason"] == "settings changed: emotion False -> True"
    assert [s["text"] for s in doc["segments"]] == [s["text"] for s in plain["segments"]]
    assert doc["timings"]["transcribe_seconds"] == plain["timings"]["transcribe_seconds"]
    assert all("label" in s["emotion"] or s["emotion"] == {"status": "too_short"}
               for s in doc["segments"])  # fmt: skip
    assert doc["options"]["emotion"] is True and doc["fingerprint"] != plain["fingerprint"]

    # the same model as a folder is another model: judged again, still without ASR
    folder = next((emotion_cache / "emotion").glob("models--*/snapshots/*"))
    doc, summary, record = run("--emotion", "--emotion-model", str(folder))
    assert summary["transcribed"] == 0 and record["action"] == "enrich"
    assert record["reason"].startswith("settings changed: emotion_model unset -> ")
    assert doc["options"]["emotion_model"] == str(folder)

    # dropping emotion again removes it, still without ASR
    doc, summary, record = run()
    assert summary["transcribed"] == 0 and "emotion" not in doc["segments"][0]


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--emotion", "--emotion-model", "org/no-such-model"], "org/no-such-model"),
        (["--diarize", "--diarization-model", "pyannote/speaker-diarization-3.1"],
         "pyannote/speaker-diarization-3.1"),
    ],
)  # fmt: skip
def test_a_chosen_model_that_is_not_cached_stops_before_any_audio(
    tmp_path, emotion_cache, flags, named
):
    """The model flags reach the loaders: the model asked for (not the default) is looked up,
    and its absence is one line naming it, exit 3, before anything is transcribed."""
    if "--diarize" in flags:
        pytest.importorskip("pyannote.audio")
    if not have_espeak():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    root = tmp_path / "root"
    speak(root / "raw_audio" / "a.wav", SENTENCES[0])
    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", *flags],
                  cli_env(emotion_cache))  # fmt: skip
    assert res.returncode == 3, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert named in line
    assert not (root / "whisper_json").exists()
