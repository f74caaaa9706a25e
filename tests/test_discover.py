"""--root discovery through real symbolic links: followed, each real file once, loops reported."""

from __future__ import annotations

import json
import os
import shutil

from conftest import run_cli


def test_symlinked_folders_are_followed_once_and_loops_reported(tmp_path, speech_files, demo_env):
    sentences = list(speech_files)
    root = tmp_path / "root"
    raw = root / "raw_audio"
    (raw / "real" / "sub").mkdir(parents=True)
    shutil.copy(speech_files[sentences[0]], raw / "real" / "a.wav")
    shutil.copy(speech_files[sentences[1]], raw / "real" / "sub" / "b.wav")
    archive = tmp_path / "archive" / "2024"
    archive.mkdir(parents=True)
    shutil.copy(speech_files[sentences[2]], archive / "c.wav")
    (archive / "loop").symlink_to(archive)  # a loop outside raw_audio, reached through a link
    (raw / "link1").symlink_to(archive)  # two links to the same folder outside raw_audio
    (raw / "link2").symlink_to(archive)
    (raw / "real" / "up").symlink_to(raw)  # a loop inside raw_audio
    (raw / "again").symlink_to(raw / "real")  # a link to a folder of the tree itself
    (raw / "alias.wav").symlink_to(raw / "real" / "a.wav")  # a second name for one file

    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--formats", "json"],
                  demo_env)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert "3 done, 0 skipped, 0 failed" in res.stdout
    done = sorted(p.relative_to(root / "whisper_json").as_posix()
                  for p in (root / "whisper_json").rglob("*.json"))  # fmt: skip
    assert done == ["link1/c.wav.json", "real/a.wav.json", "real/sub/b.wav.json"]
    doc = json.loads((root / "whisper_json" / "link1" / "c.wav.json").read_text())
    assert doc["segments"], "the file behind the link was transcribed"
    notes = [line for line in res.stderr.splitlines() if line.startswith("swbatch: note: ")]
    real_sub, real_archive = os.path.realpath(raw / "real"), os.path.realpath(archive)
    assert notes == [
        f"swbatch: note: raw_audio/again: {real_sub} is walked once; not followed again",
        "swbatch: note: raw_audio/link1/loop: symlink loop (links to a folder above it); "
        "not followed",
        f"swbatch: note: raw_audio/link2: {real_archive} is walked once; not followed again",
        "swbatch: note: raw_audio/real/up: symlink loop (links to a folder above it); not followed",
        "swbatch: note: raw_audio/alias.wav: same file as raw_audio/real/a.wav; transcribed once",
    ], res.stderr
