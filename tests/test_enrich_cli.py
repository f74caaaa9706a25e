"""Diarization and emotion through the real CLI, with the network unreachable.

A cache holds the demo Whisper model, a pyannote pipeline folder (real segmentation-3.0 weights)
and tiny emotion models; `swbatch transcribe --diarize --emotion --emotion-dimensional` runs in a
network namespace with no interfaces, so any download attempt would fail.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pysrt
import pytest
import webvtt
from conftest import SWBATCH, cli_env
from speech import DIALOGUE, speak

pytestmark = [pytest.mark.torch, pytest.mark.sox]


@pytest.fixture(scope="module")
def enriched_cache(tmp_path_factory, demo_cache: Path, pipeline_folder: Path) -> Path:
    """The demo cache's Whisper model plus a diarization pipeline and both emotion models."""
    pytest.importorskip("transformers")
    import torch_models

    from swbatch.diarization import DEFAULT_MODEL
    from swbatch.emotion import DEFAULT_CATEGORICAL, DEFAULT_DIMENSIONAL

    root = tmp_path_factory.mktemp("enriched-cache")
    shutil.copytree(demo_cache / "whisper", root / "whisper", symlinks=True)
    torch_models.place_in_hub_layout(root / "diarization", DEFAULT_MODEL, pipeline_folder)
    build = tmp_path_factory.mktemp("emotion-build")
    for repo, save in ((DEFAULT_CATEGORICAL, torch_models.save_categorical_model),
                       (DEFAULT_DIMENSIONAL, torch_models.save_dimensional_model)):  # fmt: skip
        torch_models.place_in_hub_layout(root / "emotion", repo, save(build / repo.split("/")[1]))
    return root


def dialogue_root(folder: Path) -> Path:
    """ROOT/raw_audio/dialogue.wav: two espeak-ng voices taking turns, half a second apart."""
    if not shutil.which("sox"):
        pytest.skip("sox is not installed (apt-get install sox)")
    parts = []
    for i, (voice, text) in enumerate(DIALOGUE):
        parts.append(str(speak(folder / "parts" / f"{i}.wav", text, voice=voice, rate=160)))
    raw = folder / "root" / "raw_audio"
    raw.mkdir(parents=True)
    padded = []
    for part in parts:
        out = part.replace(".wav", "-pad.wav")
        subprocess.run(["sox", part, "-r", "16000", out, "pad", "0", "0.5"], check=True)
        padded.append(out)
    subprocess.run(["sox", *padded, str(raw / "dialogue.wav")], check=True)
    return folder / "root"


def offline(cmd: list[str]) -> list[str]:
    """Run ``cmd`` in a new network namespace with no interfaces (no network at all)."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-rn", "true"]).returncode:
        pytest.skip("unshare -rn is not available to cut the network")
    return ["unshare", "-rn", *cmd]


def test_diarize_and_emotion_offline_write_every_format(tmp_path, enriched_cache):
    root = dialogue_root(tmp_path)
    cmd = offline([*SWBATCH, "transcribe", "--root", str(root), "--model", "demo", "--diarize",
                   "--num-speakers", "2", "--emotion", "--emotion-dimensional",
                   "--formats", "json,txt,srt,vtt,rttm"])  # fmt: skip
    res = subprocess.run(cmd, env=cli_env(enriched_cache), capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads((root / "whisper_json" / "dialogue.wav.json").read_text())
    assert len(doc["speakers"]) == 2
    assert doc["turns"] and {t["speaker"] for t in doc["turns"]} == {
        s["id"] for s in doc["speakers"]
    }
    said = [s["speaker"] for s in doc["segments"]]
    assert set(said) == {s["id"] for s in doc["speakers"]}, said
    assert said[0] != said[-1] or len(set(said)) == 2
    for seg in doc["segments"]:
        assert "label" in seg["emotion"] or seg["emotion"] == {"status": "too_short"}
        dim = seg["emotion_dimensional"]
        assert set(dim) == {"valence", "arousal", "dominance"} or dim == {"status": "too_short"}

    out = root / "transcripts"
    srt = pysrt.open(str(out / "dialogue.wav.srt"))
    assert all(c.text.startswith("[SPEAKER_") for c in srt)
    vtt = webvtt.read(str(out / "dialogue.wav.vtt"))
    assert all(c.raw_text.startswith("<v SPEAKER_") for c in vtt)
    assert all(
        line.startswith("[SPEAKER_") for line in (out / "dialogue.wav.txt").read_text().splitlines()
    )
    rttm = (out / "dialogue.wav.rttm").read_text().splitlines()
    assert len(rttm) == len(doc["turns"])
    fields = rttm[0].split()
    assert (
        fields[0] == "SPEAKER" and fields[1] == "dialogue.wav" and fields[7].startswith("SPEAKER_")
    )


def test_a_file_longer_than_a_window_is_enriched_as_a_stream(tmp_path, enriched_cache):
    """With 10-s windows the dialogue is streamed: diarization runs window by window with
    speakers linked across windows, emotion reads each segment's slice (docs/long-audio.md)."""
    root = dialogue_root(tmp_path)
    env = {**cli_env(enriched_cache), "SWBATCH_WINDOW_SECONDS": "10"}
    res = subprocess.run([*SWBATCH, "transcribe", "--root", str(root), "--model", "demo",
                          "--diarize", "--num-speakers", "2", "--emotion", "--formats", "json"],
                         env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr
    doc = json.loads((root / "whisper_json" / "dialogue.wav.json").read_text())
    assert doc["windows"]["count"] >= 2
    assert doc["turns"] and 1 <= len(doc["speakers"]) <= 2
    assert all(0 <= t["start"] < t["end"] <= doc["duration"] + 0.1 for t in doc["turns"])
    assert max(t["end"] for t in doc["turns"]) > 10, "turns of later windows are in file time"
    for seg in doc["segments"]:
        assert "label" in seg["emotion"] or seg["emotion"] == {"status": "too_short"}
    assert any("label" in seg["emotion"] for seg in doc["segments"])


def test_missing_diarization_model_stops_before_any_audio(tmp_path, demo_env):
    # without the extra the run stops too, but on the missing package (exit 2), not the model
    pytest.importorskip("pyannote.audio", exc_type=ImportError,
                        reason="pyannote.audio does not import: the missing-model path needs "
                        "the diarization extra")  # fmt: skip
    root = dialogue_root(tmp_path)
    res = subprocess.run([*SWBATCH, "transcribe", "--root", str(root), "--diarize"], env=demo_env,
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert res.returncode == 3, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "diarization" in res.stderr
    assert not (root / "whisper_json").exists()


def test_adding_diarization_to_a_finished_job_runs_no_asr(tmp_path, enriched_cache):
    """A transcript made with word timestamps gets speakers on a rerun with --diarize, without
    being transcribed again; changing the speaker count of a diarized one redoes it."""
    root = dialogue_root(tmp_path)
    env = cli_env(enriched_cache)
    base = [*SWBATCH, "transcribe", "--root", str(root), "--model", "demo", "--word-timestamps",
            "--formats", "json,srt"]  # fmt: skip

    def run(*flags: str) -> tuple[dict, dict, dict]:
        res = subprocess.run([*base, *flags], env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr
        state = root / ".swbatch"
        return (
            json.loads((root / "whisper_json" / "dialogue.wav.json").read_text()),
            json.loads((state / "summary.json").read_text()),
            json.loads((state / "status.jsonl").read_text().splitlines()[-1]),
        )

    plain, _, _ = run()
    doc, summary, record = run("--diarize", "--num-speakers", "2")
    assert summary["transcribed"] == 0 and record["action"] == "enrich"
    assert record["reason"] == "settings changed: diarize False -> True"
    assert len(doc["speakers"]) == 2 and all("speaker" in s for s in doc["segments"])
    words = [w["word"] for s in doc["segments"] for w in s["words"]]
    assert words == [w["word"] for s in plain["segments"] for w in s["words"]]
    assert all(c.text.startswith("[SPEAKER_") for c in pysrt.open(
        str(root / "transcripts" / "dialogue.wav.srt")))  # fmt: skip

    _, summary, record = run("--diarize", "--num-speakers", "3")
    assert summary["transcribed"] == 1 and record["action"] == "redo"
    assert record["reason"] == "settings changed: num_speakers 2 -> 3"


def test_emotion_reads_real_recordings_of_any_rate_and_layout(tmp_path, enriched_cache):
    """Emotion's input handling on real voices: a LibriSpeech FLAC, the same utterance as 44.1-kHz
    stereo and as 8-kHz telephone audio, pyannote's sample call and a 2-s utterance. Every file
    reaches the models as 16-kHz mono (its duration kept), and every segment is judged or, under
    a second, marked too short. The emotion weights are random (none ship in a package), so the
    labels themselves mean nothing here."""
    import pyannote.audio
    import real_speech

    raw = tmp_path / "raw_audio"
    raw.mkdir()
    libri = real_speech.utterance("1089-134686-0000")
    shutil.copy(libri.path, raw / "libri.flac")
    for name, rate, channels in (("libri-44k-stereo.wav", 44100, 2), ("libri-8k.wav", 8000, 1)):
        subprocess.run(["sox", str(libri.path), "-r", str(rate), "-c", str(channels),
                        str(raw / name)], check=True)  # fmt: skip
    shutil.copy(Path(pyannote.audio.__file__).parent / "sample" / "sample.wav", raw / "call.wav")
    short = real_speech.utterance("3005-163389-0007")
    shutil.copy(short.path, raw / f"short{short.path.suffix}")
    res = subprocess.run([*SWBATCH, "transcribe", "--root", str(tmp_path), "--model", "demo",
                          "--emotion", "--emotion-dimensional", "--formats", "json"],
                         env=cli_env(enriched_cache), capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr
    docs = {p.name.split(".")[0]: json.loads(p.read_text())
            for p in (tmp_path / "whisper_json").glob("*.json")}  # fmt: skip
    assert set(docs) == {"libri", "libri-44k-stereo", "libri-8k", "call", "short"}
    for name in ("libri-44k-stereo", "libri-8k"):
        assert abs(docs[name]["duration"] - libri.duration_s) < 0.01, (name, docs[name]["duration"])
    judged = 0
    for name, doc in docs.items():
        assert doc["segments"], name
        for seg in doc["segments"]:
            if seg["end"] - seg["start"] < 1.0:
                assert seg["emotion"] == seg["emotion_dimensional"] == {"status": "too_short"}
                continue
            judged += 1
            assert sum(seg["emotion"]["scores"].values()) == pytest.approx(1.0, abs=1e-3)
            assert seg["emotion"]["label"] in seg["emotion"]["scores"]
            assert set(seg["emotion_dimensional"]) == {"valence", "arousal", "dominance"}
    assert judged >= len(docs)
