"""Batch transcription through the real CLI with the real tiny.en model of the `demo` set."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import jsonschema
import pysrt
import pytest
import webvtt
from conftest import REPO, SWBATCH, cli_env, run_cli
from speech import convert, speak, word_error_rate

SCHEMA = json.loads((REPO / "swbatch" / "schemas" / "transcript.schema.json").read_text())


def make_root(tmp_path: Path, speech_files: dict[str, Path], layout: dict[str, str]) -> Path:
    """A --root folder whose raw_audio/ holds ``{relative name: sentence}`` as real audio files.

    Other extensions than .wav are re-encoded with PyAV, so several decoders are exercised.
    """
    root = tmp_path / "root"
    for rel, text in layout.items():
        dest = root / "raw_audio" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.suffix == ".wav":
            shutil.copy(speech_files[text], dest)
        else:
            convert(speech_files[text], dest)
    return root


def read_status(root: Path) -> list[dict]:
    path = root / ".swbatch" / "status.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def all_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_transcribe_root_writes_every_format_accurately(tmp_path, speech_files, demo_env):
    sentences = list(speech_files)
    layout = {
        "a.wav": sentences[0],
        "a.mp3": sentences[1],
        "calls/monday/b.flac": sentences[2],
        "calls/c.ogg": sentences[3],
        "video/e.mkv": sentences[5],
        "f.m4a": sentences[6],
        "d e ü.wav": sentences[4],
    }
    root = make_root(tmp_path, speech_files, layout)
    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--word-timestamps"],
                  demo_env)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "7 done, 0 skipped, 0 failed" in res.stdout

    refs, hyps = [], []
    for rel, text in layout.items():
        doc = json.loads((root / "whisper_json" / f"{rel}.json").read_text())
        jsonschema.validate(doc, SCHEMA)
        assert doc["language"] == "en" and doc["model"]["compute_type"] == "int8"
        assert doc["segments"] and doc["segments"][0]["words"]
        srt = pysrt.open(str(root / "transcripts" / f"{rel}.srt"))
        vtt = webvtt.read(str(root / "transcripts" / f"{rel}.vtt"))
        txt = (root / "transcripts" / f"{rel}.txt").read_text()
        joined = " ".join(s["text"] for s in doc["segments"])
        assert " ".join(c.text for c in srt) == joined
        assert " ".join(c.text for c in vtt) == joined
        assert txt.split() == joined.split()
        assert srt[-1].end.ordinal / 1000 == pytest.approx(doc["segments"][-1]["end"], abs=0.002)
        refs.append(text)
        hyps.append(joined)
    assert word_error_rate(refs, hyps) <= 0.2, hyps

    # a.wav and a.mp3 keep separate outputs
    a_wav = json.loads((root / "whisper_json" / "a.wav.json").read_text())
    a_mp3 = json.loads((root / "whisper_json" / "a.mp3.json").read_text())
    assert a_wav["file"].endswith("a.wav") and a_mp3["file"].endswith("a.mp3")

    # the same command again skips everything and changes nothing
    before = {p: p.stat().st_mtime_ns for p in all_files(root / "whisper_json")}
    again = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--word-timestamps"],
                    demo_env)  # fmt: skip
    assert again.returncode == 0 and "0 done, 7 skipped" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in all_files(root / "whisper_json")} == before


def test_bad_inputs_fail_alone_and_good_files_finish(tmp_path, speech_files, demo_env):
    sentences = list(speech_files)
    root = make_root(tmp_path, speech_files, {"good1.wav": sentences[0], "sub/good2.wav":
                                              sentences[1]})  # fmt: skip
    raw = root / "raw_audio"
    (raw / "empty.wav").write_bytes(b"")
    (raw / "random.mp3").write_bytes(os.urandom(40_000))
    (raw / "notes.wav").write_text("this is a text file, not audio\n" * 20)
    full = speech_files[sentences[2]].read_bytes()
    (raw / "truncated.wav").write_bytes(full[: len(full) // 3])
    (raw / "folder.wav").mkdir()
    (raw / "broken.wav").symlink_to(tmp_path / "does-not-exist.wav")

    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--formats", "json,txt"],
                  demo_env)  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "2 done, 0 skipped, 6 failed" in res.stdout
    reasons = {r["id"]: r["reason"] for r in read_status(root) if r["state"] == "failed"}
    assert reasons["empty.wav"] == "empty file (0 bytes)"
    assert reasons["random.mp3"].startswith("not decodable audio")
    assert reasons["notes.wav"].startswith("not decodable audio")
    assert reasons["truncated.wav"].startswith("truncated WAV: header declares")
    assert reasons["folder.wav"] == "is a folder, not an audio file"
    assert reasons["broken.wav"].startswith("broken symbolic link")
    for rid, reason in reasons.items():
        assert "\n" not in reason
        assert f"FAILED {raw / rid}: {reason}" in res.stderr
        assert not (root / "whisper_json" / f"{rid}.json").exists()
    for good in ("good1.wav", "sub/good2.wav"):
        assert json.loads((root / "whisper_json" / f"{good}.json").read_text())["segments"]
    summary = json.loads((root / ".swbatch" / "summary.json").read_text())
    assert summary["failed"] == 6 and summary["done"] == 2
    assert {f["id"] for f in summary["failures"]} == set(reasons)


def test_killed_batch_resumes_without_loss(tmp_path, speech_files, demo_env):
    sentences = list(speech_files)
    layout = {f"f{i:02d}.wav": sentences[i % len(sentences)] for i in range(8)}
    root = make_root(tmp_path, speech_files, layout)
    args = [*SWBATCH, "transcribe", "--root", str(root), "--model", "demo", "--workers", "1"]
    proc = subprocess.Popen(args, env=demo_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and not any(r["state"] == "done" for r in read_status(root)):
        time.sleep(0.05)
    time.sleep(0.3)  # land somewhere in the middle of the next file
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = {r["id"] for r in read_status(root) if r["state"] == "done"}
    assert 0 < len(first) < len(layout), "the kill should land mid-batch"

    res = run_cli(["transcribe", "--root", str(root), "--model", "demo"], demo_env)
    assert res.returncode == 0, res.stderr
    done = [r["id"] for r in read_status(root) if r["state"] == "done"]
    assert sorted(done) == sorted(layout), "every file transcribed exactly once"
    for rel in layout:
        json.loads((root / "whisper_json" / f"{rel}.json").read_text())
        for fmt in ("txt", "srt", "vtt"):
            assert (root / "transcripts" / f"{rel}.{fmt}").stat().st_size > 0
    leftovers = [p for p in all_files(root) if p.name.endswith(".tmp")]
    assert leftovers == []


def write_manifest(folder: Path, text: str) -> Path:
    path = folder / "jobs.yaml"
    path.write_text(text)
    return path


def test_run_manifest_resolves_paths_and_names(tmp_path, speech_files, demo_env):
    sentences = list(speech_files)
    project = tmp_path / "project"
    speak(project / "audio" / "one.wav", sentences[0])
    speak(project / "audio" / "two.wav", sentences[1])
    manifest = write_manifest(
        project,
        """
output_dir: results
defaults:
  model: demo
  formats: [json, srt]
jobs:
  - audio: audio/one.wav
    id: first
    output: calls/first
  - audio: audio/two.wav
    language: en
    formats: json
""",
    )
    res = run_cli(["run", str(manifest)], demo_env, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    first = json.loads((project / "results/whisper_json/calls/first.json").read_text())
    assert first["id"] == "first" and first["options"]["formats"] == ["json", "srt"]
    assert (project / "results/transcripts/calls/first.srt").exists()
    second = json.loads((project / "results/whisper_json/audio/two.wav.json").read_text())
    assert second["options"]["language"] == "en"
    assert not (project / "results/transcripts/audio/two.wav.srt").exists()


def test_run_manifest_reports_every_error_and_touches_nothing(tmp_path, demo_env):
    project = tmp_path / "project"
    project.mkdir()
    manifest = write_manifest(
        project,
        """
output_dir: results
defaults:
  modle: demo
jobs:
  - audio: a.wav
    output: ../../escape
  - audio: b.wav
    formats: [json, docx]
    num_speakers: two
  - id: no-audio
  - audio: c.wav
    output: /etc/passwd
    task: dance
""",
    )
    res = run_cli(["run", str(manifest)], demo_env)
    assert res.returncode == 2
    err = res.stderr
    assert "Traceback" not in err
    for needle in ("defaults.modle: unknown key", "jobs[0].output", "outside output_dir",
                   "jobs[1].formats", "jobs[1].num_speakers: must be a whole number",
                   "jobs[2].audio: missing", "jobs[3].output",
                   "jobs[3].task: must be one of"):  # fmt: skip
        assert needle in err, needle
    assert "(7 problems)" in err
    assert not (project / "results").exists()


def test_default_model_is_the_one_in_the_cache(tmp_path, speech_files, demo_env, clean_env):
    root = make_root(tmp_path, speech_files, {"x.wav": next(iter(speech_files))})
    res = run_cli(["transcribe", "--root", str(root), "--formats", "txt,json"], demo_env)
    assert res.returncode == 0, res.stderr
    empty = run_cli(["transcribe", "--root", str(root), "--overwrite"], clean_env)
    assert empty.returncode == 3
    assert len(empty.stderr.strip().splitlines()) == 1
    assert "swbatch prefetch" in empty.stderr

    # two cached models: no guessing, the error lists both
    two = tmp_path / "two-models"
    shutil.copytree(demo_env["SLOWER_WHISPER_CACHE_ROOT"] + "/whisper", two / "whisper",
                    symlinks=True)  # fmt: skip
    whisper = two / "whisper"
    shutil.copytree(whisper / "models--Systran--faster-whisper-tiny.en",
                    whisper / "models--Systran--faster-whisper-base.en", symlinks=True)  # fmt: skip
    both = run_cli(["transcribe", "--root", str(root), "--overwrite"], cli_env(two))
    assert both.returncode == 2
    assert "holds 2 whisper models" in both.stderr and "base.en" in both.stderr
    assert "tiny.en" in both.stderr and len(both.stderr.strip().splitlines()) == 1
