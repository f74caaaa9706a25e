"""Faults during a batch, through the real CLI: kills at random points, two processes on one
folder, a full disk, folders and files without permission, hostile file names.

What every test checks in the end: each good file is transcribed exactly once, nothing under a
final name is partial, empty or invalid, and the status record agrees with the outputs.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import jsonschema
import pysrt
import pytest
import webvtt
from conftest import REPO, SWBATCH, mounted_tmpfs, run_as_nobody, run_cli
from test_transcribe import make_root, read_status

SCHEMA = json.loads((REPO / "swbatch" / "schemas" / "transcript.schema.json").read_text())
NEEDS_ROOT = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("setpriv"),
    reason="needs root (mount, setpriv) as in CI",
)


def check_outputs_complete(out: Path) -> set[str]:
    """Every file under a final name is whole: each JSON validates against the schema, and each
    transcript parses in its format with one cue per segment of its JSON (when that exists; a
    job killed before its JSON leaves transcripts that must still parse). Temp files (dot names)
    are not outputs. Returns the relative names whose JSON exists (the finished jobs)."""
    segments: dict[str, int] = {}
    json_dir, text_dir = out / "whisper_json", out / "transcripts"
    for path in sorted(json_dir.rglob("*.json")) if json_dir.exists() else []:
        if not path.name.startswith("."):
            doc = json.loads(path.read_text())
            jsonschema.validate(doc, SCHEMA)
            segments[path.relative_to(json_dir).as_posix()[: -len(".json")]] = len(doc["segments"])
    for path in sorted(text_dir.rglob("*")) if text_dir.exists() else []:
        if path.is_dir() or path.name.startswith("."):
            continue
        text = path.read_text()
        if path.suffix == ".srt":
            cues = len(pysrt.from_string(text))
        elif path.suffix == ".vtt":
            cues = len(webvtt.from_string(text).captions)
        else:
            cues = len(text.splitlines())
        rel = path.relative_to(text_dir).as_posix().rsplit(".", 1)[0]
        assert cues == segments.get(rel, cues), f"{path}: {cues} cues, JSON has {segments[rel]}"
    return set(segments)


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.tmp") if p.is_file()]


def status_lines_parse(out: Path) -> None:
    """Every line of the status record is whole JSON (appends are single write calls)."""
    path = out / ".swbatch" / "status.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            json.loads(line)


# --- kills ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [11, 22, 33])
def test_sigkill_at_random_points_loses_nothing(seed, tmp_path, speech_files, demo_env):
    rng = random.Random(seed)
    sentences = list(speech_files)
    layout = {f"k{i}.wav": sentences[(i + seed) % len(sentences)] for i in range(8)}
    root = make_root(tmp_path, speech_files, layout)
    (root / "raw_audio" / "bad.wav").write_bytes(b"")
    args = [*SWBATCH, "transcribe", "--root", str(root), "--model", "demo", "--workers", "1"]
    kills = 0
    for _attempt in range(2):
        proc = subprocess.Popen(args, env=demo_env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            proc.wait(timeout=rng.uniform(0.3, 3.0))  # a full run takes ~6 s
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        check_outputs_complete(root)
        status_lines_parse(root)
    assert kills, "at least one run should have been killed"

    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--workers", "1"],
                  demo_env)  # fmt: skip
    assert res.returncode == 1, res.stderr  # bad.wav fails, everything else is done
    assert "Traceback" not in res.stderr
    assert check_outputs_complete(root) == set(layout)
    assert temp_files(root) == []
    records = read_status(root)
    done = collections.Counter(r["id"] for r in records if r["state"] == "done")
    already = {r["id"] for r in records if r["reason"] == "already done"}
    for rel in layout:
        # done once; or done by a run killed between the JSON's rename and its status line
        assert done[rel] == 1 or (done[rel] == 0 and rel in already), (rel, records)
    assert "bad.wav" not in done
    assert not (root / "whisper_json" / "bad.wav.json").exists()


# --- two processes ------------------------------------------------------------------------------


def test_two_processes_on_one_root_never_repeat_a_job(tmp_path, speech_files, demo_env):
    sentences = list(speech_files)
    layout = {f"c{i}.wav": sentences[i % len(sentences)] for i in range(8)}
    root = make_root(tmp_path, speech_files, layout)
    args = [*SWBATCH, "transcribe", "--root", str(root), "--model", "demo", "--workers", "1"]
    procs = [
        subprocess.Popen(
            args, env=demo_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    records = read_status(root)
    done = collections.Counter(r["id"] for r in records if r["state"] == "done")
    assert done == collections.Counter(list(layout)), records  # each exactly once, none lost
    assert check_outputs_complete(root) == set(layout)
    for rel in layout:
        for_rel = [r for r in records if r["id"] == rel]
        assert len(for_rel) == 2  # one process did it, the other skipped it
        assert {r["reason"] for r in for_rel if r["state"] == "skipped"} <= {
            "already done", "running in another process"}  # fmt: skip


# --- a full disk ------------------------------------------------------------------------------


@NEEDS_ROOT
def test_disk_full_fails_jobs_cleanly_and_a_rerun_finishes(tmp_path, speech_files, demo_env):
    out = tmp_path / "out"
    wav = next(iter(speech_files.values()))
    names = [f"m{i}.wav" for i in range(6)]
    for name in names:
        shutil.copy(wav, tmp_path / name)
    manifest = tmp_path / "jobs.yaml"
    args = ["run", str(manifest), "--workers", "1", "--word-timestamps"]
    # The disk's size from what one job takes on this machine (outputs, record, summary): room
    # for that and a quarter as much again, so the first job finishes and the disk fills before the
    # sixth (a fixed size broke where transcripts or paths ran longer)
    manifest.write_text(f"output_dir: out\ndefaults: {{model: demo}}\njobs: {names[:1]}\n")
    with mounted_tmpfs(out, "4m"):
        assert run_cli(args, demo_env).returncode == 0
        one_job = shutil.disk_usage(out).used
    with mounted_tmpfs(out, f"{(one_job + one_job // 4) // 1024}k"):
        manifest.write_text(f"output_dir: out\ndefaults: {{model: demo}}\njobs: {names}\n")
        res = run_cli(args, demo_env)
        assert res.returncode == 1, res.stderr
        assert "Traceback" not in res.stderr
        finished = check_outputs_complete(out)
        assert 1 <= len(finished) < len(names)
        assert temp_files(out) == []
        failed = {r["id"]: r["reason"] for r in read_status(out) if r["state"] == "failed"}
        assert set(failed) == set(names) - finished
        for name, reason in failed.items():
            assert reason.startswith("cannot write ") and "No space left on device" in reason
            assert f"FAILED {tmp_path / name}: {reason}" in res.stderr
        before = {
            p: p.read_bytes() for p in out.rglob("*") if p.is_file() and "json" in p.parts[-2]
        }

        subprocess.run(["mount", "-o", "remount,size=4m", str(out)], check=True)
        again = run_cli(args, demo_env)
        assert again.returncode == 0, again.stderr
        assert check_outputs_complete(out) == set(names)
        assert all(p.read_bytes() == data for p, data in before.items())  # earlier outputs intact


@NEEDS_ROOT
def test_a_full_disk_still_takes_the_failure_lines(tmp_path):
    """Which write meets a full disk first is chance (CI once met it at a status line, and the
    batch stopped with exit 2 where each job should have failed with its reason): the status
    record keeps room past its end, so failure lines still land on a disk with no byte left."""
    from swbatch.status import BatchState, JobRecord

    out = tmp_path / "out"
    with mounted_tmpfs(out, "64k"):
        state = BatchState(out)
        with (out / "ballast").open("wb", buffering=0) as ballast, contextlib.suppress(OSError):
            while True:  # fill the disk to the last byte
                ballast.write(b"x" * 1024)
        with pytest.raises(OSError):
            (out / "one-more").write_bytes(b"x" * 4096)
        reason = f"cannot write {out / ('x' * 40)}.json: No space left on device"
        for i in range(20):  # about 7 KiB of lines: past the page the record had
            state.record(JobRecord(id=f"m{i}.wav", audio=str(tmp_path / f"m{i}.wav"),
                                   state="failed", reason=reason))  # fmt: skip
        assert [r["id"] for r in read_status(out)] == [f"m{i}.wav" for i in range(20)]


# --- permissions (as an unprivileged user) -------------------------------------------------------


@pytest.fixture
def shared(demo_cache):
    """A world-traversable folder under /tmp holding a copy of the demo cache (pytest's own
    temporary folders are private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="swbatch-faults-", dir="/tmp"))
    os.chmod(folder, 0o755)
    shutil.copytree(demo_cache, folder / "cache", symlinks=True)
    subprocess.run(["chmod", "-R", "a+rX", str(folder / "cache")], check=True)
    yield folder
    shutil.rmtree(folder)


@NEEDS_ROOT
def test_unwritable_output_and_unreadable_input(shared, speech_files, demo_env):
    env = {**demo_env, "SLOWER_WHISPER_CACHE_ROOT": str(shared / "cache")}
    root = shared / "root"
    wav = next(iter(speech_files.values()))
    (root / "raw_audio").mkdir(parents=True)
    shutil.copy(wav, root / "raw_audio" / "good.wav")
    shutil.copy(wav, root / "raw_audio" / "secret.wav")
    subprocess.run(["chmod", "-R", "a+rX", str(root)], check=True)
    os.chmod(root / "raw_audio" / "secret.wav", 0o600)  # root's: nobody may read it

    # the output folder itself is not writable: one line, exit 2, nothing started
    res = run_as_nobody(["transcribe", "--root", str(root), "--model", "demo"], env)
    assert res.returncode == 2, res.stderr
    (line,) = res.stderr.strip().splitlines()
    assert "cannot write the status record" in line and "Permission denied" in line
    assert not (root / ".swbatch").exists()

    # writable, but one input is unreadable: that job fails alone
    os.chmod(root, 0o777)
    res = run_as_nobody(["transcribe", "--root", str(root), "--model", "demo", "--formats", "json"],
                    env)  # fmt: skip
    assert res.returncode == 1, res.stderr
    assert "Traceback" not in res.stderr
    reasons = {r["id"]: r["reason"] for r in read_status(root) if r["state"] == "failed"}
    assert reasons == {"secret.wav": "permission denied"}
    assert check_outputs_complete(root) == {"good.wav"}

    # an output sub-folder that is not writable: the job fails with the reason, nothing partial
    (root / "transcripts").mkdir(mode=0o755)
    res = run_as_nobody(["transcribe", "--root", str(root), "--model", "demo", "--overwrite"], env)
    assert res.returncode == 1
    reasons = {r["id"]: r["reason"] for r in read_status(root)[-2:] if r["state"] == "failed"}
    assert reasons["good.wav"].startswith(f"cannot write {root / 'transcripts'}")
    assert reasons["good.wav"].endswith("Permission denied")
    assert list((root / "transcripts").iterdir()) == []


# --- names ---------------------------------------------------------------------------------------


def test_names_with_spaces_unicode_and_newlines(tmp_path, speech_files, demo_env):
    sentences = list(speech_files)
    names = ["with  two spaces.wav", "ünïcødé 日本語 — ok.wav", "new\nline.wav", " lead.wav"]
    layout = {f"sub dir/{n}": sentences[i] for i, n in enumerate(names)}
    root = make_root(tmp_path, speech_files, layout)
    res = run_cli(["transcribe", "--root", str(root), "--model", "demo", "--workers", "1"],
                  demo_env)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert check_outputs_complete(root) == set(layout)
    for rel in layout:
        doc = json.loads((root / "whisper_json" / f"{rel}.json").read_text())
        assert doc["id"] == rel and doc["file"] == str(root / "raw_audio" / rel)
        for fmt in ("txt", "srt", "vtt"):
            assert (root / "transcripts" / f"{rel}.{fmt}").is_file()
    records = read_status(root)
    assert len(records) == len((root / ".swbatch" / "status.jsonl").read_text().splitlines())
    assert sorted(r["id"] for r in records if r["state"] == "done") == sorted(layout)
