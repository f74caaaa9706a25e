"""Hostile manifests and a file that changes while it is read, through the real CLI.

Manifests: an alias bomb, wrong types, names that escape output_dir (``../``, absolute, a
symlinked sub-folder), and 10,000 jobs. Audio made with sox is in test_faults_audio.py, so these
run where sox is missing.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time

from conftest import SWBATCH, run_cli
from speech import SENTENCES, speak
from test_faults_batch import check_outputs_complete, temp_files
from test_transcribe import read_status


def peak_rss_run(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``swbatch ARGS`` under a small wrapper; returns the result and the CLI process's peak
    resident memory in MB (getrusage of the wrapper's children: only that one process)."""
    wrapper = (
        "import resource, subprocess, sys\n"
        "res = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(res.stdout); sys.stderr.write(res.stderr)\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024\n"
        "sys.stderr.write(f'\\nPEAK_MB {peak:.1f}\\n'); sys.exit(res.returncode)\n"
    )
    res = subprocess.run([sys.executable, "-c", wrapper, *SWBATCH, *args], env=env,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    peak = float(res.stderr.rsplit("PEAK_MB", 1)[1])
    return res, peak


# --- manifests ----------------------------------------------------------------------------------

ALIAS_BOMB = """
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
jobs: *i
"""


def test_yaml_alias_bomb_is_refused_without_expanding(tmp_path, demo_env):
    manifest = tmp_path / "bomb.yaml"
    manifest.write_text(ALIAS_BOMB)  # ~387 million strings if expanded
    res, peak = peak_rss_run(["run", str(manifest)], demo_env)
    assert res.returncode == 2, res.stderr
    assert "aliases (*name) are not allowed" in res.stderr and "line 3" in res.stderr
    assert "Traceback" not in res.stderr
    # never expanded: expanding would take gigabytes (how long the refusal takes is measured
    # by benchmarks/startup.py, not asserted here)
    assert peak < 150, peak
    assert not (tmp_path / "out").exists()


def test_wrong_types_and_escaping_names_are_all_reported(tmp_path, demo_env):
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text(
        """
output_dir: results
defaults: [not, a, mapping]
jobs:
  - audio: {path: a.wav}
  - audio: a.wav
    diarize: "yes"
    language: [en]
    formats: {json: 1}
  - audio: b.wav
    output: sub/../../../b
  - audio: c.wav
    output: /tmp/c
  - audio: d.wav
    id: {nested: id}
  - [42]
"""
    )
    res = run_cli(["run", str(manifest)], demo_env)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    for needle in ("defaults: must be a mapping", "jobs[0].audio: must be str, got dict",
                   "jobs[1].diarize: must be true or false, not 'yes'",
                   "jobs[1].language: must be a non-empty text",
                   "jobs[1].formats: must be a list of json",
                   "jobs[2].output: 'sub/../../../b' would be written outside output_dir",
                   "jobs[3].output: '/tmp/c' would be written outside output_dir",
                   "jobs[4].id: must be str, got dict", "jobs[5]: must be a mapping"):  # fmt: skip
        assert needle in res.stderr, needle
    assert not (tmp_path / "results").exists()


def test_symlinked_output_folders_never_lead_outside(tmp_path, speech_files, demo_env):
    project, outside = tmp_path / "project", tmp_path / "outside"
    outside.mkdir()
    wav = next(iter(speech_files.values()))
    shutil.copy(wav, tmp_path / "a.wav")
    (project / "results").mkdir(parents=True)
    (project / "results" / "linked").symlink_to(outside)
    manifest = project / "jobs.yaml"
    manifest.write_text("output_dir: results\njobs:\n  - {audio: ../a.wav, output: linked/a}\n")
    res = run_cli(["run", str(manifest), "--model", "demo"], demo_env)
    assert res.returncode == 2
    assert "jobs[0].output: 'linked/a' would be written outside output_dir" in res.stderr

    # a format folder that is a symlink: checked at write time, the job fails, nothing leaks
    (project / "results" / "linked").unlink()
    (project / "results" / "transcripts").symlink_to(outside)
    manifest.write_text("output_dir: results\njobs:\n  - {audio: ../a.wav, output: a}\n")
    res = run_cli(["run", str(manifest), "--model", "demo"], demo_env)
    assert res.returncode == 1, res.stderr
    (record,) = read_status(project / "results")
    assert record["state"] == "failed" and "resolves outside" in record["reason"]
    assert list(outside.iterdir()) == []
    assert not (project / "results" / "whisper_json" / "a.json").exists()


def test_ten_thousand_jobs_validate_and_missing_audio_fails_per_job(tmp_path, demo_env):
    jobs = [f"audio/f{i:05d}.wav" for i in range(10_000)]
    manifest = tmp_path / "jobs.yaml"
    manifest.write_text(
        "output_dir: out\njobs:\n"
        + "".join(f"  - {{audio: {j}, id: job{i}, language: en}}\n" for i, j in enumerate(jobs))
        + "  - {audio: x.wav, task: dance}\n"
    )
    res = run_cli(["run", str(manifest), "--model", "demo"], demo_env)
    assert res.returncode == 2
    assert "invalid job manifest (1 problem)" in res.stderr and "jobs[10000].task" in res.stderr

    # valid, but the audio files do not exist: validation passes, each job fails on its own
    manifest.write_text(manifest.read_text().rsplit("  - {audio: x.wav", 1)[0])
    (tmp_path / "audio").mkdir()
    speak(tmp_path / "audio" / "f00007.wav", SENTENCES[0])
    res = run_cli(["run", str(manifest), "--model", "demo", "--quiet"], demo_env)
    assert res.returncode == 1, res.stderr[-2000:]
    assert res.stderr.count(": file not found") == 9_999
    records = read_status(tmp_path / "out")
    assert len(records) == 10_000
    assert [r["id"] for r in records if r["state"] == "done"] == ["job7"]


# --- audio ---------------------------------------------------------------------------------------


def test_file_that_changes_while_it_is_read(tmp_path, speech_files, demo_env):
    sentences = list(speech_files)
    raw = tmp_path / "root" / "raw_audio"
    raw.mkdir(parents=True)
    for i in range(3):
        shutil.copy(speech_files[sentences[i]], raw / f"steady{i}.wav")
    full = speech_files[sentences[3]].read_bytes()
    moving = raw / "moving.wav"
    moving.write_bytes(full)
    stop = threading.Event()
    rng = random.Random(7)

    def rewrite() -> None:
        """A recorder that keeps rewriting the file: truncated, whole, or garbage, in place."""
        while not stop.is_set():
            cut = rng.choice([len(full) // 3, len(full), 100, 0])
            with open(moving, "r+b") as fh:
                fh.truncate(cut)
                fh.seek(0)
                fh.write(full[:cut] if rng.random() < 0.8 else os.urandom(cut))
            time.sleep(0.002)

    writer = threading.Thread(target=rewrite, daemon=True)
    writer.start()
    try:
        res = run_cli(["transcribe", "--root", str(raw.parent), "--model", "demo",
                       "--workers", "1"], demo_env)  # fmt: skip
    finally:
        stop.set()
        writer.join()
    assert res.returncode in (0, 1), res.stderr
    assert "Traceback" not in res.stderr
    done = check_outputs_complete(raw.parent)
    assert {"steady0.wav", "steady1.wav", "steady2.wav"} <= done
    (record,) = [r for r in read_status(raw.parent) if r["id"] == "moving.wav"]
    if record["state"] == "failed":
        assert "\n" not in record["reason"] and record["reason"]
        assert "moving.wav" not in done
    # once the file holds still, a rerun finishes it
    moving.write_bytes(full)
    res = run_cli(["transcribe", "--root", str(raw.parent), "--model", "demo"], demo_env)
    assert res.returncode == 0, res.stderr
    if record["state"] == "failed":
        assert check_outputs_complete(raw.parent) == done | {"moving.wav"}
    assert temp_files(raw.parent) == []
