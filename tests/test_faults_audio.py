"""Awkward audio made with sox, through the real CLI: silence, noise, 8 kHz telephone speech,
stereo with one silent channel, and a one-hour file whose peak memory is compared with a
five-minute one. Only these cases need sox (the `sox` group; .ci/run installs it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run_cli
from speech import SENTENCES, speak, word_error_rate
from test_faults_batch import check_outputs_complete
from test_faults_input import peak_rss_run

pytestmark = [
    pytest.mark.sox,
    pytest.mark.skipif(
        not (shutil.which("sox") and shutil.which("soxi")),
        reason="sox is not installed (apt-get install sox)",
    ),
]


def sox(*args: str | Path) -> None:
    subprocess.run(["sox", *map(str, args)], check=True, capture_output=True)


def test_silence_noise_telephone_and_one_silent_channel(tmp_path, speech_files, demo_env):
    # tiny.en on 8 kHz u-law espeak speech is sentence-dependent (WER 0.17-0.6 measured across
    # pairs of tests/speech.py sentences); this pair measured 0.17, so the bound below checks
    # that telephone audio is decoded and transcribed, not the model's luck.
    text = SENTENCES[3] + " " + SENTENCES[4]
    voice = speak(tmp_path / "voice.wav", text)  # espeak-ng: 22.05 kHz mono
    raw = tmp_path / "root" / "raw_audio"
    raw.mkdir(parents=True)
    sox("-n", "-r", "16000", "-c", "1", raw / "silence.wav", "trim", "0", "10")
    sox(
        "-n", "-r", "16000", "-c", "1", raw / "noise.wav", "synth", "10", "whitenoise", "vol", "0.3"
    )
    # -D: no dither, so the telephone file (and its transcript) is the same on every run
    sox("-D", voice, "-r", "8000", "-e", "u-law", raw / "telephone.wav")
    sox("-n", "-r", "22050", "-c", "1", tmp_path / "quiet.wav", "trim", "0",
        str(float(subprocess.check_output(["soxi", "-D", str(voice)]))))  # fmt: skip
    sox(voice, tmp_path / "quiet.wav", "-M", raw / "stereo.wav")
    root = raw.parent
    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--vad"], demo_env)
    assert res.returncode == 0, res.stderr
    assert check_outputs_complete(root) == {"silence.wav", "noise.wav", "telephone.wav",
                                            "stereo.wav"}  # fmt: skip
    docs = {p.name[:-9]: json.loads(p.read_text()) for p in (root / "whisper_json").iterdir()}
    assert docs["silence"]["duration"] == pytest.approx(10, abs=0.05)
    assert docs["silence"]["segments"] == []  # no speech: an honest empty transcript
    assert docs["noise"]["duration"] == pytest.approx(10, abs=0.05)
    for name in ("telephone", "stereo"):
        hyp = " ".join(s["text"] for s in docs[name]["segments"])
        assert word_error_rate([text], [hyp]) <= 0.25, (name, hyp)


def long_file(path: Path, voice: Path, minutes: int, spoken: int) -> Path:
    """``minutes`` of audio: ``spoken`` one-minute blocks starting with speech, the rest silence."""
    speech = float(subprocess.check_output(["soxi", "-D", str(voice)]))
    path.parent.mkdir(parents=True, exist_ok=True)
    block = voice.parent / "block.wav"
    sox(voice, "-r", "16000", "-c", "1", block, "pad", "0", f"{60 - speech:.3f}")
    quiet = voice.parent / "quiet-minute.wav"
    sox("-n", "-r", "16000", "-c", "1", quiet, "trim", "0", "60")
    step = minutes // spoken
    sox(*[block if i % step == 0 else quiet for i in range(minutes)], path)
    return path


def test_one_hour_file_memory_stays_bounded(tmp_path, demo_env):
    voice = speak(tmp_path / "voice.wav", SENTENCES[2])
    peaks = {}
    for minutes, spoken in ((5, 1), (60, 3)):
        root = tmp_path / f"m{minutes}"
        long_file(root / "raw_audio" / f"{minutes}min.wav", voice, minutes, spoken)
        res, peaks[minutes] = peak_rss_run(["transcribe", "--root", str(root), "--model", "demo",
                                            "--vad", "--formats", "json", "--workers", "1"],
                                           demo_env)  # fmt: skip
        assert res.returncode == 0, res.stderr
        doc = json.loads((root / "whisper_json" / f"{minutes}min.wav.json").read_text())
        assert doc["duration"] == pytest.approx(minutes * 60, abs=0.1)
        # the last speech block is reached (VAD-merged segments may span the silence between)
        assert len(doc["segments"]) >= spoken
        assert doc["segments"][-1]["end"] > 60 * (minutes - minutes // spoken), doc["segments"]
        print(f"\n{minutes} min file: peak RSS {peaks[minutes]:.0f} MB")
    assert peaks[60] < 1500, peaks
